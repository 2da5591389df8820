"""A container's output, kept as Docker's json-file driver keeps it.

One JSON object per line: ``{"log": "text\\n", "stream": "stdout", "time":
"2026-11-22T10:00:00.123456789Z"}``. When the file passes ``max_size`` it is
rotated (``.1``, ``.2``, …) and at most ``max_files`` files are kept.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass


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
    """

    def __init__(self, path: str, max_size: int = 10 << 20, max_files: int = 3) -> None:
        self.path = path
        self.max_size = max(max_size, 1024)
        self.max_files = max(max_files, 1)
        self.partial: dict[str, bytes] = {}
        self.fh = open(path, "ab")  # noqa: SIM115 - kept open for the container's life
        self.size = self.fh.tell()

    def write(self, stream: str, data: bytes) -> None:
        buf = self.partial.pop(stream, b"") + data
        lines = buf.split(b"\n")
        tail = lines.pop()
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

    def _entries(self, stream: str, texts: list[bytes]) -> None:
        if not texts:
            return
        now = timestamp()
        out = bytearray()
        for text in texts:
            record = {"log": text.decode("utf-8", errors="replace"), "stream": stream, "time": now}
            out += json.dumps(record, ensure_ascii=False).encode()
            out += b"\n"
            if self.size + len(out) >= self.max_size:
                self._append(out)
                out = bytearray()
                self._rotate()
        self._append(out)

    def _append(self, data: bytearray) -> None:
        if data:
            self.fh.write(data)
            self.fh.flush()
            self.size += len(data)

    def _rotate(self) -> None:
        self.fh.close()
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
        self.fh = open(self.path, "ab")  # noqa: SIM115
        self.size = self.fh.tell()

    def close(self) -> None:
        self.flush_partial()
        self.fh.close()


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
