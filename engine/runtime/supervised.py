"""A supervised container as the supervisor keeps it, and the facts about processes its decisions use."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from . import outputs, policy
from .launch import Launched, Starting
from .logs import LogWriter
from .loop import Timer
from .records import ContainerState, alive
from .spec import ContainerSpec


def catches(pid: int, sig: int) -> bool:
    """Whether ``pid`` will ever see ``sig``: it has a handler (SigCgt) or blocks it to wait for it
    (SigBlk, as tini does). A namespace's PID 1 with neither never receives it."""
    bit = 1 << (sig - 1)
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("SigCgt:", "SigBlk:")) and int(line.split()[1], 16) & bit:
                    return True
        # Inside sigtimedwait() the kernel moves the blocked mask aside (real_blocked, not shown
        # in /proc): a process waiting there, as tini does, receives the signal.
        with open(f"/proc/{pid}/wchan") as fh:
            return "sigtimedwait" in fh.read()
    except OSError:
        return True


def reattach(state: ContainerState, folder: str) -> Launched | None:
    """The process of a container that a dead supervisor ran, if it still runs: a pidfd on it (checked
    after it is opened, so a recycled PID is never taken for it) and its reopened output FIFOs."""
    if state.status not in ("running", "paused") or not alive(state.pid, state.pid_starttime):
        return None
    try:
        pidfd = os.pidfd_open(state.pid)
    except OSError:
        return None
    if not alive(state.pid, state.pid_starttime):
        os.close(pidfd)
        return None
    return Launched(pid=state.pid, pidfd=pidfd, outputs=outputs.reopen(folder), stdin=None)


def exit_code(status: int) -> int:
    """A wait status as Docker reports it: the exit code, or 128 + the signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


@dataclass(eq=False)
class Supervised:
    spec: ContainerSpec
    log: LogWriter
    starting: Starting | None = None
    proc: Launched | None = None
    ending: bool = False  # exited; its cgroup is being emptied
    stopping: bool = False
    starters: list[socket.socket] = field(default_factory=list)  # start requests, answered once it runs
    terminal_starters: list[socket.socket] = field(default_factory=list)  # ...answered with the terminal
    stdio: tuple[int, int, int] | None = None  # a client's stdin, stdout, stderr for the next launch (run)
    winsize: bytes | None = None  # a client's terminal size for the next launch (a struct winsize)
    held: bool = False  # a client holds the terminal (run, attach): what is left in it at the exit is the client's
    waiters: list[socket.socket] = field(default_factory=list)  # stop and wait requests, answered once it ends
    restart_count: int = 0
    adopted: bool = False  # taken over from a supervisor that died: not our child, its exit code unknowable
    oom_kills: int = 0  # the cgroup's OOM kills before this run
    backoff: float = policy.BACKOFF_START
    started: float = 0.0
    kill_at: Timer | None = None
    restart_at: Timer | None = None

    @property
    def active(self) -> bool:
        """Starting, running, ending or waiting to restart."""
        return self.starting is not None or self.proc is not None or self.ending or self.restart_at is not None
