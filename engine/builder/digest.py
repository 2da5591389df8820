"""File checksums for cache keys and stale-image checks, each file read once while it stays unchanged.

A checksum is remembered by the file's identity and change stamps (device,
inode, size, modification and change times, in nanoseconds), as BuildKit's
content cache does: a file rewritten with the same content keeps its
checksum, a file whose stamps moved is read again. The table lives in
``<root>/build/checksums.json`` (owner-only), merged and written atomically
under a lock when a build ends; a lost or corrupt table only costs reading.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import BinaryIO

from ..state import Root, locked, read_json, write_json

_LIMIT = 200_000  # entries kept; the oldest half goes when the table grows past it


def _stamp(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def sha256_stream(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        digest.update(chunk)
    return "sha256:" + digest.hexdigest()


class Hasher:
    """sha256 of open files, remembered across builds; safe to share between threads."""

    def __init__(self, root: Root | None) -> None:
        self.path = root.sub("build", "checksums.json") if root is not None else None
        self._lock_path = os.path.join(root.locks, "build-checksums.lock") if root is not None else ""
        self._known: dict[str, str] = {}
        self._new: dict[str, str] = {}
        self._mutex = threading.Lock()
        if self.path is not None:
            data = read_json(self.path, {}) or {}
            if isinstance(data, dict):
                self._known = {k: v for k, v in data.items() if isinstance(v, str)}

    def file(self, fh: BinaryIO) -> str:
        """The checksum of an open regular file (read from its start)."""
        key = _stamp(os.fstat(fh.fileno()))
        with self._mutex:
            known = self._new.get(key) or self._known.get(key)
        if known is not None:
            return known
        fh.seek(0)
        value = sha256_stream(fh)
        with self._mutex:
            self._new[key] = value
        return value

    def path_digest(self, path: str) -> str:
        """The checksum of a host file, opened without following a final symlink."""
        with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as fh:
            return self.file(fh)

    def save(self) -> None:
        """Merge what this build learnt into the table on disk."""
        if self.path is None or not self._new:
            return
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        with locked(self._lock_path):
            data = read_json(self.path, {}) or {}
            if not isinstance(data, dict):
                data = {}
            data.update(self._new)
            if len(data) > _LIMIT:
                data = dict(list(data.items())[len(data) // 2:])
            write_json(self.path, data)
        self._known.update(self._new)
        self._new = {}
