"""Enter a running container: fork a process into its cgroup and namespaces and exec a command there.

Used by ``exec`` (a command's own process) and by healthchecks (the
supervisor). The caller forks; the child joins the container's cgroup and
namespaces (ipc, uts, net, pid, mnt: joining the mount namespace also puts it
in the container's root), then forks again, because a PID namespace applies
to children only. The grandchild becomes the configured user and execs. The
exit code travels back through the wait statuses; an error before exec
travels back on a pipe. The caller's fds are closed on every path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from .. import sys as lx
from . import caps, console, seccomp
from .cgroups import Cgroup
from .process import ExecError, exec_in_container, set_ulimits
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


@dataclass(frozen=True)
class Entered:
    """A process forked into a container: its pid, the read end of its error pipe, and (with a tty)
    the socket its terminal's master arrives on."""

    pid: int
    errors: int
    terminal: socket.socket | None


def _namespaces(pid1: int) -> list[tuple[int, int]]:
    """Open fds of the namespaces of ``pid1`` that differ from ours, with their clone flags."""
    opened: list[tuple[int, int]] = []
    try:
        for name in ("ipc", "uts", "net", "pid", "mnt"):
            if os.readlink(f"/proc/{pid1}/ns/{name}") != os.readlink(f"/proc/self/ns/{name}"):
                opened.append((os.open(f"/proc/{pid1}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC),
                               lx.NAMESPACES[name]))
    except BaseException:
        for fd, _ in opened:
            os.close(fd)
        raise
    return opened


def fork_exec(pid1: int, spec: ContainerSpec, cgroup: Cgroup, options: ExecOptions, *,
              output: int | None = None) -> Entered:
    """Fork a process that runs ``options.argv`` inside the container whose PID 1 is ``pid1``.

    With ``output`` the command's stdout and stderr go there, and the fork
    leads its own process group, so a probe that overruns can be killed whole.
    """
    env = dict(item.partition("=")[::2] for item in spec.env)
    env.update(options.env)
    allowed = caps.effective_set(spec.cap_add, spec.cap_drop, spec.privileged or options.privileged)
    seccomp_filter = seccomp.filter_for(spec)  # the container's own, whatever the exec's privileges
    namespaces = _namespaces(pid1)
    err_r = err_w = -1
    ours = theirs = None
    try:
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        if options.tty:  # the terminal is opened inside the container; its master comes back to us
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked child
            try:
                if output is not None:
                    os.setpgid(0, 0)
                    os.dup2(output, 1)
                    os.dup2(output, 2)
                _enter(namespaces, cgroup.add, err_w, theirs, options,
                       [f"{k}={v}" for k, v in env.items()], options.user or spec.user, spec.group_add,
                       options.working_dir or spec.working_dir, allowed, spec.no_new_privileges, seccomp_filter,
                       spec.ulimits)
            finally:
                os._exit(126)  # only reached if something failed before _enter took over
    except BaseException:
        for fd in (err_r, err_w):
            if fd >= 0:
                os.close(fd)
        if ours is not None:
            ours.close()
        raise
    finally:
        for fd, _ in namespaces:
            os.close(fd)
        if theirs is not None:
            theirs.close()
    os.close(err_w)
    return Entered(pid=pid, errors=err_r, terminal=ours)


def _enter(namespaces: list[tuple[int, int]], join_cgroup: Callable[[int], None], err_w: int,
           tty: socket.socket | None, options: ExecOptions, env: list[str], user: str | None,
           group_add: Sequence[str], working_dir: str, allowed: frozenset[str],
           no_new_privileges: bool, seccomp_filter: seccomp.Filter | None,
           ulimits: Mapping[str, tuple[int, int]]) -> NoReturn:  # pragma: no cover - runs in the forked child
    code = 126
    try:
        join_cgroup(os.getpid())
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
                    os.close(null)
                if options.detach and tty is None:
                    null = os.open(os.devnull, os.O_RDWR)
                    for target in (0, 1, 2):
                        os.dup2(null, target)
                    os.close(null)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                set_ulimits(ulimits)  # as PID 1 has them
                exec_in_container(options.argv, env, user_spec=user, group_add=group_add,
                                  working_dir=working_dir, allowed_caps=allowed,
                                  no_new_privileges=no_new_privileges, seccomp_filter=seccomp_filter)
            except ExecError as exc:
                _report(err_w, str(exc))
                os._exit(exc.code)
            except BaseException as exc:  # noqa: BLE001
                _report(err_w, str(exc) or type(exc).__name__)
                os._exit(126)
        if options.detach:
            os._exit(0)
        _, status = os.waitpid(child, 0)
        code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    except BaseException as exc:  # noqa: BLE001
        _report(err_w, str(exc) or type(exc).__name__)
    os._exit(code)


def _report(fd: int, message: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, message.encode())
