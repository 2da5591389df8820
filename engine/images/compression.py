"""Streams in and out of layer and archive files: compression sniffed from magic bytes, sha256 as we read.

Sources may be pipes (``import -``), so nothing here seeks: the magic bytes
are read once and replayed in front of the rest of the stream. Corrupt
compressed data surfaces as ArchiveError, whatever the codec's own exception.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import zlib
from typing import IO, Protocol, cast

import zstandard

from ..errors import ArchiveError

NONE, GZIP, ZSTD, XZ, BZIP2 = "none", "gzip", "zstd", "xz", "bzip2"
_MAGIC = ((b"\x1f\x8b", GZIP), (b"\x28\xb5\x2f\xfd", ZSTD), (b"\xfd7zXZ\x00", XZ), (b"BZh", BZIP2))
_CHUNK = 1 << 20


class Reader(Protocol):
    """Anything with ``read``: files, pipes, decompressors, the readers below."""

    def read(self, n: int = -1, /) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes, /) -> int: ...


class HashingReader:
    """Reads ``src``, hashing (and, given ``copy_to``, copying) every byte that passes."""

    def __init__(self, src: Reader, copy_to: Writer | None = None) -> None:
        self._src = src
        self._copy_to = copy_to
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n)
        self._hash.update(data)
        self.size += len(data)
        if self._copy_to is not None:
            self._copy_to.write(data)
        return data

    def drain(self) -> None:
        """Read to the end, so the digest covers trailing bytes a tar reader leaves unread."""
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class _Replay:
    """``src`` with ``head`` (already read from it) put back in front."""

    def __init__(self, head: bytes, src: Reader) -> None:
        self._head = head
        self._src = src

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._src.read(), b""
            else:
                data, self._head = self._head[:n], self._head[n:]
            return data
        return self._src.read(n)


class _Checked:
    """A decompressing reader whose codec errors become ArchiveError."""

    def __init__(self, src: Reader, kind: str) -> None:
        self._src = src
        self._kind = kind

    def read(self, n: int = -1) -> bytes:
        try:
            return self._src.read(n)
        except (OSError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError) as exc:
            raise ArchiveError(f"corrupt {self._kind} data: {exc}") from None


def open_stream(src: Reader) -> tuple[str, Reader]:
    """Sniff ``src``'s compression; return its name and a reader of the uncompressed bytes."""
    head = b""
    while len(head) < 6:
        more = src.read(6 - len(head))
        if not more:
            break
        head += more
    raw = cast(IO[bytes], _Replay(head, src))  # the codecs below only ever call read()
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), NONE)
    if kind == NONE:
        return kind, raw
    reader: Reader
    if kind == GZIP:
        reader = gzip.GzipFile(fileobj=raw, mode="rb")
    elif kind == ZSTD:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)
    elif kind == XZ:
        reader = lzma.LZMAFile(raw)
    else:
        reader = bz2.BZ2File(raw)
    return kind, _Checked(reader, kind)
