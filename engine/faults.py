"""A test hook for crash consistency: ``PYCOMPOSE_TEST_KILL_AT=<point>`` makes the process that reaches
the named point SIGKILL itself there, as a crash or ``kill -9`` would.

The fault-injection tests (``tests/e2e/test_faults.py``) run ``up`` or ``down`` once per point, then
check that the next ``up`` and ``down -v`` leave nothing behind. Unset, a point costs one dict lookup.
Daemons started by a killed command inherit the variable, so a point reached only in a daemon
(none today) would kill the daemon instead.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "up.networks",  # networks made, nothing else
    "up.volumes",  # named volumes made
    "create.claimed",  # a container's folder claimed, nothing allocated for it yet
    "create.allocated",  # its addresses allocated, no record
    "create.volumes",  # its anonymous volumes made, no record
    "create.files",  # its folder written but for container.json
    "create.recorded",  # the record whole, its claim still there
    "up.created",  # a container created, not started
    "up.started",  # a container started
    "stop.sent",  # a stop asked of the supervisor, not yet done
    "remove.unrecorded",  # a container's record renamed aside, its folder not yet deleted
    "remove.removed",  # a container's folder deleted, its addresses not yet given back
    "down.containers",  # every container removed, the networks not yet
)


def point(name: str) -> None:
    """Die here, at once, if the test hook names this point."""
    if os.environ.get("PYCOMPOSE_TEST_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
