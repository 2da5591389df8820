"""Run another process inside a running container (``exec``).

The caller forks; the child joins the container's cgroup and namespaces
(ipc, uts, net, pid, mnt: joining the mount namespace also puts it in the
container's root), then forks again, because a PID namespace applies to
children only. The grandchild becomes the configured user and execs. The
exit code travels back through the wait statuses; an error before exec
travels back on a pipe.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import termios
import tty as ttymod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from .. import sys as lx
from ..errors import Conflict, RuntimeFailure
from . import caps, console
from .cgroups import Cgroup
from .containers import Runtime
from .process import ExecError, exec_in_container
from .spec import ContainerSpec


@dataclass(frozen=True)
class ExecOptions:
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    working_dir: str | None = None
    tty: bool = False
    interactive: bool = False  # keep stdin attached
    privileged: bool = False
    detach: bool = False


def fork_exec(pid1: int, spec: ContainerSpec, cgroup: Cgroup, options: ExecOptions, *,
              output: int | None = None) -> tuple[int, int, socket.socket | None]:
    """Fork a process that runs ``options.argv`` inside the container whose PID 1 is ``pid1``.

    Returns (the forked pid, the read end of its error pipe, the socket its
    terminal's master arrives on when ``options.tty``). With ``output`` the
    command's stdout and stderr go there, and the fork leads its own process
    group, so a probe that overruns can be killed whole.
    """
    env = dict(item.partition("=")[::2] for item in spec.env)
    env.update(options.env)
    allowed = caps.effective_set(spec.cap_add, spec.cap_drop, spec.privileged or options.privileged)
    namespaces = []
    for name in ("ipc", "uts", "net", "pid", "mnt"):
        if os.readlink(f"/proc/{pid1}/ns/{name}") != os.readlink(f"/proc/self/ns/{name}"):
            namespaces.append((os.open(f"/proc/{pid1}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC),
                               lx.NAMESPACES[name]))
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    ours = theirs = None
    if options.tty:  # the terminal is opened inside the container; its master comes back to us
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        if output is not None:
            os.setpgid(0, 0)
            os.dup2(output, 1)
            os.dup2(output, 2)
        _enter(namespaces, cgroup.add, err_w, theirs, options,
               [f"{k}={v}" for k, v in env.items()], options.user or spec.user, spec.group_add,
               options.working_dir or spec.working_dir, allowed, spec.no_new_privileges)
    for fd, _ in namespaces:
        os.close(fd)
    os.close(err_w)
    if theirs is not None:
        theirs.close()
    return pid, err_r, ours


def exec_container(runtime: Runtime, ref: str, options: ExecOptions) -> int:
    """Run ``options.argv`` in the container; its exit code (0 right away with ``detach``)."""
    c = runtime.get(ref)
    if c.status != "running":
        raise Conflict(f"container {c.name} is not running")
    pid, err_r, ours = fork_exec(c.pid, c.spec, runtime.cgroups.container(c.id), options)
    master = None
    if ours is not None:
        master = console.receive_fd(ours)
        ours.close()
        if master is not None:
            _copy_winsize(master)
    if options.detach:
        _finish_detached(pid, err_r, master)
        return 0
    if master is not None:
        _relay(master, options.interactive)
    _, status = os.waitpid(pid, 0)
    error = _drain(err_r)
    if error:
        raise RuntimeFailure(f"exec in {c.name} failed: {error}")
    return os.waitstatus_to_exitcode(status) if not os.WIFSIGNALED(status) else 128 + os.WTERMSIG(status)


def _enter(namespaces: list[tuple[int, int]], join_cgroup: object, err_w: int, tty: socket.socket | None,
           options: ExecOptions, env: list[str], user: str | None, group_add: Sequence[str],
           working_dir: str, allowed: frozenset[str], no_new_privileges: bool) -> NoReturn:
    code = 126
    try:
        join_cgroup(os.getpid())  # type: ignore[operator]
        for fd, kind in namespaces:
            lx.setns(fd, kind)
        child = os.fork()
        if child == 0:
            try:
                if options.detach or tty is not None:
                    os.setsid()
                if tty is not None:
                    console.take_terminal(tty)
                elif not options.interactive:
                    null = os.open(os.devnull, os.O_RDONLY)
                    os.dup2(null, 0)
                if options.detach and tty is None:
                    null = os.open(os.devnull, os.O_RDWR)
                    for target in (0, 1, 2):
                        os.dup2(null, target)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                exec_in_container(options.argv, env, user_spec=user, group_add=group_add,
                                  working_dir=working_dir, allowed_caps=allowed,
                                  no_new_privileges=no_new_privileges)
            except ExecError as exc:
                os.write(err_w, str(exc).encode())
                os._exit(exc.code)
            except BaseException as exc:  # noqa: BLE001
                os.write(err_w, (str(exc) or type(exc).__name__).encode())
                os._exit(126)
        if options.detach:
            os._exit(0)
        _, status = os.waitpid(child, 0)
        if os.WIFSIGNALED(status):
            code = 128 + os.WTERMSIG(status)
        else:
            code = os.WEXITSTATUS(status)
    except BaseException as exc:  # noqa: BLE001
        with contextlib.suppress(OSError):
            os.write(err_w, (str(exc) or type(exc).__name__).encode())
    os._exit(code)


def _drain(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def _finish_detached(pid: int, err_r: int, master: int | None) -> None:
    os.waitpid(pid, 0)
    error = _drain(err_r)
    if master is not None:
        os.close(master)
    if error:
        raise RuntimeFailure(f"exec failed: {error}")


def _copy_winsize(fd: int) -> None:
    """Give the container's terminal the size of ours."""
    import fcntl

    with contextlib.suppress(OSError):
        size = fcntl.ioctl(sys.stdout.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, size)


def relay_terminal(master: int) -> None:
    """Our terminal (raw) <-> ``master`` until the other side closes it."""
    _relay(master, True)


def _relay(master: int, interactive: bool) -> None:
    """Copy the terminal both ways until the process closes it."""
    stdin = sys.stdin.fileno() if interactive else -1
    restore = None
    if interactive and os.isatty(stdin):
        restore = termios.tcgetattr(stdin)
        ttymod.setraw(stdin)
    try:
        watch = [master] + ([stdin] if interactive else [])
        while True:
            ready, _, _ = select.select(watch, [], [])
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if stdin in ready:
                data = os.read(stdin, 65536)
                if not data:
                    watch.remove(stdin)
                else:
                    os.write(master, data)
    finally:
        if restore is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, restore)
        os.close(master)
