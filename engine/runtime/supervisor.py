"""The supervisor: one process per group (a compose project) that is the parent of its containers.

It starts containers on request, so each container's PID 1 is its child. It
reaps them and records their exit codes and times, writes their output to
their logs, applies restart policies with back-off, and stops them: the stop
signal, the grace period, then SIGKILL to everything in the cgroup.

It is single-threaded: one selector loop over a listening socket, the
containers' output pipes and their pidfds, plus timers. Commands talk to it
over an abstract Unix socket, accepted only from root (SO_PEERCRED). It
exits once it has had nothing to supervise for a short while.

Run as ``python -m engine.runtime.supervisor ROOT GROUP``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import EngineError
from ..state import Root, locked, write_json
from . import rootfs
from .cgroups import Cgroups
from .health import Healthchecks
from .launch import Launched, launch
from .logs import LogWriter, timestamp
from .records import Records, proc_starttime
from .spec import ContainerSpec

IDLE_EXIT = float(os.environ.get("PYCOMPOSE_SUPERVISOR_IDLE", "2"))  # seconds idle before exiting
BACKOFF_START, BACKOFF_MAX, BACKOFF_RESET = 0.1, 60.0, 10.0


def socket_address(root: Root, group: str) -> bytes:
    """The abstract socket name for a root's group (no file to leak)."""
    import hashlib

    digest = hashlib.sha256(f"{root.path}\0{group}".encode()).hexdigest()[:24]
    return b"\0pycompose-" + digest.encode()


def signal_number(name: str) -> int:
    text = str(name).upper()
    if text.isdigit():
        return int(text)
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(signal.Signals[text])
    except KeyError:
        raise EngineError(f"unknown signal {name}") from None


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


def exit_code(status: int) -> int:
    """A wait status as Docker reports it: the exit code, or 128 + the signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


@dataclass
class Supervised:
    spec: ContainerSpec
    log: LogWriter
    proc: Launched | None = None
    stopping: bool = False
    waiters: list[socket.socket] = field(default_factory=list)
    restart_count: int = 0
    backoff: float = BACKOFF_START
    started: float = 0.0
    kill_at: Any = None
    restart_at: Any = None
    probe_at: Any = None  # the next healthcheck
    probe: Any = None  # the healthcheck running now
    failing: int = 0
    health: str = "starting"
    health_log: list[dict[str, Any]] = field(default_factory=list)


class Supervisor(Healthchecks):
    def __init__(self, root: Root, group: str) -> None:
        self.root = root
        self.group = group
        self.records = Records(root)
        self.cgroups = Cgroups.detect(root.cgroup_name)
        self.sel = selectors.DefaultSelector()
        self.containers: dict[str, Supervised] = {}
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = itertools.count()
        self.buffers: dict[socket.socket, bytes] = {}
        self.attached: dict[socket.socket, str] = {}  # clients holding a container's terminal
        self.idle_since = time.monotonic()
        self.empty_dir = os.path.join(root.run, "empty")
        os.makedirs(self.empty_dir, exist_ok=True)

    # -- loop -----------------------------------------------------------------

    def serve(self, ready_fd: int | None = None) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        listener.bind(socket_address(self.root, self.group))
        listener.listen(128)
        listener.setblocking(False)
        self.sel.register(listener, selectors.EVENT_READ, self._accept)
        self._write_info()
        if ready_fd is not None:
            os.write(ready_fd, b"ready")
            os.close(ready_fd)
        signal.signal(signal.SIGTERM, lambda *_: self._shutdown())
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        while not self._should_exit():
            for key, _ in self.sel.select(self._timeout()):
                if key.fileobj not in self.sel.get_map() and not isinstance(key.fileobj, socket.socket):
                    continue  # closed by an earlier event of this round
                self._guard(key.data, key.fileobj)
            self._run_timers()
        listener.close()

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        """One event's failure is logged; it never takes the supervisor (and every container) down."""
        try:
            fn(*args)
        except Exception:  # noqa: BLE001
            import traceback

            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()

    def _should_exit(self) -> bool:
        if self.containers or self.buffers or self.timers or self.attached:
            self.idle_since = time.monotonic()
            return False
        return time.monotonic() - self.idle_since > IDLE_EXIT

    def _timeout(self) -> float:
        wait = IDLE_EXIT
        if self.timers:
            wait = max(0.0, min(wait, self.timers[0][0] - time.monotonic()))
        return wait

    def _later(self, delay: float, fn: Callable[[], None]) -> Any:
        entry = (time.monotonic() + delay, next(self.seq), fn)
        heapq.heappush(self.timers, entry)
        return entry

    def _cancel(self, entry: Any) -> None:
        if entry in self.timers:
            self.timers.remove(entry)
            heapq.heapify(self.timers)

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, fn = heapq.heappop(self.timers)
            self._guard(fn)

    def _write_info(self) -> None:
        write_json(os.path.join(self.root.run, f"supervisor-{self.group}.json"),
                   {"pid": os.getpid(), "starttime": proc_starttime(os.getpid())})

    def _shutdown(self) -> None:
        """SIGTERM: stop every container (each with its grace period), then exit."""
        for cid, sv in list(self.containers.items()):
            if sv.proc is None:
                self._forget(cid)
            else:
                self._stop(cid, None, None)

    # -- requests -------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        conn, _ = listener.accept()
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
        if uid not in (0, os.geteuid()):
            conn.close()
            return
        conn.setblocking(False)
        self.buffers[conn] = b""
        self.sel.register(conn, selectors.EVENT_READ, self._read_request)

    def _read_request(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        self.buffers[conn] += data
        if b"\n" not in self.buffers[conn]:
            return
        line = self.buffers.pop(conn).split(b"\n", 1)[0]
        self.sel.unregister(conn)
        try:
            request = json.loads(line)
            deferred = self._handle(request, conn)
            if not deferred:
                self._reply(conn, {"ok": True})
        except EngineError as exc:
            self._reply(conn, {"ok": False, "error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a bad request must not stop the supervisor
            self._reply(conn, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})

    def _drop(self, conn: socket.socket) -> None:
        self.buffers.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(conn)
        conn.close()

    def _reply(self, conn: socket.socket, message: dict[str, Any]) -> None:
        try:
            conn.setblocking(True)
            conn.settimeout(5)
            conn.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            pass
        finally:
            conn.close()

    def _handle(self, req: dict[str, Any], conn: socket.socket) -> bool:
        """Serve one request; True when the reply comes later (when the container exits)."""
        op, cid = req.get("op"), req.get("id", "")
        if op == "ping":
            return False
        if op == "start":
            self._start(cid)
            return False
        if op == "stop":
            return self._stop(cid, req.get("timeout"), conn)
        if op == "kill":
            self._kill(cid, signal_number(req.get("signal", "SIGKILL")))
            return False
        if op == "attach":
            return self._attach(cid, conn)
        if op == "wait":
            sv = self.containers.get(cid)
            if sv is None or sv.proc is None and sv.restart_at is None:
                return False
            sv.waiters.append(conn)
            return True
        raise EngineError(f"unknown request {op!r}")

    # -- container lifecycle ----------------------------------------------------

    def _start(self, cid: str) -> None:
        sv = self.containers.get(cid)
        if sv is not None and sv.proc is not None:
            return  # already running
        spec = self.records.spec(cid)
        bundle = rootfs.Bundle(self.records.dir(cid))
        if sv is None:
            log = LogWriter(os.path.join(bundle.path, f"{cid}-json.log"), spec.log_max_size, spec.log_max_files)
            sv = Supervised(spec=spec, log=log)
            self.containers[cid] = sv
        sv.stopping = False
        if sv.restart_at is not None:
            self._cancel(sv.restart_at)
            sv.restart_at = None
        try:
            self._launch(cid, sv)
        except BaseException:
            if sv.proc is None and cid in self.containers and sv.restart_at is None:
                self._forget(cid)
            raise

    def _launch(self, cid: str, sv: Supervised) -> None:
        spec = sv.spec
        cgroup = self.cgroups.container(cid)
        if not cgroup.exists():
            cgroup.create(spec.limits)
        peers = {c: s.proc.pid for c, s in self.containers.items() if s.proc is not None}
        for mode in (spec.network, spec.ipc, spec.pid):
            if mode.startswith("container:") and mode[10:] not in peers:
                st = self.records.state(mode[10:])
                if st.get("status") == "running" and proc_starttime(st.get("pid") or 0) == st.get("pid_starttime"):
                    peers[mode[10:]] = st["pid"]
        try:
            proc = launch(spec, rootfs.Bundle(self.records.dir(cid)), cgroup, self.empty_dir, peers)
        except (EngineError, OSError) as exc:
            self.records.update(cid, status="exited", exit_code=127, error=str(exc),
                                finished_at=timestamp(), pid=0)
            raise
        sv.proc = proc
        sv.started = time.monotonic()
        for fd, stream in proc.outputs.items():
            self.sel.register(fd, selectors.EVENT_READ, self._output(cid, stream))
        self.sel.register(proc.pidfd, selectors.EVENT_READ, lambda _fd, c=cid: self._exited(c))
        health = None
        if spec.healthcheck is not None:
            sv.health, sv.failing, sv.health_log = "starting", 0, []
            health = {"status": "starting", "failing_streak": 0, "log": []}
            sv.probe_at = self._later(self._probe_delay(sv), lambda: self._probe(cid))
        self.records.update(cid, status="running", pid=proc.pid, pid_starttime=proc_starttime(proc.pid),
                            started_at=timestamp(), exit_code=None, error=None, oom_killed=False,
                            restart_count=sv.restart_count, supervisor_pid=os.getpid(),
                            supervisor_starttime=proc_starttime(os.getpid()), health=health)
        self._publish(cid, spec, running=True)

    # -- attach ------------------------------------------------------------------

    def _attach(self, cid: str, conn: socket.socket) -> bool:
        """Hand the container's terminal to a client; stop logging it until the client goes."""
        sv = self.containers.get(cid)
        if sv is None or sv.proc is None or not sv.spec.tty:
            raise EngineError("only a running container with a terminal (tty) can be attached")
        master = next(iter(sv.proc.outputs))
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(master)
        conn.setblocking(True)
        socket.send_fds(conn, [b'{"ok": true}\n'], [master])
        conn.setblocking(False)
        self.attached[conn] = cid
        self.sel.register(conn, selectors.EVENT_READ, self._detached)
        return True

    def _detached(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            if conn.recv(1024):
                return
        cid = self.attached.pop(conn, "")
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(conn)
        conn.close()
        sv = self.containers.get(cid)
        if sv is not None and sv.proc is not None and sv.proc.outputs:
            master = next(iter(sv.proc.outputs))
            with contextlib.suppress(KeyError, ValueError):
                self.sel.register(master, selectors.EVENT_READ, self._output(cid, "stdout"))

    def _publish(self, cid: str, spec: ContainerSpec, running: bool) -> None:
        """Published ports are DNAT rules while their container runs: record them, rebuild the firewall."""
        if not spec.ports:
            return
        from ..net.networks import Networks, Published
        from ..net.sync import apply_firewall

        way_in = next((e for e in spec.endpoints if not e.internal), None)  # internal networks publish nothing
        try:
            if running and way_in is not None:
                Networks(self.root).publish(way_in.network, cid, [
                    Published(host_ip=p.host_ip or "", host_port=p.host_port, container_port=p.container_port,
                              protocol=p.protocol) for p in spec.ports])
            else:
                Networks(self.root).unpublish(cid)
            apply_firewall(self.root)
        except EngineError as exc:
            print(f"firewall update failed: {exc}", file=sys.stderr, flush=True)

    def _output(self, cid: str, stream: str) -> Callable[[int], None]:
        def read(fd: int) -> None:
            sv = self.containers.get(cid)
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.sel.unregister(fd)
                os.close(fd)
                if sv is not None and sv.proc is not None:
                    sv.proc.outputs.pop(fd, None)
                return
            if sv is not None:
                sv.log.write(stream, data)
        return read

    def _exited(self, cid: str) -> None:
        sv = self.containers[cid]
        proc = sv.proc
        assert proc is not None
        _, status = os.waitpid(proc.pid, 0)
        code = exit_code(status)
        self.sel.unregister(proc.pidfd)
        os.close(proc.pidfd)
        for fd, stream in list(proc.outputs.items()):  # what is still buffered in the pipes
            with contextlib.suppress(OSError):
                while data := os.read(fd, 65536):
                    sv.log.write(stream, data)
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(fd)  # not registered while a client is attached
            os.close(fd)
        if proc.stdin is not None:
            os.close(proc.stdin)
        sv.log.flush_partial()
        sv.proc = None
        if sv.kill_at is not None:
            self._cancel(sv.kill_at)
            sv.kill_at = None
        self._end_probes(sv)
        cgroup = self.cgroups.container(cid)
        with contextlib.suppress(EngineError, OSError):
            cgroup.kill_all()
        oom = False
        with contextlib.suppress(EngineError, OSError):
            oom = cgroup.oom_killed()
        restart = self._should_restart(sv, code)
        self.records.update(cid, status="restarting" if restart else "exited", exit_code=code, pid=0,
                            finished_at=timestamp(), oom_killed=oom, restart_count=sv.restart_count)
        if not restart:
            self._publish(cid, sv.spec, running=False)
        if restart:
            ran = time.monotonic() - sv.started
            sv.backoff = BACKOFF_START if ran > BACKOFF_RESET else min(sv.backoff * 2, BACKOFF_MAX)
            sv.restart_at = self._later(sv.backoff, lambda: self._restart(cid))
            return
        for conn in sv.waiters:
            self._reply(conn, {"ok": True, "exit_code": code})
        self._forget(cid)

    def _should_restart(self, sv: Supervised, code: int) -> bool:
        if sv.stopping:
            return False
        policy, _, limit = sv.spec.restart.partition(":")
        if policy in ("always", "unless-stopped"):
            return True
        if policy == "on-failure" and code != 0:
            return not limit or sv.restart_count < int(limit)
        return False

    def _restart(self, cid: str) -> None:
        sv = self.containers.get(cid)
        if sv is None:
            return
        sv.restart_at = None
        sv.restart_count += 1
        try:
            self._launch(cid, sv)
        except EngineError:
            sv.restart_at = self._later(min(sv.backoff * 2, BACKOFF_MAX), lambda: self._restart(cid)) \
                if self._should_restart(sv, 127) else None
            if sv.restart_at is None:
                self._forget(cid)

    def _forget(self, cid: str) -> None:
        sv = self.containers.pop(cid, None)
        if sv is not None:
            sv.log.close()
            for conn in sv.waiters:
                self._reply(conn, {"ok": True, "exit_code": self.records.state(cid).get("exit_code")})

    def _stop(self, cid: str, timeout: float | None, conn: socket.socket | None) -> bool:
        sv = self.containers.get(cid)
        if sv is None:
            return False
        sv.stopping = True
        if sv.restart_at is not None:
            self._cancel(sv.restart_at)
            sv.restart_at = None
            self.records.update(cid, status="exited")
            self._forget(cid)
            return False
        if sv.proc is None:
            return False
        if conn is not None:
            sv.waiters.append(conn)
        sig = signal_number(sv.spec.stop_signal)
        grace = sv.spec.stop_timeout if timeout is None else float(timeout)
        pid = sv.proc.pid
        if sv.spec.pid != "host" and not catches(pid, sig):
            grace = 0.0  # PID 1 without a handler never gets the signal: do not wait for nothing
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        sv.kill_at = self._later(grace, lambda: self._kill_all(cid))
        return conn is not None

    def _kill_all(self, cid: str) -> None:
        sv = self.containers.get(cid)
        if sv is None or sv.proc is None:
            return
        sv.kill_at = None
        with contextlib.suppress(ProcessLookupError):
            os.kill(sv.proc.pid, signal.SIGKILL)
        with contextlib.suppress(EngineError, OSError):
            self.cgroups.container(cid).kill_all(timeout=0.5)

    def _kill(self, cid: str, sig: int) -> None:
        sv = self.containers.get(cid)
        if sv is None or sv.proc is None:
            raise EngineError(f"container {sv.spec.name if sv else cid} is not running")
        sv.stopping = True
        if sig == signal.SIGKILL:
            self._kill_all(cid)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(sv.proc.pid, sig)


def main(argv: list[str]) -> int:
    root, group = Root(argv[1]), argv[2]
    ready_fd = int(argv[3]) if len(argv) > 3 else None
    os.makedirs(root.run, exist_ok=True)
    with locked(os.path.join(root.run, f"supervisor-{group}.lock")):
        try:
            Supervisor(root, group).serve(ready_fd)
        except OSError as exc:  # another supervisor already serves this group
            if ready_fd is not None:
                os.write(ready_fd, f"error: {exc}".encode())
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
