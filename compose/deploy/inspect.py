"""What the listing commands show: ``ps``, ``ls``, ``images``, ``volumes``, ``port``.

Each function returns plain records with the values Docker Compose v2.40
reports (``pkg/compose/ps.go``, ``ls.go``, ``images.go``, ``volumes.go``);
the CLI chooses the format.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import UsageError
from . import labels
from .humanize import state_text, status_text
from .session import number_of, service_of

if TYPE_CHECKING:
    from engine.images.model import Image
    from engine.runtime.containers import Container
    from engine.runtime.spec import MountSpec
    from engine.state import Root

    from .session import Session


@dataclass(frozen=True)
class Publisher:
    url: str
    target_port: int
    published_port: int
    protocol: str


@dataclass(frozen=True)
class PsEntry:
    """One container as ``docker compose ps`` describes it (``api.ContainerSummary``)."""

    id: str
    name: str
    image: str
    command: str
    project: str
    service: str
    created: float  # seconds since the epoch
    state: str
    status: str
    health: str
    exit_code: int
    number: int = 0
    publishers: tuple[Publisher, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[str, ...] = ()
    local_volumes: int = 0
    networks: tuple[str, ...] = ()


def volume_name(m: MountSpec) -> str | None:
    """The volume a mount comes from (named or anonymous), None for a bind or tmpfs."""
    if m.type == "bind" and m.source and "/volumes/" in m.source and m.source.rstrip("/").endswith("/_data"):
        return os.path.basename(os.path.dirname(m.source.rstrip("/")))
    return None


def list_command(argv: Sequence[str]) -> str:
    """The command as Docker's container list joins it: an argument holding a space is put in single quotes,
    with nothing escaped (``sh -c 'exit 1'``, ``sh -c 'trap 'exit 0' TERM'``), as recorded from Docker."""
    return " ".join([argv[0], *(f"'{a}'" if " " in a else a for a in argv[1:])]) if argv else ""


def _publishers(c: Container, exposed: Sequence[str]) -> tuple[Publisher, ...]:
    """Published ports, and exposed ones (no host side) as Docker's container list gives them: only while the
    container runs (or is paused); a created, exited or restarting one has none (its network is not set up)."""
    if c.status not in ("running", "paused"):
        return ()
    out = [Publisher(p.host_ip or "0.0.0.0", p.container_port, p.host_port, p.protocol) for p in c.spec.ports]
    published = {(p.target_port, p.protocol) for p in out}
    for item in exposed:
        port, _, proto = item.partition("/")
        first, _, last = port.partition("-")
        if not first.isdigit():
            continue
        for number in range(int(first), int(last or first) + 1):
            if (number, proto or "tcp") not in published:
                published.add((number, proto or "tcp"))
                out.append(Publisher("", number, 0, proto or "tcp"))
    return tuple(sorted(out, key=lambda p: (p.target_port, p.url, p.published_port, p.protocol)))


class _Images:
    """Image records by id, each read once."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[str, Image | None] = {}

    def get(self, image_id: str) -> Image | None:
        from engine.errors import EngineError

        if image_id not in self.cache:
            try:
                self.cache[image_id] = self.session.images.get(image_id)
            except EngineError:
                self.cache[image_id] = None
        return self.cache[image_id]


def image_name(session: Session, c: Container) -> str:
    """The image a container was made from, by the name it was given (not its digest)."""
    named = c.spec.labels.get(labels.IMAGE)
    if named:
        return named
    svc = session.project.services.get(service_of(c))
    return svc.image_name(session.project.name) if svc else c.spec.image_id


def entry(session: Session, c: Container, images: _Images | None = None) -> PsEntry:
    from engine.runtime.logs import parse_timestamp

    images = images or _Images(session)
    svc = session.project.services.get(service_of(c))
    image = images.get(c.spec.image_id)
    exposed = [*(svc.expose if svc else ()), *(image.config.exposed_ports if image else ())]
    tags = {**(dict(image.config.labels) if image else {}), **c.spec.labels}
    mounts, local = [], 0
    for m in c.spec.mounts:
        vol = volume_name(m)
        if vol is not None:
            mounts.append(vol)
            local += 1
        elif m.type == "bind" and m.source:
            mounts.append(m.source)
    health = session.rt.health(c.id) if c.status == "running" else None
    return PsEntry(
        id=c.id, name=c.name, image=image_name(session, c), command=list_command(c.spec.argv),
        project=c.spec.labels.get(labels.PROJECT, session.project.name), service=service_of(c),
        created=parse_timestamp(c.created), state=state_text(c.status, c.started_at),
        status=status_text(c.status, started_at=c.started_at, finished_at=c.finished_at, exit_code=c.exit_code,
                           health=session.rt.health(c.id)),
        health=health or "", exit_code=(c.exit_code or 0) if c.status == "exited" else 0, number=number_of(c),
        publishers=_publishers(c, exposed), labels=tags, mounts=tuple(mounts), local_volumes=local,
        networks=tuple(e.network for e in c.spec.endpoints))


def ps(session: Session, services: Sequence[str] = (), *, all_: bool = False, statuses: Sequence[str] = (),
       orphans: bool = True) -> list[PsEntry]:
    """The project's containers, sorted by name: running ones, or every one (one-off ones too) with ``all_``
    or ``statuses``; without ``orphans``, only those of services the project declares."""
    wanted = set(statuses)
    everything = all_ or bool(wanted)
    chosen = services or None
    if chosen is None and not orphans:
        chosen = tuple(session.project.services)
    found = session.containers(chosen) + (session.containers(chosen, oneoff=True) if everything else [])
    images = _Images(session)
    out = []
    for c in found:
        if not everything and c.status not in ("running", "paused", "restarting"):
            continue
        e = entry(session, c, images)
        if wanted and e.state not in wanted:
            continue
        out.append(e)
    return sorted(out, key=lambda e: e.name)


@dataclass(frozen=True)
class ProjectSummary:
    name: str
    status: str  # ``exited(1), running(2)``
    config_files: str


def projects(root: Root, *, all_: bool = False) -> list[ProjectSummary]:
    """Every compose project with containers in this state root (``ls``): running ones, or all with ``all_``."""
    from engine.runtime.containers import Runtime

    states: dict[str, dict[str, int]] = {}
    files: dict[str, list[str]] = {}
    for c in Runtime(root).list():
        name = c.spec.labels.get(labels.PROJECT)
        if not name or labels.CONFIG_HASH not in c.spec.labels:
            continue
        state = state_text(c.status, c.started_at)
        if not all_ and state not in ("running", "paused", "restarting"):
            continue
        counts = states.setdefault(name, {})
        counts[state] = counts.get(state, 0) + 1
        seen = files.setdefault(name, [])
        for f in c.spec.labels.get(labels.CONFIG_FILES, "").split(","):
            if f not in seen:
                seen.append(f)
    return [ProjectSummary(name=n, status=", ".join(f"{s}({k})" for s, k in sorted(counts.items())),
                           config_files=",".join(files[n]))
            for n, counts in sorted(states.items())]


@dataclass(frozen=True)
class ImageRow:
    container: str
    repository: str
    tag: str
    platform: str
    id: str  # sha256:...
    size: int
    created: str  # RFC 3339


def split_reference(ref: str) -> tuple[str, str]:
    """(repository, tag) of an image reference as Docker names them: a missing tag is ``latest``."""
    if "@" in ref:
        return ref.split("@", 1)[0], ""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        repo, tag = ref[:colon], ref[colon + 1:]
    else:
        repo, tag = ref, "latest"
    for prefix in ("docker.io/library/", "docker.io/"):
        if repo.startswith(prefix):
            repo = repo[len(prefix):]
            break
    return repo, tag


def images(session: Session, services: Sequence[str] = ()) -> list[ImageRow]:
    """The image of each of the project's containers, one-off ones too (``images``), by container name."""
    store = _Images(session)
    out = []
    for c in session.containers(services or None) + session.containers(services or None, oneoff=True):
        image = store.get(c.spec.image_id)
        if image is None:  # the image may be gone
            continue
        repo, tag = split_reference(image_name(session, c))
        out.append(ImageRow(container=c.name, repository=repo, tag=tag,
                            platform=f"{image.os or 'linux'}/{image.architecture or 'amd64'}", id=image.id,
                            size=image.size, created=image.created))
    return sorted(out, key=lambda r: r.container)


@dataclass(frozen=True)
class VolumeRow:
    name: str
    driver: str
    mountpoint: str
    labels: Mapping[str, str]


def volumes(session: Session, services: Sequence[str] = ()) -> list[VolumeRow]:
    """The project's volumes (by label); with ``services``, those their containers mount."""
    project = session.project.name
    found = [v for v in session.vols.list() if v.labels.get(labels.PROJECT) == project]
    if services:
        used = {volume_name(m) for c in session.containers(services) for m in c.spec.mounts}
        found = [v for v in found if v.name in used]
    return [VolumeRow(v.name, v.driver, v.mountpoint, dict(v.labels)) for v in sorted(found, key=lambda v: v.name)]


def port(session: Session, service: str, private_port: int, protocol: str = "tcp", index: int = 1) -> str:
    """``host_ip:host_port`` where the service's container publishes ``private_port``."""
    c = session.container(service, index)
    for p in c.spec.ports:
        if p.container_port == private_port and p.protocol == protocol:
            return f"{p.host_ip or '0.0.0.0'}:{p.host_port}"
    raise UsageError(f"no port {private_port}/{protocol} published for container {c.name}")
