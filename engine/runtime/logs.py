"""A container's output, kept as Docker's json-file driver keeps it.

One JSON object per line: ``{"log": "text\\n", "stream": "stdout", "time":
"2026-11-22T10:00:00.123456789Z"}``. When the file passes ``max_size`` it is
rotated (``.1``, ``.2``, …) and at most ``max_files`` files are kept.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

# bytes that JSON escapes or that are not ASCII; a newline only ends lines here
_UNSAFE = re.compile(rb'[^\n\x20\x21\x23-\x5b\x5d-\x7e]')


def timestamp(ns: int | None = None) -> str:
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def parse_timestamp(text: str) -> float:
    """RFC 3339 (as written above, or with an offset) -> seconds since the epoch."""
    from datetime import datetime

    main, _, rest = text.partition(".")
    frac, zone = rest.rstrip("Z"), "+00:00"
    for sep in ("+", "-"):
        if sep in frac:
            frac, _, offset = frac.partition(sep)
            zone = sep + offset
    dt = datetime.fromisoformat(main + zone)
    return dt.timestamp() + (float("0." + frac) if frac else 0.0)


class LogWriter:
    """Appends entries to ``path``, splitting output into lines and rotating by size.

    What one read brings is written with one write call (its lines share the
    time it arrived), so a container's output costs the supervisor a syscall
    per read, not per line.

    A write that fails (a full disk) is dropped whole, never left half
    written, and counted: once writes succeed again, an entry on stderr says
    how many lines were lost and why. The container is never held up by it.
    """

    def __init__(self, path: str, max_size: int = 10 << 20, max_files: int = 3) -> None:
        self.path = path
        self.max_size = max(max_size, 1024)
        self.max_files = max(max_files, 1)
        self.partial: dict[str, bytes] = {}
        self.dropped = 0  # lines lost to failed writes since the last write that succeeded
        self.why = ""
        self.fh: io.FileIO | None = None
        self.size = 0
        self._open()
        if self.fh is None:
            raise OSError(self.why)

    def write(self, stream: str, data: bytes) -> None:
        buf = self.partial.pop(stream, b"") + data
        end = buf.rfind(b"\n") + 1
        tail = buf[end:]
        if end and not self.dropped and _UNSAFE.search(buf, 0, end) is None:
            self._plain(stream, buf[:end - 1])  # only printable ASCII: the entries are made in one go
            texts = []
        else:
            lines = buf.split(b"\n")
            lines.pop()
            texts = [line + b"\n" for line in lines]
        if len(tail) > 16384:  # Docker splits long lines at 16 KiB
            texts.append(tail)
        elif tail:
            self.partial[stream] = tail
        self._entries(stream, texts)

    def flush_partial(self) -> None:
        for stream, tail in list(self.partial.items()):
            self._entries(stream, [tail])
        self.partial.clear()

    def _plain(self, stream: str, body: bytes) -> None:
        """Lines (``body`` without its last newline) of printable ASCII other than ``"`` and ``\\``: the
        JSON of each is the line itself, so every entry is made by one ``replace``. The file rotates after
        the entry that reaches ``max_size``, as ``_entries`` does."""
        suffix = f'\\n", "stream": "{stream}", "time": "{timestamp()}"}}\n'.encode()
        out = b'{"log": "' + body.replace(b"\n", suffix + b'{"log": "') + suffix
        while self.size + len(out) >= self.max_size:
            cut = out.index(b'"}\n', max(0, self.max_size - self.size - 3)) + 3  # "} ends entries only
            piece, out = out[:cut], out[cut:]
            self._append(piece, piece.count(b"\n"))
            self._rotate()
        self._append(out, out.count(b"\n"))

    def _entries(self, stream: str, texts: list[bytes]) -> None:
        if not texts:
            return
        now = timestamp()
        entries = [(stream, text) for text in texts]
        if self.dropped:  # first, what was lost (the note is not counted as a line of output)
            note = f"pycompose: {self.dropped} lines of output were not logged: {self.why}\n"
            entries.insert(0, ("", note.encode()))
        out, lines = bytearray(), 0
        ends = {name: f', "stream": "{name or "stderr"}", "time": "{now}"}}\n'.encode() for name in (stream, "")}
        for name, text in entries:
            # the bytes json.dumps gives for {"log": ..., "stream": ..., "time": ...}
            out += b'{"log": '
            out += json.dumps(text.decode("utf-8", errors="replace"), ensure_ascii=False).encode()
            out += ends[name]
            lines += 1 if name else 0
            if self.size + len(out) >= self.max_size:
                self._append(out, lines)
                out, lines = bytearray(), 0
                self._rotate()
        self._append(out, lines)

    def _append(self, data: bytes | bytearray, lines: int) -> None:
        """Write whole entries, or none of them (``lines`` of output are lost then, and counted)."""
        if not data:
            return
        if self.fh is None:
            self._open()
        view, done = memoryview(data), 0
        try:
            if self.fh is None:
                raise OSError(self.why)
            while done < len(data):
                done += self.fh.write(view[done:]) or 0
        except OSError as exc:
            if done:  # no half entry may stay: the next one would be glued to it
                with contextlib.suppress(OSError):
                    os.ftruncate(self.fh.fileno(), self.size)  # type: ignore[union-attr]
            self.dropped += lines
            self.why = exc.strerror or str(exc)
            return
        self.size += len(data)
        self.dropped = 0

    def _rotate(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
        with contextlib.suppress(OSError):
            if self.max_files == 1:
                os.truncate(self.path, 0)
            else:
                for i in range(self.max_files - 1, 0, -1):
                    older = f"{self.path}.{i}"
                    if i == self.max_files - 1 and os.path.exists(older):
                        os.unlink(older)
                    newer = f"{self.path}.{i - 1}" if i > 1 else self.path
                    if os.path.exists(newer):
                        os.rename(newer, older)
        self._open()

    def _open(self) -> None:
        """(Re)open the log; on failure (a full disk) ``fh`` stays None and the next write tries again."""
        try:
            self.fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - kept open for the container's life
        except OSError as exc:
            self.why = exc.strerror or str(exc)
            return
        self.size = self.fh.tell()

    def close(self) -> None:
        self.flush_partial()
        if self.fh is not None:
            self.fh.close()
            self.fh = None


@dataclass(frozen=True)
class Entry:
    time: str
    stream: str
    text: str


def read(path: str, max_files: int = 10) -> Iterator[Entry]:
    """Every entry of a log and its rotated files, oldest first."""
    files = [f"{path}.{i}" for i in range(max_files, 0, -1)] + [path]
    for name in files:
        try:
            with open(name, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    yield Entry(rec.get("time", ""), rec.get("stream", "stdout"), rec.get("log", ""))
        except FileNotFoundError:
            continue
