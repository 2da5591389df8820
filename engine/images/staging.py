"""One operation's private workspace: blobs and unpacked layers wait here until commit.

A ``Staging`` folder lives in ``<images>/tmp`` (the same filesystem as the
store, so committing is a rename). Whatever goes wrong before ``commit``,
leaving the ``with`` block removes the folder: a refused archive leaves no
blob, no layer and no temporary file behind. The folder is flocked while in
use, so ``prune`` (``Layout.clear_tmp``) leaves a live operation's folder alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ..errors import ArchiveError
from .compression import GZIP, NONE, ZSTD, HashingReader, Reader, open_stream
from .extract import unpack
from .layout import Layout
from .model import CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, Descriptor

LAYER_MEDIA_TYPES = {
    NONE: "application/vnd.oci.image.layer.v1.tar",
    GZIP: "application/vnd.oci.image.layer.v1.tar+gzip",
    ZSTD: "application/vnd.oci.image.layer.v1.tar+zstd",
}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StagedFile:
    """A file copied into the staging folder, with the sha256 and size of its bytes."""

    path: str
    digest: str
    size: int

    def read_json(self, where: str, limit: int = 64 << 20) -> Any:
        if self.size > limit:
            raise ArchiveError(f"{where}: too large for JSON metadata ({self.size} bytes)")
        with open(self.path, "rb") as fh:
            try:
                return json.loads(fh.read())
            except ValueError as exc:
                raise ArchiveError(f"{where}: not valid JSON ({exc})") from None


@dataclass(frozen=True)
class StagedLayer:
    """A layer ready to commit: its diff id, the blob that carries it, and its content size."""

    diff_id: str
    blob: Descriptor
    content_size: int


class Staging:
    """A staging folder; use as a context manager, call ``commit`` at the end of the happy path."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        layout.ensure()
        self.path = tempfile.mkdtemp(dir=layout.tmp, prefix="op-")
        self._fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._count = 0
        self._blobs: dict[str, str] = {}  # digest -> staged path
        self._layers: dict[str, tuple[str, int]] = {}  # diff id -> (unpacked folder, content size)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._fd)

    def new_path(self) -> str:
        """A fresh file name inside the folder."""
        return self._new_path()

    def _new_path(self) -> str:
        self._count += 1
        return os.path.join(self.path, str(self._count))

    def spool(self, src: Reader) -> StagedFile:
        """Copy ``src`` to a new staged file, hashing it on the way."""
        path = self._new_path()
        with open(path, "wb") as out:
            reader = HashingReader(src, copy_to=out)
            reader.drain()
            out.flush()
            os.fsync(out.fileno())
        return StagedFile(path, reader.digest, reader.size)

    def add_blob(self, staged: StagedFile) -> None:
        self._blobs.setdefault(staged.digest, staged.path)

    def add_json_blob(self, data: Any, media_type: str) -> Descriptor:
        raw = json.dumps(data, separators=(",", ":")).encode()
        staged = self.spool(io.BytesIO(raw))
        self.add_blob(staged)
        return Descriptor(media_type, staged.digest, staged.size)

    def add_image(self, config: StagedFile, layers: list[StagedLayer]) -> Descriptor:
        """Stage the config and a new OCI manifest for it; the manifest's descriptor."""
        self.add_blob(config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": Descriptor(CONFIG_MEDIA_TYPE, config.digest, config.size).to_json(),
            "layers": [layer.blob.to_json() for layer in layers],
        }
        return self.add_json_blob(manifest, MANIFEST_MEDIA_TYPE)

    def ingest_layer(self, raw: StagedFile, expected: str | None, where: str,
                     on_read: Callable[[int], None] | None = None) -> StagedLayer:
        """Unpack a staged layer blob (any compression) and stage both.

        With ``expected`` (the config's diff id), a layer already in the store
        is only hashed, not unpacked again; a mismatch is an ArchiveError.
        ``on_read`` is told how many bytes of the blob have been read so far.
        gzip, zstd and plain blobs are kept as they are; other compressions
        are stored as the plain tar, since OCI has no media type for them.
        """
        known = expected is not None and (expected in self._layers or self.layout.has_layer(expected))
        copy_path = self._new_path()
        with open(raw.path, "rb") as fh, contextlib.ExitStack() as stack:
            kind, plain = open_stream(_Counting(fh, on_read) if on_read else fh)
            tar_copy = stack.enter_context(open(copy_path, "wb")) if kind not in LAYER_MEDIA_TYPES else None
            tar = HashingReader(plain, copy_to=tar_copy)
            dest, size = None, 0
            if not known:
                dest = tempfile.mkdtemp(dir=self.path, prefix="layer-")
                size = unpack(tar, dest)
            tar.drain()
        diff_id = tar.digest
        if expected is not None and diff_id != expected:
            raise ArchiveError(f"{where}: layer content is {diff_id}, but the image config says {expected}")
        if dest is not None and diff_id not in self._layers and not self.layout.has_layer(diff_id):
            self._layers[diff_id] = (dest, size)
        if tar_copy is not None:
            blob = StagedFile(copy_path, diff_id, tar.size)
            media_type = LAYER_MEDIA_TYPES[NONE]
        else:
            blob, media_type = raw, LAYER_MEDIA_TYPES[kind]
        self.add_blob(blob)
        size = self._layers[diff_id][1] if diff_id in self._layers else self.layout.layer_size(diff_id)
        return StagedLayer(diff_id, Descriptor(media_type, blob.digest, blob.size), size)

    def commit(self) -> None:
        """Rename staged blobs and layers into the store; what is already there is kept."""
        for digest, path in self._blobs.items():
            if not os.path.exists(self.layout.blob_path(digest)):
                os.rename(path, self.layout.blob_path(digest))
        for diff_id, (unpacked, size) in self._layers.items():
            if not self.layout.has_layer(diff_id):
                self.layout.add_layer(diff_id, unpacked, size)



class _Counting:
    """A reader that reports the running total of bytes read."""

    def __init__(self, src: Reader, report: Callable[[int], None]) -> None:
        self._src = src
        self._report = report
        self._count = 0

    def read(self, n: int = -1, /) -> bytes:
        data = self._src.read(n)
        if data:
            self._count += len(data)
            self._report(self._count)
        return data
