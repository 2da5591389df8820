"""What ``top`` and ``stats`` show: processes and resource use of the project's containers.

``top`` rows carry the columns of ``ps -ef`` (what Docker's ContainerTop
runs), read from /proc; ``stats`` samples carry what docker/cli's stats
formatter needs (CPU time, memory, network and block I/O, pids).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import labels
from .session import service_of

if TYPE_CHECKING:
    from engine.runtime.containers import Container

    from .session import Session

TOP_TITLES = ("UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD")


@dataclass(frozen=True)
class ContainerProcesses:
    name: str
    service: str
    replica: str
    processes: tuple[tuple[str, ...], ...]  # one row of TOP_TITLES per process


def top(session: Session, services: Sequence[str] = ()) -> list[ContainerProcesses]:
    """Each running container (one-off ones too) and its processes, by container name."""
    out = []
    boot, ticks = _boot_time(), os.sysconf("SC_CLK_TCK")
    users: dict[int, str] = {}
    for c in session.containers(services or None) + session.containers(services or None, oneoff=True):
        if c.status not in ("running", "paused"):
            continue
        rows = [_proc_row(pid, boot, ticks, users) for pid in sorted(session.rt.cgroups.container(c.id).pids())]
        out.append(ContainerProcesses(name=c.name, service=service_of(c) or c.name,
                                      replica=c.spec.labels.get(labels.NUMBER, ""),
                                      processes=tuple(r for r in rows if r is not None)))
    return sorted(out, key=lambda p: p.name)


def _boot_time() -> float:
    try:
        with open("/proc/stat") as fh:
            return float(next(line.split()[1] for line in fh if line.startswith("btime ")))
    except (OSError, StopIteration, ValueError):
        return 0.0


def _user(uid: int, cache: dict[int, str]) -> str:
    if uid not in cache:
        import pwd

        try:
            cache[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            cache[uid] = str(uid)
    return cache[uid]


def _tty(nr: int) -> str:
    major, minor = (nr >> 8) & 0xFFF, (nr & 0xFF) | ((nr >> 12) & 0xFFF00)
    if nr == 0:
        return "?"
    if 136 <= major <= 143:
        return f"pts/{minor + (major - 136) * 256}"
    if major == 4:
        return f"tty{minor}"
    return "?"


def _stime(started: float, now: float) -> str:
    """``ps``' STIME: ``HH:MM`` within a day, ``MonDD`` within the year, else the year."""
    t = time.localtime(started)
    if now - started < 86400:
        return time.strftime("%H:%M", t)
    if t.tm_year == time.localtime(now).tm_year:
        return time.strftime("%b%d", t)
    return str(t.tm_year)


def _cputime(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    clock = f"{rest // 3600:02}:{rest // 60 % 60:02}:{rest % 60:02}"
    return f"{days}-{clock}" if days else clock


def _proc_row(pid: int, boot: float, ticks: int, users: dict[int, str]) -> tuple[str, ...] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None
    comm = stat[stat.index(b"(") + 1:stat.rindex(b")")].decode(errors="replace")
    fields = stat[stat.rindex(b")") + 2:].split()
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    started = boot + int(fields[19]) / ticks
    now = time.time()
    percent = int(cpu * 100 / (now - started)) if now > started else 0
    return (_user(uid, users), str(pid), fields[1].decode(), str(percent), _stime(started, now),
            _tty(int(fields[4])), _cputime(int(cpu)), cmd or f"[{comm}]")


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
    block_read: int
    block_write: int
    pids: int
    running: bool


def usage(session: Session, containers: Sequence[Container]) -> list[Usage]:
    """A sample of each container's cgroup counters and network bytes (``stats``)."""
    out = []
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for c in containers:
        group = session.rt.cgroups.container(c.id)
        s = group.stats()
        now = session.refresh(c)
        rx, tx = _net_io(now.pid) if now.running else (0, 0)
        read, written = group.block_io() if now.running else (0, 0)
        out.append(Usage(id=c.id, name=c.name, taken_at=time.monotonic(), cpu_ns=s.cpu_usage_ns,
                         memory=s.memory_usage or 0, memory_limit=s.memory_limit or total, rx=rx, tx=tx,
                         block_read=read, block_write=written, pids=s.pids_current or 0, running=now.running))
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
