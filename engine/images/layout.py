"""The image store on disk, under ``Root.images``::

    oci/oci-layout               {"imageLayoutVersion": "1.0.0"}
    oci/index.json               one manifest descriptor per tag (ref.name annotation = the reference),
                                 or one without annotations for an untagged image
    oci/blobs/sha256/<hex>       manifests, configs and layer blobs, named by their digest
    layers/<diffid-hex>/         an unpacked layer, usable as an overlayfs lowerdir
    layers/<diffid-hex>.json     {"size": bytes of file content in the layer}
    tmp/                         staging folders of operations in progress

An image exists when, and only when, ``index.json`` lists its manifest: every
blob and layer is renamed into place before the index names it, so a crash
leaves at worst unreferenced files, which ``prune`` sweeps. Callers hold the
store lock around any write.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from ..errors import ArchiveError
from ..state import read_json, write_json
from .model import INDEX_MEDIA_TYPE, REF_NAME, Descriptor

_JSON_LIMIT = 64 << 20
PINS = "pins"


@dataclass
class Entry:
    """An image as the index lists it: its manifest and its tags (none for a dangling image)."""

    manifest: Descriptor
    refs: list[str] = field(default_factory=list)


class Layout:
    """Paths and primitive reads and writes of the store; no policy."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.oci = os.path.join(path, "oci")
        self.blobs = os.path.join(self.oci, "blobs", "sha256")
        self.index_path = os.path.join(self.oci, "index.json")
        self.layers = os.path.join(path, "layers")
        self.tmp = os.path.join(path, "tmp")

    def ensure(self) -> None:
        for d in (self.blobs, self.layers, self.tmp):
            os.makedirs(d, mode=0o700, exist_ok=True)
        if not os.path.exists(os.path.join(self.oci, "oci-layout")):
            write_json(os.path.join(self.oci, "oci-layout"), {"imageLayoutVersion": "1.0.0"})
        if not os.path.exists(self.index_path):
            self.write_index({})

    # -- blobs --------------------------------------------------------------

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.blobs, digest.split(":", 1)[1])

    def read_json_blob(self, digest: str) -> Any:
        with open(self.blob_path(digest), "rb") as fh:
            data = fh.read(_JSON_LIMIT + 1)
        if len(data) > _JSON_LIMIT:
            raise ArchiveError(f"blob {digest} is too large for JSON metadata")
        return json.loads(data)

    def blob_digests(self) -> set[str]:
        if not os.path.isdir(self.blobs):
            return set()
        return {"sha256:" + name for name in os.listdir(self.blobs) if not name.startswith(".")}

    def remove_blob(self, digest: str) -> None:
        try:
            os.unlink(self.blob_path(digest))
        except FileNotFoundError:
            pass

    # -- unpacked layers ------------------------------------------------------

    def layer_dir(self, diff_id: str) -> str:
        return os.path.join(self.layers, diff_id.split(":", 1)[1])

    def has_layer(self, diff_id: str) -> bool:
        return os.path.isdir(self.layer_dir(diff_id))

    def layer_size(self, diff_id: str) -> int:
        record = read_json(self.layer_dir(diff_id) + ".json", {}) or {}
        size = record.get("size", 0)
        return size if isinstance(size, int) else 0

    def layer_ids(self) -> set[str]:
        """Diff ids of the layers on disk, with those whose size record a crash left alone."""
        if not os.path.isdir(self.layers):
            return set()
        return {"sha256:" + name.removesuffix(".json") for name in os.listdir(self.layers)}

    def add_layer(self, diff_id: str, unpacked: str, size: int) -> None:
        """Move a staged layer into place: the size record first, then the folder that makes it exist."""
        write_json(self.layer_dir(diff_id) + ".json", {"size": size})
        os.rename(unpacked, self.layer_dir(diff_id))

    def remove_layer(self, diff_id: str) -> None:
        """Take the layer out of its place in one rename, then delete it at leisure."""
        doomed = tempfile.mkdtemp(dir=self.tmp, prefix="rm-")
        try:
            os.rename(self.layer_dir(diff_id), os.path.join(doomed, "layer"))
        except FileNotFoundError:
            pass
        finally:
            shutil.rmtree(doomed, ignore_errors=True)
        try:
            os.unlink(self.layer_dir(diff_id) + ".json")
        except FileNotFoundError:
            pass

    # -- index ------------------------------------------------------------

    def read_index(self) -> dict[str, Entry]:
        """Entries by manifest digest, in index order."""
        data = read_json(self.index_path, {}) or {}
        entries: dict[str, Entry] = {}
        for item in data.get("manifests") or []:
            desc = Descriptor.from_json(item, self.index_path)
            entry = entries.setdefault(desc.digest, Entry(desc))
            ref = (item.get("annotations") or {}).get(REF_NAME)
            if ref and ref not in entry.refs:
                entry.refs.append(ref)
        return entries

    def write_index(self, entries: dict[str, Entry]) -> None:
        manifests: list[dict[str, Any]] = []
        for entry in entries.values():
            if not entry.refs:
                manifests.append(entry.manifest.to_json())
            for ref in entry.refs:
                manifests.append({**entry.manifest.to_json(), "annotations": {REF_NAME: ref}})
        write_json(self.index_path, {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests})

    def clear_tmp(self) -> None:
        """Remove staging leftovers of crashed operations, not the flocked folders of live ones."""
        if not os.path.isdir(self.tmp):
            return
        for name in os.listdir(self.tmp):
            path = os.path.join(self.tmp, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # an operation under way
            finally:
                os.close(fd)
            shutil.rmtree(path, ignore_errors=True)

    def pinned(self) -> set[str]:
        """Blob digests and diff ids that operations under way (or crashed, until pruned) still need.

        A pull puts each layer into the store as soon as it has it, before the
        index names the image: its ``tmp/op-*/pins`` file keeps those from
        being collected meanwhile.
        """
        out: set[str] = set()
        if os.path.isdir(self.tmp):
            for name in os.listdir(self.tmp):
                try:
                    with open(os.path.join(self.tmp, name, PINS), encoding="utf-8") as fh:
                        out.update(line.strip() for line in fh if line.strip())
                except OSError:
                    continue
        return out
