"""Pull images from registries (the OCI distribution API); ``push`` is in ``push.py``.

A pull resolves the reference (``distribution.parse_remote``), asks
``registries.conf`` where it may come from (short names: each search
registry in turn; each of those: its mirrors, then the registry itself) and
takes the first place that has the manifest. It follows an image index to
the linux/<host arch> manifest, checks every manifest and the config against
their digests, and brings the layers in with ``fetch``: three at a time, each
unpacked as soon as it is in, the ones the store has skipped. The image is
named in the store last: a pull that fails leaves no image (layers it
committed are swept by ``prune``).

A ``Context`` holds what a run shares between its pulls and pushes: the
registries.conf, the credentials, the HTTP transport and the tokens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ArchiveError, EngineError, NotFound
from .auth import Auth
from .client import Client
from .credentials import Credentials
from .distribution import (
    JSON_LIMIT,
    Progress,
    RemoteRef,
    Transfer,
    no_progress,
    parse_json,
    parse_remote,
    registry_error,
)
from .fetch import fetch_layers
from .load import DOCKER_LIST, DOCKER_MANIFEST
from .model import (
    HOST_ARCH,
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    Descriptor,
    Image,
    is_sha256,
    parse_config,
)
from .receive import Receiver, note_sources
from .regconf import Endpoint, RegistriesConf
from .store import ImageStore
from .transport import Transport

__all__ = ["Context", "RemoteRef", "parse_remote", "pull"]

_INDEXES = {INDEX_MEDIA_TYPE, DOCKER_LIST}
_MANIFESTS = {MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST}
_ACCEPT = ", ".join([INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, DOCKER_LIST, DOCKER_MANIFEST])
_MAX_HOPS = 5


@dataclass
class Context:
    """What the pulls and pushes of one run share."""

    conf: RegistriesConf
    transport: Transport
    auth: Auth

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Context:
        conf = RegistriesConf.from_env(environ)
        transport = Transport(conf.certs_dirs, environ)
        return cls(conf, transport, Auth(transport, Credentials(environ)))

    def client(self, endpoint: Endpoint, actions: str = "pull", extra_scopes: tuple[str, ...] = ()) -> Client:
        return Client(endpoint, self.transport, self.auth, actions, extra_scopes)


@dataclass(frozen=True)
class _Resolved:
    client: Client
    raw: bytes
    media_type: str
    digest: str


def pull(store: ImageStore, ref: str, *, context: Context | None = None, progress: Progress | None = None) -> Image:
    """Pull ``ref`` into ``store`` and tag it with the reference (a digest-only reference stays untagged)."""
    ctx = context or Context.from_env()
    say = progress or no_progress
    remote = parse_remote(ref)
    found = _resolve(ctx, remote)
    client, digest = found.client, found.digest
    body = parse_json(found.raw, f"manifest {digest}")
    if not isinstance(body, dict) or not isinstance(body.get("layers"), list):
        raise ArchiveError(f"{remote}: manifest {digest} has no layers list")
    config = Descriptor.from_json(body.get("config"), f"manifest {digest} config")
    layers = [Descriptor.from_json(item, f"manifest {digest} layer {i}") for i, item in enumerate(body["layers"])]
    tag = remote.local_tag
    same = next((image for image in store.list() if image.digest == digest), None)
    if same is not None:
        if tag and tag not in same.refs:
            store.tag(same.id, tag)
        say(Transfer("", "Image is up to date"))
        return store.get(tag or same.id)
    config_raw = _small_blob(client, config, f"{remote} config")
    _, diff_ids = parse_config(parse_json(config_raw, f"{remote} config"))
    if len(diff_ids) != len(layers):
        raise ArchiveError(f"{remote}: the config lists {len(diff_ids)} layers, the manifest {len(layers)}")
    with Receiver(store) as receiver:
        fetch_layers(receiver, client, list(zip(layers, diff_ids, strict=True)), str(remote), say)
        image = receiver.finish(found.raw, Descriptor(found.media_type, digest, len(found.raw)), config_raw,
                                config.digest, layers, diff_ids, tag)
    note_sources(store, f"{client.host}/{client.endpoint.repository}", [d.digest for d in layers])
    say(Transfer("", f"Digest: {digest}"))
    return image


def _resolve(ctx: Context, remote: RemoteRef) -> _Resolved:
    """The image manifest, from the first place that has it (search registries, mirrors, the registry)."""
    failures: list[tuple[Endpoint, EngineError]] = []
    for candidate in ctx.conf.candidates(remote):
        for endpoint in ctx.conf.endpoints(candidate):
            try:
                client = ctx.client(endpoint)
                client.ping()
                return _platform_manifest(client, candidate, endpoint)
            except EngineError as exc:
                if isinstance(exc, ArchiveError):
                    raise
                failures.append((endpoint, exc))
    if len(failures) == 1:
        raise failures[0][1]
    kind = NotFound if all(isinstance(e, NotFound) for _, e in failures) else EngineError
    raise kind(f"{remote}: not pulled from any of {len(failures)} places: "
               + "; ".join(f"{'mirror ' if ep.mirror else ''}{ep.host}: {e}" for ep, e in failures))


def _platform_manifest(client: Client, remote: RemoteRef, endpoint: Endpoint) -> _Resolved:
    where = f"{remote}" + (f" (from mirror {endpoint.host})" if endpoint.mirror else "")
    raw, mtype, digest = _manifest(client, remote.reference, where)
    for _ in range(_MAX_HOPS):
        if mtype in _MANIFESTS:
            return _Resolved(client, raw, mtype, digest)
        chosen = _choose(parse_json(raw, f"index {digest}"), f"{where} (index {digest})")
        raw, mtype, digest = _manifest(client, chosen.digest, f"{where} -> {chosen.digest}")
    raise ArchiveError(f"{remote}: image indexes nested too deeply")


def _manifest(client: Client, reference: str, where: str) -> tuple[bytes, str, str]:
    """The manifest's bytes, media type and digest, checked against the digest asked for or announced."""
    with client.request("GET", client.url("manifests", reference), {"Accept": _ACCEPT},
                        what=f"manifest {where}") as resp:
        if resp.status == 404:
            raise NotFound(f"manifest unknown: {where} is not in registry {client.host}")
        raw = resp.read(JSON_LIMIT + 1)
        if resp.status != 200:
            raise registry_error(resp.status, resp.reason, raw, f"manifest {where}")
        ctype = resp.header("Content-Type").split(";")[0].strip()
        announced = resp.header("Docker-Content-Digest")
    if len(raw) > JSON_LIMIT:
        raise ArchiveError(f"manifest {where}: larger than {JSON_LIMIT} bytes")
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    expected = reference if is_sha256(reference) else announced if is_sha256(announced) else digest
    if digest != expected:
        raise ArchiveError(f"manifest {where}: content is {digest}, expected {expected}; refused")
    body = parse_json(raw, f"manifest {where}")
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


def _small_blob(client: Client, desc: Descriptor, where: str) -> bytes:
    if desc.size > JSON_LIMIT:
        raise ArchiveError(f"{where}: {desc.size} bytes is too large for an image config")
    with client.request("GET", client.url("blobs", desc.digest), what=where) as resp:
        raw = resp.read(desc.size + 1)
        if resp.status != 200:
            raise registry_error(resp.status, resp.reason, raw, f"{where} blob {desc.digest}")
    actual = "sha256:" + hashlib.sha256(raw).hexdigest()
    if actual != desc.digest or len(raw) != desc.size:
        raise ArchiveError(f"{where}: blob {desc.digest} failed verification: received {len(raw)} bytes with "
                           f"digest {actual} (expected {desc.size} bytes); refused, nothing of the image was kept")
    return raw
