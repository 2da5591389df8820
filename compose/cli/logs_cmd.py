"""``pycompose logs``, and the log follower ``up`` attaches with."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Annotated, Any

import typer

from .context import GlobalOptions

COLORS = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"]


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)


def _since(value: str | None) -> float | None:
    """``10m``, ``2h``, ``30s`` ago, or an RFC 3339 time or a Unix timestamp."""
    if not value:
        return None
    from engine.runtime.logs import parse_timestamp

    from ..config.units import parse_duration

    try:
        return time.time() - parse_duration(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return parse_timestamp(value if "T" in value else value + "T00:00:00Z")


class LogFollower:
    """Prints new entries of several containers' logs, each line prefixed with the container's name."""

    def __init__(self, runtime: Any, containers: list[Any], *, color: bool, tail: int | None, timestamps: bool,
                 prefix: bool = True, since: float | None = None, until: float | None = None) -> None:
        self.rt = runtime
        self.color, self.timestamps, self.prefix = color, timestamps, prefix
        self.since, self.until = since, until
        width = max((len(c.name) for c in containers), default=0)
        self.sources = []
        for i, c in enumerate(containers):
            label = c.name.ljust(width)
            if color:
                label = f"\x1b[{COLORS[i % len(COLORS)]}m{label}\x1b[0m"
            path = runtime.log_path(c.id)
            entries = list(_entries_of(path))
            skip = max(0, len(entries) - tail) if tail is not None and tail >= 0 else 0
            self.sources.append({"label": label, "path": path, "pending": entries[skip:], "offset": _size(path),
                                 "inode": _inode(path)})

    def poll(self) -> None:
        out = sys.stdout
        for src in self.sources:
            entries = src["pending"] if src["pending"] is not None else self._new(src)
            src["pending"] = None  # what was there at the start goes out once; then only new lines
            for rec in entries:
                self._print(out, src["label"], rec)
        out.flush()

    def _new(self, src: dict[str, Any]) -> list[dict[str, str]]:
        inode = _inode(src["path"])
        if inode != src["inode"]:  # rotated: read the new file from its start
            src["inode"], src["offset"] = inode, 0
        try:
            with open(src["path"], "rb") as fh:
                fh.seek(src["offset"])
                data = fh.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        src["offset"] += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def _print(self, out: Any, label: str, rec: dict[str, str]) -> None:
        from engine.runtime.logs import parse_timestamp

        if self.since is not None or self.until is not None:
            t = parse_timestamp(rec.get("time", ""))
            if (self.since is not None and t < self.since) or (self.until is not None and t > self.until):
                return
        text = rec.get("log", "")
        stamp = rec.get("time", "") + " " if self.timestamps else ""
        head = f"{label}  | " if self.prefix else ""
        out.write(f"{head}{stamp}{text}" if text.endswith("\n") else f"{head}{stamp}{text}\n")


def _entries_of(path: str) -> list[dict[str, str]]:
    from engine.runtime import logs as logfile

    return [{"time": e.time, "stream": e.stream, "log": e.text} for e in logfile.read(path)]


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


def logs(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services")] = None,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Follow log output")] = False,
    tail: Annotated[str, typer.Option("-n", "--tail", help="Lines from the end of each log, or all")] = "all",
    since: Annotated[str | None, typer.Option("--since", help="Since a time (RFC 3339) or a duration (10m)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Until a time or a duration ago")] = None,
    timestamps: Annotated[bool, typer.Option("-t", "--timestamps", help="Show timestamps")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="Monochrome output")] = False,
    no_log_prefix: Annotated[bool, typer.Option("--no-log-prefix", help="No container name prefix")] = False,
    index: Annotated[int | None, typer.Option("--index", help="Only this replica")] = None,
) -> None:
    """View output from containers."""
    from ..deploy import labels
    from ..errors import UsageError
    from .up_cmd import orchestrator

    opts: GlobalOptions = ctx.obj
    orch = orchestrator(opts, tuple(services or ()))
    chosen = [c for c in orch.containers() if (not services or c.spec.labels.get(labels.SERVICE) in services)
              and (index is None or c.spec.labels.get(labels.NUMBER) == str(index))]
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise UsageError(f'--tail wants a number or "all", not "{tail}"')
    follower = LogFollower(orch.rt, chosen, color=not no_color and sys.stdout.isatty(),
                           tail=None if tail == "all" else int(tail), timestamps=timestamps,
                           prefix=not no_log_prefix, since=_since(since), until=_since(until))
    follower.poll()
    while follow:
        time.sleep(0.1)
        follower.poll()
        if all(not orch.rt.get(c.id).running for c in chosen):
            follower.poll()
            break
