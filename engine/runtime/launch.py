"""Start a container's first process in its own namespaces, cgroup and root, without waiting for it.

The parent (the supervisor) forks. For a private PID namespace it unshares
CLONE_NEWPID just before, so the child is PID 1 of a new namespace while
the supervisor stays its parent and can reap it. The parent puts the child in
its cgroup; everything after that is a handshake the supervisor's loop drives
as the child's pipes become ready, so a slow start (a large volume copy-up)
never holds up the other containers:

1. the child enters its namespaces and writes ``ns`` on the ready pipe;
2. the parent plugs its veths into its network namespace and writes ``go``;
3. the child builds its root and execs. A close-on-exec error pipe carries
   any failure back: EOF with no bytes means the exec succeeded.

``Starting`` holds the fds of that handshake and closes each of them on every
path; ``Launched`` is what a successful start leaves: the pid, its pidfd and
the output pipes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from .. import sys as lx
from ..errors import RuntimeFailure
from . import caps, console, rootfs, seccomp
from .cgroups import Cgroup
from .outputs import make as make_fifo
from .process import ExecError, exec_in_container, set_ulimits
from .spec import ContainerSpec


@dataclass
class Launched:
    pid: int
    pidfd: int
    outputs: dict[int, str]  # fd -> "stdout" | "stderr" (a tty is "stdout")
    stdin: int | None  # kept open for stdin_open containers


def _ignore(fd: int) -> None:
    pass


@dataclass(eq=False)
class Starting:
    """A container's first process between fork and exec, and the parent's ends of its handshake.

    Every fd here is the parent's to close, and each is closed exactly once:
    ``close`` closes those still open (all but the pidfd, which the caller
    closes once the process is reaped). ``before_close`` is called with each
    fd just before it is closed, so a loop can stop watching it first.
    """

    spec: ContainerSpec
    pid: int
    pidfd: int
    ready: int  # read: "ns" once the child's namespaces exist
    go: int  # write: "go" once its veths are plugged
    errors: int  # read: EOF with no bytes once it exec'd; else why it failed
    terminal: socket.socket | None  # the child sends its terminal's master here (tty)
    outputs: dict[int, str]
    stdin: int | None
    error: bytearray = field(default_factory=bytearray)
    went: bool = False  # "go" was written: the child builds its root and execs
    failure: str | None = None  # set once the start has failed (the process is then killed and reaped)
    failure_code: int = 127
    aborted: bool = False  # stopped or killed on request, not failed by itself
    before_close: Callable[[int], None] = _ignore

    def namespaces_ready(self) -> bool | None:
        """After the ready pipe woke us: True when the child's namespaces exist, False if it failed
        before (its error follows on the error pipe), None when nothing was there after all."""
        if self.ready < 0:
            return None
        try:
            data = os.read(self.ready, 2)
        except BlockingIOError:
            return None
        return data == b"ns"

    def proceed(self) -> None:
        """Plug the veths into the child's network namespace (when it has endpoints), then let it go on."""
        try:
            if self.spec.endpoints:
                from ..net import links

                links.plug(self.pid, [links.Plug(bridge=e.bridge, host=host_ifname(self.spec.id, i), peer=f"pctmp{i}")
                                      for i, e in enumerate(self.spec.endpoints)])
            os.write(self.go, b"go")
            self.went = True
        finally:
            self._close("go")

    def read_errors(self) -> bool:
        """Read what the error pipe holds; True once it is at EOF (the child exec'd or died)."""
        while self.errors >= 0:
            try:
                data = os.read(self.errors, 65536)
            except BlockingIOError:
                return False
            if not data:
                return True
            self.error += data
        return True

    def close_ready(self) -> None:
        self._close("ready")

    def close_errors(self) -> None:
        self._close("errors")

    def launched(self) -> Launched:
        """The process after a successful exec (its terminal received), owning the fds that stay."""
        outputs = dict(self.outputs)
        if self.terminal is not None:
            # The child sent the master before it exec'd, so it is queued here by now.
            self.terminal.setblocking(False)
            try:
                master = console.receive_fd(self.terminal)
            except OSError:
                master = None
            if master is None:
                raise RuntimeFailure("the container's terminal did not arrive")
            outputs[master] = "stdout"
        for fd in outputs:
            os.set_blocking(fd, False)
        proc = Launched(pid=self.pid, pidfd=self.pidfd, outputs=outputs, stdin=self.stdin)
        self.outputs, self.stdin = {}, None  # handed over
        self.close()
        return proc

    def close(self) -> None:
        """Close every fd of the handshake still open, except the pidfd."""
        for name in ("ready", "go", "errors"):
            self._close(name)
        if self.terminal is not None:
            self.before_close(self.terminal.fileno())
            self.terminal.close()
            self.terminal = None
        for fd in self.outputs:
            self.before_close(fd)
            os.close(fd)
        self.outputs = {}
        if self.stdin is not None:
            os.close(self.stdin)
            self.stdin = None

    def _close(self, name: str) -> None:
        fd: int = getattr(self, name)
        if fd >= 0:
            setattr(self, name, -1)
            self.before_close(fd)
            os.close(fd)


def _ns_fd(mode: str, kind: str, peer_pid: int | None) -> int | None:
    """An fd of the namespace to join, for ``container:<id>`` and ``netns:<path>`` modes."""
    if mode.startswith("netns:"):
        return os.open(mode[len("netns:"):], os.O_RDONLY | os.O_CLOEXEC)
    if mode.startswith("container:"):
        if peer_pid is None:
            raise RuntimeFailure(f"cannot join the {kind} namespace of {mode[10:]}: it is not running")
        return os.open(f"/proc/{peer_pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
    return None


def begin(spec: ContainerSpec, bundle: rootfs.Bundle, cgroup: Cgroup, empty_dir: str,
          peers: dict[str, int], stdio: tuple[int, int, int] | None = None,
          winsize: bytes | None = None) -> Starting:
    """Fork ``spec``'s first process and put it in ``cgroup``; the handshake goes on in the caller's loop.

    ``peers`` maps container ids to PIDs for ``container:<id>`` modes. ``stdio``
    (a client's own stdin, stdout, stderr, for ``run``) replaces the output
    FIFOs of a container without a terminal: its bytes go straight to the
    client, nothing is logged. The caller keeps and closes those fds. On
    failure nothing is left: every fd is closed and a forked child reaped.
    """

    def peer(mode: str) -> int | None:
        return peers.get(mode.split(":", 1)[1]) if mode.startswith("container:") else None

    seccomp_filter = seccomp.filter_for(spec)  # built here, so a bad profile fails before the fork

    ours: list[int] = []  # the parent's ends
    theirs: list[int] = []  # the child's ends, closed here once it is forked
    sockets: list[socket.socket] = []
    try:
        net_fd, ipc_fd, pid_fd = (_maybe(theirs, _ns_fd(mode, kind, peer(mode)))
                                  for mode, kind in ((spec.network, "net"), (spec.ipc, "ipc"), (spec.pid, "pid")))
        sync_r, sync_w = _pipe(theirs, ours)  # parent -> child: go on
        ready_r, ready_w = _pipe(ours, theirs)  # child -> parent: my namespaces exist
        err_r, err_w = _pipe(ours, theirs)
        tty_parent = tty_child = None
        stdin_w = None
        outputs: dict[int, str] = {}
        if spec.tty:  # the child opens the terminal inside the container and sends us its master
            tty_parent, tty_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            sockets += [tty_parent, tty_child]
            null = _opened(theirs, os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC))
            stdio = (null, null, null)
        elif stdio is not None:  # run, attached: the client's own descriptors, byte for byte
            stdio = (stdio[0], stdio[1], stdio[2])
        else:
            out_r, out_w = _fifo(bundle, "stdout", ours, theirs)
            err2_r, err2_w = _fifo(bundle, "stderr", ours, theirs)
            if spec.stdin_open:
                in_r, stdin_w = _pipe(theirs, ours)
            else:
                in_r = _opened(theirs, os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
            stdio = (in_r, out_w, err2_w)
            outputs = {out_r: "stdout", err2_r: "stderr"}
        pid = _fork(spec, lambda: _child(spec, bundle, empty_dir, sync_r, ready_w, err_w, stdio, net_fd, ipc_fd,
                                         tty_child, seccomp_filter, winsize), pid_fd)
    except BaseException:
        for fd in ours + theirs:
            os.close(fd)
        for s in sockets:
            s.close()
        raise
    for fd in theirs:
        os.close(fd)
    if tty_child is not None:
        tty_child.close()
    starting = Starting(spec=spec, pid=pid, pidfd=-1, ready=ready_r, go=sync_w, errors=err_r,
                        terminal=tty_parent, outputs=outputs, stdin=stdin_w)
    try:
        starting.pidfd = os.pidfd_open(pid)
        cgroup.add(pid)
        for fd in (ready_r, err_r):
            os.set_blocking(fd, False)
    except BaseException:
        # The child waits on the sync pipe (an interruptible read): SIGKILL ends it at once.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        starting.close()
        if starting.pidfd >= 0:
            os.close(starting.pidfd)
        raise
    return starting


def _opened(group: list[int], fd: int) -> int:
    group.append(fd)
    return fd


def _maybe(group: list[int], fd: int | None) -> int | None:
    return None if fd is None else _opened(group, fd)


def _pipe(read_group: list[int], write_group: list[int]) -> tuple[int, int]:
    r, w = os.pipe2(os.O_CLOEXEC)
    read_group.append(r)
    write_group.append(w)
    return r, w


def _fifo(bundle: rootfs.Bundle, stream: str, read_group: list[int], write_group: list[int]) -> tuple[int, int]:
    """An output FIFO in the container's folder (``outputs``): they survive the supervisor, pipes do not."""
    r, w = make_fifo(bundle.path, stream)
    read_group.append(r)
    write_group.append(w)
    return r, w


def _fork(spec: ContainerSpec, child: Callable[[], NoReturn], pid_fd: int | None) -> int:
    """Fork ``child`` into the PID namespace ``spec`` asks for (a new one, a peer's, or ours)."""
    own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if pid_fd is not None:
            lx.setns(pid_fd, lx.CLONE_NEWPID)
        elif spec.pid != "host":
            lx.unshare(lx.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked child
            child()
    finally:
        if spec.pid != "host":
            lx.setns(own_pidns, lx.CLONE_NEWPID)
        os.close(own_pidns)
    return pid


def host_ifname(container_id: str, index: int) -> str:
    """The host end of a container's veth: ``pv`` + 9 hex of its id + the interface number."""
    return f"pv{container_id[:9]}{index}"


def _child(spec: ContainerSpec, bundle: rootfs.Bundle, empty_dir: str, sync_r: int, ready_w: int, err_w: int,
           stdio: tuple[int, int, int], net_fd: int | None, ipc_fd: int | None,
           tty: socket.socket | None, seccomp_filter: seccomp.Filter | None,
           winsize: bytes | None = None) -> NoReturn:
    """The container's PID 1 until it execs. Reports any failure on ``err_w`` and exits."""
    code = 127
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.setsid()
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        if net_fd is not None:
            lx.setns(net_fd, lx.CLONE_NEWNET)
        if ipc_fd is not None:
            lx.setns(ipc_fd, lx.CLONE_NEWIPC)
        flags = lx.CLONE_NEWNS
        own_net = spec.network in ("none", "bridge")
        own_ipc = spec.ipc in ("private", "shareable")
        if own_net:
            flags |= lx.CLONE_NEWNET
        if own_ipc:
            flags |= lx.CLONE_NEWIPC
        if spec.uts != "host":
            flags |= lx.CLONE_NEWUTS
        lx.unshare(flags)
        os.write(ready_w, b"ns")  # the parent may now plug veths into our network namespace
        os.close(ready_w)
        if os.read(sync_r, 2) != b"go":
            os._exit(1)
        if spec.endpoints:
            from ..net.links import Interface, configure_inside

            route = next((e for e in spec.endpoints if not e.internal), None)  # the first way out
            configure_inside([
                Interface(temp_name=f"pctmp{i}", name=f"eth{i}", address=e.address, prefixlen=e.prefixlen,
                          mac=e.mac, gateway=e.gateway if e is route else None)
                for i, e in enumerate(spec.endpoints)])
        elif own_net:
            lx.interface_up("lo")  # a fresh network namespace: loopback only, and down
        rootfs.setup(spec, bundle, empty_dir, own_netns=own_net or net_fd is not None, own_ipcns=own_ipc)
        if tty is not None:
            console.take_terminal(tty)
            if winsize is not None:  # the size of the client's terminal, before the process runs
                lx.set_window_size(0, winsize)
        if spec.uts != "host":
            lx.sethostname(spec.hostname or spec.id[:12])
            if spec.domainname:
                lx.setdomainname(spec.domainname)
        set_ulimits(spec.ulimits)
        if spec.oom_score_adj is not None:
            with open("/proc/self/oom_score_adj", "w") as fh:
                fh.write(str(spec.oom_score_adj))
        argv = [rootfs.INIT_PATH, "--", *spec.argv] if spec.init else list(spec.argv)
        exec_in_container(argv, spec.env, user_spec=spec.user, group_add=spec.group_add,
                          working_dir=spec.working_dir,
                          allowed_caps=caps.effective_set(spec.cap_add, spec.cap_drop, spec.privileged),
                          no_new_privileges=spec.no_new_privileges, seccomp_filter=seccomp_filter)
    except ExecError as exc:
        code = exc.code
        _report(err_w, str(exc))
    except BaseException as exc:  # noqa: BLE001 - everything must reach the parent
        _report(err_w, str(exc) or type(exc).__name__)
    os._exit(code)


def _report(fd: int, message: str) -> None:
    try:
        os.write(fd, message.encode())
    except OSError:
        pass
