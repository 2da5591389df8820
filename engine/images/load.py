"""Read image archives: ``docker save`` output (old and docker >= 25) and OCI image archives.

The archive is a stream (possibly stdin, possibly compressed) whose members
come in any order, so every file is first spooled into the staging folder
under a name of our own (archive paths never touch the filesystem), then the
index is interpreted: ``manifest.json`` when present (its ``RepoTags`` are the
tags), else the OCI ``index.json``, following nested indexes down to the
linux/<host arch> manifest. Every digest is checked against the bytes.
"""

from __future__ import annotations

import posixpath
import tarfile
from dataclasses import dataclass
from typing import IO, Any, cast

from ..errors import ArchiveError, EngineError
from . import refs as refnames
from .compression import Reader, open_stream
from .extract import entry_parts
from .model import (
    CONTAINERD_NAME,
    HOST_ARCH,
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    REF_NAME,
    Descriptor,
    parse_config,
)
from .staging import StagedFile, StagedLayer, Staging

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
_INDEXES = {INDEX_MEDIA_TYPE, DOCKER_LIST}
_MANIFESTS = {MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST}
_LAYERS = {
    "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.image.rootfs.diff.tar",
}
_MAX_DEPTH = 8


@dataclass(frozen=True)
class LoadedImage:
    """An image staged from an archive: its manifest descriptor, config digest and tags."""

    manifest: Descriptor
    config_digest: str
    refs: tuple[str, ...]


@dataclass
class _Candidate:
    where: str
    config: StagedFile
    layers: list[tuple[str, StagedFile]]
    refs: list[str]
    manifest: StagedFile | None = None  # the archive's own manifest, kept if its blobs are
    manifest_type: str = MANIFEST_MEDIA_TYPE


def read_archive(source: Reader, staging: Staging) -> list[LoadedImage]:
    """Stage every image of the archive read from ``source``."""
    files = _Files.spool(source, staging)
    if files.has("manifest.json"):
        candidates = _docker_candidates(files)
    elif files.has("index.json"):
        candidates = _oci_candidates(files)
    else:
        raise ArchiveError("not an image archive: it has neither manifest.json nor index.json")
    return [_stage(staging, c) for c in candidates]


class _Files:
    """The archive's regular files by normalized path, plus its links, resolved on lookup."""

    def __init__(self) -> None:
        self.files: dict[str, StagedFile] = {}
        self.links: dict[str, str] = {}

    @classmethod
    def spool(cls, source: Reader, staging: Staging) -> _Files:
        out = cls()
        _, plain = open_stream(source)
        try:
            with tarfile.open(fileobj=cast(IO[bytes], plain), mode="r|", encoding="utf-8") as tar:
                for member in tar:
                    name = "/".join(entry_parts(member.name, member.name, "archive entry"))
                    if member.isreg():
                        src = tar.extractfile(member)
                        assert src is not None  # a regular member always has a reader
                        out.files[name] = staging.spool(src)
                    elif member.issym() or member.islnk():
                        base = posixpath.dirname(name) if member.issym() else ""
                        target = posixpath.normpath(posixpath.join(base, member.linkname))
                        if target.startswith(("/", "../")) or target == "..":
                            raise ArchiveError(f'archive entry "{member.name}": link leaves the archive')
                        out.links[name] = target
                    elif not member.isdir():
                        raise ArchiveError(f'archive entry "{member.name}": unsupported entry type {member.type!r}')
        except tarfile.TarError as exc:
            raise ArchiveError(f"not a valid tar archive: {exc}") from None
        return out

    def has(self, name: str) -> bool:
        return name in self.files or name in self.links

    def get(self, name: Any, where: str) -> StagedFile:
        if not isinstance(name, str):
            raise ArchiveError(f"{where}: a file name must be a string")
        path = posixpath.normpath(name)
        for _ in range(_MAX_DEPTH):
            if path in self.files:
                return self.files[path]
            if path not in self.links:
                break
            path = self.links[path]
        raise ArchiveError(f'{where}: "{name}" is not in the archive')

    def blob(self, desc: Descriptor, where: str) -> StagedFile:
        staged = self.get(f"blobs/sha256/{desc.hex}", where)
        if staged.digest != desc.digest or staged.size != desc.size:
            raise ArchiveError(f"{where}: blob {desc.digest} does not match its digest or size")
        return staged


def _docker_candidates(files: _Files) -> list[_Candidate]:
    items = files.get("manifest.json", "archive").read_json("manifest.json")
    if not isinstance(items, list):
        raise ArchiveError("manifest.json: expected a list of images")
    out = []
    for i, item in enumerate(items):
        where = f"manifest.json[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("Layers"), list):
            raise ArchiveError(f"{where}: expected an object with Config and Layers")
        tags = item.get("RepoTags") or []
        if not isinstance(tags, list):
            raise ArchiveError(f"{where}: RepoTags must be a list")
        out.append(_Candidate(
            where=where,
            config=files.get(item.get("Config"), where),
            layers=[(f"{where} layer {p}", files.get(p, where)) for p in item["Layers"]],
            refs=[_ref(t, where) for t in tags],
        ))
    return out


def _oci_candidates(files: _Files) -> list[_Candidate]:
    index = files.get("index.json", "archive").read_json("index.json")
    by_digest: dict[str, _Candidate] = {}
    for i, item in enumerate(_manifest_list(index, "index.json")):
        where = f"index.json manifests[{i}]"
        desc, mtype = _pick(files, item, where, 0)
        annotations = item.get("annotations") or {}
        name = annotations.get(CONTAINERD_NAME) or annotations.get(REF_NAME)
        candidate = by_digest.get(desc.digest)
        if candidate is None:
            candidate = by_digest[desc.digest] = _oci_manifest(files, desc, mtype, where)
        if name:
            ref = _ref(name, where)
            if ref not in candidate.refs:
                candidate.refs.append(ref)
    return list(by_digest.values())


def _manifest_list(index: Any, where: str) -> list[dict[str, Any]]:
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
        raise ArchiveError(f"{where}: an image index needs a list of manifest descriptors")
    return manifests


def _media_type(files: _Files, desc: Descriptor, where: str) -> str:
    if desc.media_type:
        return desc.media_type
    body = files.blob(desc, where).read_json(where)  # no mediaType on the descriptor: look inside
    if isinstance(body, dict) and body.get("mediaType"):
        return str(body["mediaType"])
    return INDEX_MEDIA_TYPE if isinstance(body, dict) and "manifests" in body else MANIFEST_MEDIA_TYPE


def _pick(files: _Files, item: dict[str, Any], where: str, depth: int) -> tuple[Descriptor, str]:
    """Follow ``item`` through nested indexes to one image manifest: linux/<host arch>, or the only one."""
    if depth > _MAX_DEPTH:
        raise ArchiveError(f"{where}: image indexes nested too deeply")
    desc = Descriptor.from_json(item, where)
    mtype = _media_type(files, desc, where)
    if mtype in _MANIFESTS:
        return desc, mtype
    if mtype not in _INDEXES:
        raise ArchiveError(f"{where}: unsupported media type {mtype}")
    nested = _manifest_list(files.blob(desc, where).read_json(where), f"{where} -> {desc.digest}")
    real = [m for m in nested if (m.get("platform") or {}).get("os") != "unknown"]  # skip attestations
    ours = [m for m in real if (m.get("platform") or {}).get("os") == "linux"
            and (m.get("platform") or {}).get("architecture") == HOST_ARCH]
    if not ours and len(real) == 1:
        ours = real
    if not ours:
        found = sorted({f"{(m.get('platform') or {}).get('os')}/{(m.get('platform') or {}).get('architecture')}"
                        for m in real})
        raise ArchiveError(f"{where}: no linux/{HOST_ARCH} image in index {desc.digest} (has {', '.join(found)})")
    return _pick(files, ours[0], f"{where} -> {desc.digest}", depth + 1)


def _oci_manifest(files: _Files, desc: Descriptor, mtype: str, where: str) -> _Candidate:
    staged = files.blob(desc, where)
    body = staged.read_json(where)
    where = f"manifest {desc.digest}"
    if not isinstance(body, dict) or not isinstance(body.get("layers"), list):
        raise ArchiveError(f"{where}: expected an image manifest with config and layers")
    config = files.blob(Descriptor.from_json(body.get("config"), where), where)
    layers = []
    for i, item in enumerate(body["layers"]):
        ldesc = Descriptor.from_json(item, f"{where} layer {i}")
        if ldesc.media_type not in _LAYERS:
            raise ArchiveError(f"{where} layer {i}: unsupported layer media type {ldesc.media_type!r}")
        layers.append((f"{where} layer {ldesc.digest}", files.blob(ldesc, where)))
    return _Candidate(where, config, layers, [], manifest=staged, manifest_type=mtype)


def _ref(name: Any, where: str) -> str:
    if not isinstance(name, str):
        raise ArchiveError(f"{where}: an image name must be a string")
    try:
        return refnames.normalize(name)
    except EngineError as exc:
        raise ArchiveError(f"{where}: {exc}") from None


def _stage(staging: Staging, c: _Candidate) -> LoadedImage:
    _, diff_ids = parse_config(c.config.read_json(f"{c.where} config"))
    if len(diff_ids) != len(c.layers):
        raise ArchiveError(f"{c.where}: the config lists {len(diff_ids)} layers, the manifest {len(c.layers)}")
    layers: list[StagedLayer] = [staging.ingest_layer(blob, diff_id, where)
                                 for (where, blob), diff_id in zip(c.layers, diff_ids, strict=True)]
    kept = c.manifest is not None and all(layer.blob.digest == blob.digest
                                          for layer, (_, blob) in zip(layers, c.layers, strict=True))
    if c.manifest is not None and kept:
        staging.add_blob(c.config)
        staging.add_blob(c.manifest)
        manifest = Descriptor(c.manifest_type, c.manifest.digest, c.manifest.size)
    else:
        manifest = staging.add_image(c.config, layers)
    return LoadedImage(manifest, c.config.digest, tuple(c.refs))
