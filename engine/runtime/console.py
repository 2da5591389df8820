"""Terminals for containers, made from the container's own /dev/ptmx.

The pseudo-terminal must belong to the container's devpts instance, or
``tty`` inside prints "not a tty". So the process inside opens it and hands
the master side to the supervisor (or the exec caller) over a Unix socket.
"""

from __future__ import annotations

import os
import socket

from .. import sys as lx


def open_pty() -> tuple[int, int]:
    """(master, slave) of a new terminal in the current devpts (call inside the container)."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        slave = os.open(f"/dev/pts/{lx.unlock_pty(master)}", os.O_RDWR | os.O_NOCTTY)
    except BaseException:
        os.close(master)
        raise
    return master, slave


def become_terminal(slave: int) -> None:
    """Make ``slave`` this process's stdin, stdout, stderr and controlling terminal (after setsid)."""
    for target in (0, 1, 2):
        os.dup2(slave, target)
    lx.set_controlling_terminal(0)
    if slave > 2:
        os.close(slave)


def send_fd(sock: socket.socket, fd: int) -> None:
    socket.send_fds(sock, [b"pty"], [fd])


def receive_fd(sock: socket.socket) -> int | None:
    """The fd sent with send_fd, or None if the other side closed without sending one."""
    _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    return fds[0] if fds else None


def take_terminal(sock: socket.socket) -> None:
    """Open a terminal here (inside the container), send its master over ``sock``, make it ours."""
    master, slave = open_pty()
    send_fd(sock, master)
    os.close(master)
    sock.close()
    become_terminal(slave)
