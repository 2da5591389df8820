"""ADD of a local tar archive: its members unpacked under the destination, checked as a layer's entries are.

Tar archives are recognised by their content (any compression), as Docker
does; anything else is copied as it is.
"""

from __future__ import annotations

import stat
import tarfile

from ..errors import ArchiveError
from ..images.compression import open_stream
from ..images.extract import WHITEOUT, entry_parts
from .errors import StepError
from .fsview import LayerView, Parts, SourceFS
from .layertar import LayerWriter

_XATTR_PAX = "SCHILY.xattr."


class ArchiveEntries:
    """What ``_Plan`` (copy.py) uses to unpack archives into its layer tar."""

    src: SourceFS
    view: LayerView
    written: set[Parts]
    others: set[Parts]

    @property
    def owner_override(self) -> tuple[int, int] | None:
        raise NotImplementedError

    def extract(self, writer: LayerWriter, source: Parts, target: Parts, newest: float) -> None:
        """Copy the members of a local tar archive under ``target``, checked like a layer's entries."""
        with self.src.open(source) as fh:
            _, stream = open_stream(fh)
            with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8") as tar:  # type: ignore[call-overload]
                for member in tar:
                    parts = entry_parts(member.name, member.name, "archive entry")
                    if not parts:
                        continue
                    if any(p.startswith(WHITEOUT) for p in parts):
                        raise StepError(f'archive entry "{member.name}": names starting with {WHITEOUT} are '
                                        "reserved for layer whiteouts")
                    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()
                            or member.isdev()) or member.issparse():
                        raise StepError(f'archive entry "{member.name}": unsupported entry type {member.type!r}')
                    tp = (*target, *parts)
                    for i in range(len(target) + 1, len(tp)):
                        self.write_parent(writer, tp[:i], tp, newest)
                    uid, gid = self.owner_override or (member.uid, member.gid)
                    xattrs = {k[len(_XATTR_PAX):]: v.encode("utf-8", "surrogateescape")
                              for k, v in member.pax_headers.items()
                              if k.startswith(_XATTR_PAX) and not k.startswith(_XATTR_PAX + "trusted.overlay.")}
                    info = writer.info(tp, member.type, member.mode, uid, gid, member.mtime, xattrs)
                    if member.islnk():
                        info.linkname = "/".join((*target, *entry_parts(member.linkname, member.name, "hard link")))
                    elif member.issym():
                        info.linkname = member.linkname
                    elif member.isdev():
                        info.devmajor, info.devminor = member.devmajor, member.devminor
                    if member.isreg():
                        info.size = member.size
                        writer.add(info, tar.extractfile(member))
                    else:
                        writer.add(info)
                    if member.isdir():
                        self.written.add(tp)
                        self.others.discard(tp)
                    else:
                        self.others.add(tp)

    def write_parent(self, writer: LayerWriter, sub: Parts, target: Parts, newest: float) -> None:
        if sub in self.written:
            return
        if sub in self.others:
            raise StepError(f'archive entry "/{"/".join(target)}": path passes through "/{"/".join(sub)}", '
                            "which the archive made a file or a symlink")
        st = self.view.lstat(sub)
        if st is None:
            uid, gid = self.owner_override or (0, 0)
            writer.add(writer.info(sub, tarfile.DIRTYPE, 0o755, uid, gid, newest))
        elif stat.S_ISDIR(st.st_mode):
            writer.add(writer.info(sub, tarfile.DIRTYPE, st.st_mode, st.st_uid, st.st_gid, st.st_mtime))
        else:
            raise StepError(f'cannot extract to "/{"/".join(target)}": "/{"/".join(sub)}" is not a directory '
                            "in the image")
        self.written.add(sub)


def is_archive(src: SourceFS, parts: Parts) -> bool:
    """Whether a file is a tar archive (plain or compressed), judged by its content as Docker does."""
    with src.open(parts) as fh:
        try:
            _, stream = open_stream(fh)
            head = b""
            while len(head) < 512:
                more = stream.read(512 - len(head))
                if not more:
                    break
                head += more
        except (ArchiveError, EOFError, OSError):
            return False
    if len(head) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(head, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True
