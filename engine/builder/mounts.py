"""``RUN --mount``: what each mount is on the host while the step runs, and what it adds to the cache key.

- ``cache``: a folder kept across builds under ``<root>/build/cache-mounts``,
  one per ``id`` (the target by default), made with ``uid``/``gid``/``mode``
  and seeded from ``from``/``source`` the first time. ``sharing=shared`` lets
  steps use it at once, ``locked`` makes them wait their turn, ``private``
  gives a step that finds it in use a fresh empty one.
- ``bind``: the files of the build context, a stage, an image or a named
  context, copied into a temporary folder (so ``.dockerignore`` holds and a
  read-write mount changes nothing that lasts); their content is in the key.
- ``secret``: the secret's bytes in an owner-only temporary file, mounted
  read-only (and/or given as ``env``); neither the content nor the file is
  in any layer, the history or the cache key.
- ``tmpfs``: a fresh tmpfs.

Mount points the image lacks are made in the step's init layer, below the
step's own changes, so they never end up in its layer.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from ..runtime.spec import MountSpec
from ..state import Root
from .digest import Hasher
from .errors import StepError
from .fsview import Parts, SourceFS, resolve, split
from .mountopts import MountOption

# from= (or "" for the build context) -> the tree, and whether its files keep their owners
Sources = Callable[[str], tuple[SourceFS, bool]]


@dataclass
class Prepared:
    specs: list[MountSpec] = field(default_factory=list)
    stubs: list[tuple[str, bool]] = field(default_factory=list)  # mount points: (path, is a directory)
    env: list[str] = field(default_factory=list)  # secrets given as environment variables
    key: list[str] = field(default_factory=list)  # what the mounts add to the step's cache key


def walk(src: SourceFS, parts: Parts) -> Iterator[tuple[Parts, os.stat_result]]:
    """``parts`` and everything below it (not excluded), parents first, in name order."""
    st = src.lstat(parts) if parts else src.lstat(())
    if st is None:
        return
    yield (), st
    if not stat.S_ISDIR(st.st_mode):
        return
    for name in src.listdir(parts):
        sub = (*parts, name)
        if src.excluded(sub):
            child = src.lstat(sub)
            if child is None or not stat.S_ISDIR(child.st_mode) or src.prune(sub):
                continue
        for rel, child_st in walk(src, sub):
            yield (name, *rel), child_st


def tree_digest(src: SourceFS, parts: Parts, hasher: Hasher) -> str:
    h = hashlib.sha256()
    for rel, st in walk(src, parts):
        kind = stat.S_IFMT(st.st_mode)
        item: list[object] = ["/".join(rel), kind, stat.S_IMODE(st.st_mode)]
        if stat.S_ISREG(st.st_mode):
            with src.open((*parts, *rel)) as fh:
                item.append(hasher.file(fh))
        elif stat.S_ISLNK(st.st_mode):
            item.append(src.readlink((*parts, *rel)))
        h.update(json.dumps(item).encode())
    return "sha256:" + h.hexdigest()


def materialize(src: SourceFS, parts: Parts, dest: str, keep_owner: bool) -> None:
    """Copy ``parts`` of ``src`` to the new path ``dest`` (a folder or a file), never following a link."""
    for rel, st in walk(src, parts):
        path = os.path.join(dest, *rel)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(path, 0o700)
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with open(fd, "wb") as out, src.open((*parts, *rel)) as fh:
                while chunk := fh.read(1 << 20):
                    out.write(chunk)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(src.readlink((*parts, *rel)), path)
        else:
            continue
        uid, gid = (st.st_uid, st.st_gid) if keep_owner else (0, 0)
        os.lchown(path, uid, gid)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(path, stat.S_IMODE(st.st_mode))


class MountSet:
    """The mounts of one RUN step; use as a context manager (locks and temporary copies go at exit)."""

    def __init__(self, root: Root, tmp: str, sources: Sources, secrets: Mapping[str, bytes], hasher: Hasher) -> None:
        self.root, self.tmp, self.sources, self.secrets, self.hasher = root, tmp, sources, secrets, hasher
        self.stack = contextlib.ExitStack()
        self.out = Prepared()
        self._binds: list[tuple[MountOption, SourceFS, Parts, bool]] = []

    def __enter__(self) -> MountSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def plan(self, options: list[MountOption]) -> Prepared:
        """Check every mount and work out its key; nothing is copied yet (``materialize`` does that)."""
        targets: set[str] = set()
        for m in options:
            if m.target and m.target in targets:
                raise StepError(f"--mount: two mounts target {m.target}")
            targets.add(m.target)
            if m.type == "bind":
                self._plan_bind(m)
            elif m.type == "cache":
                self.out.key.append(f"cache:{m.id}:{m.target}:{m.read_only}")
                self.out.stubs.append((m.target, True))
            elif m.type == "tmpfs":
                self.out.key.append(f"tmpfs:{m.target}:{m.size}")
                self.out.specs.append(MountSpec(type="tmpfs", target=m.target, tmpfs_size=m.size))
                self.out.stubs.append((m.target, True))
            elif m.type == "secret":
                self._secret(m)
        return self.out

    def _plan_bind(self, m: MountOption) -> None:
        src, keep = self.sources(m.from_)
        parts = resolve(src, split(m.source.lstrip("/")))
        st = src.lstat(parts) if parts else src.lstat(())
        if st is None or (parts and src.excluded(parts)):
            where = f"--from={m.from_}" if m.from_ else "the build context"
            raise StepError(f'--mount type=bind: "{m.source or "/"}" not found in {where}')
        digest = tree_digest(src, parts, self.hasher)
        self.out.key.append(f"bind:{m.target}:{m.from_}:{m.source}:{m.read_only}:{digest}")
        self.out.stubs.append((m.target, stat.S_ISDIR(st.st_mode)))
        self._binds.append((m, src, parts, keep))

    def _secret(self, m: MountOption) -> None:
        self.out.key.append(f"secret:{m.id}:{m.target}:{m.env}")
        value = self.secrets.get(m.id)
        if value is None:
            if m.required:
                raise StepError(f'secret "{m.id}" not found: give it in the build\'s secrets '
                                "(compose: build.secrets)")
            return
        if m.env:
            try:
                self.out.env.append(f"{m.env}={value.decode()}")
            except UnicodeDecodeError:
                raise StepError(f'secret "{m.id}" is not text, so it cannot be given as env={m.env}') from None
        if not m.target:
            return
        folder = tempfile.mkdtemp(dir=self.tmp, prefix="secret-")
        self.stack.callback(_remove_tree, folder)
        path = os.path.join(folder, "secret")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as fh:
            fh.write(value)
        os.chown(path, m.uid or 0, m.gid or 0)
        os.chmod(path, m.mode if m.mode is not None else 0o400)
        self.out.specs.append(MountSpec(type="bind", target=m.target, source=path, read_only=True))
        self.out.stubs.append((m.target, False))

    def materialize(self, options: list[MountOption]) -> None:
        """Make the bind copies and take the cache folders (the step is about to run)."""
        for m, src, parts, keep in self._binds:
            folder = tempfile.mkdtemp(dir=self.tmp, prefix="bind-")
            self.stack.callback(_remove_tree, folder)
            dest = os.path.join(folder, "src")
            materialize(src, parts, dest, keep)
            self.out.specs.append(MountSpec(type="bind", target=m.target, source=dest, read_only=m.read_only))
        for m in options:
            if m.type == "cache":
                path = self._cache(m)
                self.out.specs.append(MountSpec(type="bind", target=m.target, source=path, read_only=m.read_only))

    def _cache(self, m: MountOption) -> str:
        base = self.root.sub("build", "cache-mounts", hashlib.sha256(m.id.encode()).hexdigest()[:32])
        os.makedirs(base, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(base, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.stack.callback(os.close, fd)
        if m.sharing == "locked":
            fcntl.flock(fd, fcntl.LOCK_EX)
        elif m.sharing == "private":
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # in use: this step gets a fresh one of its own
                folder = tempfile.mkdtemp(dir=self.tmp, prefix="cache-")
                self.stack.callback(_remove_tree, folder)
                return self._new_cache(os.path.join(folder, "data"), m)
        else:
            fcntl.flock(fd, fcntl.LOCK_SH)
        data = os.path.join(base, "data")
        if not os.path.isdir(data):
            with open(os.path.join(base, "meta.json"), "w") as fh:
                json.dump({"id": m.id}, fh)
            staging = tempfile.mkdtemp(dir=base, prefix="new-")
            self._new_cache(os.path.join(staging, "data"), m)
            with contextlib.suppress(OSError):  # another step made it first: use that one
                os.rename(os.path.join(staging, "data"), data)
            _remove_tree(staging)
        return data

    def _new_cache(self, path: str, m: MountOption) -> str:
        if m.from_:
            src, keep = self.sources(m.from_)
            parts = resolve(src, split(m.source.lstrip("/")))
            st = src.lstat(parts) if parts else src.lstat(())
            if st is None or not stat.S_ISDIR(st.st_mode):
                raise StepError(f'--mount type=cache: "{m.source or "/"}" of --from={m.from_} is not a folder')
            materialize(src, parts, path, keep)
        else:
            os.mkdir(path)
        os.chown(path, m.uid or 0, m.gid or 0)
        os.chmod(path, m.mode if m.mode is not None else 0o755)
        return path


def _remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
