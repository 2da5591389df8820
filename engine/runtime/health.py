"""Healthchecks, run by the supervisor without ever blocking it.

A probe is forked into the container (its namespaces and cgroup), its output
read through a pipe and its end seen through a pidfd, all in the supervisor's
loop; a probe that overruns its timeout is killed as a process group.
Docker's rules: probes every ``start_interval`` during ``start_period`` (whose
failures do not count), then every ``interval``; ``retries`` failures in a row
make the container unhealthy; the last five results are kept in its state.

The supervisor tells this module when a container starts running
(``watch``) and when it ends (``forget``); nothing else of it is needed here.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field

from .cgroups import Cgroups
from .enter import ExecOptions, fork_exec
from .logs import timestamp
from .loop import Loop, Timer, reap
from .recorder import Recorder
from .records import HealthResult, HealthState
from .spec import ContainerSpec, Healthcheck

OUTPUT_MAX = 4096  # bytes of a probe's output kept


@dataclass(eq=False)
class Probe:
    """One run of the healthcheck command: its process and what it printed so far."""

    pid: int
    pidfd: int
    out: int  # its stdout and stderr
    err: int  # why it could not run, if it could not
    start: str
    deadline: Timer
    output: bytearray = field(default_factory=bytearray)
    timed_out: bool = False


@dataclass(eq=False)
class Checked:
    """A running container's healthcheck and where it stands."""

    spec: ContainerSpec
    check: Healthcheck
    pid1: int
    started: float  # monotonic time the container started
    status: str = "starting"
    failing: int = 0
    log: tuple[HealthResult, ...] = ()
    next: Timer | None = None
    probe: Probe | None = None

    def state(self) -> HealthState:
        return HealthState(status=self.status, failing_streak=self.failing, log=self.log)


class Healthchecks:
    def __init__(self, loop: Loop, recorder: Recorder, cgroups: Cgroups) -> None:
        self.loop = loop
        self.recorder = recorder
        self.cgroups = cgroups
        self.checked: dict[str, Checked] = {}

    def watch(self, cid: str, spec: ContainerSpec, pid1: int, started: float,
              since: HealthState | None = None) -> HealthState | None:
        """Start checking a container that has just started (or, adopted, goes on from its health
        ``since``); its health now (None: it has no check)."""
        self.forget(cid)
        if spec.healthcheck is None:
            return None
        checked = Checked(spec=spec, check=spec.healthcheck, pid1=pid1, started=started)
        if since is not None:
            checked.status, checked.failing, checked.log = since.status, since.failing_streak, since.log
        self.checked[cid] = checked
        checked.next = self.loop.later(self._delay(checked), lambda: self._probe(cid))
        return checked.state()

    def forget(self, cid: str) -> None:
        """The container ended: no more probes, and a running one is killed (and reaped later)."""
        checked = self.checked.pop(cid, None)
        if checked is None:
            return
        if checked.next is not None:
            checked.next.cancel()
        if checked.probe is not None:
            probe = checked.probe
            checked.probe = None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(probe.pid, signal.SIGKILL)
            self._close(probe, keep_pidfd=True)
            reap(self.loop, probe.pid, probe.pidfd)

    def _delay(self, checked: Checked) -> float:
        in_start = self.loop.clock() - checked.started < checked.check.start_period
        return checked.check.start_interval if in_start and checked.status == "starting" else checked.check.interval

    def _probe(self, cid: str) -> None:
        """Run the healthcheck command in the container, without waiting for it here."""
        checked = self.checked.get(cid)
        if checked is None:
            return
        checked.next = None
        test = checked.check.test
        argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else list(test[1:])
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        try:
            entered = fork_exec(checked.pid1, checked.spec, self.cgroups.container(cid), ExecOptions(argv=argv),
                                output=out_w)
        except Exception as exc:  # noqa: BLE001 - reported as the probe's result
            os.close(out_r)
            self._done(cid, 1, f"cannot run the healthcheck: {exc}")
            return
        finally:
            os.close(out_w)
        for fd in (out_r, entered.errors):
            os.set_blocking(fd, False)
        probe = Probe(pid=entered.pid, pidfd=os.pidfd_open(entered.pid), out=out_r, err=entered.errors,
                      start=timestamp(), deadline=self.loop.later(checked.check.timeout, lambda: self._timeout(cid)))
        checked.probe = probe
        self.loop.watch(out_r, lambda: self._output(cid, probe))
        self.loop.watch(probe.pidfd, lambda: self._exited(cid, probe))

    def _output(self, cid: str, probe: Probe) -> None:
        with contextlib.suppress(BlockingIOError):
            data = os.read(probe.out, OUTPUT_MAX)
            if not data:
                self.loop.unwatch(probe.out)
            elif len(probe.output) < OUTPUT_MAX:
                probe.output += data

    def _timeout(self, cid: str) -> None:
        checked = self.checked.get(cid)
        if checked is not None and checked.probe is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(checked.probe.pid, signal.SIGKILL)
            checked.probe.timed_out = True

    def _close(self, probe: Probe, keep_pidfd: bool = False) -> None:
        probe.deadline.cancel()
        for fd in (probe.out, probe.err) if keep_pidfd else (probe.out, probe.err, probe.pidfd):
            self.loop.unwatch(fd)
            os.close(fd)

    def _exited(self, cid: str, probe: Probe) -> None:
        pid, status = os.waitpid(probe.pid, os.WNOHANG)
        if not pid:
            return  # not yet
        with contextlib.suppress(OSError):
            while len(probe.output) < OUTPUT_MAX and (data := os.read(probe.out, OUTPUT_MAX)):
                probe.output += data
        error = b""
        with contextlib.suppress(OSError):
            error = os.read(probe.err, OUTPUT_MAX)
        self._close(probe)
        checked = self.checked.get(cid)
        if checked is None or checked.probe is not probe:
            return
        checked.probe = None
        if probe.timed_out:
            code, output = -1, f"Health check exceeded timeout ({checked.check.timeout:g}s)"
        else:
            code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            output = (error or bytes(probe.output)).decode(errors="replace")
        self._done(cid, code, output, probe.start)

    def _done(self, cid: str, code: int, output: str, start: str | None = None) -> None:
        checked = self.checked.get(cid)
        if checked is None:
            return
        if code == 0:
            checked.failing, checked.status = 0, "healthy"
        elif self.loop.clock() - checked.started >= checked.check.start_period or checked.status != "starting":
            checked.failing += 1  # failures during the start period do not count
            if checked.failing >= checked.check.retries:
                checked.status = "unhealthy"
        result = HealthResult(start=start or timestamp(), end=timestamp(), exit_code=code, output=output[-OUTPUT_MAX:])
        checked.log = (*checked.log, result)[-5:]
        self.recorder.update(cid, health=checked.state())
        checked.next = self.loop.later(self._delay(checked), lambda: self._probe(cid))
