"""What the read-only commands show: ``ps``, ``ls``, ``top``, ``images``, ``port``, ``stats``.

Each function returns plain rows or records; the CLI chooses the format.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import UsageError
from . import labels
from .session import service_of

if TYPE_CHECKING:
    from engine.runtime.containers import Container, Runtime
    from engine.state import Root

    from .session import Session


def ago(stamp: str | None, now: float | None = None) -> str:
    """``5 minutes ago``, as Docker words it."""
    from engine.runtime.logs import parse_timestamp

    if not stamp:
        return ""
    secs = max(0.0, (time.time() if now is None else now) - parse_timestamp(stamp))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if secs >= size:
            n = int(secs // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return f"{int(secs)} seconds ago"


def status_text(rt: Runtime, c: Container) -> str:
    """Docker's wording: ``Up 5 minutes (healthy)``, ``Exited (0) 2 minutes ago``."""
    if c.status in ("running", "paused"):
        health = rt.health(c.id)
        up = ago(c.started_at).replace(" ago", "")
        return f"Up {up}" + (" (Paused)" if c.status == "paused" else "") + (f" ({health})" if health else "")
    if c.status == "restarting":
        return f"Restarting ({c.exit_code if c.exit_code is not None else 'unknown'})"
    if c.status == "exited":
        return f"Exited ({c.exit_code if c.exit_code is not None else 'unknown'}) {ago(c.finished_at)}"
    return "Created"


@dataclass(frozen=True)
class Publisher:
    url: str
    target_port: int
    published_port: int
    protocol: str


@dataclass(frozen=True)
class PsEntry:
    id: str
    name: str
    image: str
    command: str
    project: str
    service: str
    state: str
    health: str
    exit_code: int
    created: str
    status: str
    publishers: tuple[Publisher, ...] = field(default_factory=tuple)

    @property
    def ports(self) -> str:
        return ", ".join(f"{p.url}:{p.published_port}->{p.target_port}/{p.protocol}" for p in self.publishers)


def ps(session: Session, services: Sequence[str] = (), *, all_: bool = False,
       statuses: Sequence[str] = ()) -> list[PsEntry]:
    """The project's containers (one-off ones too), running ones only unless ``all_`` or ``statuses``."""
    wanted = set(statuses)
    out = []
    for c in session.containers(services or None) + session.containers(services or None, oneoff=True):
        if wanted and c.status not in wanted:
            continue
        if not all_ and not wanted and c.status not in ("running", "paused", "restarting"):
            continue
        service = service_of(c)
        svc = session.project.services.get(service)
        out.append(PsEntry(
            id=c.id, name=c.name, image=svc.image_name(session.project.name) if svc else c.spec.image_id[:19],
            command=" ".join(c.spec.argv), project=session.project.name, service=service, state=c.status,
            health=session.rt.health(c.id) or "", exit_code=c.exit_code or 0, created=ago(c.created),
            status=status_text(session.rt, c),
            publishers=tuple(Publisher(p.host_ip or "0.0.0.0", p.container_port, p.host_port, p.protocol)
                             for p in c.spec.ports)))
    return out


@dataclass(frozen=True)
class ProjectSummary:
    name: str
    status: str  # ``running(2), exited(1)``
    config_files: str
    running: bool


def projects(root: Root) -> list[ProjectSummary]:
    """Every compose project with containers in this state root (``ls``)."""
    from engine.runtime.containers import Runtime

    states: dict[str, dict[str, int]] = {}
    files: dict[str, str] = {}
    for c in Runtime(root).list():
        name = c.spec.labels.get(labels.PROJECT)
        if not name:
            continue
        counts = states.setdefault(name, {})
        counts[c.status] = counts.get(c.status, 0) + 1
        files.setdefault(name, c.spec.labels.get(labels.CONFIG_FILES, ""))
    return [ProjectSummary(name=n, status=", ".join(f"{s}({k})" for s, k in sorted(counts.items())),
                           config_files=files[n], running=bool(counts.get("running")))
            for n, counts in sorted(states.items())]


def top(session: Session, services: Sequence[str] = ()) -> list[tuple[str, list[tuple[str, ...]]]]:
    """For each running container: its name and one row per process (UID, PID, PPID, C, STIME, TTY, TIME, CMD)."""
    out = []
    for c in session.containers(services or None):
        if c.status != "running":
            continue
        rows = [_proc_row(pid) for pid in sorted(session.rt.cgroups.container(c.id).pids())]
        out.append((c.name, rows))
    return out


def _proc_row(pid: int) -> tuple[str, ...]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open(f"/proc/{pid}/status") as fh:
            uid = next(line.split()[1] for line in fh if line.startswith("Uid:"))
    except OSError:
        return (str(pid), "", "", "", "", "", "", "")
    fields = stat[stat.rindex(b")") + 2:].split()
    ticks = (int(fields[11]) + int(fields[12])) // 100
    return (uid, str(pid), fields[1].decode(), "0", "", "?",
            f"{ticks // 3600:02}:{ticks // 60 % 60:02}:{ticks % 60:02}", cmd)


@dataclass(frozen=True)
class ImageRow:
    container: str
    repository: str
    tag: str
    id: str
    size: int


def images(session: Session, services: Sequence[str] = ()) -> list[ImageRow]:
    """The image of each of the project's containers (``images``)."""
    from engine.errors import NotFound

    out = []
    for c in session.containers(services or None):
        try:
            image = session.images.get(c.spec.image_id)
        except NotFound:  # the image may be gone
            continue
        repo, _, tag = (image.refs[0] if image.refs else "<none>:<none>").rpartition(":")
        out.append(ImageRow(container=c.name, repository=repo, tag=tag, id=image.id, size=image.size))
    return out


def port(session: Session, service: str, private_port: int, protocol: str = "tcp", index: int = 1) -> str:
    """``host_ip:host_port`` where the service's container publishes ``private_port``."""
    c = session.container(service, index)
    for p in c.spec.ports:
        if p.container_port == private_port and p.protocol == protocol:
            return f"{p.host_ip or '0.0.0.0'}:{p.host_port}"
    raise UsageError(f"no port {private_port}/{protocol} published for container {c.name}")


@dataclass(frozen=True)
class Usage:
    """One sample of a container's resource use."""

    id: str
    name: str
    taken_at: float
    cpu_ns: int | None
    memory: int
    memory_limit: int
    rx: int
    tx: int
    pids: int


def usage(session: Session, containers: Sequence[Container]) -> list[Usage]:
    """A sample of each container's cgroup counters and network bytes (``stats``)."""
    out = []
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for c in containers:
        s = session.rt.cgroups.container(c.id).stats()
        now = session.refresh(c)
        rx, tx = _net_io(now.pid) if now.running else (0, 0)
        out.append(Usage(id=c.id, name=c.name, taken_at=time.monotonic(), cpu_ns=s.cpu_usage_ns,
                         memory=s.memory_usage or 0, memory_limit=s.memory_limit or total, rx=rx, tx=tx,
                         pids=s.pids_current or 0))
    return out


def _net_io(pid: int) -> tuple[int, int]:
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as fh:
            for line in list(fh)[2:]:
                name, data = line.split(":", 1)
                if name.strip() != "lo":
                    fields = data.split()
                    rx, tx = rx + int(fields[0]), tx + int(fields[8])
    except OSError:
        pass
    return rx, tx
