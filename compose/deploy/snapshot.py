"""``export`` and ``commit``: a service container's filesystem as a tar, or as a new image.

``export`` writes the container's root as it sees it (its image's layers
and its own writable layer, merged with overlayfs's rules), without its
volumes, as ``docker export`` does. ``commit`` makes an image of the
container's image plus its writable layer (pausing it meanwhile unless
told not to), with the container's environment, working directory and
user, then ``--change`` instructions applied. Both read the layers from
the host, never following a link out of them.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, BinaryIO

from ..errors import UpError, UsageError

if TYPE_CHECKING:
    from engine.builder.fsview import LayerView
    from engine.images.model import Image

    from .session import Session

Parts = tuple[str, ...]


def _upper(session: Session, cid: str) -> str:
    from engine.runtime.rootfs import Bundle

    return Bundle(session.rt.records.dir(cid)).upper


def _write_tree(view: LayerView, parts: Parts, tar: tarfile.TarFile) -> None:
    for name in sorted(view.listdir(parts)):
        child = (*parts, name)
        st = view.lstat(child)
        if st is None:
            continue
        info = tarfile.TarInfo("/".join(child))
        info.mode, info.uid, info.gid, info.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)
        if stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
            _write_tree(view, child, tar)
        elif stat.S_ISREG(st.st_mode):
            info.size = st.st_size
            with view.open(child) as fh:
                tar.addfile(info, fh)
        elif stat.S_ISLNK(st.st_mode):
            info.type, info.linkname = tarfile.SYMTYPE, view.readlink(child)
            tar.addfile(info)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            tar.addfile(info)
        elif stat.S_ISFIFO(st.st_mode):
            info.type = tarfile.FIFOTYPE
            tar.addfile(info)


def export(session: Session, service: str, index: int, output: str | None, out: BinaryIO) -> None:
    """``export``: the filesystem of the service's container ``index`` as a tar, to ``output`` (a file,
    written atomically, mode 0600) or to ``out``."""
    import tempfile

    from engine.builder.fsview import LayerView

    c = session.container(service, index)
    name = c.name
    text = f"export {name} to {output or ''}"
    session.progress.event("", name, "Exporting", text=text)
    if session.dry_run:
        session.progress.event("", name, "Exported", text=text)
        return
    view = LayerView((*c.spec.layers, _upper(session, c.id)))
    if output is None:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            _write_tree(view, (), tar)
        out.flush()
    else:
        folder = os.path.dirname(os.path.abspath(output))
        if not os.path.isdir(folder):
            raise UsageError(f"failed to export container: invalid output path: directory {folder!r} does not exist")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".pycompose-export-")
        try:
            with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
                _write_tree(view, (), tar)
            os.chmod(tmp, 0o600)
            os.replace(tmp, output)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    session.progress.event("", name, "Exported", text=text)


def commit(session: Session, service: str, index: int, reference: str | None, *, pause: bool = True,
           message: str = "", author: str = "", changes: Sequence[str] = ()) -> Image | None:
    """``commit``: a new image of the service's container ``index`` (tagged ``reference``); None when dry."""
    import tempfile

    from engine.builder.layertar import LayerWriter, write_upper
    from engine.errors import EngineError
    from engine.images import changes as changelib
    from engine.images.commit import commit as make_image
    from engine.images.model import ImageConfig

    c = session.container(service, index)
    text = f"Commit {c.name}"
    session.progress.event("", c.name, "Committing", text=text)
    if session.dry_run:
        session.progress.event("", c.name, "Committed", text=text)
        return None
    try:
        parent = session.images.get(c.spec.image_id)
        base = parent.config.to_json()
        base.update({"Env": list(c.spec.env) or None, "WorkingDir": c.spec.working_dir or "",
                     "User": c.spec.user or ""})
        config = ImageConfig.from_json(changelib.apply({k: v for k, v in base.items() if v is not None}, changes))
        paused = pause and session.refresh(c).status == "running"
        with tempfile.TemporaryFile() as layer:
            if paused:
                session.rt.pause(c.id)
            try:
                with LayerWriter(layer) as writer:
                    write_upper(_upper(session, c.id), writer)
            finally:
                if paused:
                    session.rt.unpause(c.id)
            layer.seek(0)
            image = make_image(session.images, parent, layer, config, reference, " ".join(c.spec.argv),
                               author=author, comment=message)
    except EngineError as exc:
        raise UpError(f"commit of {c.name} failed: {exc}") from None
    session.progress.event("", c.name, f"Committed as {image.id}", text=text)
    return image
