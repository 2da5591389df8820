"""Pull and push images over the OCI distribution API (the Docker Registry HTTP API V2).

A pull fetches the manifest (following an image index to the linux/<host
arch> manifest) and the config, checking each against its digest, then hands
the store an OCI image layout as a tar stream built on the fly, whose layer
members are read straight from the registry and hashed as they pass: the
image goes through ``ImageStore.load`` and is stored exactly like a loaded
OCI archive (layers unpacked once by the safe extractor, every digest checked
again). A blob whose bytes do not match its digest aborts the load, and
nothing of the image is kept. The store's lock is held while the layers
stream in, so other image writers wait for the download.

Plain HTTP is used for loopback registries (``localhost:5000``,
``127.0.0.1:5000``) and for hosts named in ``insecure_registries`` (by
default ``PYCOMPOSE_INSECURE_REGISTRIES``, comma-separated); HTTPS otherwise.
Access is anonymous, including the bearer-token handshake. References
without a registry host (or naming Docker Hub) are refused without any
network access: no registry is reachable for them here.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlencode, urljoin

from ..errors import ArchiveError, EngineError, NotFound
from .distribution import (
    _CHUNK,
    _JSON_LIMIT,
    _MAX_HOPS,
    DOCKER_HUB,
    HUB_REFUSED,
    NoRegistry,
    Progress,
    RemoteRef,
    _Client,
    _json,
    fail,
    parse_remote,
    plain_http,
)
from .load import DOCKER_LIST, DOCKER_MANIFEST
from .model import (
    CONTAINERD_NAME,
    HOST_ARCH,
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    Descriptor,
    Image,
    is_sha256,
)
from .store import ImageStore

__all__ = ["DOCKER_HUB", "HUB_REFUSED", "NoRegistry", "RemoteRef", "parse_remote", "plain_http", "pull", "push",
           "fail"]

_INDEXES = {INDEX_MEDIA_TYPE, DOCKER_LIST}
_MANIFESTS = {MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST}
_ACCEPT = ", ".join([INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, DOCKER_LIST, DOCKER_MANIFEST])


def _digest_error(where: str, digest: str, size: int, got: int, actual: str) -> ArchiveError:
    return ArchiveError(f"{where}: blob {digest} failed verification: received {got} bytes with digest {actual} "
                        f"(expected {size} bytes); refused, nothing of the image was kept")


# -- pull -----------------------------------------------------------------------------


def pull(store: ImageStore, ref: str, *, insecure_registries: Iterable[str] | None = None,
         progress: Progress | None = None) -> Image:
    """Pull ``ref`` into ``store`` and tag it with the reference (a digest-only reference stays untagged)."""
    remote = parse_remote(ref)
    say: Progress = progress or (lambda _id, _status: None)
    client = _Client(remote, "pull", insecure_registries)
    client.ping()
    raw, mtype, digest = _manifest(client, remote.reference, str(remote))
    for _ in range(_MAX_HOPS):
        if mtype in _MANIFESTS:
            break
        chosen = _choose(_json(raw, f"index {digest}"), f"{remote} (index {digest})")
        raw, mtype, digest = _manifest(client, chosen.digest, f"{remote} -> {chosen.digest}")
    else:
        raise ArchiveError(f"{remote}: image indexes nested too deeply")
    body = _json(raw, f"manifest {digest}")
    if not isinstance(body, dict) or not isinstance(body.get("layers"), list):
        raise ArchiveError(f"{remote}: manifest {digest} has no layers list")
    config = Descriptor.from_json(body.get("config"), f"manifest {digest} config")
    layers = [Descriptor.from_json(item, f"manifest {digest} layer {i}") for i, item in enumerate(body["layers"])]
    same = next((image for image in store.list() if image.digest == digest), None)
    if same is not None:
        if remote.local_tag and remote.local_tag not in same.refs:
            store.tag(same.id, remote.local_tag)
        say(remote.local_tag or digest, "Image is up to date")
        return store.get(remote.local_tag or same.id)
    config_raw = _small_blob(client, config, f"{remote} config")
    index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [{
        "mediaType": mtype, "digest": digest, "size": len(raw),
        **({"annotations": {CONTAINERD_NAME: remote.local_tag}} if remote.local_tag else {})}]}
    members = [_bytes_member("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
               _bytes_member("index.json", json.dumps(index).encode()),
               _bytes_member(f"blobs/sha256/{digest[7:]}", raw),
               _bytes_member(f"blobs/sha256/{config.hex}", config_raw)]
    for layer in {d.digest: d for d in layers}.values():
        members.append(_blob_member(store, client, layer, str(remote), say))
    names = store.load(_TarStream(_chain(members)))
    return store.get(names[0])


def _manifest(client: _Client, reference: str, where: str) -> tuple[bytes, str, str]:
    """The manifest's bytes, media type and digest, checked against the digest asked for or announced."""
    with client.request("GET", client.url("manifests", reference), {"Accept": _ACCEPT}) as resp:
        if resp.status == 404:
            raise NotFound(f"manifest unknown: {where} is not in registry {client.ref.host}")
        if resp.status != 200:
            fail(resp, f"manifest {where}")
        raw = resp.read(_JSON_LIMIT + 1)
        ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip()
        announced = resp.getheader("Docker-Content-Digest") or ""
    if len(raw) > _JSON_LIMIT:
        raise ArchiveError(f"manifest {where}: larger than {_JSON_LIMIT} bytes")
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    expected = reference if is_sha256(reference) else announced if is_sha256(announced) else digest
    if digest != expected:
        raise ArchiveError(f"manifest {where}: content is {digest}, expected {expected}; refused")
    body = _json(raw, f"manifest {where}")
    if not isinstance(body, dict):
        raise ArchiveError(f"manifest {where}: not a JSON object")
    inner = body.get("mediaType")
    if body.get("schemaVersion") == 1 or ctype.startswith("application/vnd.docker.distribution.manifest.v1"):
        raise ArchiveError(f"manifest {where}: Docker schema 1 manifests are not supported")
    if inner and ctype in _INDEXES | _MANIFESTS and inner != ctype:
        raise ArchiveError(f"manifest {where}: served as {ctype} but says it is {inner}")
    mtype = str(inner or (ctype if ctype in _INDEXES | _MANIFESTS else "")
                or (INDEX_MEDIA_TYPE if "manifests" in body else MANIFEST_MEDIA_TYPE))
    if mtype not in _INDEXES | _MANIFESTS:
        raise ArchiveError(f"manifest {where}: unsupported media type {mtype}")
    return raw, mtype, digest


def _choose(index: Any, where: str) -> Descriptor:
    """The linux/<host arch> manifest of an index (or its only image, if its platform is unsaid)."""
    items = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(items, list) or not all(isinstance(m, dict) for m in items):
        raise ArchiveError(f"{where}: an image index needs a list of manifest descriptors")
    platforms = [(m, m.get("platform") if isinstance(m.get("platform"), dict) else {}) for m in items]
    real = [(m, p) for m, p in platforms if p.get("os") != "unknown"]
    ours = [m for m, p in real if p.get("os") == "linux" and p.get("architecture") == HOST_ARCH]
    if not ours and len(real) == 1 and not real[0][1].get("architecture"):  # one image, platform unsaid
        ours = [real[0][0]]
    if not ours:
        found = sorted({f"{p.get('os')}/{p.get('architecture')}" for _, p in real})
        raise NotFound(f"{where}: no linux/{HOST_ARCH} image (the index has {', '.join(found) or 'none'})")
    return Descriptor.from_json(ours[0], where)


def _small_blob(client: _Client, desc: Descriptor, where: str) -> bytes:
    if desc.size > _JSON_LIMIT:
        raise ArchiveError(f"{where}: {desc.size} bytes is too large for an image config")
    with client.request("GET", client.url("blobs", desc.digest)) as resp:
        if resp.status != 200:
            fail(resp, f"{where} blob {desc.digest}")
        raw = resp.read(desc.size + 1)
    actual = "sha256:" + hashlib.sha256(raw).hexdigest()
    if actual != desc.digest or len(raw) != desc.size:
        raise _digest_error(where, desc.digest, desc.size, len(raw), actual)
    return raw


# -- the OCI layout as a tar stream ---------------------------------------------------

Member = Iterator[bytes]


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info.tobuf(tarfile.PAX_FORMAT)


def _bytes_member(name: str, data: bytes) -> Member:
    yield _header(name, len(data))
    yield data
    yield b"\0" * (-len(data) % 512)


def _blob_member(store: ImageStore, client: _Client, desc: Descriptor, where: str, say: Progress) -> Member:
    """A blob from the store when it has it, else from the registry; hashed as it passes, opened lazily."""
    short = desc.hex[:12]
    yield _header(f"blobs/sha256/{desc.hex}", desc.size)
    source: AbstractContextManager[Any]
    local = store.layout.blob_path(desc.digest)
    download = not os.path.exists(local)
    if not download:
        say(short, "Already exists")
        source = open(local, "rb")
    else:
        say(short, "Pulling fs layer")
        resp = client.request("GET", client.url("blobs", desc.digest))
        if resp.status != 200:
            fail(resp, f"{where} layer {desc.digest}")
        source = resp
    hasher, got = hashlib.sha256(), 0
    with source as src:
        while chunk := src.read(min(_CHUNK, desc.size - got + 1)):
            got += len(chunk)
            hasher.update(chunk)
            if got > desc.size:
                break
            yield chunk
    actual = "sha256:" + hasher.hexdigest()
    if got != desc.size or actual != desc.digest:
        raise _digest_error(f"{where} from {client.ref.host}", desc.digest, desc.size, got, actual)
    if download:
        say(short, "Pull complete")
    yield b"\0" * (-desc.size % 512)


def _chain(members: list[Member]) -> Iterator[bytes]:
    for member in members:
        yield from member
    yield b"\0" * 1024


class _TarStream:
    """A reader over generated chunks: what ``ImageStore.load`` reads as an archive."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""
        self._pos = 0

    def read(self, n: int = -1, /) -> bytes:
        if n < 0:
            rest = self._buf[self._pos:] + b"".join(self._chunks)
            self._buf, self._pos = b"", 0
            return rest
        while self._pos >= len(self._buf):
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buf, self._pos = chunk, 0
        out = self._buf[self._pos:self._pos + n]
        self._pos += len(out)
        return out


# -- push -----------------------------------------------------------------------------


def push(store: ImageStore, ref: str, *, insecure_registries: Iterable[str] | None = None,
         progress: Progress | None = None) -> str:
    """Upload the image tagged ``ref`` (blobs the registry lacks, then the manifest); its manifest digest."""
    remote = parse_remote(ref)
    if remote.digest or not remote.local_tag:
        raise EngineError(f"{ref}: push needs a tag, not a digest")
    say: Progress = progress or (lambda _id, _status: None)
    image = store.get(remote.local_tag)
    try:
        with open(store.layout.blob_path(image.digest), "rb") as fh:
            manifest = fh.read()
    except FileNotFoundError:
        raise NotFound(f"No such image: {ref} (removed while pushing)") from None
    body = _json(manifest, f"manifest {image.digest}")
    config = Descriptor.from_json(body.get("config"), f"manifest {image.digest}")
    client = _Client(remote, "pull,push", insecure_registries)
    client.ping()
    for desc in [*{d.digest: d for d in image.layers}.values(), config]:
        _push_blob(store, client, desc, say)
    mtype = str(body.get("mediaType") or MANIFEST_MEDIA_TYPE)
    with client.request("PUT", client.url("manifests", remote.reference), {"Content-Type": mtype}, manifest) as resp:
        if resp.status not in (200, 201):
            fail(resp, f"push of manifest {remote}")
    say(remote.tag or "", f"digest: {image.digest} size: {len(manifest)}")
    return image.digest


def _push_blob(store: ImageStore, client: _Client, desc: Descriptor, say: Progress) -> None:
    """Monolithic upload (POST, then PUT with ``?digest=``) unless the registry has the blob already."""
    short = desc.hex[:12]
    with client.request("HEAD", client.url("blobs", desc.digest)) as resp:
        if resp.status == 200:
            say(short, "Layer already exists")
            return
    with client.request("POST", client.url("blobs", "uploads/"), {"Content-Length": "0"}, b"") as resp:
        if resp.status != 202 or not resp.getheader("Location"):
            fail(resp, f"upload of {desc.digest}")
        location = urljoin(client.url("blobs", "uploads/"), resp.getheader("Location") or "")
    location += ("&" if "?" in location else "?") + urlencode({"digest": desc.digest})
    say(short, "Pushing")
    try:
        with open(store.layout.blob_path(desc.digest), "rb") as fh, client.request(
                "PUT", location, {"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)},
                fh) as resp:
            if resp.status not in (201, 204):
                fail(resp, f"upload of {desc.digest}")
    except FileNotFoundError:
        raise NotFound(f"blob {desc.digest} is missing from the local store (image removed while pushing?)") from None
    say(short, "Pushed")
