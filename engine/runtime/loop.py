"""The supervisor's event loop: file descriptors, timers and signals on one thread, nothing that waits.

Callbacks take no arguments (they close over what they need) and are looked
up when their event is dispatched, not when select() returned, so a callback
that closes or re-registers another fd in the same round is never called
with stale data. Callbacks must tolerate a spurious wake-up: every fd the
loop watches is non-blocking or only watched once it is ready. An fd is
unwatched before it is closed, so its number can be reused at once.

Signal handlers only record the signal and write to a wake-up fd; the work a
signal asks for runs later in the loop, like every other event. A failing
callback is logged and never stops the loop (and every container with it).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

Callback = Callable[[], None]
FileLike = int | socket.socket


@dataclass(eq=False)
class Timer:
    """A callback due at ``when`` (monotonic seconds); cancel() makes it never run."""

    when: float
    callback: Callback
    cancelled: bool = field(default=False, init=False)

    def cancel(self) -> None:
        self.cancelled = True


def _fd(obj: FileLike) -> int:
    return obj if isinstance(obj, int) else obj.fileno()


class Loop:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.sel = selectors.DefaultSelector()
        self._callbacks: dict[tuple[int, int], Callback] = {}  # (fd, event) -> callback
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._signals: dict[int, Callback] = {}
        self._raised: list[int] = []
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None

    # -- file descriptors -----------------------------------------------------

    def watch(self, obj: FileLike, callback: Callback, event: int = selectors.EVENT_READ) -> None:
        """Call ``callback`` whenever ``obj`` is ready for ``event`` (read or write), until unwatched."""
        fd = _fd(obj)
        self._callbacks[(fd, event)] = callback
        try:
            key = self.sel.get_key(fd)
        except KeyError:
            self.sel.register(fd, event)
            return
        self.sel.modify(fd, key.events | event)

    def unwatch(self, obj: FileLike, event: int = selectors.EVENT_READ | selectors.EVENT_WRITE) -> None:
        """Stop watching ``obj`` for ``event`` (both by default); unknown fds are ignored."""
        fd = _fd(obj)
        if fd < 0:
            return
        for ev in (selectors.EVENT_READ, selectors.EVENT_WRITE):
            if ev & event:
                self._callbacks.pop((fd, ev), None)
        try:
            key = self.sel.get_key(fd)
        except (KeyError, ValueError):
            return
        left = key.events & ~event
        if left:
            self.sel.modify(fd, left)
        else:
            self.sel.unregister(fd)

    def watching(self, obj: FileLike, event: int = selectors.EVENT_READ) -> bool:
        return (_fd(obj), event) in self._callbacks

    # -- timers ---------------------------------------------------------------

    def later(self, delay: float, callback: Callback) -> Timer:
        timer = Timer(self.clock() + max(0.0, delay), callback)
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        return timer

    def timers(self) -> int:
        """How many timers are still due (cancelled ones not counted)."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)

    def _next_due(self) -> float | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def _run_timers(self) -> None:
        now = self.clock()
        while (due := self._next_due()) is not None and due <= now:
            _, _, timer = heapq.heappop(self._timers)
            timer.cancelled = True  # it ran: cancelling it later is a no-op
            guard(timer.callback)

    # -- signals --------------------------------------------------------------

    def on_signal(self, signum: int, callback: Callback) -> None:
        """Run ``callback`` in the loop after ``signum`` arrives; the handler itself only records it."""
        if self._wake_r is None:
            self._wake_r, self._wake_w = socket.socketpair()
            for s in (self._wake_r, self._wake_w):
                s.setblocking(False)
            signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
            self.watch(self._wake_r, self._drain_wakeups)
        self._signals[signum] = callback
        signal.signal(signum, self._handler)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self._raised.append(signum)  # a flag; the work runs in the loop

    def _drain_wakeups(self) -> None:
        assert self._wake_r is not None
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while self._wake_r.recv(4096):
                pass
        while self._raised:
            callback = self._signals.get(self._raised.pop(0))
            if callback is not None:
                guard(callback)

    # -- running --------------------------------------------------------------

    def run_once(self, max_wait: float) -> None:
        """Wait for events up to ``max_wait`` seconds (less when a timer is due), dispatch them, run due timers."""
        due = self._next_due()
        wait = max_wait if due is None else min(max_wait, max(0.0, due - self.clock()))
        if self._raised:
            wait = 0.0
        for key, mask in self.sel.select(wait):
            for ev in (selectors.EVENT_READ, selectors.EVENT_WRITE):
                if mask & ev:
                    callback = self._callbacks.get((key.fd, ev))  # looked up now: it may have gone
                    if callback is not None:
                        guard(callback)
        if self._raised:
            self._drain_wakeups()
        self._run_timers()

    def forget_in_child(self) -> None:
        """In a child forked from the loop's process: drop the signal plumbing (the loop is not the child's)."""
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)
        for signum in self._signals:
            signal.signal(signum, signal.SIG_DFL)

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        self.sel.close()


def guard(callback: Callback) -> None:
    """Run one event's callback; a failure is logged, never raised into the loop."""
    try:
        callback()
    except Exception:  # noqa: BLE001 - one container's failure must not stop the others
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()


def reap(loop: Loop, pid: int, pidfd: int, then: Callback | None = None) -> None:
    """Collect the exit of child ``pid`` once it comes (through its pidfd), without waiting here."""

    def collect() -> None:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if not done:
            return
        loop.unwatch(pidfd)
        os.close(pidfd)
        if then is not None:
            then()

    loop.watch(pidfd, collect)
