"""The store's side of a pull: layers go in one by one as they arrive, the image last.

A ``Receiver`` owns a flocked staging folder whose ``pins`` file lists every
blob and layer the pull counts on: those already in the store when it
started, and each layer it commits. ``ImageStore._collect`` keeps pinned
files, so an ``image rm`` or ``prune`` running meanwhile cannot take a layer
from under a pull whose image is not in the index yet. Each layer is
committed under the store's lock held only for the renames; the download and
the unpacking happen outside it, so parallel pulls do not wait for each
other.

``sources.json`` remembers which repositories of which registries a blob
was pulled from or pushed to, so a push can mount it from there instead of
uploading it again (Docker keeps the same record).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from types import TracebackType

from ..state import read_json, write_json
from .layout import PINS
from .model import Descriptor, Image
from .staging import StagedFile, Staging
from .store import ImageStore

_SOURCES_KEPT = 8  # repositories remembered per blob


class Receiver:
    """Use as a context manager around one pull."""

    def __init__(self, store: ImageStore) -> None:
        self.store = store
        self.layout = store.layout
        with store.lock():
            self._op = Staging(self.layout)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._op.__exit__(kind, exc, tb)

    def _pin(self, names: Sequence[str]) -> None:
        """Add ``names`` to the pins (call with the store lock held)."""
        with open(os.path.join(self._op.path, PINS), "a", encoding="utf-8") as fh:
            fh.writelines(f"{name}\n" for name in names)

    def present(self, layers: Sequence[tuple[Descriptor, str]]) -> set[str]:
        """The blob digests of ``layers`` (descriptor, diff id) the store has, blob and unpacked layer; pinned."""
        with self.store.lock():
            have = [(d, diff) for d, diff in layers
                    if os.path.exists(self.layout.blob_path(d.digest)) and self.layout.has_layer(diff)]
            self._pin([name for d, diff in have for name in (d.digest, diff)])
        return {d.digest for d, _ in have}

    def stage(self) -> Staging:
        """A staging folder for one layer's download (enter it, or hand it to ``add_layer``, which closes it)."""
        with self.store.lock():  # created and flocked before prune can see it
            return Staging(self.layout)

    def add_layer(self, staging: Staging, path: str, desc: Descriptor, diff_id: str, where: str,
                  on_extract: Callable[[int], None]) -> None:
        """Unpack the verified blob at ``path`` (in ``staging``), commit it and pin it; closes ``staging``."""
        with staging:
            staging.ingest_layer(StagedFile(path, desc.digest, desc.size), diff_id, where, on_extract)
            with self.store.lock():
                staging.commit()
                self._pin([desc.digest, diff_id])

    def finish(self, manifest_raw: bytes, manifest: Descriptor, config_raw: bytes, config_digest: str,
               layers: Sequence[Descriptor], diff_ids: Sequence[str], tag: str | None) -> Image:
        """Commit the manifest and config, and name the image; its layers are all in by now."""
        import io

        with Staging(self.layout) as staging:
            for raw in (manifest_raw, config_raw):
                staging.add_blob(staging.spool(io.BytesIO(raw)))
            return self.store.add_received(staging, manifest, config_digest, layers, diff_ids, tag)


# -- where blobs came from -----------------------------------------------------------------


def _sources_path(store: ImageStore) -> str:
    return os.path.join(store.layout.path, "sources.json")


def blob_sources(store: ImageStore, digest: str) -> list[str]:
    """``registry/repository`` names known to hold the blob, most recent first."""
    data = read_json(_sources_path(store), {}) or {}
    found = data.get(digest) if isinstance(data, dict) else None
    return [s for s in found if isinstance(s, str)] if isinstance(found, list) else []


def note_sources(store: ImageStore, name: str, digests: Sequence[str]) -> None:
    """Remember that ``name`` (``registry/repository``) holds these blobs."""
    with store.lock():
        path = _sources_path(store)
        data = read_json(path, {}) or {}
        if not isinstance(data, dict):
            data = {}
        known = store.layout.blob_digests()
        data = {k: v for k, v in data.items() if k in known or k in digests}
        for digest in digests:
            before = [s for s in data.get(digest, []) if s != name]
            data[digest] = [name, *before][:_SOURCES_KEPT]
        write_json(path, data)
