"""Unpack one layer tar into a directory, safely, as an overlayfs lower layer.

Every path is resolved one component at a time from a directory descriptor
with ``O_NOFOLLOW``, so no entry, whatever the order of the archive, can write
outside the layer: a component that is a symlink is refused with the entry's
name, and the final component is always replaced, never followed. Whiteouts
become what overlayfs reads: ``.wh.NAME`` a 0:0 character device ``NAME``,
``.wh..wh..opq`` the ``trusted.overlay.opaque=y`` xattr on its directory.
Ownership, modes (with setuid/setgid/sticky), mtimes and ``SCHILY.xattr.*``
are kept, except ``trusted.overlay.*`` xattrs from the archive, which would
let a layer steer overlayfs itself.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from typing import IO, cast

from ..errors import ArchiveError, EngineError
from .compression import Reader

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_XATTR_PAX = "SCHILY.xattr."
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


def entry_parts(path: str, entry: str, what: str = "layer entry") -> tuple[str, ...]:
    """The components of an archive path; ArchiveError naming ``entry`` if it is absolute or has ``..``."""
    if path.startswith("/"):
        raise ArchiveError(f'{what} "{entry}": absolute path "{path}"')
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    if ".." in parts:
        raise ArchiveError(f'{what} "{entry}": ".." in path "{path}"')
    return parts


def unpack(stream: Reader, dest: str) -> int:
    """Extract the tar read from ``stream`` into the existing, empty ``dest``; the content size in bytes."""
    tree = _Tree(dest)
    try:
        with tarfile.open(fileobj=cast(IO[bytes], stream), mode="r|", encoding="utf-8") as tar:
            for member in tar:
                tree.add(member, tar)
        tree.finish()
    except tarfile.TarError as exc:
        raise ArchiveError(f"layer is not a valid tar archive: {exc}") from None
    finally:
        tree.close()
    return tree.content_size


class _Tree:
    """The layer directory being filled, reached only through descriptors that never follow symlinks."""

    def __init__(self, root: str) -> None:
        self.root_fd = os.open(root, _DIR_FLAGS)
        os.chmod(self.root_fd, 0o755)
        self.content_size = 0
        self._cached: tuple[tuple[str, ...], int] | None = None  # the last parent opened
        self._dir_times: list[tuple[tuple[str, ...], int]] = []

    def close(self) -> None:
        self._forget(())
        os.close(self.root_fd)

    # -- walking ----------------------------------------------------------

    def _open_dir(self, parts: tuple[str, ...], entry: str, *, create: bool) -> int:
        """A new descriptor for the directory ``parts``; creates missing ones (0755) when asked."""
        fd = os.dup(self.root_fd)
        try:
            for i, name in enumerate(parts):
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(name, 0o755, dir_fd=fd)
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                where = "/".join(parts[: i + 1])
                if stat.S_ISLNK(st.st_mode):
                    raise ArchiveError(f'layer entry "{entry}": path passes through the symlink "{where}"')
                if not stat.S_ISDIR(st.st_mode):
                    raise ArchiveError(f'layer entry "{entry}": "{where}" is not a directory')
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)  # O_NOFOLLOW: no swap between stat and open
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _parent(self, parts: tuple[str, ...], entry: str) -> int:
        """The (cached) descriptor of the directory holding ``parts[-1]``."""
        key = parts[:-1]
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        fd = self._open_dir(key, entry, create=True)
        self._forget(())
        self._cached = (key, fd)
        return fd

    def _forget(self, prefix: tuple[str, ...]) -> None:
        """Drop the cached parent if it lies at or below ``prefix`` (which is being removed)."""
        if self._cached is not None and self._cached[0][: len(prefix)] == prefix:
            os.close(self._cached[1])
            self._cached = None

    def _clear(self, parent: int, parts: tuple[str, ...], *, keep_dir: bool) -> bool:
        """Remove whatever an earlier entry put at ``parts``; True if it is a directory that stays."""
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            self._forget(parts)
            shutil.rmtree(parts[-1], dir_fd=parent)
        else:
            os.unlink(parts[-1], dir_fd=parent)
        return False

    # -- entries ----------------------------------------------------------

    def add(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        parts = entry_parts(member.name, member.name)
        try:
            if not parts:
                self._root(member)
                return
            base = parts[-1]
            if base.startswith(WHITEOUT):
                self._whiteout(member, parts)
                return
            if member.issparse() or not (member.isreg() or member.isdir() or member.issym()
                                         or member.islnk() or member.isdev()):
                raise ArchiveError(f'layer entry "{member.name}": unsupported entry type {member.type!r}')
            parent = self._parent(parts, member.name)
            if member.isdir():
                self._dir(member, parts, parent)
            elif member.isreg():
                self._file(member, parts, parent, tar)
            elif member.islnk():
                self._hardlink(member, parts, parent)
            else:
                self._clear(parent, parts, keep_dir=False)
                if member.issym():
                    os.symlink(member.linkname, base, dir_fd=parent)
                elif member.isfifo():
                    os.mkfifo(base, 0o600, dir_fd=parent)
                else:
                    kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
                    os.mknod(base, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=parent)
                self._meta_at(member, parent, base, chmod=not member.issym())
        except OSError as exc:
            raise EngineError(f'cannot extract layer entry "{member.name}": {exc.strerror or exc}') from None

    def _root(self, member: tarfile.TarInfo) -> None:
        if not member.isdir():
            raise ArchiveError(f'layer entry "{member.name}": the layer root must be a directory')
        self._meta_fd(member, self.root_fd)
        self._dir_times.append(((), _ns(member)))

    def _whiteout(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        parent = self._parent(parts, member.name)
        if parts[-1] == OPAQUE:
            os.setxattr(parent, OPAQUE_XATTR, b"y")
            return
        if parts[-1].startswith(WHITEOUT + WHITEOUT):
            return  # other AUFS bookkeeping (.wh..wh.plnk...): meaningless to overlayfs
        name = parts[-1][len(WHITEOUT):]
        if name in ("", ".", ".."):
            raise ArchiveError(f'layer entry "{member.name}": malformed whiteout')
        target = parts[:-1] + (name,)
        self._clear(parent, target, keep_dir=False)
        os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)
        os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)

    def _dir(self, member: tarfile.TarInfo, parts: tuple[str, ...], parent: int) -> None:
        if not self._clear(parent, parts, keep_dir=True):
            os.mkdir(parts[-1], 0o700, dir_fd=parent)
        fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent)
        try:
            self._meta_fd(member, fd)
        finally:
            os.close(fd)
        self._dir_times.append((parts, _ns(member)))  # set last: adding children changes a dir's mtime

    def _file(self, member: tarfile.TarInfo, parts: tuple[str, ...], parent: int, tar: tarfile.TarFile) -> None:
        self._clear(parent, parts, keep_dir=False)
        fd = os.open(parts[-1], _FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            src = tar.extractfile(member)
            if src is not None:
                with open(fd, "wb", closefd=False) as out:
                    shutil.copyfileobj(src, out, _CHUNK)
            self._meta_fd(member, fd)
            os.utime(fd, ns=(_ns(member), _ns(member)))
        finally:
            os.close(fd)
        self.content_size += member.size

    def _hardlink(self, member: tarfile.TarInfo, parts: tuple[str, ...], parent: int) -> None:
        target = entry_parts(member.linkname, member.name, "hard link")
        if not target or target == parts:
            raise ArchiveError(f'layer entry "{member.name}": hard link to itself or to the layer root')
        try:
            tparent = self._open_dir(target[:-1], member.name, create=False)
        except FileNotFoundError:
            raise ArchiveError(f'layer entry "{member.name}": hard link target "{member.linkname}" '
                               "is not in the layer") from None
        try:
            try:
                st = os.stat(target[-1], dir_fd=tparent, follow_symlinks=False)
            except FileNotFoundError:
                raise ArchiveError(f'layer entry "{member.name}": hard link target "{member.linkname}" '
                                   "is not in the layer") from None
            if stat.S_ISDIR(st.st_mode):
                raise ArchiveError(f'layer entry "{member.name}": hard link to the directory "{member.linkname}"')
            self._clear(parent, parts, keep_dir=False)
            os.link(target[-1], parts[-1], src_dir_fd=tparent, dst_dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(tparent)

    # -- metadata ---------------------------------------------------------

    def _meta_fd(self, member: tarfile.TarInfo, fd: int) -> None:
        os.fchown(fd, member.uid, member.gid)
        os.fchmod(fd, member.mode & 0o7777)  # after chown, which clears setuid/setgid
        for name, value in _xattrs(member):
            os.setxattr(fd, name, value)

    def _meta_at(self, member: tarfile.TarInfo, parent: int, base: str, *, chmod: bool) -> None:
        os.chown(base, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        if chmod:
            os.chmod(base, member.mode & 0o7777, dir_fd=parent)
        # setxattr has no dir_fd; /proc/self/fd/N is the parent itself, and the last component is not followed
        for name, value in _xattrs(member):
            os.setxattr(f"/proc/self/fd/{parent}/{base}", name, value, follow_symlinks=False)
        os.utime(base, ns=(_ns(member), _ns(member)), dir_fd=parent, follow_symlinks=False)

    def finish(self) -> None:
        """Set directory mtimes, deepest first, now that nothing more is added inside them."""
        self._forget(())
        for parts, ns in sorted(self._dir_times, key=lambda t: -len(t[0])):
            if not parts:
                os.utime(self.root_fd, ns=(ns, ns))
                continue
            try:
                parent = self._open_dir(parts[:-1], "/".join(parts), create=False)
            except (ArchiveError, FileNotFoundError):
                continue  # a later entry replaced this directory or one above it
            try:
                os.utime(parts[-1], ns=(ns, ns), dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                pass
            finally:
                os.close(parent)


def _xattrs(member: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    out = []
    for key, value in member.pax_headers.items():
        if key.startswith(_XATTR_PAX):
            name = key[len(_XATTR_PAX):]
            if not name.startswith("trusted.overlay."):
                out.append((name, value.encode("utf-8", "surrogateescape")))
    return out


def _ns(member: tarfile.TarInfo) -> int:
    return int(member.mtime * 1_000_000_000)
