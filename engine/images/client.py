"""One repository on one registry endpoint: requests with authentication, manifests, blobs.

The first request to an endpoint (``ping``, ``GET /v2/``) settles how to
reach it: HTTPS, or plain HTTP for a loopback or insecure registry whose
TLS handshake fails for a reason other than its certificate. A blob is
written to a file while it is hashed; a connection that drops in the middle
is resumed with a ``Range`` request from the last byte received (from the
start again if the registry ignores the range), up to five times.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import IO
from urllib.parse import urljoin, urlsplit

from urllib3 import exceptions as x

from ..errors import ArchiveError
from .auth import Auth, denied
from .distribution import AccessDenied, RegistryError, Unreachable, error_detail, registry_error
from .model import Descriptor
from .regconf import Endpoint
from .transport import Body, Response, Transport, is_tls_mismatch

_MAX_HOPS = 5  # redirects followed
_CHUNK = 1 << 19
RESUMES = 5

_schemes: dict[str, str] = {}  # endpoint host -> scheme that worked, for the whole process
_schemes_lock = threading.Lock()


class Client:
    """Requests to ``endpoint`` for its repository, with the scopes ``actions`` need."""

    def __init__(self, endpoint: Endpoint, transport: Transport, auth: Auth, actions: str = "pull",
                 extra_scopes: tuple[str, ...] = ()) -> None:
        self.endpoint = endpoint
        self.host = endpoint.host
        self.transport = transport
        self.auth = auth
        own = (f"repository:{endpoint.repository}:{actions}",) if endpoint.repository else ()
        self.scopes = (*own, *extra_scopes)
        with _schemes_lock:
            self.scheme = _schemes.get(self.host, "https")

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}"

    def url(self, kind: str, ref: str = "") -> str:
        return f"{self.base}/v2/{self.endpoint.repository}/{kind}/{ref}"

    def ping(self) -> None:
        """``GET /v2/``: proves it is a registry, settles the scheme, learns how to authenticate."""
        try:
            resp = self._send("GET", f"{self.base}/v2/", {}, None, f"registry {self.host}")
        except Unreachable as exc:
            if self.scheme != "https" or not self.endpoint.plain_http_allowed or not is_tls_mismatch(
                    exc.__context__ or exc):
                raise
            self.scheme = "http"
            resp = self._send("GET", f"{self.base}/v2/", {}, None, f"registry {self.host}")
        with _schemes_lock:
            _schemes[self.host] = self.scheme
        with resp:
            if resp.status == 401:
                self.auth.unauthorized(self.host, resp.header("WWW-Authenticate"), self.scopes, None)
            elif resp.status != 200:
                raise registry_error(resp.status, resp.reason, resp.read(1 << 16), f"registry {self.host}")

    def login_check(self) -> None:
        """Prove the credentials are accepted: /v2/ with them (Basic), or a token fetched with them."""
        with self.request("GET", f"{self.base}/v2/", scopes=()) as resp:
            if resp.status != 200:
                raise registry_error(resp.status, resp.reason, resp.read(1 << 16), f"registry {self.host}")

    def request(self, method: str, url: str, headers: dict[str, str] | None = None, body: Body = None, *,
                what: str = "", scopes: tuple[str, ...] | None = None) -> Response:
        """Send with credentials; answer one new challenge; follow redirects of GET and HEAD."""
        scopes = self.scopes if scopes is None else scopes
        what = what or f"registry {self.host}"
        for _ in range(_MAX_HOPS):
            resp, used = self._authorized(method, url, headers or {}, body, what, scopes)
            if resp.status == 401 and self.auth.unauthorized(self.host, resp.header("WWW-Authenticate"), scopes,
                                                             used):
                resp.close()
                resp, _ = self._authorized(method, url, headers or {}, body, what, scopes)
            if resp.status in (401, 403):
                raw = resp.read(1 << 16)
                resp.close()
                cred = self.auth.credential(self.host, self.endpoint.repository)
                detail = error_detail(raw)
                raise AccessDenied(f"registry {self.host}: {denied(self.host, cred)}{f' ({detail})' if detail else ''}",
                                   resp.status)
            if resp.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
                url = urljoin(url, resp.header("Location"))
                resp.close()
                if urlsplit(url).netloc != self.host:
                    return self._send(method, url, headers or {}, None, what)  # no credentials elsewhere
                continue
            return resp
        raise RegistryError(f"{what}: too many redirects for {method} {url}")

    def _authorized(self, method: str, url: str, headers: dict[str, str], body: Body, what: str,
                    scopes: tuple[str, ...]) -> tuple[Response, str | None]:
        """The answer, and the ``Authorization`` value sent (None for none)."""
        value = self.auth.header(self.host, self.endpoint.repository, scopes, self.endpoint.insecure)
        sent = {**headers, **({"Authorization": value} if value else {})}
        return self._send(method, url, sent, body, what), value

    def _send(self, method: str, url: str, headers: dict[str, str], body: Body, what: str) -> Response:
        return self.transport.request(method, url, headers, body, insecure=self.endpoint.insecure, what=what)

    # -- blobs ---------------------------------------------------------------------------

    def fetch_blob(self, desc: Descriptor, out: IO[bytes], what: str,
                   on_bytes: Callable[[int], None] = lambda _n: None) -> None:
        """Write the blob to ``out``, checking size and digest; resume a dropped connection with Range."""
        hasher, got, drops = hashlib.sha256(), 0, 0
        while True:
            headers = {"Range": f"bytes={got}-"} if got else {}
            resp = self.request("GET", self.url("blobs", desc.digest), headers, what=what)
            try:
                if resp.status == 206 and got and resp.header("Content-Range").startswith(f"bytes {got}-"):
                    pass
                elif resp.status == 200:
                    if got:  # the registry ignored the range: from the start again
                        hasher, got = hashlib.sha256(), 0
                        out.seek(0)
                        out.truncate()
                else:
                    raise registry_error(resp.status, resp.reason, resp.read(1 << 16), f"{what} blob {desc.digest}")
                while got <= desc.size and (chunk := resp.read(_CHUNK)):
                    out.write(chunk)
                    hasher.update(chunk)
                    got += len(chunk)
                    on_bytes(got)
                if got >= desc.size:
                    break
                raise x.ProtocolError("the body ended early")
            except (x.ProtocolError, x.ReadTimeoutError, x.SSLError, OSError) as exc:
                drops += 1
                if drops > RESUMES:
                    raise Unreachable(f"{what}: blob {desc.digest}: the connection dropped {drops} times "
                                      f"(last: {type(exc).__name__}) after {got} of {desc.size} bytes") from None
                time.sleep(min(0.1 * 2 ** drops, 2.0))
            finally:
                resp.close()
        actual = "sha256:" + hasher.hexdigest()
        if got != desc.size or actual != desc.digest:
            raise ArchiveError(f"{what}: blob {desc.digest} failed verification: received {got} bytes with digest "
                               f"{actual} (expected {desc.size} bytes); refused, nothing of the image was kept")
