"""Make an image from a parent image, at most one new layer tar, and a run-time config (what a build step commits).

Like ``ImageStore.import_tarball``, it holds the store's lock for the whole
operation, stages the new layer (unpacked, as overlayfs will read it) and
the new config and manifest, and commits by renames before the index names
the image. The parent's layers are reused as they are: no layer is copied.
The parent's history is kept and ``history`` appended, so ``created_by``
lines describe every step.

This module is a sibling of ``store`` and uses its private helpers
(``_writing``, ``_add``, ``_image``) rather than change that file.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from ..errors import NotFound
from . import refs as refnames
from .model import HOST_ARCH, Image, ImageConfig
from .staging import StagedLayer, Staging
from .store import ImageStore


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the image's history: the step that made it, and whether it added no layer."""

    created_by: str
    empty_layer: bool = False


def raw_config(store: ImageStore, image: Image) -> dict[str, Any]:
    """The image's whole configuration (``config``, ``history``, ``rootfs``...), as stored."""
    data = store.layout.read_json_blob(image.id)
    return data if isinstance(data, dict) else {}


def config_json(config: ImageConfig, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``config`` object of an image configuration: Docker's keys, unset ones left out."""
    out = {k: v for k, v in config.to_json().items() if v is not None and v != ""}
    out.update(extra or {})
    return out


def commit(store: ImageStore, parent: Image | None, layer_tar: BinaryIO | None, config: ImageConfig,
           ref: str | None, history: str | Sequence[HistoryEntry], *,
           extra: Mapping[str, Any] | None = None, author: str = "", comment: str = "") -> Image:
    """A new image: ``parent``'s layers plus ``layer_tar`` (an uncompressed or compressed tar) if given.

    ``history`` is the new history (a string: one entry, empty unless a layer
    is added); ``extra`` adds config keys ``ImageConfig`` does not model
    (``Shell``). ``ref`` tags the result. ``author`` and ``comment`` are
    ``docker commit -a/-m``'s. NotFound if ``parent`` was removed meanwhile.
    """
    tag = refnames.normalize(ref) if ref else None
    entries_new = [HistoryEntry(history, layer_tar is None)] if isinstance(history, str) else list(history)
    parent_raw = raw_config(store, parent) if parent is not None else {}
    with store._writing() as entries, Staging(store.layout) as staging:
        layers: list[StagedLayer] = []
        if parent is not None:
            for diff_id, blob in zip(parent.diff_ids, parent.layers, strict=True):
                if not store.layout.has_layer(diff_id) or not os.path.exists(store.layout.blob_path(blob.digest)):
                    raise NotFound(f"image {parent.short_id} was removed while a build used it")
                layers.append(StagedLayer(diff_id, blob, store.layout.layer_size(diff_id)))
        if layer_tar is not None:
            layers.append(staging.ingest_layer(staging.spool(layer_tar), None, "build step layer"))
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        history_json = list(parent_raw.get("history") or [])
        for item in entries_new:
            record: dict[str, Any] = {"created": now, "created_by": item.created_by}
            if author:
                record["author"] = author
            if comment:
                record["comment"] = comment
            if item.empty_layer:
                record["empty_layer"] = True
            history_json.append(record)
        data = {
            "architecture": str(parent_raw.get("architecture") or HOST_ARCH),
            "os": str(parent_raw.get("os") or "linux"),
            "created": now,
            **({"author": author} if author else {}),
            "config": config_json(config, extra),
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": history_json,
        }
        config_file = staging.spool(io.BytesIO(json.dumps(data, separators=(",", ":")).encode()))
        manifest = staging.add_image(config_file, layers)
        staging.commit()
        entry = store._add(entries, manifest, config_file.digest, [tag] if tag else [])
    return store._image(entry)
