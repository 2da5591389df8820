"""Containers' output as ``logs`` and attached ``up`` print it: ``db-1  | line``, followed as it grows.

The prefix and colours are Docker Compose v2.40.3's (cmd/formatter/logs.go,
colors.go at 49b1c1e9): the container's name without the project, padded
to the longest name plus one, then `` | ``, the whole prefix in the colour
of its service; the colours cycle through cyan, yellow, green, magenta,
blue and their bold forms. A service keeps its colour: it is given by the
service's place among the services shown. Attached ``up`` writes the lines
a container wrote on stderr to our stderr (as Compose attaches both
streams); ``logs`` writes them all to stdout (as Compose copies both to it).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from . import labels
from .session import short_name

if TYPE_CHECKING:
    from engine.runtime.containers import Container, Runtime

    from .session import Session

COLORS = ("36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1")
RESET_LINE = "\r\x1b[K"


def colored(code: str, text: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m"


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


class LogPrinter:
    """Prints lines of several containers with their prefixes, and status lines (``web-1 exited with code 0``).

    ``colors`` maps a source (the short container name) to its colour code. Thread-safe.
    """

    def __init__(self, sources: Sequence[str], colors: dict[str, str] | None = None, *, color: bool = False,
                 prefix: bool = True, timestamps: bool = False, out: TextIO | None = None,
                 err: TextIO | None = None, split_streams: bool = True) -> None:
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.split_streams = split_streams  # a container's stderr lines to ``err`` (else all to ``out``)
        self.color, self.prefix, self.timestamps = color, prefix, timestamps
        self.colors = dict(colors or {})
        self.width = max((len(s) for s in sources), default=0) + 1
        self.lock = threading.Lock()

    def _paint(self, source: str, text: str) -> str:
        code = self.colors.get(source)
        return colored(code, text) if self.color and code else text

    def head(self, source: str) -> str:
        return self._paint(source, f"{source:<{self.width}} | ") if self.prefix else ""

    def line(self, source: str, text: str, *, stream: str = "stdout", stamp: str = "") -> None:
        target = self.err if stream == "stderr" and self.split_streams else self.out
        body = text[:-1] if text.endswith("\n") else text
        with self.lock:
            for part in body.split("\n"):
                target.write(f"{self.head(source)}{stamp + ' ' if self.timestamps and stamp else ''}{part}\n")
            target.flush()

    def status(self, source: str, message: str) -> None:
        """A line of the stream's own: ``web-1 exited with code 0`` (in the container's colour)."""
        reset = RESET_LINE if self.color else ""
        text = f"{source} {message}" if source else f" {message}"
        with self.lock:
            self.out.write(self._paint(source, reset + text) + "\n")
            self.out.flush()


def service_colors(containers: Sequence[Container]) -> dict[str, str]:
    """Each container's colour: its service's place among the services shown, so replicas share one."""
    services = sorted({c.spec.labels.get(labels.SERVICE, c.name) for c in containers})
    place = {s: COLORS[i % len(COLORS)] for i, s in enumerate(services)}
    return {short_name(c): place[c.spec.labels.get(labels.SERVICE, c.name)] for c in containers}


@dataclass
class Record:
    time: str
    stream: str
    log: str


@dataclass
class _Source:
    name: str
    path: str
    offset: int
    inode: int
    pending: list[Record] = field(default_factory=list)


class LogFollower:
    """Reads what several containers write to their logs: at first what ``tail`` keeps (all of it when
    None, nothing with ``new_only``), then each new line once."""

    def __init__(self, runtime: Runtime, containers: Sequence[Container], printer: LogPrinter, *,
                 tail: int | None = None, new_only: bool = False, since: float | None = None,
                 until: float | None = None) -> None:
        self.printer = printer
        self.since, self.until = since, until
        self.sources: list[_Source] = []
        for c in containers:
            self.add(runtime, c, tail=tail, new_only=new_only)

    def add(self, runtime: Runtime, c: Container, *, tail: int | None = None, new_only: bool = True) -> None:
        path = runtime.log_path(c.id)
        src = _Source(name=short_name(c), path=path, offset=_size(path), inode=_inode(path))
        if not new_only:
            entries = _entries_of(path)
            skip = max(0, len(entries) - tail) if tail is not None and tail >= 0 else 0
            src.pending = entries[skip:]
        self.sources.append(src)

    def poll(self) -> None:
        """Print what is new."""
        for src in self.sources:
            entries, src.pending = src.pending + self._new(src), []
            for rec in entries:
                self._print(src.name, rec)

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
                try:
                    raw = json.loads(line)
                except ValueError:
                    continue
                out.append(Record(time=str(raw.get("time", "")), stream=str(raw.get("stream", "")),
                                  log=str(raw.get("log", ""))))
        return out

    def _print(self, name: str, rec: Record) -> None:
        from engine.runtime.logs import parse_timestamp

        if self.since is not None or self.until is not None:
            t = parse_timestamp(rec.time)
            if (self.since is not None and t < self.since) or (self.until is not None and t > self.until):
                return
        self.printer.line(name, rec.log, stream=rec.stream, stamp=rec.time)


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
    from .monitor import Monitor
    from .session import number_of

    containers = sorted((c for c in session.containers(services or None) if index is None or number_of(c) == index),
                        key=lambda c: c.name)
    printer = LogPrinter([short_name(c) for c in containers], service_colors(containers), color=color,
                         prefix=prefix, timestamps=timestamps, split_streams=False)
    follower = LogFollower(session.rt, containers, printer, tail=tail, since=since_time, until=until_time)
    follower.poll()
    if not follow:
        return
    monitor = Monitor(session.rt, containers, stopped_done=True)
    while monitor.running():
        time.sleep(poll)
        events = monitor.poll()
        follower.poll()
        for e in events:
            if e.kind == "exited":
                printer.status(e.source, f"exited with code {e.exit_code}" + (" (restarting)" if e.restarting else ""))
    follower.poll()
