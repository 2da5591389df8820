"""Durations, sizes and container status texts, worded as Docker words them.

Pure functions of values (the clock is a parameter). The wording follows
go-units v0.5.0 (``HumanDuration``, ``HumanSizeWithPrecision``,
``BytesSize``) and moby v28.5.1's ``container.State.String``
(``Up 1 second (health: starting)``, ``Exited (0) About a minute ago``),
which is what ``docker compose ps`` prints.
"""

from __future__ import annotations

import time

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def human_duration(seconds: float) -> str:
    """``Less than a second``, ``1 second``, ``About a minute``, ``3 hours``, ``2 weeks``..."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def _scaled(size: float, base: float, units: tuple[str, ...]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def human_size(size: float, precision: int = 4) -> str:
    """Decimal units, ``precision`` significant digits: ``7.8MB``, ``1.23kB``, ``0B``."""
    value, unit = _scaled(float(size), 1000.0, _DECIMAL)
    return f"{value:.{precision}g}{unit}"


def bytes_size(size: float) -> str:
    """Binary units, four significant digits: ``1.5MiB``, ``7.6GiB``."""
    value, unit = _scaled(float(size), 1024.0, _BINARY)
    return f"{value:.4g}{unit}"


def since(stamp: str | None, now: float | None = None) -> float:
    """Seconds from an RFC 3339 time to ``now`` (0 when there is none)."""
    from engine.runtime.logs import parse_timestamp

    if not stamp:
        return 0.0
    return max(0.0, (time.time() if now is None else now) - parse_timestamp(stamp))


def ago(stamp: str | None, now: float | None = None) -> str:
    """``About a minute ago``, ``Less than a second ago`` (``""`` when there is no time)."""
    if not stamp:
        return ""
    return human_duration(since(stamp, now)) + " ago"


def status_text(status: str, *, started_at: str | None, finished_at: str | None, exit_code: int | None,
                health: str | None, now: float | None = None) -> str:
    """The ``STATUS`` column: ``Up 5 minutes (healthy)``, ``Up 2 seconds (Paused)``,
    ``Restarting (1) 3 seconds ago``, ``Exited (137) About an hour ago``, ``Created``."""
    if status in ("running", "paused"):
        up = human_duration(since(started_at, now))
        if status == "paused":
            return f"Up {up} (Paused)"
        if health:
            return f"Up {up} ({'health: starting' if health == 'starting' else health})"
        return f"Up {up}"
    code = "unknown" if exit_code is None else exit_code  # lost with a supervisor that died (README)
    if status == "restarting":
        return f"Restarting ({code}) {human_duration(since(finished_at, now))} ago"
    if status == "exited" and started_at:
        if not finished_at:
            return ""
        return f"Exited ({code}) {human_duration(since(finished_at, now))} ago"
    return "Created"


def state_text(status: str, started_at: str | None) -> str:
    """The ``State`` field: running, paused, restarting, exited, created (never started)."""
    if status == "exited" and not started_at:
        return "created"
    return status
