"""The engine's state on disk: where it lives, atomic records, locks.

Every record is a JSON file written to a temporary name in the same folder,
fsynced and renamed over the old one, so a crash leaves the old record or the
new one, never half of either; the folder is fsynced after the rename, so
the new name survives too. Writers hold an flock on the record's lock
file, so two commands at once cannot interleave.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_ROOT = "/var/lib/pycompose"


@dataclass(frozen=True)
class Root:
    """The state root and the places under it. ``PYCOMPOSE_ROOT`` overrides the default."""

    path: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Root:
        env = os.environ if environ is None else environ
        return cls(os.path.abspath(env.get("PYCOMPOSE_ROOT") or DEFAULT_ROOT))

    def sub(self, *parts: str) -> str:
        return os.path.join(self.path, *parts)

    @property
    def images(self) -> str:
        return self.sub("image")

    @property
    def containers(self) -> str:
        return self.sub("containers")

    @property
    def run(self) -> str:
        return self.sub("run")

    @property
    def locks(self) -> str:
        return self.sub("locks")

    @property
    def volumes(self) -> str:
        return self.sub("volumes")

    def lock(self, name: str) -> str:
        """The lock file guarding ``name`` (``volumes``, ``names``, ``container-<id>`` …)."""
        return os.path.join(self.locks, f"{name}.lock")

    def ensure(self) -> None:
        for d in (self.path, self.images, self.containers, self.run, self.locks):
            os.makedirs(d, mode=0o700, exist_ok=True)

    @property
    def cgroup_name(self) -> str:
        """The cgroup folder for this root: ``pycompose`` for the default root, suffixed otherwise."""
        if self.path == DEFAULT_ROOT:
            return "pycompose"
        import hashlib

        return "pycompose-" + hashlib.sha256(self.path.encode()).hexdigest()[:8]


def write_json(path: str, data: object) -> None:
    """Write ``data`` to ``path`` atomically and durably (temp file, fsync, rename, fsync the folder).

    The folder is fsynced after the rename so that the new name itself
    survives a crash: without it, the rename may be lost and the old record
    come back.
    """
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def fsync_dir(path: str) -> None:
    """Make the entries of folder ``path`` (a rename, a new file) durable."""
    fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: str, default: Any = None) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return default


@contextlib.contextmanager
def locked(path: str, *, shared: bool = False) -> Iterator[None]:
    """Hold an flock on ``path`` (created if missing) for the duration of the block."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
