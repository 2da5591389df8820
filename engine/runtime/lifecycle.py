"""The life of each supervised container, driven by the supervisor's loop and never waiting in it.

A container moves through these steps, each started by an event:

- starting: forked and in its cgroup (``launch.begin``); its handshake goes
  on as its pipes become ready: namespaces ready -> veths plugged, ``go`` ->
  EOF on the error pipe (running) or an error (failed);
- running: its output is logged, its pidfd watched, its healthcheck probed;
- ending: it exited; what is left in its cgroup is killed, and emptiness is
  checked again from a timer, never waited for;
- then it restarts after a back-off (``policy``), or it is forgotten.

A ``start`` request is answered once the launch completes or fails (and once
its published ports forward); ``stop`` and ``wait`` once the container ended.
A stop or kill while it is starting kills the child; its reaping ends it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable

from ..errors import EngineError
from ..state import Root
from . import launch, policy, rootfs
from .cgroups import Cgroups
from .devices import policy_for
from .dnskeeper import DnsKeeper
from .health import Healthchecks
from .launch import Launched, Starting
from .logs import LogWriter, parse_timestamp, timestamp
from .loop import Loop
from .outbox import Outbox
from .portsync import PortSync, publication
from .protocol import signal_number
from .recorder import Recorder
from .records import ContainerState, Records, proc_starttime
from .supervised import Supervised, catches, exit_code, reattach

CGROUP_GRACE = 5.0  # seconds to wait for a cgroup to empty after its PID 1 ended
READ_SIZE = 256 << 10  # a container's output read at once: a few ms of logging, so the loop stays responsive
UNKNOWN_EXIT = "it ended while its supervisor was away, so its exit code is unknown"


class Lifecycle:
    def __init__(self, root: Root, loop: Loop, records: Records, recorder: Recorder, cgroups: Cgroups,
                 outbox: Outbox, ports: PortSync, health: Healthchecks) -> None:
        self.loop, self.records, self.recorder, self.cgroups = loop, records, recorder, cgroups
        self.outbox, self.ports, self.health = outbox, ports, health
        self.dns = DnsKeeper(loop, root)
        self.containers: dict[str, Supervised] = {}
        self.empty_dir = os.path.join(root.run, "empty")
        os.makedirs(self.empty_dir, exist_ok=True)
        self.ceiling = policy.backoff_ceiling()
        # set by the supervisor, which keeps the clients that hold a terminal
        self.hand_terminal: Callable[[str, socket.socket], None] = self._no_terminal

    def _no_terminal(self, cid: str, conn: socket.socket) -> None:
        self.outbox.reply(conn, {"ok": False, "error": "no terminal to hand over"})

    # -- requests -------------------------------------------------------------

    def start(self, cid: str, conn: socket.socket | None, *, stdio: tuple[int, int, int] | None = None,
              terminal: bool = False, winsize: bytes | None = None) -> bool:
        """Start ``cid``; True when the reply on ``conn`` comes later (when the launch completes).

        ``stdio``: a client's descriptors to give the process (the caller closes its copies).
        ``terminal``: the reply carries the container's terminal, handed over before anything is lost.
        """
        sv = self.containers.get(cid)
        if sv is not None and (sv.proc is not None or sv.ending):
            if stdio is not None or terminal:
                raise EngineError("the container is already running: it cannot be started attached")
            return False  # already running
        if sv is not None and sv.starting is not None:
            if conn is not None:
                sv.starters.append(conn)
            return conn is not None
        if sv is None:
            sv = self._supervise(cid)
        sv.stopping = False
        if sv.restart_at is not None:
            sv.restart_at.cancel()
            sv.restart_at = None
        if conn is not None:
            (sv.terminal_starters if terminal else sv.starters).append(conn)
        sv.stdio, sv.winsize = stdio, winsize
        try:
            self._launch(cid, sv)
        except BaseException:
            sv.starters = [c for c in sv.starters if c is not conn]
            sv.terminal_starters = [c for c in sv.terminal_starters if c is not conn]
            if not sv.active:
                self.forget(cid)
            raise
        return conn is not None

    def _supervise(self, cid: str) -> Supervised:
        spec = self.records.spec(cid)
        path = os.path.join(self.records.dir(cid), f"{cid}-json.log")
        sv = self.containers[cid] = Supervised(spec=spec, log=LogWriter(path, spec.log_max_size, spec.log_max_files))
        return sv

    def adopt(self, cid: str, state: ContainerState) -> None:
        """Take over a container whose supervisor died: watch its process through a pidfd (it is not our
        child), drain its output FIFOs, go on with its healthcheck, its restart policy and a stop that
        was under way. If it ended meanwhile, its end is recorded, with an unknown exit code."""
        sv = self._supervise(cid)
        sv.restart_count, sv.oom_kills, sv.adopted = state.restart_count, state.oom_kills, True
        self.recorder.update(cid, supervisor_pid=os.getpid(), supervisor_starttime=proc_starttime(os.getpid()))
        proc = reattach(state, self.records.dir(cid))
        if proc is None:
            sv.stopping, sv.ending = state.stopping, True
            ended: Callable[[], None] = lambda: self._ended(cid, sv, None)  # noqa: E731
            if state.status == "restarting":  # it was waiting out a back-off: it restarts now
                sv.adopted = False
                ended = lambda: self._restart_adopted(cid, sv)  # noqa: E731
            self._empty_cgroup(cid, self.loop.clock() + CGROUP_GRACE, ended)  # whatever a half-made run left
            return
        ran_for = 0.0
        with contextlib.suppress(ValueError):
            ran_for = max(0.0, time.time() - parse_timestamp(state.started_at or ""))
        sv.proc, sv.started = proc, self.loop.clock() - ran_for
        for fd, stream in proc.outputs.items():
            self.loop.watch(fd, self.reader(cid, fd, stream))
        self.loop.watch(proc.pidfd, lambda: self._process_event(cid))
        self.health.watch(cid, sv.spec, proc.pid, sv.started, since=state.health)
        if state.stopping:
            self.stop(cid, None, None)

    def _restart_adopted(self, cid: str, sv: Supervised) -> None:
        sv.ending = False
        if sv.stopping:
            self.recorder.update(cid, status="exited", stopping=False)
            self.forget(cid)
        else:
            self._schedule_restart(cid, sv, ran_for=0.0)

    def stop(self, cid: str, timeout: float | None, conn: socket.socket | None) -> bool:
        """The stop signal, the grace period, then SIGKILL; True when the reply comes once it ended."""
        sv = self.containers.get(cid)
        if sv is None:
            return False
        if sv.restart_at is not None:
            sv.stopping = True
            sv.restart_at.cancel()
            sv.restart_at = None
            self.recorder.update(cid, status="exited", stopping=False)
            self.forget(cid)
            return False
        self._stopping(cid, sv)
        if conn is not None and sv.active:
            sv.waiters.append(conn)
        if sv.starting is not None:
            sv.starting.aborted = True
            self._fail(sv.starting, "the container was stopped while it was starting", 137)
        elif sv.proc is not None and sv.kill_at is None:
            sig = signal_number(sv.spec.stop_signal)
            grace = sv.spec.stop_timeout if timeout is None else float(timeout)
            if sv.spec.pid != "host" and not catches(sv.proc.pid, sig):
                grace = 0.0  # PID 1 without a handler never gets the signal: do not wait for nothing
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(sv.proc.pid, sig)
            sv.kill_at = self.loop.later(grace, lambda: self._kill_all(cid))
        return conn is not None and sv.active

    def kill(self, cid: str, sig: int) -> None:
        sv = self.containers.get(cid)
        if sv is None or (sv.proc is None and sv.starting is None):
            raise EngineError(f"container {sv.spec.name if sv else cid} is not running")
        self._stopping(cid, sv)
        if sv.starting is not None:
            sv.starting.aborted = True
            self._fail(sv.starting, "the container was killed while it was starting", 137)
        elif sig == signal.SIGKILL:
            self._kill_all(cid)
        else:
            assert sv.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(sv.proc.pid, sig)

    def _stopping(self, cid: str, sv: Supervised) -> None:
        """The container is to end and not restart; on disk too, so that a command that asked for it and
        died, or a supervisor that adopts the container, knows (``ContainerState.stopping``)."""
        if not sv.stopping:
            sv.stopping = True
            self.recorder.update(cid, stopping=True)

    def wait(self, cid: str, conn: socket.socket) -> bool:
        sv = self.containers.get(cid)
        if sv is None or not sv.active:
            return False
        sv.waiters.append(conn)
        return True

    def shutdown(self) -> None:
        """Stop every container (each with its grace period)."""
        for cid, sv in list(self.containers.items()):
            if sv.active:
                self.stop(cid, None, None)
            else:
                self.forget(cid)

    def forget(self, cid: str) -> None:
        sv = self.containers.pop(cid, None)
        if sv is not None:
            sv.log.close()
            self._answer_waiters(cid, sv.waiters, self.records.state(cid).exit_code)

    # -- starting -------------------------------------------------------------

    def _launch(self, cid: str, sv: Supervised) -> None:
        """Fork the container; the rest of its start happens as its handshake's events come."""
        spec = sv.spec
        if spec.endpoints:
            self.dns.ensure()
        cgroup = self.cgroups.container(cid)
        if not cgroup.exists():
            cgroup.create(spec.limits, policy_for(spec))
        peers = {c: s.proc.pid for c, s in self.containers.items() if s.proc is not None}
        for mode in (spec.network, spec.ipc, spec.pid):
            if mode.startswith("container:") and mode[10:] not in peers:
                st = self.records.state(mode[10:])
                if st.status == "running" and proc_starttime(st.pid) == st.pid_starttime:
                    peers[mode[10:]] = st.pid
        stdio, sv.stdio = sv.stdio, None  # a client's descriptors serve this one launch only
        winsize, sv.winsize = sv.winsize, None
        try:
            starting = launch.begin(spec, rootfs.Bundle(self.records.dir(cid)), cgroup, self.empty_dir, peers,
                                    stdio, winsize)
        except (EngineError, OSError) as exc:
            self.recorder.update(cid, status="exited", exit_code=127, error=str(exc), finished_at=timestamp(), pid=0)
            raise
        starting.before_close = self.loop.unwatch
        sv.starting = starting
        self.loop.watch(starting.ready, lambda: self._namespaces_ready(cid, starting))
        self.loop.watch(starting.pidfd, lambda: self._process_event(cid))

    def _namespaces_ready(self, cid: str, starting: Starting) -> None:
        ready = starting.namespaces_ready()
        if ready is None:
            return
        starting.close_ready()
        if ready:
            try:
                starting.proceed()
            except (EngineError, OSError) as exc:
                self._fail(starting, str(exc), 127)
                return
        self.loop.watch(starting.errors, lambda: self._exec_news(cid, starting))

    def _exec_news(self, cid: str, starting: Starting) -> None:
        if not starting.read_errors():
            return
        starting.close_errors()
        sv = self.containers.get(cid)
        if sv is None or sv.starting is not starting or starting.failure is not None:
            return
        if starting.error:
            self._fail(starting, starting.error.decode(errors="replace"), 127)
        elif not starting.went:
            self._fail(starting, "the container's process ended before its namespaces were made", 127)
        else:
            self._running(cid, sv, starting)

    def _fail(self, starting: Starting, message: str, code: int) -> None:
        """The start failed: kill the child; its reaping (a pidfd event) finishes the failure."""
        if starting.failure is None:
            starting.failure, starting.failure_code = message, code
        with contextlib.suppress(ProcessLookupError):
            os.kill(starting.pid, signal.SIGKILL)
        starting.close()

    def _running(self, cid: str, sv: Supervised, starting: Starting) -> None:
        try:
            proc = starting.launched()
        except EngineError as exc:
            self._fail(starting, str(exc), 127)
            return
        sv.starting, sv.proc, sv.started, sv.adopted = None, proc, self.loop.clock(), False
        sv.held = False  # a new terminal: logged unless handed over below
        sv.oom_kills = self._oom_kills(cid)
        for fd, stream in proc.outputs.items():
            if not (sv.terminal_starters and sv.spec.tty):  # a terminal about to be handed over is not logged
                self.loop.watch(fd, self.reader(cid, fd, stream))
        health = self.health.watch(cid, sv.spec, proc.pid, sv.started)
        self.recorder.update(cid, status="running", pid=proc.pid, pid_starttime=proc_starttime(proc.pid),
                            started_at=timestamp(), exit_code=None, error=None, oom_killed=False,
                            oom_kills=sv.oom_kills, stopping=False, restart_count=sv.restart_count,
                            supervisor_pid=os.getpid(), supervisor_starttime=proc_starttime(os.getpid()),
                            health=health)
        starters, sv.starters = sv.starters, []
        terminals, sv.terminal_starters = sv.terminal_starters, []

        def reply() -> None:
            for conn in starters:
                self.outbox.reply(conn, {"ok": True})
            for conn in terminals:
                self.hand_terminal(cid, conn)

        if sv.spec.ports:
            self.ports.change(cid, publication(sv.spec), reply)  # start returns once its ports forward
        else:
            reply()

    def _start_failed(self, cid: str, sv: Supervised, starting: Starting) -> None:
        """The failed start's process is reaped: record it, answer, then restart later or forget."""
        message, code = starting.failure or "the container failed to start", starting.failure_code
        sv.starting = None
        manual = bool(sv.starters or sv.terminal_starters)
        restart = not manual and policy.should_restart(sv.spec.restart, code, sv.restart_count, sv.stopping)
        if starting.aborted and not manual:  # a restart stopped before it ran: the last run's record stands
            self.recorder.update(cid, status="exited", pid=0, restart_count=sv.restart_count, stopping=False)
        else:
            self.recorder.update(cid, status="restarting" if restart else "exited", exit_code=code, error=message,
                                finished_at=timestamp(), pid=0, restart_count=sv.restart_count, stopping=False)
        for conn in sv.starters + sv.terminal_starters:
            self.outbox.reply(conn, {"ok": False, "error": message})
        sv.terminal_starters = []
        sv.starters = []
        if restart:
            self._schedule_restart(cid, sv, ran_for=0.0)
        else:
            self.forget(cid)

    # -- running and ending -----------------------------------------------------

    def reader(self, cid: str, fd: int, stream: str) -> Callable[[], None]:
        def read() -> None:
            sv = self.containers.get(cid)
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.loop.unwatch(fd)
                if sv is not None and sv.proc is not None and sv.proc.outputs.pop(fd, None) is not None:
                    os.close(fd)
                return
            if sv is not None:
                sv.log.write(stream, data)
        return read

    def _process_event(self, cid: str) -> None:
        """The container's pidfd is readable: its process ended (while starting or running)."""
        sv = self.containers.get(cid)
        if sv is None:
            return
        starting = sv.starting
        if starting is not None:
            if starting.failure is None:  # it died by itself: was it after a successful exec?
                starting.read_errors()
                self._exec_news(cid, starting)
                if sv.starting is None:  # it had exec'd: now running, and its exit is handled below
                    return self._process_event(cid)
                if starting.failure is None:
                    self._fail(starting, "the container's process died while it was starting", 127)
            if not _reaped(starting.pid):
                return
            self.loop.unwatch(starting.pidfd)
            os.close(starting.pidfd)
            self._start_failed(cid, sv, starting)
            return
        if sv.proc is not None:
            self._exited(cid, sv, sv.proc)

    def _exited(self, cid: str, sv: Supervised, proc: Launched) -> None:
        code: int | None = None  # an adopted container is not our child: its exit code cannot be known
        if not sv.adopted:
            try:
                pid, status = os.waitpid(proc.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = proc.pid, 0
            if not pid:
                return
            code = exit_code(status)
        self.loop.unwatch(proc.pidfd)
        os.close(proc.pidfd)
        for fd, stream in list(proc.outputs.items()):  # what is still buffered in the pipes
            with contextlib.suppress(OSError):  # (a terminal a client holds: the client reads the rest)
                while not sv.held and (data := os.read(fd, 65536)):
                    sv.log.write(stream, data)
            self.loop.unwatch(fd)
            os.close(fd)
        proc.outputs.clear()
        if proc.stdin is not None:
            os.close(proc.stdin)
        sv.log.flush_partial()
        sv.proc, sv.ending = None, True
        if sv.kill_at is not None:
            sv.kill_at.cancel()
            sv.kill_at = None
        self.health.forget(cid)
        self._empty_cgroup(cid, self.loop.clock() + CGROUP_GRACE, lambda: self._ended(cid, sv, code))

    def _empty_cgroup(self, cid: str, deadline: float, then: Callable[[], None]) -> None:
        """Kill what is left in the cgroup; check again from a timer until it is empty (or the deadline)."""
        try:
            empty = self.cgroups.container(cid).kill_nowait()
        except (EngineError, OSError):
            empty = True
        if empty or self.loop.clock() >= deadline:
            if not empty:
                print(f"container {cid[:12]}: processes survived SIGKILL for {CGROUP_GRACE}s", flush=True)
            then()
        else:
            self.loop.later(0.02, lambda: self._empty_cgroup(cid, deadline, then))

    def _ended(self, cid: str, sv: Supervised, code: int | None) -> None:
        sv.ending = False
        oom = self._oom_kills(cid) > sv.oom_kills  # the cgroup's count is of every run: this run's are new
        restart = policy.should_restart(sv.spec.restart, code, sv.restart_count, sv.stopping)
        self.recorder.update(cid, status="restarting" if restart else "exited", exit_code=code, pid=0,
                            finished_at=timestamp(), oom_killed=oom, restart_count=sv.restart_count,
                            stopping=False, error=None if code is not None else UNKNOWN_EXIT)
        if restart:
            self._schedule_restart(cid, sv, ran_for=self.loop.clock() - sv.started)
            return
        waiters, sv.waiters = sv.waiters, []
        self.forget(cid)
        if sv.spec.ports:  # stop returns once its ports no longer forward
            self.ports.change(cid, None, lambda: self._answer_waiters(cid, waiters, code))
        else:
            self._answer_waiters(cid, waiters, code)

    def _oom_kills(self, cid: str) -> int:
        try:
            return self.cgroups.container(cid).oom_kills()
        except (EngineError, OSError):
            return 0

    def _answer_waiters(self, cid: str, waiters: list[socket.socket], code: int | None) -> None:
        for conn in waiters:
            self.outbox.reply(conn, {"ok": True, "exit_code": code})

    def _schedule_restart(self, cid: str, sv: Supervised, ran_for: float) -> None:
        sv.backoff = policy.next_backoff(sv.backoff, ran_for, ceiling=self.ceiling)
        sv.restart_at = self.loop.later(sv.backoff, lambda: self._restart(cid))

    def _restart(self, cid: str) -> None:
        sv = self.containers.get(cid)
        if sv is None:
            return
        sv.restart_at = None
        sv.restart_count += 1
        try:
            self._launch(cid, sv)
        except (EngineError, OSError):
            if policy.should_restart(sv.spec.restart, 127, sv.restart_count, sv.stopping):
                self._schedule_restart(cid, sv, ran_for=0.0)
            else:
                self.forget(cid)

    def _kill_all(self, cid: str) -> None:
        sv = self.containers.get(cid)
        if sv is None or sv.proc is None:
            return
        if sv.kill_at is not None:  # killed before the grace period ended: its timer must not keep us busy
            sv.kill_at.cancel()
            sv.kill_at = None
        with contextlib.suppress(ProcessLookupError):
            os.kill(sv.proc.pid, signal.SIGKILL)
        with contextlib.suppress(EngineError, OSError):
            self.cgroups.container(cid).kill_nowait()  # the exit handler checks that it emptied


def _reaped(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return bool(done)
