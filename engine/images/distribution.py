"""The OCI distribution API over HTTP: references, the registry client, its errors.

Anonymous access only, including the bearer-token handshake; plain HTTP for
loopback registries and for hosts named in ``insecure_registries``,
HTTPS otherwise. ``registry.py`` builds pulls and pushes on this.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlencode, urljoin, urlsplit

from ..errors import ArchiveError, EngineError, NotFound
from . import refs as refnames
from .model import is_sha256

DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
HUB_REFUSED = ("no registry is reachable for docker.io references here; load or import the image, "
               "or use a local registry (127.0.0.1:PORT/name)")
_JSON_LIMIT = 16 << 20  # the most a manifest, index or config may be
_CHUNK = 1 << 20
_TIMEOUT = 60.0
_MAX_HOPS = 5  # redirects and auth challenges followed


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


