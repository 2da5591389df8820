"""Start a detached pycompose daemon (a supervisor, netd) and wait until it says it is ready."""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass

from .errors import EngineError


def spawn(module: str, args: list[str], log: str) -> None:
    """Run ``python -I -m module *args READY_FD`` in a new session, as a grandchild (no zombie).

    The daemon writes ``ready`` on READY_FD once it serves; anything else (or
    nothing) is a failure, reported with its log's path.
    """
    begin(module, args, log).wait()


@dataclass
class Spawning:
    """A daemon started by ``begin``, not yet known to serve."""

    module: str
    log: str
    ready_fd: int

    def wait(self) -> None:
        """Until the daemon says it serves (EngineError if it says anything else, or dies first)."""
        chunks = []
        try:
            while chunk := os.read(self.ready_fd, 4096):
                chunks.append(chunk)
        finally:
            os.close(self.ready_fd)
        answer = b"".join(chunks).decode(errors="replace")
        if answer != "ready":
            raise EngineError(f"{self.module} did not start: {answer or 'see ' + self.log}")


def begin(module: str, args: list[str], log: str) -> Spawning:
    """Start the daemon as ``spawn`` does, without waiting for it: the caller goes on, then ``wait``s."""
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        try:
            os.setsid()
            if os.fork() == 0:
                os.close(read_fd)
                out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.chdir("/")
                # Nothing else of the caller's: an fd it inherited (a shell's pipe) would stay open
                # for the daemon's whole life.
                os.closerange(3, write_fd)
                os.closerange(write_fd + 1, os.sysconf("SC_OPEN_MAX"))
                os.set_inheritable(write_fd, True)
                os.execv(sys.executable, [sys.executable, "-I", "-m", module, *args, str(write_fd)])
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    return Spawning(module, log, read_fd)


class _LogStream(io.TextIOBase):
    """A daemon's stdout and stderr, its log file: a write that fails (a full disk) is dropped, not
    raised (a traceback that cannot be written must not kill the daemon), and counted; the next write
    that succeeds says how many were dropped."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def write(self, text: str) -> int:
        data = text.encode(errors="replace")
        if self.dropped:
            data = f"[{self.dropped} writes to this log were dropped: no space]\n".encode() + data
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
        except OSError:
            self.dropped += 1
        else:
            self.dropped = 0
        return len(text)

    def flush(self) -> None:
        pass


def quiet_output() -> None:
    """Make ``print`` and tracebacks of a daemon survive a full disk (see ``_LogStream``)."""
    sys.stdout = sys.stderr = _LogStream(2)
