"""Watching containers for exits and restarts, as Compose's monitor does from the engine's events.

The records are read at each ``poll``: a container whose finish time
changed has exited (``restarting`` when its restart policy brings it
back); one whose start time changed has started again. Compose's
``pkg/compose/monitor.go`` reads the same facts from Docker's event
stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .session import service_of, short_name

if TYPE_CHECKING:
    from engine.runtime.containers import Container, Runtime


@dataclass(frozen=True)
class ContainerEvent:
    kind: str  # exited | started
    id: str
    source: str  # the name shown: db-1
    service: str
    exit_code: int = 0
    restarting: bool = False


@dataclass
class _Seen:
    started_at: str | None
    finished_at: str | None
    done: bool


class Monitor:
    """The containers watched, until each has exited for good (``done``)."""

    def __init__(self, runtime: Runtime, containers: Iterable[Container], *, stopped_done: bool = False) -> None:
        """``stopped_done``: a container not running now counts as done (else it is awaited: up starts it)."""
        self.rt = runtime
        self.watched: dict[str, Container] = {}
        self.seen: dict[str, _Seen] = {}
        for c in containers:
            self.add(c, done=stopped_done and not c.running)

    def add(self, c: Container, *, done: bool = False) -> None:
        """Watch ``c`` from its state now (an exit before this is not reported)."""
        self.watched[c.id] = c
        self.seen[c.id] = _Seen(c.started_at, c.finished_at, done=done)

    def states(self) -> dict[str, Container]:
        from engine.errors import NotFound

        out = {}
        for cid in self.watched:
            try:
                out[cid] = self.rt.get(cid)
            except NotFound:  # removed meanwhile
                continue
        return out

    def poll(self) -> list[ContainerEvent]:
        """What happened since the last poll."""
        events = []
        now = self.states()
        for cid, c in self.watched.items():
            seen = self.seen[cid]
            state = now.get(cid)
            if state is None:
                if not seen.done:
                    seen.done = True
                    events.append(ContainerEvent("exited", cid, short_name(c), service_of(c), 0))
                continue
            if state.finished_at and state.finished_at != seen.finished_at and state.status != "created":
                seen.finished_at = state.finished_at
                restarting = state.status != "exited"  # back already, or waiting for its restart
                seen.done = not restarting
                events.append(ContainerEvent("exited", cid, short_name(c), service_of(c), state.exit_code or 0,
                                             restarting=restarting))
            if state.started_at and state.started_at != seen.started_at and state.status in ("running", "paused"):
                seen.started_at = state.started_at
                seen.done = False
                events.append(ContainerEvent("started", cid, short_name(c), service_of(c)))
        return events

    def running(self) -> bool:
        """Whether any watched container has not exited for good."""
        return any(not s.done for s in self.seen.values())
