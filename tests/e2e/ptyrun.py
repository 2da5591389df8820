"""Running the CLI on a real pseudo-terminal, as a user's shell does: it is the process's controlling
terminal, so ^C typed on it is a SIGINT, and it has a size."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]")


def _controlling_terminal() -> None:  # runs in the child, after setsid
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """``pycompose ARGS`` on a terminal of ``rows`` x ``cols``; ``output`` is what it wrote."""

    def __init__(self, args: list[str], cwd: str, env: dict[str, str], rows: int = 30, cols: int = 100) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen([sys.executable, "-m", "compose.cli.main", *args], cwd=cwd,
                                     env={**env, "TERM": "xterm"}, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True, preexec_fn=_controlling_terminal)
        self.slave_name = os.ttyname(slave)
        os.close(slave)
        self.raw = b""

    def local_modes(self) -> int:
        """The terminal's local modes (ECHO, ICANON...) as the program left them."""
        fd = os.open(self.slave_name, os.O_RDWR | os.O_NOCTTY)
        try:
            return termios.tcgetattr(fd)[3]
        finally:
            os.close(fd)

    def read(self, seconds: float) -> None:
        """Collect what is written for ``seconds`` (or until the process closes the terminal)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                self.raw += chunk

    def wait_for(self, text: str, seconds: float = 60) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if text in self.text:
                return True
            if self.proc.poll() is not None:
                self.read(0.2)
                return text in self.text
            self.read(0.1)
        return text in self.text

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.master)

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def finish(self, seconds: float = 60) -> int:
        deadline = time.monotonic() + seconds
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.read(0.1)
        self.read(0.3)
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(10)

    @property
    def text(self) -> str:
        """What was written, without colours or cursor movements."""
        return ANSI.sub("", self.raw.decode(errors="replace"))

    def screen_lines(self) -> list[str]:
        """The lines as a terminal leaves them: a line rewritten in place keeps its last text."""
        out: list[str] = []
        row = 0
        for token in re.split(r"(\x1b\[[0-9;?]*[A-Za-z]|\r\n|\n|\r)", self.raw.decode(errors="replace")):
            if not token:
                continue
            if token in ("\n", "\r\n"):
                row += 1
            elif token == "\r":
                continue
            elif token.startswith("\x1b["):
                if token.endswith("A"):
                    row = max(0, row - int(token[2:-1] or 1))
                elif token.endswith("F"):
                    row = max(0, row - int(token[2:-1] or 1))
                elif token.endswith("K") and row < len(out):
                    out[row] = ""
            else:
                while len(out) <= row:
                    out.append("")
                out[row] += token
        return out
