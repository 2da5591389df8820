"""``events``: the project's container events (create, start, kill, die, stop, restart, pause, unpause,
health_status, rename, destroy), as Compose relays Docker's.

The supervisors do not publish events yet, so most are read from the
containers' records: each ``poll`` compares what the records say now with
what they said before (a new container was created, its start or finish
time moved, its health or name changed, it is gone). What only the
orchestrator knows (it sent a signal, asked for a stop or a restart) it
writes to the project's event journal (``journal``), which ``poll`` reads
too. With ``since`` the recorded times of each container's creation, last
start and last exit come first. The fields are Compose's (pkg/compose/events.go and
cmd/compose/events.go at v2.40.3, 49b1c1e9): the service, the container's
id, the action, and its attributes without Compose's own labels, with
``image`` and ``name`` (and ``exitCode`` for ``die``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import labels
from .session import service_of

if TYPE_CHECKING:
    from engine.runtime.containers import Container

    from .session import Session


@dataclass(frozen=True)
class Event:
    time_ns: int
    service: str
    container: str
    action: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Snap:
    name: str
    status: str
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    health: str | None
    attributes: dict[str, str]
    service: str = ""


def _ns(stamp: str | None) -> int:
    """An RFC 3339 time (``2026-11-29T15:53:21.123456789Z``, or with an offset) in nanoseconds."""
    import re
    from datetime import datetime

    if not stamp:
        return time.time_ns()
    m = re.fullmatch(r"([^.]+?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?", stamp)
    if m is None:
        return time.time_ns()
    zone = m.group(3) or "Z"
    seconds = datetime.fromisoformat(m.group(1) + ("+00:00" if zone == "Z" else zone)).timestamp()
    return int(seconds) * 1_000_000_000 + int((m.group(2) or "0")[:9].ljust(9, "0"))


_JOURNAL_MAX = 1 << 20  # a journal is started afresh past this size


def attributes_of(c: Container) -> dict[str, str]:
    """What Docker's events say of a container: its labels (less Compose's own), its image and name."""
    attrs = {k: v for k, v in c.spec.labels.items() if not k.startswith("com.docker.compose.")}
    attrs["image"] = c.spec.labels.get(labels.IMAGE) or c.spec.image_id
    attrs["name"] = c.name
    return attrs


def _journal_path(session: Session) -> str:
    import os

    return os.path.join(session.root.path, "events", f"{session.project.name}.jsonl")


def journal(session: Session, c: Container, action: str, finished_at: str | None = None, **attributes: str) -> None:
    """Note that the orchestrator did ``action`` to ``c`` (kill, stop, restart), for ``events``; a ``die`` it saw
    carries the container's ``finished_at`` (so it is told once, even when the records show it too)."""
    import json
    import os

    if session.dry_run:
        return
    path = _journal_path(session)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        if os.path.exists(path) and os.path.getsize(path) > _JOURNAL_MAX:
            os.replace(path, path + ".1")
        record = {"time": _ns(finished_at) if finished_at else time.time_ns(), "id": c.id,
                  "service": service_of(c), "action": action, "attributes": {**attributes_of(c), **attributes},
                  **({"finished_at": finished_at} if finished_at else {})}
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, separators=(",", ":")) + "\n")
    except OSError:
        pass  # events are a view; a journal that cannot be written never fails a command


class EventSource:
    """The events of ``session``'s project (of ``services`` when given), read from the records."""

    def __init__(self, session: Session, services: Sequence[str] = ()) -> None:
        import os

        self.s = session
        self.services = set(services)
        self.snaps: dict[str, _Snap] = {}
        self.dies: set[tuple[str, str]] = set()  # (container, finish time) of each die told
        self.journal = _journal_path(session)
        try:
            self.offset = os.path.getsize(self.journal)
        except OSError:
            self.offset = 0

    def _journaled(self) -> list[Event]:
        """New lines of the project's journal, with the attributes the container has now."""
        import json
        import os

        try:
            if os.path.getsize(self.journal) < self.offset:
                self.offset = 0  # started afresh
            with open(self.journal, encoding="utf-8") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return []
        complete = data[: data.rfind("\n") + 1]
        self.offset += len(complete.encode())
        out = []
        for line in complete.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if self.services and rec.get("service") not in self.services:
                continue
            if rec.get("action") == "die":
                seen = (str(rec.get("id")), str(rec.get("finished_at")))
                if seen in self.dies:
                    continue
                self.dies.add(seen)
            snap = self.snaps.get(str(rec.get("id")))
            attrs = dict(snap.attributes) if snap is not None else {}
            attrs.update({str(k): str(v) for k, v in dict(rec.get("attributes") or {}).items()})
            out.append(Event(int(rec.get("time") or 0), str(rec.get("service", "")), str(rec.get("id", "")),
                             str(rec.get("action", "")), attrs))
        return out

    def _mine(self) -> list[Container]:
        self.s.changed()
        return [c for c in self.s.containers(None) if not self.services or service_of(c) in self.services]

    def _snap(self, c: Container) -> _Snap:
        attrs = attributes_of(c)
        health = self.s.rt.health(c.id) if c.status in ("running", "paused") else None
        return _Snap(c.name, c.status, c.started_at, c.finished_at, c.exit_code, health, attrs, service_of(c))

    def history(self, since_ns: int) -> list[Event]:
        """What the records say happened from ``since_ns`` on (creation, last start, last exit); remembers
        the state, so ``poll`` reports only what follows."""
        out: list[Event] = []
        for c in self._mine():
            snap = self.snaps[c.id] = self._snap(c)
            service = service_of(c)
            out.append(Event(_ns(c.created), service, c.id, "create", snap.attributes))
            if c.started_at:
                out.append(Event(_ns(c.started_at), service, c.id, "start", snap.attributes))
            if c.finished_at and c.status in ("exited", "restarting"):
                self.dies.add((c.id, c.finished_at))
                out.append(Event(_ns(c.finished_at), service, c.id, "die",
                                 {**snap.attributes, "exitCode": str(c.exit_code or 0)}))
        return sorted((e for e in out if e.time_ns >= since_ns), key=lambda e: e.time_ns)

    def poll(self) -> list[Event]:
        """What changed since the last look."""
        out: list[Event] = []
        seen = set()
        for c in self._mine():
            seen.add(c.id)
            now = self._snap(c)
            out += self._diff(c.id, service_of(c), self.snaps.get(c.id), now, c.created)
            self.snaps[c.id] = now
        out += self._journaled()
        for cid in [cid for cid in self.snaps if cid not in seen]:
            old = self.snaps.pop(cid)
            out.append(Event(time.time_ns(), old.service, cid, "destroy", old.attributes))
        return sorted(out, key=lambda e: e.time_ns)

    def _diff(self, cid: str, service: str, old: _Snap | None, now: _Snap, created: str) -> Iterable[Event]:
        attrs = now.attributes
        if old is None:
            yield Event(_ns(created), service, cid, "create", attrs)
            old = _Snap(now.name, "created", None, None, None, None, attrs)
        if old.name != now.name:
            yield Event(time.time_ns(), service, cid, "rename", {**attrs, "oldName": old.name})
        if now.finished_at and now.finished_at != old.finished_at and now.status != "created" and (
                cid, now.finished_at) not in self.dies:
            self.dies.add((cid, now.finished_at))
            yield Event(_ns(now.finished_at), service, cid, "die", {**attrs, "exitCode": str(now.exit_code or 0)})
        if now.started_at and now.started_at != old.started_at and now.status != "created":
            # a container that exited between two looks started too (Docker: create, start, die)
            yield Event(_ns(now.started_at), service, cid, "start", attrs)
        if old.status != "paused" and now.status == "paused":
            yield Event(time.time_ns(), service, cid, "pause", attrs)
        if old.status == "paused" and now.status == "running":
            yield Event(time.time_ns(), service, cid, "unpause", attrs)
        if now.health in ("healthy", "unhealthy") and now.health != old.health:
            yield Event(time.time_ns(), service, cid, f"health_status: {now.health}", attrs)


def follow(session: Session, services: Sequence[str], since: float | None, until: float | None,
           poll: float = 0.2) -> Iterable[Event]:
    """The events, as they come: first those since ``since``, then new ones until ``until`` (or forever)."""
    source = EventSource(session, services)
    until_ns = int(until * 1e9) if until is not None else None
    history = source.history(int(since * 1e9) if since is not None else time.time_ns() + 10**18)
    for e in history:
        if until_ns is not None and e.time_ns > until_ns:
            return
        yield e
    while until_ns is None or time.time_ns() <= until_ns:
        time.sleep(poll)
        for e in source.poll():
            if until_ns is not None and e.time_ns > until_ns:
                return
            yield e
