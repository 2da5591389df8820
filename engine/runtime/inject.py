"""Write host files straight into a running container's filesystem, as the container sees it (``watch``).

A child is forked for each batch. It opens the host's files first, while it still sees the host, then
joins the container's mount namespace and root: the targets resolve exactly as in the container,
volumes and binds included, and the container's symlinks cannot lead out of it. Each file is written
beside its target and renamed over it (a reader sees the old content or the new, never half), owned by
the container's user (resolved in the container's own /etc/passwd), with the host file's mode and
modification time. The image needs nothing: no shell, no ``tar``, no ``rm``.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from .. import sys as lx
from ..errors import Conflict, EngineError
from . import users
from .containers import Container, Runtime

_CHUNK = 4096  # host files held open by one child at most


@dataclass(frozen=True)
class Change:
    """Bring the container's ``target`` (absolute) to what the host's ``source`` is now: written when it
    exists, removed when it does not. ``only_if_differs`` leaves a target of the same type, size and
    modification time alone (a sync after a restart or recreate, or an initial sync)."""

    source: str
    target: str
    only_if_differs: bool = False


@dataclass(frozen=True)
class Outcome:
    written: tuple[str, ...] = ()  # files and links written (targets)
    removed: tuple[str, ...] = ()  # targets that existed and were removed
    failed: tuple[str, ...] = ()  # "target: why", one per target left as it was


@dataclass(frozen=True)
class _Source:
    """What a change brings, read on the host side before the child enters the container."""

    target: str
    kind: str  # file, dir, link, gone, skip
    only_if_differs: bool
    fd: int = -1
    mode: int = 0
    size: int = 0
    atime_ns: int = 0
    mtime_ns: int = 0
    link: str = ""


def inject(runtime: Runtime, ref: str, changes: Sequence[Change]) -> Outcome:
    """Apply ``changes`` inside the running container ``ref``. A Conflict if it is not running."""
    c = runtime.get(ref)
    if c.status not in ("running", "paused") or c.pid <= 0:
        raise Conflict(f"container {c.name} is not running")
    written: list[str] = []
    removed: list[str] = []
    failed: list[str] = []
    ordered = sorted(changes, key=lambda ch: (ch.target.count("/"), ch.target))
    for start in range(0, len(ordered), _CHUNK):
        part = _run(c, ordered[start:start + _CHUNK])
        written += part.written
        removed += part.removed
        failed += part.failed
    return Outcome(tuple(written), tuple(removed), tuple(failed))


def _run(c: Container, changes: Sequence[Change]) -> Outcome:
    ns = os.open(f"/proc/{c.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.fork()
    except BaseException:
        for fd in (ns, read_fd, write_fd):
            os.close(fd)
        raise
    if pid == 0:  # pragma: no cover - runs in the forked child
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C for the watcher lets the batch finish
            os.close(read_fd)
            _room_for(len(changes))
            sources = [_open(ch) for ch in changes]
            lx.setns(ns, lx.CLONE_NEWNS)
            os.chroot("/")
            os.chdir("/")
            outcome = _apply(sources, c.spec.user)
            os.write(write_fd, json.dumps([outcome.written, outcome.removed, outcome.failed]).encode())
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            with contextlib.suppress(OSError):
                os.write(write_fd, json.dumps({"error": str(exc) or type(exc).__name__}).encode())
        os._exit(code)
    os.close(ns)
    os.close(write_fd)
    chunks = []
    with os.fdopen(read_fd, "rb") as fh:
        while chunk := fh.read(65536):
            chunks.append(chunk)
    os.waitpid(pid, 0)
    try:
        answer: object = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        answer = {}
    if isinstance(answer, list) and len(answer) == 3:
        return Outcome(*(tuple(str(x) for x in part) for part in answer))
    error = answer.get("error") if isinstance(answer, dict) else None
    raise EngineError(f"syncing into {c.name}: {error or 'the sync process died'}")


# -- in the child ---------------------------------------------------------------------------------

def _open(ch: Change) -> _Source:  # pragma: no cover - runs in the forked child
    """The host side of a change, opened before the child leaves the host's filesystem."""
    try:
        st = os.lstat(ch.source)
    except FileNotFoundError:
        return _Source(ch.target, "gone", ch.only_if_differs)
    except OSError:
        return _Source(ch.target, "skip", ch.only_if_differs)
    mode, size, atime, mtime = stat.S_IMODE(st.st_mode), st.st_size, st.st_atime_ns, st.st_mtime_ns
    if stat.S_ISREG(st.st_mode):
        try:
            fd = os.open(ch.source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return _Source(ch.target, "gone", ch.only_if_differs)
        except OSError:
            return _Source(ch.target, "skip", ch.only_if_differs)
        return _Source(ch.target, "file", ch.only_if_differs, fd, mode, size, atime, mtime)
    if stat.S_ISDIR(st.st_mode):
        return _Source(ch.target, "dir", ch.only_if_differs, -1, mode, size, atime, mtime)
    if stat.S_ISLNK(st.st_mode):
        return _Source(ch.target, "link", ch.only_if_differs, -1, mode, size, atime, mtime, os.readlink(ch.source))
    return _Source(ch.target, "skip", ch.only_if_differs)  # sockets, fifos, devices: not synced


def _room_for(files: int) -> None:  # pragma: no cover - runs in the forked child
    """Raise the soft limit on open files so that ``files`` more fit (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = files + 64 + len(os.listdir("/proc/self/fd"))
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(hard, wanted),
                                                    hard))


def _apply(sources: Sequence[_Source], user: str | None) -> Outcome:  # pragma: no cover - in the child
    try:
        who = users.resolve(user)
    except ValueError as exc:
        raise EngineError(f"the container's user: {exc}") from None
    written: list[str] = []
    removed: list[str] = []
    failed: list[str] = []
    for src in sources:
        try:
            if src.kind == "gone":
                if _remove(src.target):
                    removed.append(src.target)
            elif src.kind == "dir":
                _make_dir(src, who.uid, who.gid)
            elif src.kind in ("file", "link") and not (src.only_if_differs and _same(src)):
                _make_dirs(os.path.dirname(src.target), who.uid, who.gid)
                (_write_file if src.kind == "file" else _write_link)(src, who.uid, who.gid)
                written.append(src.target)
        except OSError as exc:
            failed.append(f"{src.target}: {exc.strerror or exc}")
        finally:
            if src.fd >= 0:
                os.close(src.fd)
    return Outcome(tuple(written), tuple(removed), tuple(failed))


def _same(src: _Source) -> bool:  # pragma: no cover - runs in the forked child
    try:
        st = os.lstat(src.target)
    except OSError:
        return False
    kind = stat.S_ISREG(st.st_mode) if src.kind == "file" else stat.S_ISLNK(st.st_mode)
    return kind and st.st_size == src.size and st.st_mtime_ns == src.mtime_ns


def _remove(target: str) -> bool:  # pragma: no cover - runs in the forked child
    try:
        st = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):  # gone, or a parent is a file now
        return False
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(target)
    else:
        os.unlink(target)
    return True


def _make_dirs(path: str, uid: int, gid: int) -> None:  # pragma: no cover - runs in the forked child
    """``path`` and its missing parents, the new ones owned by the container's user."""
    if os.path.isdir(path):
        return
    _make_dirs(os.path.dirname(path), uid, gid)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)  # a file where the host now has a folder
    os.mkdir(path, 0o755)
    os.chown(path, uid, gid, follow_symlinks=False)


def _make_dir(src: _Source, uid: int, gid: int) -> None:  # pragma: no cover - runs in the forked child
    if os.path.isdir(src.target):
        return
    _make_dirs(os.path.dirname(src.target), uid, gid)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(src.target)  # a file or link where the host now has a folder
    os.mkdir(src.target, 0o700)
    os.chown(src.target, uid, gid, follow_symlinks=False)
    os.chmod(src.target, src.mode)


def _temp_beside(target: str) -> str:  # pragma: no cover - runs in the forked child
    return os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.pycompose-sync-{os.getpid()}")


def _replace(temp: str, target: str) -> None:  # pragma: no cover - runs in the forked child
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        shutil.rmtree(target)  # a folder where the host now has a file
    os.rename(temp, target)


def _write_file(src: _Source, uid: int, gid: int) -> None:  # pragma: no cover - runs in the forked child
    temp = _temp_beside(src.target)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        _copy(src.fd, fd)
        os.fchown(fd, uid, gid)  # before the mode: chown clears set-id bits
        os.fchmod(fd, src.mode)
        os.utime(fd, ns=(src.atime_ns, src.mtime_ns))
    except BaseException:
        os.close(fd)
        os.unlink(temp)
        raise
    os.close(fd)
    try:
        _replace(temp, src.target)
    except OSError as exc:
        os.unlink(temp)
        if exc.errno != 16:  # EBUSY: the target is a mount point (a file bound on its own); write in place
            raise
        _write_in_place(src)


def _write_in_place(src: _Source) -> None:  # pragma: no cover - runs in the forked child
    fd = os.open(src.target, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.lseek(src.fd, 0, os.SEEK_SET)
        _copy(src.fd, fd)
    finally:
        os.close(fd)


def _copy(source: int, dest: int) -> None:  # pragma: no cover - runs in the forked child
    offset = 0
    while True:
        try:
            sent = os.sendfile(dest, source, offset, 1 << 30)
        except OSError as exc:
            if exc.errno not in (22, 38) or offset:  # EINVAL, ENOSYS: copy by hand
                raise
            while chunk := os.read(source, 1 << 20):
                os.write(dest, chunk)
            return
        if sent == 0:
            return
        offset += sent


def _write_link(src: _Source, uid: int, gid: int) -> None:  # pragma: no cover - runs in the forked child
    temp = _temp_beside(src.target)
    os.symlink(src.link, temp)
    try:
        os.chown(temp, uid, gid, follow_symlinks=False)
        os.utime(temp, ns=(src.atime_ns, src.mtime_ns), follow_symlinks=False)
        _replace(temp, src.target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
