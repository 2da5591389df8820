"""Healthchecks, run by the supervisor without ever blocking it.

A probe is forked into the container (its namespaces and cgroup), its output
read through a pipe and its end seen through a pidfd, all in the supervisor's
selector loop; a probe that overruns its timeout is killed as a process group.
Docker's rules: probes every ``start_interval`` during ``start_period`` (whose
failures do not count), then every ``interval``; ``retries`` failures in a row
make the container unhealthy; the last five results are kept in its state.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import time
from typing import TYPE_CHECKING, Any

from .logs import timestamp

if TYPE_CHECKING:
    from .supervisor import Supervised


class Healthchecks:
    """Mixed into the Supervisor, whose loop, timers, records and cgroups it uses."""

    containers: dict[str, Any]
    sel: selectors.BaseSelector
    records: Any
    cgroups: Any

    def _later(self, delay: float, fn: Any) -> Any: ...  # provided by the Supervisor
    def _cancel(self, entry: Any) -> None: ...

    def _probe_delay(self, sv: Supervised) -> float:
        hc = sv.spec.healthcheck
        assert hc is not None
        in_start = time.monotonic() - sv.started < hc.start_period
        return hc.start_interval if in_start and sv.health == "starting" else hc.interval

    def _probe(self, cid: str) -> None:
        """Run the healthcheck command in the container, without waiting for it here."""
        from .exec import ExecOptions, fork_exec

        sv = self.containers.get(cid)
        sv_proc = sv.proc if sv else None
        if sv is None or sv_proc is None or sv.spec.healthcheck is None:
            return
        sv.probe_at = None
        test = sv.spec.healthcheck.test
        argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else list(test[1:])
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid, err_r, _ = fork_exec(sv_proc.pid, sv.spec, self.cgroups.container(cid), ExecOptions(argv=argv),
                                      output=out_w)
        except OSError as exc:
            os.close(out_r)
            os.close(out_w)
            self._probe_done(cid, 1, f"cannot run the healthcheck: {exc}")
            return
        os.close(out_w)
        os.set_blocking(out_r, False)
        pidfd = os.pidfd_open(pid)
        probe = {"pid": pid, "pidfd": pidfd, "out": out_r, "err": err_r, "buf": b"", "start": timestamp(),
                 "timer": self._later(sv.spec.healthcheck.timeout, lambda: self._probe_timeout(cid))}
        sv.probe = probe
        self.sel.register(out_r, selectors.EVENT_READ, lambda fd: self._probe_output(cid, fd))
        self.sel.register(pidfd, selectors.EVENT_READ, lambda fd: self._probe_exited(cid))

    def _probe_output(self, cid: str, fd: int) -> None:
        sv = self.containers.get(cid)
        if sv is None or sv.probe is None or sv.probe["out"] != fd:
            return
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        if not data:
            self.sel.unregister(fd)
            return
        if sv is not None and sv.probe is not None and len(sv.probe["buf"]) < 4096:
            sv.probe["buf"] += data

    def _probe_timeout(self, cid: str) -> None:
        sv = self.containers.get(cid)
        if sv is not None and sv.probe is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(sv.probe["pid"], signal.SIGKILL)
            sv.probe["timed_out"] = True

    def _close_probe(self, probe: dict[str, Any]) -> None:
        for key in ("out", "pidfd"):
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(probe[key])
            with contextlib.suppress(OSError):
                os.close(probe[key])
        with contextlib.suppress(OSError):
            os.close(probe["err"])
        self._cancel(probe["timer"])

    def _probe_exited(self, cid: str) -> None:
        sv = self.containers.get(cid)
        if sv is None or sv.probe is None:
            return  # the container ended in the same round, and its probe was reaped with it
        probe = sv.probe
        _, status = os.waitpid(probe["pid"], 0)
        with contextlib.suppress(OSError):
            while data := os.read(probe["out"], 4096):
                probe["buf"] += data
        error = b""
        with contextlib.suppress(OSError):
            error = os.read(probe["err"], 4096)
        self._close_probe(probe)
        sv.probe = None
        if probe.get("timed_out"):
            code, output = -1, f"Health check exceeded timeout ({sv.spec.healthcheck.timeout:g}s)"  # type: ignore[union-attr]
        else:
            code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            output = (error or probe["buf"]).decode(errors="replace")
        self._probe_done(cid, code, output, probe["start"])

    def _probe_done(self, cid: str, code: int, output: str, start: str | None = None) -> None:
        sv = self.containers.get(cid)
        if sv is None or sv.proc is None or sv.spec.healthcheck is None:
            return
        hc = sv.spec.healthcheck
        if code == 0:
            sv.failing, sv.health = 0, "healthy"
        elif time.monotonic() - sv.started >= hc.start_period or sv.health != "starting":
            sv.failing += 1  # failures during the start period do not count
            if sv.failing >= hc.retries:
                sv.health = "unhealthy"
        sv.health_log = (sv.health_log + [{"start": start or timestamp(), "end": timestamp(),
                                           "exit_code": code, "output": output[-4096:]}])[-5:]
        self.records.update(cid, health={"status": sv.health, "failing_streak": sv.failing, "log": sv.health_log})
        sv.probe_at = self._later(self._probe_delay(sv), lambda: self._probe(cid))

    def _end_probes(self, sv: Supervised) -> None:
        if sv.probe_at is not None:
            self._cancel(sv.probe_at)
            sv.probe_at = None
        if sv.probe is not None:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.killpg(sv.probe["pid"], signal.SIGKILL)
                os.waitpid(sv.probe["pid"], 0)
            self._close_probe(sv.probe)
            sv.probe = None

