"""Start a container's first process in its own namespaces, cgroup and root.

The parent (the supervisor) forks. For a private PID namespace it unshares
CLONE_NEWPID just before, so the child is PID 1 of a new namespace while
the supervisor stays its parent and can reap it. The child waits on a pipe
until the parent has put it in its cgroup, then enters its namespaces,
builds its root and execs. A second, close-on-exec pipe carries any error
back: EOF with no bytes means the exec succeeded.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
from dataclasses import dataclass
from typing import NoReturn

from .. import sys as lx
from ..errors import RuntimeFailure
from . import caps, console, rootfs
from .cgroups import Cgroup
from .process import ExecError, exec_in_container, set_ulimits
from .spec import ContainerSpec


@dataclass
class Launched:
    pid: int
    pidfd: int
    outputs: dict[int, str]  # fd -> "stdout" | "stderr" (a tty is "stdout")
    stdin: int | None  # kept open for stdin_open containers


def _ns_fd(mode: str, kind: str, peer_pid: int | None) -> int | None:
    """An fd of the namespace to join, for ``container:<id>`` and ``netns:<path>`` modes."""
    if mode.startswith("netns:"):
        return os.open(mode[len("netns:"):], os.O_RDONLY | os.O_CLOEXEC)
    if mode.startswith("container:"):
        if peer_pid is None:
            raise RuntimeFailure(f"cannot join the {kind} namespace of {mode[10:]}: it is not running")
        return os.open(f"/proc/{peer_pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
    return None


def launch(spec: ContainerSpec, bundle: rootfs.Bundle, cgroup: Cgroup, empty_dir: str,
           peers: dict[str, int]) -> Launched:
    """Start ``spec``; ``peers`` maps container ids to PIDs for ``container:<id>`` modes."""

    def peer(mode: str) -> int | None:
        return peers.get(mode.split(":", 1)[1]) if mode.startswith("container:") else None

    net_fd = _ns_fd(spec.network, "net", peer(spec.network))
    ipc_fd = _ns_fd(spec.ipc, "ipc", peer(spec.ipc))
    pid_fd = _ns_fd(spec.pid, "pid", peer(spec.pid))
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)  # parent -> child: go on
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)  # child -> parent: my namespaces exist
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    tty_parent = tty_child = None
    if spec.tty:  # the child opens the terminal inside the container and sends us its master
        tty_parent, tty_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        stdio = (null, null, null)
        outputs: dict[int, str] = {}
        child_only = [null]
        stdin_w = None
    else:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err2_r, err2_w = os.pipe2(os.O_CLOEXEC)
        if spec.stdin_open:
            in_r, stdin_w = os.pipe2(os.O_CLOEXEC)
        else:
            in_r, stdin_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
        stdio = (in_r, out_w, err2_w)
        outputs = {out_r: "stdout", err2_r: "stderr"}
        child_only = [in_r, out_w, err2_w]

    own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if pid_fd is not None:
            lx.setns(pid_fd, lx.CLONE_NEWPID)
        elif spec.pid != "host":
            lx.unshare(lx.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            _child(spec, bundle, empty_dir, sync_r, ready_w, err_w, stdio, net_fd, ipc_fd, tty_child)
    finally:
        if spec.pid != "host":
            lx.setns(own_pidns, lx.CLONE_NEWPID)
        os.close(own_pidns)
    for fd in [sync_r, ready_w, err_w, *child_only, *(f for f in (net_fd, ipc_fd, pid_fd) if f is not None)]:
        os.close(fd)
    if tty_child is not None:
        tty_child.close()
    try:
        cgroup.add(pid)
        if os.read(ready_r, 2) == b"ns" and spec.endpoints:
            from ..net.links import plug

            plug(pid, _plugs(spec, pid))
        os.write(sync_w, b"go")
        os.close(sync_w)
        error = _read_all(err_r)
        if tty_parent is not None:
            master = console.receive_fd(tty_parent) if not error else None
            tty_parent.close()
            if master is not None:
                outputs[master] = "stdout"
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        _close(list(outputs), stdin_w, err_r, ready_r)
        raise
    os.close(err_r)
    os.close(ready_r)
    if error:
        _, status = os.waitpid(pid, 0)
        _close(list(outputs), stdin_w)
        raise RuntimeFailure(error.decode(errors="replace"))
    pidfd = os.pidfd_open(pid)
    for fd in outputs:
        os.set_blocking(fd, False)
    return Launched(pid=pid, pidfd=pidfd, outputs=outputs, stdin=stdin_w)


def host_ifname(container_id: str, index: int) -> str:
    """The host end of a container's veth: ``pv`` + 9 hex of its id + the interface number."""
    return f"pv{container_id[:9]}{index}"


def _plugs(spec: ContainerSpec, pid: int) -> list:  # type: ignore[type-arg]
    from ..net.links import Plug

    return [Plug(bridge=e.bridge, host=host_ifname(spec.id, i), peer=f"pctmp{i}")
            for i, e in enumerate(spec.endpoints)]


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _close(fds: list[int], *more: int | None) -> None:
    for fd in [*fds, *more]:
        if fd is not None:
            os.close(fd)


def _child(spec: ContainerSpec, bundle: rootfs.Bundle, empty_dir: str, sync_r: int, ready_w: int, err_w: int,
           stdio: tuple[int, int, int], net_fd: int | None, ipc_fd: int | None,
           tty: socket.socket | None) -> NoReturn:
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
            _loopback_up()
        rootfs.setup(spec, bundle, empty_dir, own_netns=own_net or net_fd is not None, own_ipcns=own_ipc)
        if tty is not None:
            console.take_terminal(tty)
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
                          no_new_privileges=spec.no_new_privileges)
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


def _loopback_up() -> None:
    """Bring ``lo`` up in a fresh network namespace (SIOCSIFFLAGS; no netlink needed)."""
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s.fileno(), 0x8913, ifreq))[1]  # SIOCGIFFLAGS
        ifreq = struct.pack("16sH14s", b"lo", flags | 0x1, b"")  # IFF_UP
        fcntl.ioctl(s.fileno(), 0x8914, ifreq)  # SIOCSIFFLAGS
