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
import http.client
import io
import json
import os
import re
import socket
import ssl
import tarfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlencode, urljoin, urlsplit

from ..errors import ArchiveError, EngineError, NotFound
from . import refs as refnames
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

DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
HUB_REFUSED = ("no registry is reachable for docker.io references here; load or import the image, "
               "or use a local registry (127.0.0.1:PORT/name)")
_INDEXES = {INDEX_MEDIA_TYPE, DOCKER_LIST}
_MANIFESTS = {MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST}
_ACCEPT = ", ".join([INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, DOCKER_LIST, DOCKER_MANIFEST])
_JSON_LIMIT = 16 << 20
_CHUNK = 1 << 20
_TIMEOUT = 60.0
_MAX_HOPS = 5


class NoRegistry(EngineError):
    """The reference names Docker Hub (or no registry at all), which is not reachable from here."""


Progress = Callable[[str, str], None]
"""Told ``(id, status)`` as work proceeds, e.g. ``("a1b2c3d4e5f6", "Pull complete")``."""


@dataclass(frozen=True)
class RemoteRef:
    """A reference split for the registry API: ``host/repository[:tag][@digest]``."""

    host: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest when there is one, else the tag."""
        return self.digest or self.tag or refnames.DEFAULT_TAG

    @property
    def local_tag(self) -> str | None:
        """The tag the store keeps the image under (None for a digest-only reference)."""
        return f"{self.host}/{self.repository}:{self.tag}" if self.tag else None

    def __str__(self) -> str:
        return (f"{self.host}/{self.repository}" + (f":{self.tag}" if self.tag else "")
                + (f"@{self.digest}" if self.digest else ""))


def parse_remote(text: str) -> RemoteRef:
    """Split ``text``; EngineError for a malformed one or one only Docker Hub could serve."""
    name, at, digest = text.partition("@")
    if at and not is_sha256(digest):
        raise EngineError(f'invalid reference format: "{text}": bad digest (sha256:<64 hex digits> expected)')
    host, _, rest = refnames.canonical(name).partition("/")  # validates, and fills in docker.io
    if host in DOCKER_HUB:
        raise NoRegistry(f"{text} is a Docker Hub image, and {HUB_REFUSED}")
    repository, _, tag = rest.rpartition(":")
    explicit = ":" in name.rsplit("/", 1)[-1]
    return RemoteRef(host, repository, tag if explicit or not digest else None, digest or None)


def plain_http(host: str, insecure_registries: Iterable[str] | None = None) -> bool:
    """Whether to speak HTTP rather than HTTPS to ``host`` (loopback, or listed as insecure)."""
    if insecure_registries is None:
        insecure_registries = os.environ.get("PYCOMPOSE_INSECURE_REGISTRIES", "").split(",")
    listed = {h.strip() for h in insecure_registries if h.strip()}
    name = urlsplit("//" + host).hostname or host
    return name in ("localhost", "::1") or name.startswith("127.") or host in listed or name in listed


# -- HTTP -----------------------------------------------------------------------------


class _Client:
    """One registry, one repository: requests with an anonymous bearer token when asked for one."""

    def __init__(self, ref: RemoteRef, actions: str, insecure_registries: Iterable[str] | None) -> None:
        self.ref = ref
        self.base = f"{'http' if plain_http(ref.host, insecure_registries) else 'https'}://{ref.host}"
        self.scope = f"repository:{ref.repository}:{actions}"
        self.token: str | None = None

    def url(self, kind: str, ref: str = "") -> str:
        return f"{self.base}/v2/{self.ref.repository}/{kind}/{ref}"

    def ping(self) -> None:
        """``GET /v2/``: proves it is a registry and gets a token if it wants one."""
        with self.request("GET", f"{self.base}/v2/") as resp:
            if resp.status != 200:
                fail(resp, f"registry {self.ref.host}")

    def request(self, method: str, url: str, headers: dict[str, str] | None = None,
                body: bytes | io.BufferedReader | None = None) -> http.client.HTTPResponse:
        """Send; answer one bearer challenge; follow redirects of GET and HEAD (without the token elsewhere)."""
        for _ in range(_MAX_HOPS):
            resp = self._send(method, url, headers or {}, body)
            if resp.status == 401 and self.token is None and not isinstance(body, io.BufferedReader):
                challenge = resp.getheader("WWW-Authenticate") or ""
                resp.close()
                self.token = self._token(challenge)
                resp = self._send(method, url, headers or {}, body)
            if resp.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
                url = urljoin(url, resp.getheader("Location") or "")
                resp.close()
                continue
            return resp
        raise EngineError(f"registry {self.ref.host}: too many redirects for {method} {url}")

    def _send(self, method: str, url: str, headers: dict[str, str],
              body: bytes | io.BufferedReader | None) -> http.client.HTTPResponse:
        parts = urlsplit(url)
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=_TIMEOUT,
                                               context=ssl.create_default_context(), blocksize=_CHUNK)
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=_TIMEOUT, blocksize=_CHUNK)
        sent = {"User-Agent": "pycompose", "Connection": "close", **headers}
        if self.token and parts.netloc == self.ref.host:
            sent["Authorization"] = f"Bearer {self.token}"
        try:
            conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=sent)
            return conn.getresponse()
        except ConnectionRefusedError:
            raise EngineError(f"cannot reach registry {parts.netloc}: connection refused (is it running?)") from None
        except socket.gaierror:
            raise EngineError(f"cannot reach registry {parts.netloc}: unknown host") from None
        except ssl.SSLError as exc:
            raise EngineError(f"registry {parts.netloc}: TLS failed ({exc.reason}); a plain-HTTP registry must be "
                              "listed in PYCOMPOSE_INSECURE_REGISTRIES") from None
        except (OSError, http.client.HTTPException) as exc:
            raise EngineError(f"registry {parts.netloc}: {exc or type(exc).__name__}") from None

    def _token(self, challenge: str) -> str:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() != "bearer":
            raise EngineError(f"registry {self.ref.host} asks for {scheme or 'unknown'} credentials: only anonymous "
                              "access is supported")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.get("realm")
        if not realm:
            raise EngineError(f"registry {self.ref.host}: bearer challenge without a realm")
        query = {k: v for k, v in (("service", fields.get("service")), ("scope", fields.get("scope") or self.scope))
                 if v}
        with self._send("GET", realm + ("&" if "?" in realm else "?") + urlencode(query), {}, None) as resp:
            if resp.status != 200:
                fail(resp, f"registry {self.ref.host}: anonymous token from {realm}")
            data = _json(resp.read(1 << 20), f"token from {realm}")
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str):
            raise EngineError(f"registry {self.ref.host}: the token server {realm} gave no token")
        return token


def fail(resp: http.client.HTTPResponse, what: str) -> NoReturn:
    """Raise the error a non-success answer means, with the registry's own error codes."""
    raw = resp.read(1 << 16)
    resp.close()
    try:
        errors = json.loads(raw).get("errors") or []
        detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        detail = ""
    tail = f" ({detail})" if detail else ""
    if resp.status == 404:
        raise NotFound(f"{what}: not found{tail}")
    if resp.status in (401, 403):
        raise EngineError(f"{what}: access denied (HTTP {resp.status}{', ' + detail if detail else ''}); "
                          "only anonymous access is supported")
    raise EngineError(f"{what}: registry answered HTTP {resp.status} {resp.reason}{tail}")


def _json(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ArchiveError(f"{where}: not valid JSON ({exc})") from None


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
