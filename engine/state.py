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
    """Hold an flock on ``path`` (created if missing) for the duration of the block.

    The lock is taken on the file that is at ``path`` once it is held: a
    holder may remove its lock file (``unlink_lock``) when what it guards is
    gone, and whoever was waiting on the removed file tries again on the new one.
    """
    fd = _lock_fd(path, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def try_locked(path: str) -> int | None:
    """An fd holding ``path``'s exclusive lock, or None when someone else holds it (never waits)."""
    try:
        return _lock_fd(path, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return None


def _lock_fd(path: str, how: int) -> int:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, how)
            held = os.fstat(fd)
            now = os.stat(path)
        except FileNotFoundError:  # removed by its last holder: take the new one
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
            return fd
        os.close(fd)


def unlink_lock(path: str) -> None:
    """Remove a lock file the caller holds (see ``locked``)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# -- containers being created -------------------------------------------------
#
# A container's folder is made, with a claim file held locked, before anything
# is allocated for it (addresses, anonymous volumes); its record
# (``container.json``) is written last, then the claim removed. So every
# allocation has an owner that either has a whole record or is being created by
# a live process; whatever else names a container is left over from a crash, and
# is given back (``owner_exists``).

CLAIM = "creating"


def owner_exists(root: Root, cid: str) -> bool:
    """Container ``cid`` has a whole record, or a live process is creating it."""
    folder = os.path.join(root.containers, cid)
    record = os.path.join(folder, "container.json")
    # the record is written before the claim goes: a creation that completes meanwhile shows it
    return os.path.isfile(record) or claim_held(folder) or os.path.isfile(record)


def claim_held(folder: str) -> bool:
    """A live process holds the claim in ``folder`` (a container being created)."""
    try:
        fd = os.open(os.path.join(folder, CLAIM), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
