"""The supervisor: one process per group (a compose project) that is the parent of its containers.

It starts containers on request, so each container's PID 1 is its child. It
reaps them and records their exit codes and times, writes their output to
their logs, applies restart policies with back-off, and stops them: the stop
signal, the grace period, then SIGKILL to everything in the cgroup.

It is single-threaded and never waits: one loop (``loop``) over a listening
socket, the containers' pipes and pidfds, timers and signals. Each slow step
is an event or runs elsewhere: a container's start is a handshake driven by
its pipes (``lifecycle``, ``launch``), the firewall is rebuilt in a forked
child (``portsync``), replies go out when the client's socket takes them
(``outbox``), a cgroup's emptiness is checked again from a timer. So one
container starting slowly never stalls another's output. Commands talk to it
over a Unix socket in a root-only folder, accepted only from root
(SO_PEERCRED); the messages are ``protocol``'s. It exits once it has had
nothing to supervise for a short while, removing its files under ``run/``.

A supervisor that starts adopts the containers of its group that a dead one
left running (``Lifecycle.adopt``): their outputs are FIFOs (``outputs``)
that the new supervisor reopens, their ends are seen through pidfds (with
an unknown exit code, as they are not its children), and their restart
policies, healthchecks and stops go on.

Run as ``python -m engine.runtime.supervisor ROOT GROUP``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import sys

from ..daemon import quiet_output
from ..errors import EngineError
from ..state import Root, locked, try_locked, unlink_lock, write_json
from .cgroups import Cgroups
from .health import Healthchecks
from .lifecycle import Lifecycle
from .loop import Loop, guard
from .outbox import Outbox
from .portsync import PortSync
from .protocol import (
    MAX_LINE,
    Message,
    bind,
    decode,
    encode,
    number,
    run_file,
    seconds,
    signal_number,
    socket_path,
    text,
)
from .recorder import Recorder
from .records import Records, proc_starttime

IDLE_EXIT = float(os.environ.get("PYCOMPOSE_SUPERVISOR_IDLE", "2"))  # seconds idle before exiting


class Supervisor:
    def __init__(self, root: Root, group: str) -> None:
        self.root = root
        self.group = group
        self.loop = Loop()
        self.records = Records(root)
        self.cgroups = Cgroups.detect(root.cgroup_name)
        self.outbox = Outbox(self.loop)
        self.ports = PortSync(self.loop, root)
        self.recorder = Recorder(self.loop, self.records)
        self.health = Healthchecks(self.loop, self.recorder, self.cgroups)
        self.life = Lifecycle(root, self.loop, self.records, self.recorder, self.cgroups, self.outbox, self.ports,
                              self.health)
        self.life.hand_terminal = self._hand_terminal
        self.requests: dict[socket.socket, bytes] = {}  # connections whose request is still arriving
        self.request_fds: dict[socket.socket, list[int]] = {}  # descriptors that came with a request
        self.attached: dict[socket.socket, str] = {}  # clients holding a container's terminal
        self.idle_since = self.loop.clock()
        self.ready = False  # it told whoever spawned it that it serves

    # -- loop -----------------------------------------------------------------

    def serve(self, ready_fd: int | None = None) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        bind(listener, self.root, self.group)
        listener.listen(128)
        listener.setblocking(False)
        self.loop.watch(listener, lambda: self._accept(listener))
        self._write_info()
        for cid, state in list(self.records.orphans(self.group)):  # the containers of a supervisor that died
            guard(lambda: self.life.adopt(cid, state))  # noqa: B023 - called at once
        if ready_fd is not None:
            os.write(ready_fd, b"ready")
            os.close(ready_fd)
            self.ready = True
        self.idle_since = self.loop.clock()  # idle from when it serves: whoever spawned it is about to ask
        self.loop.later(0.01, _prewarm)  # after the first reply, while its caller creates a container
        self.loop.on_signal(signal.SIGTERM, self.life.shutdown)  # the handler only flags it
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        while not self._should_exit():
            self.loop.run_once(IDLE_EXIT)
        self.loop.unwatch(listener)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path(self.root, self.group))
        listener.close()
        self.loop.close()

    def _should_exit(self) -> bool:
        busy = (self.life.containers or self.recorder.busy or self.life.dns.busy or self.requests or self.attached or len(self.outbox) or self.ports.busy
                or self.loop.timers())
        if busy:
            self.idle_since = self.loop.clock()
            return False
        return self.loop.clock() - self.idle_since > IDLE_EXIT

    def _write_info(self) -> None:
        write_json(run_file(self.root, self.group, "json"),
                   {"pid": os.getpid(), "starttime": proc_starttime(os.getpid())})

    def clean_up(self) -> None:
        """On the way out, with nothing left to supervise: remove this group's files under ``run/``
        (its log too once no container of the group is left, or if it is empty). The caller holds the
        supervisor lock; the start lock is removed only if no command holds it (one that is starting
        a new supervisor now needs it)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(run_file(self.root, self.group, "json"))
        start = try_locked(run_file(self.root, self.group, "start.lock"))
        if start is None:
            return
        try:
            log = run_file(self.root, self.group, "log")
            with contextlib.suppress(OSError):
                if os.path.getsize(log) == 0 or not any(
                        self.records.spec(c).group == self.group for c in self.records.ids()):
                    os.unlink(log)
            unlink_lock(run_file(self.root, self.group, "start.lock"))
        finally:
            os.close(start)

    # -- requests -------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
        if uid not in (0, os.geteuid()):
            conn.close()
            return
        conn.setblocking(False)
        self.requests[conn] = b""
        self.loop.watch(conn, lambda: self._read_request(conn))

    def _read_request(self, conn: socket.socket) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
        except BlockingIOError:
            return
        except OSError:
            data, fds = b"", []
        if fds:  # a client's stdin, stdout and stderr, sent with a start request (run)
            self.request_fds.setdefault(conn, []).extend(fds)
        if not data:
            self._close_fds(conn)
            self._drop(conn)
            return
        buffered = self.requests[conn] + data
        if b"\n" not in buffered:
            if len(buffered) > MAX_LINE:
                self._drop(conn)
            else:
                self.requests[conn] = buffered
            return
        del self.requests[conn]
        self.loop.unwatch(conn)
        try:
            deferred = self._handle(decode(buffered.split(b"\n", 1)[0]), conn, self.request_fds.get(conn, []))
            if not deferred:
                self.outbox.reply(conn, {"ok": True})
        except EngineError as exc:
            self.outbox.reply(conn, {"ok": False, "error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a bad request must not stop the supervisor
            self.outbox.reply(conn, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        finally:
            self._close_fds(conn)  # a launch forked with them already: these are our copies

    def _close_fds(self, conn: socket.socket) -> None:
        for fd in self.request_fds.pop(conn, []):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _drop(self, conn: socket.socket) -> None:
        self.requests.pop(conn, None)
        self.loop.unwatch(conn)
        conn.close()

    def _handle(self, req: Message, conn: socket.socket, fds: list[int]) -> bool:
        """Serve one request; True when the reply comes later (the start completes, the container exits)."""
        op, cid = text(req, "op"), text(req, "id")
        if op == "ping":
            return False
        if op == "start":
            stdio = (fds[0], fds[1], fds[2]) if req.get("stdio") is True and len(fds) == 3 else None
            if req.get("stdio") is True and stdio is None:
                raise EngineError("a start with stdio needs three descriptors")
            size = req.get("size")
            winsize = struct.pack("HHHH", size[0], size[1], 0, 0) if (
                isinstance(size, list) and len(size) == 2 and all(isinstance(n, int) and 0 <= n < 65536
                                                                  for n in size)) else None
            return self.life.start(cid, conn, stdio=stdio, terminal=req.get("terminal") is True, winsize=winsize)
        if op == "stop":
            return self.life.stop(cid, seconds(req, "timeout"), conn)
        if op == "kill":
            sig = number(req, "signal")
            self.life.kill(cid, sig if sig is not None else signal_number(text(req, "signal", "SIGKILL")))
            return False
        if op == "attach":
            return self._attach(cid, conn)
        if op == "wait":
            return self.life.wait(cid, conn)
        raise EngineError(f"unknown request {req.get('op')!r}")

    # -- attach ------------------------------------------------------------------

    def _hand_terminal(self, cid: str, conn: socket.socket) -> None:
        """A start that asked for the terminal: hand it over now that the process runs."""
        try:
            self._attach(cid, conn)
        except EngineError as exc:
            self.outbox.reply(conn, {"ok": False, "error": str(exc)})

    def _attach(self, cid: str, conn: socket.socket) -> bool:
        """Hand the container's terminal to a client; stop logging it until the client goes."""
        sv = self.life.containers.get(cid)
        if sv is None or sv.proc is None or not sv.spec.tty or not sv.proc.outputs:
            raise EngineError("only a running container with a terminal (tty) can be attached")
        master = next(iter(sv.proc.outputs))
        try:  # a fresh connection's buffer always takes this short message
            socket.send_fds(conn, [encode({"ok": True})], [master])
        except OSError:
            conn.close()
            return True
        self.loop.unwatch(master)
        sv.held = True
        self.attached[conn] = cid
        self.loop.watch(conn, lambda: self._detached(conn))
        return True

    def _detached(self, conn: socket.socket) -> None:
        try:
            if conn.recv(1024):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        cid = self.attached.pop(conn, "")
        self.loop.unwatch(conn)
        conn.close()
        sv = self.life.containers.get(cid)
        if sv is not None and cid not in self.attached.values():
            sv.held = False
        if sv is not None and sv.proc is not None and sv.proc.outputs:
            master = next(iter(sv.proc.outputs))
            self.loop.watch(master, self.life.reader(cid, master, "stdout"))


def _prewarm() -> None:
    """Build the seccomp filter of a default container (about 20 ms, cached) before the first start needs it."""
    from . import caps, seccomp

    with contextlib.suppress(OSError, ValueError, EngineError):
        seccomp.filter_for_defaults(caps.effective_set((), (), False))


def main(argv: list[str]) -> int:
    root, group = Root(argv[1]), argv[2]
    ready_fd = int(argv[3]) if len(argv) > 3 else None
    os.makedirs(root.run, exist_ok=True)
    quiet_output()
    lock = run_file(root, group, "lock")
    with locked(lock):
        supervisor = None
        try:
            supervisor = Supervisor(root, group)
            supervisor.serve(ready_fd)
        except (OSError, EngineError) as exc:
            print(f"the supervisor failed: {exc}", file=sys.stderr, flush=True)
            if ready_fd is not None and (supervisor is None or not supervisor.ready):
                with contextlib.suppress(OSError):
                    os.write(ready_fd, f"error: {exc}".encode())
            return 1
        supervisor.clean_up()
        unlink_lock(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
