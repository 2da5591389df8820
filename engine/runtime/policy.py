"""Restart policies and back-off, as pure functions of their inputs (Docker's rules).

``restart`` is ``no``, ``always``, ``unless-stopped`` or ``on-failure[:N]``.
A container that is being stopped is never restarted. The delay before a
restart starts at 100 ms and doubles with every quick exit, up to a minute;
a container that ran for more than 10 s starts over at 100 ms.

``PYCOMPOSE_RESTART_BACKOFF_MAX`` (seconds) lowers the ceiling; the tests
use it to run hundreds of restarts in seconds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

BACKOFF_START = 0.1
BACKOFF_MAX = 60.0
BACKOFF_RESET = 10.0  # seconds of running after which the back-off starts over


def should_restart(policy: str, code: int | None, count: int, stopping: bool) -> bool:
    """Whether a container that exited with ``code``, after ``count`` restarts, starts again.

    An unknown code (a container that ended while its supervisor was away) counts as a failure.
    """
    if stopping:
        return False
    name, _, limit = policy.partition(":")
    if name in ("always", "unless-stopped"):
        return True
    if name == "on-failure" and code != 0:
        return not limit or count < int(limit)
    return False


def next_backoff(previous: float, ran_for: float, *, start: float = BACKOFF_START,
                 ceiling: float = BACKOFF_MAX, reset: float = BACKOFF_RESET) -> float:
    """The delay before the next restart, after one of ``previous`` and a run of ``ran_for`` seconds."""
    if ran_for > reset:
        return min(start, ceiling)
    return min(previous * 2, ceiling)


def backoff_ceiling(environ: Mapping[str, str] = os.environ) -> float:
    """BACKOFF_MAX, or the lower ceiling ``PYCOMPOSE_RESTART_BACKOFF_MAX`` asks for."""
    try:
        wanted = float(environ.get("PYCOMPOSE_RESTART_BACKOFF_MAX", BACKOFF_MAX))
    except ValueError:
        return BACKOFF_MAX
    return min(max(wanted, 0.0), BACKOFF_MAX)
