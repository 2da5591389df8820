"""COPY and ADD: files of the build context (or of another stage or image) as a new layer tar.

Nothing is written into the image's layers: the step's result is a tar,
unpacked into a new layer by the store (which refuses any entry through a
symlink). Sources are read through a ``SourceFS`` that cannot be escaped;
a named source that is a symlink is followed inside that tree only, and
symlinks inside copied directories are copied as symlinks. The destination
is resolved in the image as its container would see it (a symlink to
``/etc`` in the image means the image's ``/etc``, never the host's).

Docker's rules: several sources need a destination ending in ``/``; a
directory source copies its content; a file goes into an existing directory
or a destination ending in ``/``, otherwise it becomes the destination;
context files belong to root unless ``--chown``; files from another stage
keep their owners; ADD unpacks local tar archives (any compression).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, TypeVar

from ..errors import ArchiveError
from .archive import ArchiveEntries, is_archive
from .digest import Hasher
from .errors import StepError
from .fsview import LayerView, Parts, SourceFS, resolve, split
from .layertar import LayerWriter
from .patterns import compile_pattern, has_magic

_XATTR_PAX = "SCHILY.xattr."
_T = TypeVar("_T")


@dataclass(frozen=True)
class CopyRequest:
    sources: tuple[str, ...]
    dest: str
    workdir: str
    owner: tuple[int, int] | None = None  # --chown, resolved
    chmod: int | None = None
    keep_owner: bool = False  # --from: files keep their owners
    extract: bool = False  # ADD: unpack local tar archives
    where: str = "the build context"  # for messages
    parents: bool = False  # --parents: keep each source's path (from a /./ in it, if any) under dest


@dataclass
class _Entry:
    kind: bytes
    mode: int
    uid: int
    gid: int
    mtime: float | None  # None: a directory we create (gets the newest mtime of the copy)
    source: Parts | None = None
    linkname: str = ""


@dataclass
class _Plan(ArchiveEntries):
    src: SourceFS
    view: LayerView
    req: CopyRequest
    entries: dict[Parts, _Entry] = field(default_factory=dict)
    archives: list[tuple[Parts, Parts]] = field(default_factory=list)
    written: set[Parts] = field(default_factory=set)  # directories already in the tar
    others: set[Parts] = field(default_factory=set)  # archive members that are not directories

    @property
    def owner_override(self) -> tuple[int, int] | None:
        return self.req.owner

    def owner(self, st: os.stat_result) -> tuple[int, int]:
        if self.req.owner is not None:
            return self.req.owner
        if self.req.keep_owner:
            return st.st_uid, st.st_gid
        return 0, 0

    # -- sources ----------------------------------------------------------

    def sources(self) -> list[tuple[str, Parts]]:
        out: list[tuple[str, Parts]] = []
        for text in self.req.sources:
            rel = posixpath.normpath(text) if text else "."
            if rel.startswith("/"):
                rel = rel.lstrip("/") or "."
            elif rel == ".." or rel.startswith("../"):
                raise StepError(f'forbidden path outside {self.req.where}: "{text}"')
            parts = split(rel)
            if has_magic(rel):
                out.extend((text, p) for p in self.glob(parts))
                continue
            if parts:
                parts = resolve(self.src, parts[:-1]) + parts[-1:]
            if parts and self.src.lstat(parts) is None:
                raise StepError(f'"{text}": not found in {self.req.where}')
            if parts and self.src.excluded(parts):
                raise StepError(f'"{text}": excluded from {self.req.where} by .dockerignore')
            out.append((text, parts))
        if not out:
            raise StepError("no source files were specified")
        return out

    def glob(self, pattern: Parts) -> list[Parts]:
        found: list[Parts] = [()]
        for i, comp in enumerate(pattern):
            matches: list[Parts] = []
            for base in found:
                if not has_magic(comp):
                    if self.src.lstat((*base, comp)) is not None:
                        matches.append((*base, comp))
                    continue
                try:
                    regex = compile_pattern(comp)
                except ValueError as exc:
                    raise StepError(str(exc)) from None
                matches.extend((*base, n) for n in self.src.listdir(base) if regex.fullmatch(n))
            if i < len(pattern) - 1:
                matches = [m for m in matches if _is_dir(self.src.lstat(m))]
            found = matches
        return [p for p in found if not self.src.excluded(p)]

    # -- destination --------------------------------------------------------

    def destination(self) -> tuple[Parts, bool]:
        """Where in the image (symlinks resolved in the image), and whether it is a directory."""
        dest = self.req.dest
        parts = split(posixpath.normpath(posixpath.join("/", self.req.workdir or "/", dest)))
        if not parts:
            return (), True
        full = resolve(self.view, parts[:-1]) + parts[-1:]
        st = self.view.lstat(full)
        if st is not None and stat.S_ISLNK(st.st_mode):
            target = resolve(self.view, full)
            if not target or _is_dir(self.view.lstat(target)):
                return target, True
            return full, False
        return full, _is_dir(st)

    # -- planning -------------------------------------------------------------

    def plan(self) -> None:
        sources = self.sources()
        dest = self.req.dest
        dest_dir_syntax = dest.endswith("/") or dest in (".", "..") or dest.endswith(("/.", "/.."))
        if len(sources) > 1 and not dest_dir_syntax:
            raise StepError("when using COPY with more than one source file, the destination must be a "
                            "directory and end with a /")
        target_base, exists_dir = self.destination()
        into = dest_dir_syntax or exists_dir or self.req.parents
        for text, parts in sources:
            base = target_base
            if self.req.parents:
                kept = _kept_parents(text, parts)
                base = (*target_base, *kept[:-1]) if kept else target_base
                if kept:
                    self.parents((*base, kept[-1]))
            real = resolve(self.src, parts)
            st = self.src.lstat(real) if real else self.src.lstat(())
            if st is None or (real and self.src.excluded(real)):
                why = "excluded by .dockerignore" if st is not None else f"not in {self.req.where}"
                raise StepError(f'"{text}" is a symbolic link to "/{"/".join(real)}", which is {why}')
            if stat.S_ISDIR(st.st_mode):
                where = (*base, parts[-1]) if self.req.parents and parts else target_base
                self.dir_entry(where, st)
                self.tree(real, where)
            elif stat.S_ISREG(st.st_mode):
                if self.req.extract and is_archive(self.src, real):
                    self.dir_entry(target_base, None)
                    self.archives.append((real, target_base))
                    continue
                target = (*base, parts[-1]) if into and parts else target_base
                if not target:
                    raise StepError(f'cannot copy the file "{text}" onto "/"')
                self.parents(target)
                self.entries[target] = self.file_entry(st, real)
            else:
                raise StepError(f'"{text}" is not a regular file or a directory')

    def file_entry(self, st: os.stat_result, source: Parts) -> _Entry:
        uid, gid = self.owner(st)
        mode = self.req.chmod if self.req.chmod is not None else stat.S_IMODE(st.st_mode)
        return _Entry(tarfile.REGTYPE, mode, uid, gid, st.st_mtime, source)

    def dir_entry(self, target: Parts, st: os.stat_result | None) -> None:
        """The directory a copy goes into: kept as it is if the image has it, else made."""
        if not target:
            return
        self.parents(target)
        existing = self.view.lstat(target)
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            self.entries.setdefault(target, _existing(existing))
        elif target not in self.entries:
            if st is None:
                uid, gid = self.req.owner or (0, 0)
                self.entries[target] = _Entry(tarfile.DIRTYPE, 0o755, uid, gid, None)
                return
            uid, gid = self.owner(st)
            mode = self.req.chmod if self.req.chmod is not None else stat.S_IMODE(st.st_mode)
            self.entries[target] = _Entry(tarfile.DIRTYPE, mode, uid, gid, st.st_mtime)

    def parents(self, target: Parts) -> None:
        for i in range(1, len(target)):
            sub = target[:i]
            entry = self.entries.get(sub)
            if entry is not None:
                if entry.kind != tarfile.DIRTYPE:
                    raise StepError(f'cannot copy to "/{"/".join(target)}": "/{"/".join(sub)}" is a file')
                continue
            st = self.view.lstat(sub)
            if st is None:
                uid, gid = self.req.owner or (0, 0)
                self.entries[sub] = _Entry(tarfile.DIRTYPE, 0o755, uid, gid, None)
            elif stat.S_ISDIR(st.st_mode):
                self.entries[sub] = _existing(st)
            else:
                raise StepError(f'cannot copy to "/{"/".join(target)}": "/{"/".join(sub)}" is not a directory '
                                "in the image")

    def tree(self, src_dir: Parts, target: Parts) -> None:
        for name in self.src.listdir(src_dir):
            sp, tp = (*src_dir, name), (*target, name)
            st = self.src.lstat(sp)
            if st is None:
                continue
            excluded = self.src.excluded(sp)
            if stat.S_ISDIR(st.st_mode):
                if excluded and self.src.prune(sp):
                    continue
                before = len(self.entries)
                uid, gid = self.owner(st)
                mode = self.req.chmod if self.req.chmod is not None else stat.S_IMODE(st.st_mode)
                self.entries[tp] = _Entry(tarfile.DIRTYPE, mode, uid, gid, st.st_mtime)
                self.tree(sp, tp)
                if excluded and len(self.entries) == before + 1:
                    del self.entries[tp]  # an ignored directory with nothing re-included below
            elif excluded:
                continue
            elif stat.S_ISREG(st.st_mode):
                self.entries[tp] = self.file_entry(st, sp)
            elif stat.S_ISLNK(st.st_mode):
                uid, gid = self.owner(st)
                self.entries[tp] = _Entry(tarfile.SYMTYPE, 0o777, uid, gid, st.st_mtime,
                                          linkname=self.src.readlink(sp))
            # sockets, fifos and devices of a context are not copied

    # -- writing ----------------------------------------------------------------

    def write(self, out: BinaryIO) -> None:
        newest = max((e.mtime for e in self.entries.values() if e.mtime is not None), default=0.0)
        with LayerWriter(out) as writer:
            for parts in sorted(self.entries):
                e = self.entries[parts]
                info = writer.info(parts, e.kind, e.mode, e.uid, e.gid, newest if e.mtime is None else e.mtime)
                if e.kind == tarfile.DIRTYPE:
                    self.written.add(parts)
                if e.kind == tarfile.REGTYPE and e.source is not None:
                    with self.src.open(e.source) as fh:
                        info.size = _size(fh)
                        writer.add(info, fh)
                else:
                    info.linkname = e.linkname
                    writer.add(info)
            for source, target in self.archives:
                self.extract(writer, source, target, newest)

    # -- the content key ------------------------------------------------------------

    def digest(self, hasher: Hasher) -> str:
        """What the layer will hold, as one digest: paths, kinds, modes, owners, link targets and file
        contents, but no times, so touching a file without changing it keeps the cache."""
        h = hashlib.sha256()
        for parts in sorted(self.entries):
            e = self.entries[parts]
            h.update(json.dumps(["/".join(parts), e.kind.decode(), e.mode, e.uid, e.gid, e.linkname]).encode())
            if e.kind == tarfile.REGTYPE and e.source is not None:
                with self.src.open(e.source) as fh:
                    h.update(hasher.file(fh).encode())
        for source, target in self.archives:
            with self.src.open(source) as fh:
                h.update(json.dumps(["archive", "/".join(target), hasher.file(fh)]).encode())
        return "sha256:" + h.hexdigest()


class CopyPlan:
    """A planned COPY or ADD (every check made): its content digest, and its layer tar when needed."""

    def __init__(self, src: SourceFS, view: LayerView, req: CopyRequest) -> None:
        self._plan = _Plan(src, view, req)
        _guard(self._plan.plan)

    def digest(self, hasher: Hasher) -> str:
        return _guard(lambda: self._plan.digest(hasher))

    def write(self, out: BinaryIO) -> None:
        _guard(lambda: self._plan.write(out))


def _guard(fn: Callable[[], _T]) -> _T:
    try:
        return fn()
    except ArchiveError as exc:
        raise StepError(str(exc)) from None
    except OSError as exc:
        raise StepError(f"cannot read {exc.filename or 'a source file'}: {exc.strerror or exc}") from None


def write_copy_layer(out: BinaryIO, src: SourceFS, view: LayerView, req: CopyRequest) -> None:
    """Plan the copy (every check first), then write its layer tar to ``out``."""
    CopyPlan(src, view, req).write(out)


def _kept_parents(text: str, parts: Parts) -> Parts:
    """--parents: the part of a source's path kept under the destination (after a ``/./`` pivot, if any)."""
    if "/./" not in text:
        return parts
    before = text.rsplit("/./", 1)[0]
    return parts[len(split(posixpath.normpath(before.lstrip("/")) if before.strip("/.") else "")):]


def _existing(st: os.stat_result) -> _Entry:
    """An image directory a copy passes through, written back with its own attributes."""
    return _Entry(tarfile.DIRTYPE, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime)


def _is_dir(st: os.stat_result | None) -> bool:
    return st is not None and stat.S_ISDIR(st.st_mode)


def _size(fh: BinaryIO) -> int:
    return os.fstat(fh.fileno()).st_size
