"""Containers' logs as ``logs`` and attached ``up`` print them: ``name  | line``, followed as they grow."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from engine.runtime.containers import Container, Runtime

    from .session import Session

COLORS = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"]


def since(value: str | None, now: float | None = None) -> float | None:
    """``--since``/``--until`` as Docker reads them: a Unix timestamp (``1732876767``, ``1732876767.5``), a
    duration ago (``10m``, ``2h30m``), or an RFC 3339 time or date (``2026-11-29T11:39:27Z``, with an
    offset, nanoseconds, or a bare ``2026-11-29``). A UsageError names the value it cannot read."""
    if not value:
        return None
    import re
    from datetime import UTC, datetime

    from ..config.units import parse_duration
    from ..errors import UsageError

    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        return (time.time() if now is None else now) - parse_duration(text)
    except ValueError:
        pass
    iso = re.sub(r"(\.\d{6})\d+", r"\1", text)  # Python reads microseconds, not nanoseconds
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise UsageError(f'invalid time "{value}": use a Unix timestamp, a duration such as 10m, or an RFC 3339 '
                         "time such as 2026-11-29T11:39:27Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass
class Record:
    time: str
    stream: str
    log: str


@dataclass
class _Source:
    label: str
    path: str
    offset: int
    inode: int
    pending: list[Record] | None = field(default=None)


class LogFollower:
    """Prints new entries of several containers' logs, each line prefixed with the container's name."""

    def __init__(self, runtime: Runtime, containers: list[Container], *, color: bool, tail: int | None,
                 timestamps: bool, prefix: bool = True, since: float | None = None, until: float | None = None,
                 out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.color, self.timestamps, self.prefix = color, timestamps, prefix
        self.since, self.until = since, until
        width = max((len(c.name) for c in containers), default=0)
        self.sources: list[_Source] = []
        for i, c in enumerate(containers):
            label = c.name.ljust(width)
            if color:
                label = f"\x1b[{COLORS[i % len(COLORS)]}m{label}\x1b[0m"
            path = runtime.log_path(c.id)
            entries = _entries_of(path)
            skip = max(0, len(entries) - tail) if tail is not None and tail >= 0 else 0
            self.sources.append(_Source(label=label, path=path, offset=_size(path), inode=_inode(path),
                                        pending=entries[skip:]))

    def poll(self) -> None:
        for src in self.sources:
            entries = src.pending if src.pending is not None else self._new(src)
            src.pending = None  # what was there at the start goes out once; then only new lines
            for rec in entries:
                self._print(src.label, rec)
        self.out.flush()

    def _new(self, src: _Source) -> list[Record]:
        inode = _inode(src.path)
        if inode != src.inode:  # rotated: read the new file from its start
            src.inode, src.offset = inode, 0
        try:
            with open(src.path, "rb") as fh:
                fh.seek(src.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        src.offset += len(complete)
        out = []
        for line in complete.splitlines():
            if line.strip():
                raw = json.loads(line)
                out.append(Record(time=str(raw.get("time", "")), stream=str(raw.get("stream", "")),
                                  log=str(raw.get("log", ""))))
        return out

    def _print(self, label: str, rec: Record) -> None:
        from engine.runtime.logs import parse_timestamp

        if self.since is not None or self.until is not None:
            t = parse_timestamp(rec.time)
            if (self.since is not None and t < self.since) or (self.until is not None and t > self.until):
                return
        text = rec.log
        stamp = rec.time + " " if self.timestamps else ""
        head = f"{label}  | " if self.prefix else ""
        self.out.write(f"{head}{stamp}{text}" if text.endswith("\n") else f"{head}{stamp}{text}\n")


def _entries_of(path: str) -> list[Record]:
    from engine.runtime import logs as logfile

    return [Record(time=e.time, stream=e.stream, log=e.text) for e in logfile.read(path)]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _inode(path: str) -> int:
    try:
        return os.stat(path).st_ino
    except OSError:
        return 0


def show(session: Session, services: Sequence[str] = (), *, index: int | None = None, follow: bool = False,
         tail: int | None = None, since_time: float | None = None, until_time: float | None = None,
         timestamps: bool = False, color: bool = False, prefix: bool = True, poll: float = 0.1) -> None:
    """``logs``: print the containers' logs; with ``follow``, keep printing until every container stopped."""
    from .session import number_of

    containers = [c for c in session.containers(services or None) if index is None or number_of(c) == index]
    follower = LogFollower(session.rt, containers, color=color, tail=tail, timestamps=timestamps, prefix=prefix,
                           since=since_time, until=until_time)
    follower.poll()
    while follow:
        time.sleep(poll)
        follower.poll()
        if all(not session.refresh(c).running for c in containers):
            follower.poll()
            break
