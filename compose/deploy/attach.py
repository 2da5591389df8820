"""Attached ``up``: the containers' new output until they exit or the user interrupts, as Compose runs it.

The order is Docker Compose v2.40.3's (pkg/compose/up.go, 49b1c1e9):
create (the progress block), ``Attaching to db-1, web-1`` on stdout, then
start with the output followed from that moment (no earlier log history),
``web-1 exited with code 0`` as each watched container exits. The first
Ctrl-C (or SIGTERM) prints ``Gracefully Stopping... press Ctrl+C again to
force`` and stops the services, dependents first and independent ones in
parallel, while their output is still shown; a second one kills them.
``--abort-on-container-exit``/``-failure`` stop everything on the first
exit (or the first failure) and exit with that container's code;
``--exit-code-from`` exits with its service's code. The signal handler
only sets a flag: the loop here does the work.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from ..errors import Cancelled
from .logs import LogFollower, LogPrinter, colored, service_colors
from .monitor import Monitor
from .progress import Progress
from .session import service_of, short_name

if TYPE_CHECKING:
    from engine.runtime.containers import Container

    from .session import Session


@dataclass(frozen=True)
class AttachOptions:
    services: tuple[str, ...] = ()  # named on the command line: what is started, watched and stopped
    start: tuple[str, ...] = ()  # what is started (the services and their dependencies)
    attach_to: tuple[str, ...] = ()  # whose output is shown
    cascade: str = "ignore"  # ignore | stop (--abort-on-container-exit) | fail (--abort-on-container-failure)
    exit_code_from: str | None = None
    timeout: float | None = None
    color: bool = False
    prefix: bool = True
    timestamps: bool = False


class _MixedProgress(Progress):
    """Stop progress among the containers' output on a terminal: `` Container web-1  Stopping``."""

    def __init__(self, printer: LogPrinter) -> None:
        super().__init__("plain", printer.out)
        self.printer = printer

    def event(self, kind: str, name: str, status: str, detail: str = "", *, text: str = "") -> None:
        shown = colored("32", status) if self.printer.color else status
        self.printer.status("", f"{kind} {name} {text} {shown}")

    def message(self, text: str) -> None:
        self.printer.status("", colored("33;1", text) if self.printer.color else text)


class Attached:
    """One attached ``up`` after its create step: start, follow, stop. ``run`` returns the exit code."""

    def __init__(self, session: Session, opts: AttachOptions, *, out: TextIO | None = None,
                 err: TextIO | None = None, poll: float = 0.1) -> None:
        self.s, self.opts, self.poll = session, opts, poll
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.interrupts = 0
        self.exit_code = 0
        self.failure: BaseException | None = None
        self.threads: list[threading.Thread] = []
        self.stopping = self.killing = False

    # -- the signal handler: a flag, nothing more ----------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.interrupts += 1

    def run(self) -> int:
        s, opts = self.s, self.opts
        attached = sorted((c for c in s.containers(opts.attach_to) if service_of(c) in opts.attach_to),
                          key=lambda c: c.name) if opts.attach_to else []
        watched = s.containers(opts.services or opts.attach_to or None)
        sources = [short_name(c) for c in attached]
        self.printer = LogPrinter(sources, service_colors(attached), color=opts.color, prefix=opts.prefix,
                                  timestamps=opts.timestamps, out=self.out, err=self.err)
        if attached:
            self.out.write(f"Attaching to {', '.join(sources)}\n")
            self.out.flush()
        follower = LogFollower(s.rt, attached, self.printer, new_only=True)
        monitor = Monitor(s.rt, watched)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._spawn(self._start)
            self._loop(follower, monitor)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        follower.poll()
        if self.failure is not None and not isinstance(self.failure, Cancelled):
            raise self.failure
        return self.exit_code

    def _loop(self, follower: LogFollower, monitor: Monitor) -> None:
        opts = self.opts
        aborted = exit_set = False
        while True:
            follower.poll()
            for e in monitor.poll():
                if e.kind != "exited":
                    continue
                self.printer.status(e.source, f"exited with code {e.exit_code}"
                                    + (" (restarting)" if e.restarting else ""))
                if e.restarting:
                    continue
                if not aborted and (opts.cascade == "stop" or (opts.cascade == "fail" and e.exit_code != 0)):
                    aborted = True
                    self.exit_code = e.exit_code
                    text = "Aborting on container exit..."
                    self.err.write((colored("31;1", text) if opts.color else text) + "\n")
                    self._graceful()
                if opts.exit_code_from and e.service == opts.exit_code_from and not exit_set:
                    exit_set = True
                    self.exit_code = e.exit_code
            if self.interrupts and not self.stopping:
                self.out.write("Gracefully Stopping... press Ctrl+C again to force\n")
                self.out.flush()
                self._graceful()
            if self.interrupts > 1 and not self.killing:
                self.killing = True
                self._spawn(self._kill)
            starting = any(t.name == "start" and t.is_alive() for t in self.threads)
            if self.failure is not None and not isinstance(self.failure, Cancelled) and not self.stopping:
                return  # the start failed: what runs keeps running, as with Compose
            busy = any(t.is_alive() for t in self.threads)
            if not starting and not monitor.running() and not busy:
                return
            if self.stopping and not busy:
                return
            time.sleep(self.poll)

    # -- the work, off the loop ----------------------------------------------------------------

    def _spawn(self, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - handed to the loop
                if self.failure is None:
                    self.failure = exc

        name = "start" if target == self._start else target.__name__.strip("_")
        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _start(self) -> None:
        from . import lifecycle

        self.s.progress = Progress("quiet")  # Compose shows no progress while it starts attached services
        lifecycle.start(self.s, self.opts.start, cancel=lambda: self.interrupts > 0 or self.stopping)

    def _graceful(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.s.progress = _MixedProgress(self.printer) if self._terminal() else self._plain()
        self._spawn(self._stop)

    def _terminal(self) -> bool:
        try:
            return self.out.isatty() and self.err.isatty()
        except (AttributeError, ValueError):
            return False

    def _plain(self) -> Progress:
        current = self.s.progress
        return Progress("plain" if current.mode in ("quiet", "tty") else current.mode, self.err)

    def _stop(self) -> None:
        from . import lifecycle

        while any(t.name == "start" and t.is_alive() for t in self.threads):
            time.sleep(0.05)  # the start gives the project lock back once it sees the interruption
        lifecycle.stop(self.s, self.opts.services, self.opts.timeout)

    def _kill(self) -> None:
        targets = self.s.containers(self.opts.services or None)
        for c in targets:
            _kill_quietly(self.s, c)


def _kill_quietly(session: Session, c: Container) -> None:
    from engine.errors import EngineError

    try:
        if session.refresh(c).running:
            session.rt.kill(c.id)
    except EngineError:
        pass


def attach_set(session: Session, services: Sequence[str], *, attach: Sequence[str] = (),
               no_attach: Sequence[str] = (), dependencies: bool = False, no_deps: bool = False) -> tuple[str, ...]:
    """Whose output an attached ``up`` shows (cmd/compose/up.go): ``--attach``'s services as given; else the
    services named (with their dependencies under ``--attach-dependencies``), or all, less those with
    ``attach: false``; never those of ``--no-attach``."""
    from ..errors import UsageError

    project = session.project
    if attach:
        unknown = sorted(set(attach) - set(project.services))
        if unknown:
            raise UsageError(f"cannot attach to services not included in up: {', '.join(unknown)}")
        chosen = set(attach)
    else:
        base = project.select(services or None, with_deps=dependencies and not no_deps) if services else \
            set(project.services)
        chosen = {name for name in base if project.services[name].attach is not False}
    return tuple(sorted(chosen - set(no_attach)))
