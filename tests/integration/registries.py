"""Registries for the tests, all on 127.0.0.1: Debian's docker-registry with configs of our own, a test CA,
a token server, fronts that misbehave on purpose, and an HTTP proxy that records its use.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from engine.net.ports import ephemeral

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SERVICE = "test-registry"
ISSUER = "test-issuer"


# -- certificates ------------------------------------------------------------------------------

@dataclass
class Pki:
    """A test CA, a server certificate it signed (127.0.0.1, localhost, registry.test), a token-signing key."""

    base: Path
    ca: Path = field(init=False)
    cert: Path = field(init=False)
    key: Path = field(init=False)
    token_cert: Path = field(init=False)
    token_key_pem: bytes = field(init=False)
    token_cert_der: bytes = field(init=False)

    def __post_init__(self) -> None:
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.UTC)

        def name(cn: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        def build(subject: str, key, issuer_name, issuer_key, *, ca: bool, sans=()):
            b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer_name)
                 .public_key(key.public_key()).serial_number(x509.random_serial_number())
                 .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
                 .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
            if sans:
                b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
            return b.sign(issuer_key, hashes.SHA256())

        pem = serialization.Encoding.PEM
        self.base.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = build("pycompose test CA", ca_key, name("pycompose test CA"), ca_key, ca=True)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = build("127.0.0.1", server_key, ca_cert.subject, ca_key, ca=False, sans=[
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost"),
            x509.DNSName("registry.test")])
        self.ca, self.cert, self.key = self.base / "ca.crt", self.base / "server.crt", self.base / "server.key"
        self.ca.write_bytes(ca_cert.public_bytes(pem))
        self.cert.write_bytes(server_cert.public_bytes(pem))
        self.key.write_bytes(server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
        token_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token_cert = build("token signer", token_key, name("token signer"), token_key, ca=True)
        self.token_cert = self.base / "token.crt"
        self.token_cert.write_bytes(token_cert.public_bytes(pem))
        self.token_key_pem = token_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())
        self.token_cert_der = token_cert.public_bytes(serialization.Encoding.DER)

    def certs_dir(self, base: Path, host: str) -> Path:
        """A certs.d folder trusting the CA for ``host`` (as /etc/containers/certs.d/HOST:PORT/ca.crt)."""
        folder = base / host
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.ca, folder / "ca.crt")
        return base


def htpasswd_line(user: str, password: str) -> str:
    import bcrypt

    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}"


# -- the registry ------------------------------------------------------------------------------

class Registry:
    """A docker-registry process serving ``storage`` on 127.0.0.1:``port``, with the config given."""

    def __init__(self, base: Path, *, tls: Pki | None = None, auth: str = "", name: str = "registry") -> None:
        base = base / name
        base.mkdir(parents=True, exist_ok=True)
        self.port = ephemeral("tcp", "127.0.0.1")
        self.host = f"127.0.0.1:{self.port}"
        self.storage = base / "storage"
        self.config = base / "config.yml"
        self.log = base / "registry.log"
        self.scheme = "https" if tls else "http"
        self.tls = tls
        text = ("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
                f"http:\n  addr: {self.host}\n")
        if tls:
            text += f"  tls:\n    certificate: {tls.cert}\n    key: {tls.key}\n"
        self.config.write_text(text + auth)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([REGISTRY, "serve", str(self.config)], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop our process (by its pid) and reap it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def blob_file(self, digest: str) -> Path:
        hexpart = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"


def token_auth(server: TokenServer, pki: Pki) -> str:
    return (f"auth:\n  token:\n    realm: {server.realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
            f"    rootcertbundle: {pki.token_cert}\n")


def htpasswd_auth(path: Path) -> str:
    return f"auth:\n  htpasswd:\n    realm: test-realm\n    path: {path}\n"


class Server(http.server.ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1, run by ``start``/``stop``."""

    daemon_threads = True

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.host = f"127.0.0.1:{self.server_address[1]}"
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def start(self) -> Server:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


# -- the token server --------------------------------------------------------------------------

class TokenServer(Server):
    """Hands out JWTs the registry trusts: everything to known users (Basic or refresh token), nothing to others.

    ``lifetime`` is what the answer's ``expires_in`` says; ``valid_for`` how long the JWT really is valid
    (the registry allows a minute of clock skew, which is taken off here).
    """

    def __init__(self, pki: Pki, users: dict[str, str]) -> None:
        super().__init__(_TokenHandler)
        self.pki = pki
        self.users = users
        self.realm = f"http://{self.host}/token"
        self.lifetime = 300
        self.valid_for = 300.0
        self.requests: list[dict[str, object]] = []
        self.refresh_tokens: dict[str, str] = {}
        self.offline = False

    def token(self, account: str, scopes: list[str]) -> str:
        import jwt

        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository" and account:
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = time.time()
        claims = {"iss": ISSUER, "sub": account, "aud": SERVICE, "iat": int(now), "nbf": int(now) - 5,
                  "exp": int(now + self.valid_for - 60), "jti": uuid.uuid4().hex, "access": access}
        return jwt.encode(claims, self.pki.token_key_pem, algorithm="RS256",
                          headers={"x5c": [base64.b64encode(self.pki.token_cert_der).decode()]})


class _TokenHandler(_Quiet):
    server: TokenServer

    def _answer(self, account: str, scopes: list[str], refresh: str = "") -> None:
        body = {"token": self.server.token(account, scopes), "expires_in": self.server.lifetime}
        if refresh:
            body["refresh_token"] = refresh
        self.reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        scopes = query.get("scope", [])
        account = ""
        header = self.headers.get("Authorization") or ""
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.server.users.get(user) != password:
                self.server.requests.append({"method": "GET", "scopes": scopes, "basic": True, "ok": False})
                return self.reply(401, b'{"details":"bad credentials"}')
            account = user
        self.server.requests.append({"method": "GET", "scopes": scopes, "basic": bool(account), "ok": True})
        refresh = ""
        if account and query.get("offline_token") == ["true"] and self.server.offline:
            refresh = uuid.uuid4().hex
            self.server.refresh_tokens[refresh] = account
        self._answer(account, scopes, refresh)

    def do_POST(self):
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
        account = self.server.refresh_tokens.get((form.get("refresh_token") or [""])[0], "")
        scopes = " ".join(form.get("scope", [])).split()
        self.server.requests.append({"method": "POST", "scopes": scopes, "basic": False, "ok": bool(account)})
        if form.get("grant_type") != ["refresh_token"] or not account:
            return self.reply(401, b'{"error":"invalid_grant"}')
        self._answer(account, scopes)


# -- fronts that misbehave ----------------------------------------------------------------------

class Front(Server):
    """Proxies to a plain-HTTP registry, and misbehaves as told.

    ``busy``: answer this many requests with 429 (``Retry-After: 1``) first. ``drop_blob_at``: close the
    connection after this many bytes of the first full GET of a layer blob bigger than that. ``blob_delay``:
    wait this long before answering a blob GET (``most_active`` counts how many were answered at once).
    """

    def __init__(self, upstream: str, *, busy: int = 0, drop_blob_at: int = 0, blob_delay: float = 0.0) -> None:
        super().__init__(_FrontHandler)
        self.upstream = upstream
        self.busy = busy
        self.drop_blob_at = drop_blob_at
        self.blob_delay = blob_delay
        self.dropped = False
        self.active = 0  # blob GETs being answered now
        self.most_active = 0
        self.lock = threading.Lock()
        self.log: list[tuple[str, str, int, str]] = []  # (method, path, status, range header)
        self.times: list[float] = []


class _FrontHandler(_Quiet):
    server: Front

    def _handle(self):
        front = self.server
        front.times.append(time.monotonic())
        blob = self.command == "GET" and "/blobs/sha256:" in self.path
        if blob:
            with front.lock:
                front.active += 1
                front.most_active = max(front.most_active, front.active)
        try:
            if blob:
                time.sleep(front.blob_delay)
            self._answer()
        finally:
            if blob:
                with front.lock:
                    front.active -= 1

    def _answer(self):
        front = self.server
        if front.busy > 0:
            front.busy -= 1
            front.log.append((self.command, self.path, 429, ""))
            return self.reply(429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
                              {"Retry-After": "1"})
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(front.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        front.log.append((self.command, self.path, resp.status, self.headers.get("Range") or ""))
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(key, value.replace(front.upstream, front.host))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        drop = (front.drop_blob_at and not front.dropped and "/blobs/sha256:" in self.path
                and resp.status == 200 and len(data) > front.drop_blob_at)
        if drop:
            front.dropped = True
            self.wfile.write(data[:front.drop_blob_at])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _handle


def tls_context(pki: Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca))


def env_for(tmp: Path, **extra: str) -> dict[str, str]:
    """An environment whose credential files and registries.conf are the test's own (none by default)."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in (
        "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG", "CONTAINERS_REGISTRIES_CONF", "HTTP_PROXY",
        "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy", "XDG_CONFIG_HOME")}
    env.update(HOME=str(home), PYCOMPOSE_CERTS_DIRS=str(tmp / "certs.d"),
               CONTAINERS_REGISTRIES_CONF=str(tmp / "registries.conf"))
    if not (tmp / "registries.conf").exists():
        (tmp / "registries.conf").write_text("")
    env.update(extra)
    return env
