"""Run another process inside a running container (``exec``), and relay a terminal.

The process is forked into the container by ``enter.fork_exec``; this module
is the command's side: it waits for the process, relays its terminal and
reports its exit code or the error that kept it from running.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import termios
import tty as ttymod
from collections.abc import Callable
from types import FrameType

from .. import sys as lx
from ..errors import Conflict, RuntimeFailure
from . import console
from .containers import Runtime
from .enter import ExecOptions as ExecOptions  # re-exported: part of this module's API
from .enter import fork_exec


def exec_container(runtime: Runtime, ref: str, options: ExecOptions) -> int:
    """Run ``options.argv`` in the container; its exit code (0 right away with ``detach``)."""
    c = runtime.get(ref)
    if c.status != "running":
        raise Conflict(f"container {c.name} is not running")
    entered = fork_exec(c.pid, c.spec, runtime.cgroups.container(c.id), options)
    master = None
    if entered.terminal is not None:
        try:
            master = console.receive_fd(entered.terminal)
        except BaseException:
            os.close(entered.errors)
            raise
        finally:
            entered.terminal.close()
        if master is not None:
            _copy_winsize(master)
    if options.detach:
        _finish_detached(entered.pid, entered.errors, master)
        return 0
    if master is not None:
        _relay(master, options.interactive)
    _, status = os.waitpid(entered.pid, 0)
    error = _drain(entered.errors)
    code = os.waitstatus_to_exitcode(status) if not os.WIFSIGNALED(status) else 128 + os.WTERMSIG(status)
    if error:  # the command never ran: 127 not found, 126 not executable, as Docker answers
        failure = RuntimeFailure(f"exec in {c.name} failed: {error}")
        failure.exit_code = code if code in (126, 127) else 126
        raise failure
    return code


def exec_output(runtime: Runtime, ref: str, options: ExecOptions, on_line: Callable[[str], None]) -> int:
    """Run ``options.argv`` in the container with no terminal and no input, each line it prints (stdout
    and stderr together) handed to ``on_line`` as it comes; its exit code (127/126 when it cannot run)."""
    c = runtime.get(ref)
    if c.status != "running":
        raise Conflict(f"container {c.name} is not running")
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    try:
        entered = fork_exec(c.pid, c.spec, runtime.cgroups.container(c.id), options, output=out_w)
    except BaseException:
        os.close(out_r)
        raise
    finally:
        os.close(out_w)
    status, pending = None, b""
    try:  # until the command exits: something it left behind may hold the pipe open for ever
        while status is None:
            ready, _, _ = select.select([out_r], [], [], 0.05)
            chunk = os.read(out_r, 65536) if ready else b""
            if not chunk:
                pid, waited = os.waitpid(entered.pid, 0 if ready else os.WNOHANG)
                status = waited if pid else None
                if status is not None:
                    os.set_blocking(out_r, False)
                    with contextlib.suppress(BlockingIOError):
                        while more := os.read(out_r, 65536):
                            pending += more
            *lines, pending = (pending + chunk).split(b"\n")
            for raw in lines:
                on_line(raw.decode(errors="replace"))
    finally:
        os.close(out_r)
    if pending:
        on_line(pending.decode(errors="replace"))
    error = _drain(entered.errors)
    code = os.waitstatus_to_exitcode(status) if not os.WIFSIGNALED(status) else 128 + os.WTERMSIG(status)
    if error:
        on_line(error)
        return code if code in (126, 127) else 126
    return code


def _drain(fd: int) -> str:
    chunks = []
    try:
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
    finally:
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
    with contextlib.suppress(OSError):
        lx.set_window_size(fd, lx.window_size(sys.stdout.fileno()))


FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
"""The signals Docker's CLI passes on to a container it runs attached (besides SIGINT, which a terminal sends
as a key): SIGCHLD, SIGPIPE and SIGURG are its own, SIGKILL and SIGSTOP cannot be caught."""


def relay_terminal(master: int, forward: Callable[[int], None] | None = None) -> None:
    """Our terminal (raw) <-> ``master`` until the other side closes it; its size follows ours.

    ``forward``: called with each signal of ``FORWARDED`` (and SIGINT) sent to us meanwhile, as Docker's CLI
    passes them to the container (without it they act as usual)."""
    _copy_winsize(master)
    _relay(master, True, forward)


def _relay(master: int, interactive: bool, forward: Callable[[int], None] | None = None) -> None:
    """Copy the terminal both ways until the process closes it. A resize of ours (SIGWINCH, seen through a
    wake-up pipe: the handler does nothing else) is passed on, and the signals to ``forward``; our terminal's
    mode is restored on every path."""
    stdin = sys.stdin.fileno() if interactive else -1
    restore = None
    wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    previous_wakeup = None
    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
    caught = (signal.SIGWINCH,) + ((*FORWARDED, signal.SIGINT) if forward is not None else ())
    try:
        for sig in caught:
            previous[sig] = signal.signal(sig, lambda signum, frame: None)
        previous_wakeup = signal.set_wakeup_fd(wake_w)
    except ValueError:  # not the main thread: no resizes then
        pass
    if interactive and os.isatty(stdin):
        restore = termios.tcgetattr(stdin)
        ttymod.setraw(stdin)
    try:
        watch = [master, wake_r] + ([stdin] if interactive else [])
        while True:
            ready, _, _ = select.select(watch, [], [])
            if wake_r in ready:
                got = b""
                with contextlib.suppress(BlockingIOError):
                    got = os.read(wake_r, 512)  # the numbers of the signals received
                if signal.SIGWINCH in got or not got:
                    _copy_winsize(master)
                for number in got:
                    if number != signal.SIGWINCH and forward is not None:
                        forward(number)
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
        if previous_wakeup is not None:
            signal.set_wakeup_fd(previous_wakeup)
        for caught_signal, handler in previous.items():
            signal.signal(caught_signal, handler if handler is not None else signal.SIG_DFL)
        os.close(wake_r)
        os.close(wake_w)
        os.close(master)
