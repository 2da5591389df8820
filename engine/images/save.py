"""Write image archives that ``docker load`` (old and new) and OCI tools accept.

One tar holds both descriptions of the same blobs, as ``docker save`` has
done since docker 25: the OCI layout (``oci-layout``, ``index.json``,
``blobs/sha256/...``) and Docker's ``manifest.json`` and ``repositories``. In
the archive's ``index.json``, names follow Docker's habit: the full name in
``io.containerd.image.name``, the tag alone in ``org.opencontainers.image.ref.name``.
The tar is written as a stream, so the destination may be a pipe.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from typing import IO, Any, cast

from . import refs as refnames
from .compression import Writer
from .layout import Layout
from .model import CONTAINERD_NAME, INDEX_MEDIA_TYPE, REF_NAME, Descriptor, Image


def write_archive(layout: Layout, images: list[tuple[Descriptor, Image, list[str]]], dest: Writer) -> None:
    """Write ``images`` (manifest descriptor, image, tags to record) as one archive to ``dest``."""
    with tarfile.open(fileobj=cast(IO[bytes], dest), mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        written: set[str] = set()
        for manifest, image, _ in images:
            for digest in (manifest.digest, image.id, *(layer.digest for layer in image.layers)):
                if digest not in written:
                    written.add(digest)
                    _add_file(tar, f"blobs/sha256/{digest.split(':', 1)[1]}", layout.blob_path(digest))
        _add_json(tar, "index.json", _index(images))
        _add_json(tar, "manifest.json", [
            {"Config": f"blobs/sha256/{image.id.split(':', 1)[1]}", "RepoTags": tags or None,
             "Layers": [f"blobs/sha256/{layer.hex}" for layer in image.layers]}
            for _, image, tags in images
        ])
        _add_json(tar, "oci-layout", {"imageLayoutVersion": "1.0.0"})
        _add_json(tar, "repositories", _repositories(images))


def _index(images: list[tuple[Descriptor, Image, list[str]]]) -> dict[str, Any]:
    manifests: list[dict[str, Any]] = []
    for manifest, _, tags in images:
        if not tags:
            manifests.append(manifest.to_json())
        for tag in tags:
            manifests.append({**manifest.to_json(), "annotations": {
                CONTAINERD_NAME: refnames.canonical(tag), REF_NAME: refnames.split(tag)[1]}})
    return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests}


def _repositories(images: list[tuple[Descriptor, Image, list[str]]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for _, image, tags in images:
        for tag in tags:
            if image.layers:
                repository, name = refnames.split(tag)
                out.setdefault(repository, {})[name] = image.layers[-1].hex
    return out


def _info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, int(time.time())
    return info


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    tar.addfile(_info(name, tarfile.DIRTYPE, 0o755))


def _add_file(tar: tarfile.TarFile, name: str, path: str) -> None:
    with open(path, "rb") as fh:
        tar.addfile(_info(name, tarfile.REGTYPE, 0o644, os.fstat(fh.fileno()).st_size), fh)


def _add_json(tar: tarfile.TarFile, name: str, data: Any) -> None:
    raw = json.dumps(data, separators=(",", ":")).encode() + b"\n"
    tar.addfile(_info(name, tarfile.REGTYPE, 0o644, len(raw)), io.BytesIO(raw))
