"""Attached ``up``: stream the containers' output until they exit or the user interrupts, then stop them."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from . import labels
from .logs import LogFollower

if TYPE_CHECKING:
    from .session import Session


def attach(session: Session, services: Sequence[str], abort_on_exit: bool, exit_code_from: str | None,
           timeout: float | None) -> int:
    """Stream the containers' output; Ctrl-C stops the project, a second one kills it. The exit code."""
    rt, progress = session.rt, session.progress
    containers = session.containers(services or None)
    follower = LogFollower(rt, containers, color=sys.stdout.isatty(), tail=None, timestamps=False)
    interrupted = [0]

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        interrupted[0] += 1
        if interrupted[0] == 1:
            progress.message("Gracefully stopping... (press Ctrl+C again to force)")
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)
    code = 0
    try:
        while True:
            follower.poll()
            states = {c.id: rt.get(c.id) for c in containers}
            done = [c for c in states.values() if c.status == "exited"]
            if abort_on_exit and done:
                first = done[0]
                progress.message(f"{first.name} exited with code {first.exit_code}")
                break
            if len(done) == len(states) and states:
                break
            time.sleep(0.1)
    except KeyboardInterrupt:
        code = 130
    follower.poll()
    try:
        for c in containers:
            if rt.get(c.id).running:
                progress.event("Container", c.name, "Stopping")
                rt.stop(c.id, 0 if interrupted[0] > 1 else timeout)
                progress.event("Container", c.name, "Stopped")
    except KeyboardInterrupt:
        for c in containers:
            if rt.get(c.id).running:
                rt.kill(c.id)
    follower.poll()
    if exit_code_from:
        chosen = [rt.get(c.id) for c in containers if c.spec.labels.get(labels.SERVICE) == exit_code_from]
        return int(chosen[0].exit_code or 0) if chosen else 0
    return code
