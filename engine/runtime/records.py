"""Container records on disk: ``<root>/containers/<id>/``.

``container.json`` holds the spec and creation time, written once;
``state.json`` holds what changes (status, pid, exit code, times, restart
count, health), rewritten atomically under the container's lock by whoever
changes it: the supervisor or a command. In memory the state is a
``ContainerState``; on disk it stays the JSON object it always was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

from ..errors import NotFound
from ..faults import point as fault_point
from ..state import CLAIM, Root, claim_held, locked, owner_exists, read_json, write_json
from .logs import timestamp
from .spec import ContainerSpec

STATUSES = ("created", "running", "restarting", "paused", "exited")


def proc_starttime(pid: int) -> int | None:
    """A process's start time in clock ticks since boot; tells a PID from a recycled one."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[19])


def alive(pid: int | None, starttime: int | None) -> bool:
    """The process ``pid`` started at ``starttime`` still runs (a zombie does not count)."""
    if not pid or starttime is None or proc_starttime(pid) != starttime:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2:data.rindex(b")") + 3] not in (b"Z", b"X")


def _int(data: Mapping[str, object], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class HealthResult:
    """One probe: when it ran, its exit code (-1: it timed out) and the end of its output."""

    start: str
    end: str
    exit_code: int
    output: str

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> HealthResult:
        return cls(start=_str(data, "start") or "", end=_str(data, "end") or "",
                   exit_code=_int(data, "exit_code") or 0, output=_str(data, "output") or "")


@dataclass(frozen=True)
class HealthState:
    status: str = "starting"  # starting | healthy | unhealthy
    failing_streak: int = 0
    log: tuple[HealthResult, ...] = ()  # the last five

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> HealthState:
        log = data.get("log")
        return cls(status=_str(data, "status") or "starting", failing_streak=_int(data, "failing_streak") or 0,
                   log=tuple(HealthResult.from_dict(_object(r)) for r in log if isinstance(r, dict))
                   if isinstance(log, list) else ())

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self) | {"log": [dataclasses.asdict(r) for r in self.log]}


def _object(value: object) -> dict[str, object]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


@dataclass(frozen=True)
class ContainerState:
    """What changes in a container's life, as ``state.json`` keeps it."""

    status: str = "created"  # one of STATUSES
    pid: int = 0
    pid_starttime: int | None = None
    exit_code: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    restart_count: int = 0
    oom_killed: bool = False
    oom_kills: int = 0  # the cgroup's count of OOM kills when this run started (the count is of every run)
    stopping: bool = False  # a stop was asked: it is to end and not restart, whoever supervises it
    error: str | None = None
    supervisor_pid: int | None = None
    supervisor_starttime: int | None = None
    health: HealthState | None = None
    extra: dict[str, object] = field(default_factory=dict)  # keys of other writers, kept as they are

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ContainerState:
        health = data.get("health")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(
            status=_str(data, "status") or "created", pid=_int(data, "pid") or 0,
            pid_starttime=_int(data, "pid_starttime"), exit_code=_int(data, "exit_code"),
            started_at=_str(data, "started_at"), finished_at=_str(data, "finished_at"),
            restart_count=_int(data, "restart_count") or 0, oom_killed=data.get("oom_killed") is True,
            oom_kills=_int(data, "oom_kills") or 0, stopping=data.get("stopping") is True,
            error=_str(data, "error"), supervisor_pid=_int(data, "supervisor_pid"),
            supervisor_starttime=_int(data, "supervisor_starttime"),
            health=HealthState.from_dict(_object(health)) if isinstance(health, dict) else None,
            extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = dict(self.extra)
        for f in dataclasses.fields(self):
            if f.name not in ("extra", "health"):
                out[f.name] = getattr(self, f.name)
        out["health"] = self.health.to_dict() if self.health is not None else None
        return out

    @property
    def active(self) -> bool:
        return self.status in ("running", "restarting", "paused")


class StateChanges(TypedDict, total=False):
    """The fields of ``ContainerState`` a writer may change, each with its type."""

    status: str
    pid: int
    pid_starttime: int | None
    exit_code: int | None
    started_at: str | None
    finished_at: str | None
    restart_count: int
    oom_killed: bool
    oom_kills: int
    stopping: bool
    error: str | None
    supervisor_pid: int | None
    supervisor_starttime: int | None
    health: HealthState | None


class Records:
    def __init__(self, root: Root) -> None:
        self.root = root

    def dir(self, cid: str) -> str:
        return os.path.join(self.root.containers, cid)

    def lock(self, cid: str) -> contextlib.AbstractContextManager[None]:
        return locked(self.root.lock(f"container-{cid}"))

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.root.containers)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if os.path.isfile(os.path.join(self.root.containers, n, "container.json")))

    @contextlib.contextmanager
    def claim(self, cid: str) -> Iterator[None]:
        """Hold the claim of a container being created (see ``state.owner_exists``) for the block.

        Its folder appears with the claim already held: it is made under a
        hidden name, the claim locked inside, then renamed into place. The
        claim goes once the record is whole. A folder that already exists is
        claimed by the caller (an outer ``claim``) and is left to it.
        """
        folder = self.dir(cid)
        if os.path.isdir(folder):
            yield
            return
        os.makedirs(self.root.containers, mode=0o700, exist_ok=True)
        stage = os.path.join(self.root.containers, f".new-{cid}")
        os.mkdir(stage, 0o700)
        fd = -1
        try:
            fd = os.open(os.path.join(stage, CLAIM), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(stage, folder)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            shutil.rmtree(stage, ignore_errors=True)
            raise
        try:
            fault_point("create.claimed")
            yield
        finally:
            if os.path.isfile(os.path.join(folder, "container.json")):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, CLAIM))
            os.close(fd)

    def create(self, spec: ContainerSpec, write_files: Callable[[str], None]) -> None:
        """Record a new container: its state, the files ``write_files`` puts in its folder, then
        ``container.json`` last, so a record that has it is whole (the caller holds the claim)."""
        path = self.dir(spec.id)
        write_json(os.path.join(path, "state.json"), {"status": "created", "restart_count": 0})
        write_files(path)
        fault_point("create.files")
        write_json(os.path.join(path, "container.json"), {"spec": spec.to_dict(), "created": timestamp(),
                                                          "created_unix": time.time()})

    def rename(self, cid: str, name: str) -> None:
        """Give the container a new name in its record (the caller holds the names lock)."""
        record = self.record(cid)
        spec = dict(_object(record.get("spec")))
        spec["name"] = name
        write_json(os.path.join(self.dir(cid), "container.json"), {**record, "spec": spec})

    def complete(self, cid: str) -> bool:
        return os.path.isfile(os.path.join(self.dir(cid), "container.json"))

    def leftovers(self) -> Iterator[str]:
        """Folders no container owns: half-created ones whose creator is gone, and removals cut short."""
        try:
            names = sorted(os.listdir(self.root.containers))
        except FileNotFoundError:
            return
        for name in names:
            if name.startswith(".rm-") or (name.startswith(".new-") and
                                           not claim_held(os.path.join(self.root.containers, name))):
                yield name
            elif not owner_exists(self.root, name):
                yield name

    def record(self, cid: str) -> dict[str, object]:
        data: object = read_json(os.path.join(self.dir(cid), "container.json"))
        if not isinstance(data, dict):
            raise NotFound(f"no such container: {cid}")
        return {str(k): v for k, v in data.items()}

    def spec(self, cid: str) -> ContainerSpec:
        return ContainerSpec.from_dict(_object(self.record(cid).get("spec")))

    def name(self, cid: str) -> str:
        return _str(_object(self.record(cid).get("spec")), "name") or ""

    def created(self, cid: str) -> str:
        return _str(self.record(cid), "created") or ""

    def state(self, cid: str) -> ContainerState:
        data: object = read_json(os.path.join(self.dir(cid), "state.json"), {})
        return ContainerState.from_dict(_object(data))

    def orphans(self, group: str) -> Iterator[tuple[str, ContainerState]]:
        """The containers of ``group`` that a supervisor took on and that it left by dying."""
        for cid in self.ids():
            with contextlib.suppress(NotFound):
                state = self.state(cid)
                if (state.active and not alive(state.supervisor_pid, state.supervisor_starttime)
                        and self.spec(cid).group == group):
                    yield cid, state

    def update(self, cid: str, **changes: Unpack[StateChanges]) -> ContainerState:
        """Merge ``changes`` into the state, atomically, under the container's lock."""
        with self.lock(cid):
            return self.update_locked(cid, **changes)

    def update_locked(self, cid: str, **changes: Unpack[StateChanges]) -> ContainerState:
        """``update`` for a caller that already holds ``lock(cid)``."""
        if not os.path.isdir(self.dir(cid)):
            return ContainerState()
        state = dataclasses.replace(self.state(cid), **changes)
        write_json(os.path.join(self.dir(cid), "state.json"), state.to_dict())
        return state

    def delete(self, cid: str) -> None:
        """Remove the container's folder: renamed aside first, so the record goes at once, whole."""
        aside = os.path.join(self.root.containers, f".rm-{cid}")
        with contextlib.suppress(FileNotFoundError):
            os.rename(self.dir(cid), aside)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.root.lock(f"container-{cid}"))
        fault_point("remove.unrecorded")
        shutil.rmtree(aside, ignore_errors=True)

