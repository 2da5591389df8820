"""Container records on disk: ``<root>/containers/<id>/``.

``container.json`` holds the spec and creation time, written once;
``state.json`` holds what changes (status, pid, exit code, times, restart
count), rewritten atomically under the container's lock by whoever changes
it: the supervisor or a command.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

from ..errors import NotFound
from ..state import Root, locked, read_json, write_json
from .logs import timestamp
from .spec import ContainerSpec


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


class Records:
    def __init__(self, root: Root) -> None:
        self.root = root

    def dir(self, cid: str) -> str:
        return os.path.join(self.root.containers, cid)

    def lock(self, cid: str) -> Any:
        return locked(os.path.join(self.root.locks, f"container-{cid}.lock"))

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.root.containers)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if os.path.isfile(os.path.join(self.root.containers, n, "container.json")))

    def create(self, spec: ContainerSpec) -> None:
        path = self.dir(spec.id)
        os.makedirs(path, mode=0o700)
        write_json(os.path.join(path, "state.json"), {"status": "created", "restart_count": 0})
        write_json(os.path.join(path, "container.json"), {"spec": spec.to_dict(), "created": timestamp(),
                                                          "created_unix": time.time()})

    def record(self, cid: str) -> dict[str, Any]:
        data = read_json(os.path.join(self.dir(cid), "container.json"))
        if data is None:
            raise NotFound(f"no such container: {cid}")
        return data  # type: ignore[no-any-return]

    def spec(self, cid: str) -> ContainerSpec:
        return ContainerSpec.from_dict(self.record(cid)["spec"])

    def state(self, cid: str) -> dict[str, Any]:
        return read_json(os.path.join(self.dir(cid), "state.json"), {}) or {}

    def update(self, cid: str, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into the state, atomically, under the container's lock."""
        with self.lock(cid):
            path = os.path.join(self.dir(cid), "state.json")
            if not os.path.isdir(self.dir(cid)):
                return {}
            state = read_json(path, {}) or {}
            state.update(changes)
            write_json(path, state)
            return state  # type: ignore[no-any-return]

    def delete(self, cid: str) -> None:
        shutil.rmtree(self.dir(cid), ignore_errors=True)
        try:
            os.unlink(os.path.join(self.root.locks, f"container-{cid}.lock"))
        except FileNotFoundError:
            pass
