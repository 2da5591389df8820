"""A container's stdout and stderr: FIFOs in its folder, so they outlive the supervisor that reads them.

With pipes, a container's output went through its supervisor's read ends:
if the supervisor died, the next write failed with EPIPE and the output was
lost. A FIFO has a name, and the container's end is opened read-write, so
the FIFO always has a reader: a write never fails. While no supervisor
drains it the FIFO fills (1 MiB, 64 KiB if the kernel refuses more) and then a writer waits, as it would
behind a slow terminal; a new supervisor opens the FIFO by its name and
drains it (``reopen``). The supervisor's end is read-only, so it still sees
end-of-file once every process of the container has closed its end.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

STREAMS = ("stdout", "stderr")
PIPE_SIZE = 1 << 20  # room for a burst of output between two reads of the supervisor (the kernel's default: 64 KiB)


def path(folder: str, stream: str) -> str:
    return os.path.join(folder, f"{stream}.fifo")


def make(folder: str, stream: str) -> tuple[int, int]:
    """A fresh FIFO for ``stream``: (the supervisor's non-blocking read end, the container's end)."""
    name = path(folder, stream)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)
    os.mkfifo(name, 0o600)
    theirs = os.open(name, os.O_RDWR | os.O_CLOEXEC)  # first: a read-only open then finds a writer
    try:
        ours = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except BaseException:
        os.close(theirs)
        raise
    with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size, or the user's pipe quota: the default
        fcntl.fcntl(ours, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    return ours, theirs


def reopen(folder: str) -> dict[int, str]:
    """The read ends of a running container's FIFOs, for a supervisor that adopts it: fd -> stream."""
    out = {}
    for stream in STREAMS:
        with contextlib.suppress(OSError):
            out[os.open(path(folder, stream), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)] = stream
    return out
