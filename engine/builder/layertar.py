"""Write layer tars: the entries COPY plans, and a RUN container's overlayfs upper directory.

The tars are PAX, uncompressed and deterministic (no user or group names,
whole-second times), so the same content gives the same diff id. In an
upper directory, overlayfs marks a deleted path with a 0:0 character device
and a directory that hides the layers below with ``trusted.overlay.opaque``;
a layer tar says the same with ``.wh.NAME`` and ``.wh..wh..opq`` entries.
The walk never follows a symlink, and other ``trusted.overlay.*`` attributes
(overlayfs's own bookkeeping) are not copied.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from ..images.extract import OPAQUE, OPAQUE_XATTR, WHITEOUT
from .errors import StepError

Parts = tuple[str, ...]
_XATTR_PAX = "SCHILY.xattr."
_OVERLAY = "trusted.overlay."


class LayerWriter:
    """A layer tar being written to ``out``; use as a context manager."""

    def __init__(self, out: BinaryIO) -> None:
        self.tar = tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8")

    def __enter__(self) -> LayerWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.tar.close()

    @staticmethod
    def info(parts: Parts, kind: bytes, mode: int, uid: int, gid: int, mtime: float,
             xattrs: dict[str, bytes] | None = None) -> tarfile.TarInfo:
        info = tarfile.TarInfo("/".join(parts))
        info.type, info.mode, info.uid, info.gid = kind, mode & 0o7777, uid, gid
        info.mtime = int(mtime)
        info.uname = info.gname = ""
        if xattrs:
            info.pax_headers = {_XATTR_PAX + k: v.decode("utf-8", "surrogateescape") for k, v in sorted(xattrs.items())}
        return info

    def add(self, info: tarfile.TarInfo, content: BinaryIO | None = None) -> None:
        if info.type == tarfile.DIRTYPE and not info.name.endswith("/"):
            info.name += "/"
        self.tar.addfile(info, content)

    def whiteout(self, parts: Parts) -> None:
        self.add(self.info((*parts[:-1], WHITEOUT + parts[-1]), tarfile.REGTYPE, 0o600, 0, 0, 0))

    def opaque(self, parts: Parts) -> None:
        self.add(self.info((*parts, OPAQUE), tarfile.REGTYPE, 0o600, 0, 0, 0))


def _xattrs(path: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if name.startswith(_OVERLAY):
            if name in (_OVERLAY + "redirect", _OVERLAY + "metacopy"):
                raise StepError(f"overlayfs recorded {name} on {path}: this kernel's redirect_dir or metacopy "
                                "feature is on, and pycompose cannot turn such a layer into a tar")
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
    return out


def _walk(path: str, parts: Parts) -> Iterator[tuple[Parts, str, os.stat_result]]:
    """Everything below ``path``, parents first, in name order; symlinks are entries, never followed."""
    with os.scandir(path) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        st = entry.stat(follow_symlinks=False)
        yield (*parts, entry.name), entry.path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(entry.path, (*parts, entry.name))


def write_upper(upper: str, writer: LayerWriter) -> int:
    """Turn a container's upper directory into layer tar entries; the number of entries written."""
    count = 0
    if _is_opaque(upper):
        writer.opaque(())
        count += 1
    links: dict[tuple[int, int], str] = {}
    for parts, path, st in _walk(upper, ()):
        mode = st.st_mode
        if stat.S_ISCHR(mode) and st.st_rdev == 0:
            writer.whiteout(parts)
            count += 1
            continue
        if stat.S_ISSOCK(mode):
            continue  # a socket is no file content: Docker leaves them out of layers too
        xattrs = _xattrs(path)
        if stat.S_ISDIR(mode):
            writer.add(writer.info(parts, tarfile.DIRTYPE, mode, st.st_uid, st.st_gid, st.st_mtime, xattrs))
            if _is_opaque(path):
                writer.opaque(parts)
                count += 1
        elif stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                info = writer.info(parts, tarfile.LNKTYPE, mode, st.st_uid, st.st_gid, st.st_mtime, xattrs)
                info.linkname = links[key]
                writer.add(info)
            else:
                links.setdefault(key, "/".join(parts))
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                with open(fd, "rb") as fh:
                    info = writer.info(parts, tarfile.REGTYPE, mode, st.st_uid, st.st_gid, st.st_mtime, xattrs)
                    info.size = os.fstat(fh.fileno()).st_size
                    writer.add(info, fh)
        elif stat.S_ISLNK(mode):
            info = writer.info(parts, tarfile.SYMTYPE, 0o777, st.st_uid, st.st_gid, st.st_mtime, xattrs)
            info.linkname = os.readlink(path)
            writer.add(info)
        else:
            kind = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE if stat.S_ISBLK(mode) else tarfile.FIFOTYPE
            info = writer.info(parts, kind, mode, st.st_uid, st.st_gid, st.st_mtime, xattrs)
            if kind != tarfile.FIFOTYPE:
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            writer.add(info)
        count += 1
    return count


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False
