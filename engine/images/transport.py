"""HTTP for the registry client: kept-alive connections, TLS per registry, proxies, retries.

urllib3 carries the requests: its pools keep connections alive between the
many requests of a pull, are safe to share between the threads that fetch
layers in parallel, and tunnel HTTPS through a proxy with CONNECT.

- TLS: the system's CA bundle, plus every ``*.crt`` in ``CERTS_DIR/HOST:PORT/``
  (``/etc/containers/certs.d`` and ``/etc/docker/certs.d``) and a client
  certificate from a ``NAME.cert``/``NAME.key`` pair there, as Docker and Podman
  read them. An insecure registry's certificate is not verified.
- Proxies: ``HTTPS_PROXY``/``HTTP_PROXY`` (or lower case), except for hosts
  ``NO_PROXY`` names (``*``, domain suffixes, ``host:port``, addresses,
  CIDR blocks) and loopback addresses, which Go's clients never proxy either.
- Retries: 429 and 5xx answers and connections that fail before an answer are
  retried with back-off (0.5 s doubling, five attempts), waiting as long as a
  ``Retry-After`` asks, up to a minute.

A request's headers (which carry credentials) are never part of an error or
a log line; a proxy's user and password are left out of its name.
"""

from __future__ import annotations

import email.utils
import glob
import ipaddress
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any, Protocol, cast
from urllib.parse import urlsplit

import urllib3
from urllib3 import exceptions as x

from .distribution import RegistryError, Unreachable

CONNECT_TIMEOUT = 30.0
READ_TIMEOUT = 60.0
ATTEMPTS = 5
BACKOFF = 0.5
MAX_WAIT = 60.0
RETRIED = frozenset({429, 500, 502, 503, 504})
_CHUNK = 1 << 20



class Rewindable(Protocol):
    """A request body read as a stream, rewound when the request is retried."""

    def read(self, n: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...


Body = bytes | Rewindable | None


class Response:
    """An answer whose body is read as a stream; close it (or use ``with``) to give the connection back."""

    def __init__(self, raw: urllib3.BaseHTTPResponse, url: str) -> None:
        self.raw = raw
        self.url = url
        self.status = raw.status
        self.reason = raw.reason or ""

    def header(self, name: str) -> str:
        return str(self.raw.headers.get(name) or "")

    def read(self, n: int = -1) -> bytes:
        return self.raw.read(None if n < 0 else n, decode_content=False)

    def close(self) -> None:
        """Give the connection back when what is left of the body is small, else drop it."""
        left = self.raw.length_remaining
        if left is not None and left <= 1 << 16:
            self.raw.drain_conn()
        else:
            self.raw.close()
        self.raw.release_conn()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport:
    """Sends requests for every registry a run talks to; shared by its threads."""

    def __init__(self, certs_dirs: tuple[str, ...], environ: Mapping[str, str] | None = None, *,
                 sleep: Callable[[float], None] = time.sleep, attempts: int = ATTEMPTS) -> None:
        env = os.environ if environ is None else environ
        self.certs_dirs = certs_dirs
        self.proxies = {scheme: _env(env, f"{scheme}_proxy") for scheme in ("http", "https")}
        self.no_proxy = [e.strip().lower() for e in _env(env, "no_proxy").split(",") if e.strip()]
        self.sleep = sleep
        self.attempts = attempts
        self._lock = threading.Lock()
        self._pools: dict[tuple[str, str, bool], urllib3.PoolManager] = {}

    # -- connection set-up ---------------------------------------------------------------

    def proxy_for(self, url: str) -> str:
        """The proxy URL for ``url``, or "" to connect directly."""
        parts = urlsplit(url)
        proxy = self.proxies.get(parts.scheme, "")
        if not proxy or _bypass(parts.hostname or "", parts.port, self.no_proxy):
            return ""
        return proxy if "://" in proxy else f"http://{proxy}"

    def _pool(self, url: str, insecure: bool) -> urllib3.PoolManager:
        parts = urlsplit(url)
        proxy = self.proxy_for(url)
        key = (parts.netloc, proxy, insecure)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                kw: dict[str, Any] = {"maxsize": 10, "block": False, "retries": False}
                if parts.scheme == "https":
                    kw["ssl_context"] = self.tls_context(parts.netloc, insecure)
                    if insecure:
                        kw["cert_reqs"] = "CERT_NONE"
                        kw["assert_hostname"] = False
                if proxy:
                    p = urlsplit(proxy)
                    auth = f"{p.username}:{p.password or ''}" if p.username else None
                    headers = urllib3.make_headers(proxy_basic_auth=auth) if auth else None
                    pool = urllib3.ProxyManager(_without_userinfo(proxy), num_pools=4, proxy_headers=headers, **kw)
                else:
                    pool = urllib3.PoolManager(num_pools=4, **kw)
                self._pools[key] = pool
            return pool

    def tls_context(self, host: str, insecure: bool) -> ssl.SSLContext:
        """The system's trust plus the registry's own CA and client certificate files."""
        ctx = ssl.create_default_context()
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        for base in self.certs_dirs:
            folder = os.path.join(base, host)
            for ca in sorted(glob.glob(os.path.join(glob.escape(folder), "*.crt"))):
                try:
                    ctx.load_verify_locations(cafile=ca)
                except (OSError, ssl.SSLError) as exc:
                    raise RegistryError(f"registry {host}: cannot use the CA certificate {ca}: {exc}") from None
            for cert in sorted(glob.glob(os.path.join(glob.escape(folder), "*.cert"))):
                key = cert[:-len(".cert")] + ".key"
                if not os.path.exists(key):
                    raise RegistryError(f"registry {host}: client certificate {cert} has no key {key}")
                try:
                    ctx.load_cert_chain(cert, key)
                except (OSError, ssl.SSLError) as exc:
                    raise RegistryError(f"registry {host}: cannot use the client certificate {cert}: {exc}") from None
        return ctx

    # -- requests ----------------------------------------------------------------------

    def request(self, method: str, url: str, headers: Mapping[str, str], body: Body = None, *,
                insecure: bool = False, what: str = "") -> Response:
        """Send, retrying 429/5xx and failed connections with back-off; the last answer (any status)."""
        pool = self._pool(url, insecure)
        host = urlsplit(url).netloc
        what = what or f"registry {host}"
        wait = BACKOFF
        for attempt in range(1, self.attempts + 1):
            if attempt > 1 and body is not None and not isinstance(body, bytes):
                body.seek(0)
            try:
                raw = pool.request(method, url, headers={"User-Agent": "pycompose", **headers},
                                   body=cast("bytes | IO[bytes] | None", body),
                                   preload_content=False, redirect=False, retries=False, decode_content=False,
                                   timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT))
            except x.HTTPError as exc:
                error = self.explain(exc, host, what)
                if attempt == self.attempts or not _transient(exc):
                    raise error from None
                self.sleep(wait)
                wait *= 2
                continue
            resp = Response(raw, url)
            if resp.status not in RETRIED or attempt == self.attempts:
                return resp
            delay = retry_after(resp.header("Retry-After"), wait)
            resp.close()
            if delay > MAX_WAIT:
                raise RegistryError(f"{what}: registry answered HTTP {resp.status} and asks to retry after "
                                    f"{delay:.0f} s", resp.status)
            self.sleep(delay)
            wait *= 2
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    def explain(self, exc: BaseException, host: str, what: str) -> Unreachable:
        """One line for a failed connection: which registry, and why."""
        cause = _cause(exc)
        proxy = f" through proxy {_without_userinfo(self.proxy_for(f'https://{host}'))}" if isinstance(
            exc, x.ProxyError) else ""
        if isinstance(cause, x.NameResolutionError) or "Name or service not known" in str(exc) or (
                "Temporary failure in name resolution" in str(exc)):
            return Unreachable(f"cannot reach {what}{proxy}: name resolution failed for {host.rsplit(':', 1)[0]}")
        if isinstance(cause, ConnectionRefusedError) or "Connection refused" in str(exc):
            return Unreachable(f"cannot reach {what}{proxy}: connection refused (is it running?)")
        if isinstance(cause, ssl.SSLCertVerificationError):
            return Unreachable(f"{what}: TLS certificate verification failed ({cause.verify_message or cause}); "
                               f"trust its CA with a *.crt file in /etc/containers/certs.d/{host}/, or mark it "
                               "insecure in registries.conf")
        if isinstance(cause, ssl.SSLError) or isinstance(exc, x.SSLError):
            return Unreachable(f"{what}: TLS handshake failed ({getattr(cause, 'reason', None) or cause})")
        if isinstance(exc, x.ConnectTimeoutError):
            return Unreachable(f"cannot reach {what}{proxy}: no connection within {CONNECT_TIMEOUT:.0f} s")
        if isinstance(exc, x.ReadTimeoutError):
            return Unreachable(f"{what}: no answer within {READ_TIMEOUT:.0f} s")
        return Unreachable(f"{what}{proxy}: connection failed ({cause or type(exc).__name__})")


def retry_after(value: str, default: float) -> float:
    """Seconds a ``Retry-After`` header asks for (delta seconds or an HTTP date), else ``default``."""
    value = value.strip()
    if not value:
        return default
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


def is_tls_mismatch(exc: BaseException) -> bool:
    """A TLS failure that is not about the certificate: the server may speak plain HTTP."""
    cause = _cause(exc)
    return isinstance(cause, ssl.SSLError) and not isinstance(cause, ssl.SSLCertVerificationError)


def _cause(exc: BaseException) -> BaseException:
    seen = exc
    for _ in range(8):
        inner = getattr(seen, "reason", None)
        if not isinstance(inner, BaseException):
            inner = seen.__context__ if isinstance(seen.__context__, BaseException) else None
        if inner is None or inner is seen:
            break
        if isinstance(inner, (ssl.SSLError, ConnectionRefusedError, x.NameResolutionError)):
            return inner
        seen = inner
    return seen


def _transient(exc: BaseException) -> bool:
    cause = _cause(exc)
    return not isinstance(cause, (ssl.SSLError, ConnectionRefusedError, x.NameResolutionError)) and not (
        "Name or service not known" in str(exc) or "Connection refused" in str(exc))


def _env(env: Mapping[str, str], name: str) -> str:
    return env.get(name.upper()) or env.get(name) or ""


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl() if "@" in parts.netloc else url


def _bypass(host: str, port: int | None, no_proxy: list[str]) -> bool:
    """Whether ``NO_PROXY`` (or loopback) keeps ``host`` off the proxy."""
    host = host.lower()
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        addr = None
    if host == "localhost" or (addr is not None and addr.is_loopback):
        return True
    for entry in no_proxy:
        if entry == "*":
            return True
        name, _, want_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if want_port and (not want_port.isdigit() or int(want_port) != port):
            continue
        if addr is not None:
            try:
                if addr in ipaddress.ip_network(name.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.lstrip("*").lstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False
