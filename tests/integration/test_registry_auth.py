"""Registries that want credentials, on 127.0.0.1: TLS with a test CA plus token authentication (a token
server of the tests, whose JWTs the registry trusts), htpasswd Basic auth, every credential source, a
credential helper, identity tokens, login/logout, a token that expires mid-pull, and no secret anywhere.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import io
import json
import os
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from engine.images import ImageStore, registry
from engine.images.distribution import AccessDenied, Transfer, Unreachable
from engine.images.push import push
from engine.state import Root
from tests.integration.busybox import rootfs_tar, settled_leftovers
from tests.integration.debian import oci_archive
from tests.integration.registries import (
    REGISTRY,
    Registry,
    TokenServer,
    env_for,
    htpasswd_auth,
    htpasswd_line,
    token_auth,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="layers keep ownership: needs root")
SECRET = "Sup3r-s3cret-pa55word"


def started(reg: Registry) -> Registry:
    if not os.access(REGISTRY, os.X_OK):
        pytest.skip("docker-registry is not installed (apt-get install -y docker-registry)")
    if not reg.wait_ready():
        reg.stop()
        pytest.skip(f"docker-registry did not start: {reg.log.read_text()[-500:]}")
    return reg


@pytest.fixture
def token_reg(tmp_path, pki):
    server = TokenServer(pki, {"alice": SECRET}).start()
    reg = Registry(tmp_path, tls=pki, auth=token_auth(server, pki), name="token-registry")
    try:
        yield started(reg), server
    finally:
        reg.stop()
        server.stop()


@pytest.fixture
def basic_reg(tmp_path):
    (tmp_path / "htpasswd").write_text(htpasswd_line("alice", SECRET) + "\n")
    reg = Registry(tmp_path, auth=htpasswd_auth(tmp_path / "htpasswd"), name="basic-registry")
    try:
        yield started(reg)
    finally:
        reg.stop()


def auth_file(path: Path, host: str, user: str = "alice", password: str = SECRET, **extra) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    path.write_text(json.dumps({"auths": {host: entry}, **extra}))
    return str(path)


def store(tmp_path: Path, name: str) -> ImageStore:
    return ImageStore(Root(str(tmp_path / name)))


def busybox(tmp_path: Path, ref: str) -> ImageStore:
    src = store(tmp_path, "src")
    src.import_tarball(io.BytesIO(rootfs_tar()), ref)
    return src


def ctx(env: dict[str, str]) -> registry.Context:
    return registry.Context.from_env(env)


# -- (a) TLS with a test CA, token authentication ------------------------------------------------

def test_tls_with_a_test_ca_and_token_authentication(tmp_path, token_reg, pki):
    reg, tokens = token_reg
    ref = f"{reg.host}/team/busybox:1"
    src = busybox(tmp_path, ref)
    env = env_for(tmp_path)
    with pytest.raises(Unreachable) as info:
        push(src, ref, context=ctx(env))
    assert str(info.value).startswith(f"registry {reg.host}: TLS certificate verification failed "
                                      "(unable to get local issuer certificate); trust its CA with a *.crt file "
                                      f"in /etc/containers/certs.d/{reg.host}/")
    pki.certs_dir(tmp_path / "certs.d", reg.host)
    with pytest.raises(AccessDenied) as info:
        push(src, ref, context=ctx(env))
    assert str(info.value) == (f"registry {reg.host}: access denied without credentials; log in with "
                               f"`pycompose login {reg.host}`")
    env["REGISTRY_AUTH_FILE"] = auth_file(tmp_path / "auth.json", reg.host)
    tokens.requests.clear()
    image = src.get(ref)
    assert push(src, ref, context=ctx(env)) == image.digest
    assert tokens.requests == [{"method": "GET", "scopes": ["repository:team/busybox:pull,push"], "basic": True,
                                "ok": True}]  # one token for the whole push, asked for with Basic credentials
    tokens.requests.clear()
    got = registry.pull(store(tmp_path, "dst"), ref, context=ctx(env))
    assert (got.id, got.digest, got.refs) == (image.id, image.digest, (ref,))
    assert tokens.requests == [{"method": "GET", "scopes": ["repository:team/busybox:pull"], "basic": True,
                                "ok": True}]
    env["REGISTRY_AUTH_FILE"] = auth_file(tmp_path / "wrong.json", reg.host, password="wrong")
    with pytest.raises(AccessDenied) as info:
        registry.pull(store(tmp_path, "dst2"), ref, context=ctx(env))
    assert str(info.value) == (f"registry {reg.host}: token from {tokens.realm}: access denied: the credentials "
                               f"from {tmp_path / 'wrong.json'} were refused")


def test_token_expiring_mid_pull_is_renewed(tmp_path, token_reg, pki, debian_layers):
    reg, tokens = token_reg
    pki.certs_dir(tmp_path / "certs.d", reg.host)
    env = env_for(tmp_path, REGISTRY_AUTH_FILE=auth_file(tmp_path / "auth.json", reg.host))
    ref = f"{reg.host}/debian:12"
    src = store(tmp_path, "src")
    src.load(io.BytesIO(oci_archive(debian_layers, ref, ["/bin/sh"])))
    push(src, ref, context=ctx(env))

    def slow(event: Transfer) -> None:
        if event.status == "Pulling fs layer" and event.id == first:
            time.sleep(3.5)  # the token of the manifest and config requests runs out here

    first = src.get(ref).layers[0].hex[:12]
    # the registry refuses the token after 3 s, though its answer said 300 s: a 401 mid-pull renews it
    tokens.valid_for, tokens.lifetime = 3, 300
    tokens.requests.clear()
    got = registry.pull(store(tmp_path, "b"), ref, context=ctx(env), progress=slow)
    assert got.id == src.get(ref).id
    assert [r["scopes"] for r in tokens.requests] == [["repository:debian:pull"]] * 2
    # the answer says 2 s: renewed before it runs out, without a 401
    tokens.valid_for, tokens.lifetime = 300, 2
    tokens.requests.clear()
    got = registry.pull(store(tmp_path, "c"), ref, context=ctx(env), progress=slow)
    assert got.id == src.get(ref).id and len(tokens.requests) == 2


@pytest.fixture
def plain_reg(tmp_path):
    reg = Registry(tmp_path, name="plain-registry")
    try:
        yield started(reg)
    finally:
        reg.stop()


# -- an anonymous bearer-token handshake, in front of the real registry --------------------------

class TokenFront(http.server.ThreadingHTTPServer):
    """Demands ``Authorization: Bearer t0k`` (handed out anonymously at /token), then proxies to the registry."""

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _FrontHandler)
        self.upstream = upstream
        self.host = f"127.0.0.1:{self.server_address[1]}"
        self.scopes: list[str] = []


class _FrontHandler(http.server.BaseHTTPRequestHandler):
    server: TokenFront

    def log_message(self, *args):
        pass

    def _handle(self):
        front = self.server
        if self.path.startswith("/token"):
            front.scopes.append(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["scope"][0])
            body = b'{"token": "t0k"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.headers.get("Authorization") != "Bearer t0k":
            self.send_response(401)
            self.send_header("WWW-Authenticate", f'Bearer realm="http://{front.host}/token",service="front"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(front.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization")}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(key, value.replace(front.upstream, front.host))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _handle


def test_anonymous_bearer_token(tmp_path, plain_reg):
    reg = plain_reg
    front = TokenFront(reg.host)
    thread = threading.Thread(target=front.serve_forever, daemon=True)
    thread.start()
    try:
        ref = f"{front.host}/busybox:latest"
        src = store(tmp_path, "a")
        image = src.import_tarball(io.BytesIO(rootfs_tar()), ref)
        push(src, ref, context=ctx(env_for(tmp_path)))
        got = registry.pull(store(tmp_path, "b"), ref, context=ctx(env_for(tmp_path)))
        assert got.id == image.id
        assert front.scopes == ["repository:busybox:pull,push", "repository:busybox:pull"]
    finally:
        front.shutdown()
        front.server_close()
        thread.join(5)


# -- (b) htpasswd Basic auth, every credential source --------------------------------------------

def helper_script(bin_dir: Path, name: str, host: str, user: str, secret: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(f"""#!/bin/sh
read server
if [ "$1" = get ] && [ "$server" = "{host}" ]; then
    printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}' "$server"
else
    echo "credentials not found in native keychain"; exit 1
fi
""")
    script.chmod(0o755)


@pytest.mark.parametrize("source", ["REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG", "HOME",
                                    "credHelpers", "credsStore"])
def test_every_credential_source_with_basic_auth(tmp_path, basic_reg, source):
    ref = f"{basic_reg.host}/busybox:latest"
    src = busybox(tmp_path, ref)
    env = env_for(tmp_path)
    with pytest.raises(AccessDenied) as info:
        push(src, ref, context=ctx(env))
    assert str(info.value) == (f"registry {basic_reg.host}: access denied without credentials; log in with "
                               f"`pycompose login {basic_reg.host}`")
    home_cfg = Path(env["HOME"]) / ".docker/config.json"
    if source == "REGISTRY_AUTH_FILE":
        env[source] = auth_file(tmp_path / "any.json", basic_reg.host)
    elif source == "XDG_RUNTIME_DIR":
        env[source] = str(tmp_path / "run")
        auth_file(tmp_path / "run/containers/auth.json", basic_reg.host)
    elif source == "DOCKER_CONFIG":
        env[source] = str(tmp_path / "dc")
        auth_file(tmp_path / "dc/config.json", f"http://{basic_reg.host}/v2/")
    elif source == "HOME":
        auth_file(home_cfg, basic_reg.host)
    else:
        helper_script(tmp_path / "bin", "test", basic_reg.host, "alice", SECRET)
        env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
        home_cfg.parent.mkdir(parents=True)
        config = {"credHelpers": {basic_reg.host: "test"}} if source == "credHelpers" else {"credsStore": "test"}
        home_cfg.write_text(json.dumps(config))
    digest = push(src, ref, context=ctx(env))
    got = registry.pull(store(tmp_path, "dst"), ref, context=ctx(env))
    assert got.digest == digest and got.refs == (ref,)


def test_basic_auth_refused_credentials_name_their_file(tmp_path, basic_reg):
    ref = f"{basic_reg.host}/busybox:latest"
    env = env_for(tmp_path, REGISTRY_AUTH_FILE=auth_file(tmp_path / "a.json", basic_reg.host, password="nope"))
    with pytest.raises(AccessDenied) as info:
        push(busybox(tmp_path, ref), ref, context=ctx(env))
    assert str(info.value) == (f"registry {basic_reg.host}: access denied: the credentials from {tmp_path / 'a.json'} "
                               "were refused")


# -- the commands: login, logout, identity tokens, no secret anywhere -------------------------------

def pc(env, cwd, *args, stdin=None, check=True):
    r = subprocess.run([sys.executable, "-m", "compose.cli.main", *args], cwd=cwd, env=env, input=stdin,
                       capture_output=True, text=True, timeout=180)
    if check:
        assert r.returncode == 0, f"{args}: {r.stderr}"
    return r


class PsWatch:
    """Every process's argv, read from /proc every 20 ms while running."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.seen.update(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines())
            time.sleep(0.02)

    def __enter__(self) -> PsWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)


def grep_tree(root: Path, needle: bytes) -> list[str]:
    hits = []
    for base, _, files in os.walk(root):
        for name in files:
            path = os.path.join(base, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as fh:
                if needle in fh.read():
                    hits.append(path)
    return hits


def test_login_pull_up_logout_and_the_secret_never_shows(tmp_path, token_reg, pki):
    reg, tokens = token_reg
    pki.certs_dir(tmp_path / "certs.d", reg.host)
    image = f"{reg.host}/app/busybox:1"
    root = tmp_path / "root"
    env = {**env_for(tmp_path), "PYCOMPOSE_ROOT": str(root), "PYCOMPOSE_DNS_UPSTREAMS": "none",
           "PYCOMPOSE_SUPERVISOR_IDLE": "0.2", "PYCOMPOSE_NETD_IDLE": "0.2", "PYCOMPOSE_NO_CACHE": "1"}
    project = tmp_path / "demo"
    project.mkdir()
    (project / "compose.yaml").write_text(json.dumps({"services": {"app": {
        "image": image, "command": ["sh", "-c", "echo started; sleep 3600"]}}}))
    r = pc(env, project, "login", reg.host, "-u", "alice", "-p", "not-the-secret", check=False)
    assert (r.returncode, r.stderr) == (1, "pycompose login takes no password on the command line (other users "
                                           "could read it in the process list): use --password-stdin, or type it "
                                           "when asked\n")
    outputs = []
    with PsWatch() as ps:
        r = pc(env, project, "login", reg.host, "-u", "alice", "--password-stdin", stdin="wrong\n", check=False)
        assert (r.returncode, r.stdout) == (1, "")
        assert r.stderr == (f"registry {reg.host}: token from {tokens.realm}: access denied: the credentials from "
                            "the login were refused\n")
        r = pc(env, project, "login", reg.host, "-u", "alice", "--password-stdin", stdin=SECRET + "\n")
        assert r.stdout == "Login Succeeded\n"
        outputs += [r.stdout, r.stderr]
        config = Path(env["HOME"]) / ".docker/config.json"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        assert json.loads(config.read_text()) == {"auths": {reg.host: {
            "auth": base64.b64encode(f"alice:{SECRET}".encode()).decode()}}}

        pusher = {**env, "PYCOMPOSE_ROOT": str(tmp_path / "pusher")}
        r = subprocess.run([sys.executable, "-m", "compose.cli.main", "image", "import", "-", image],
                           input=rootfs_tar(), env=pusher, capture_output=True)
        assert r.returncode == 0, r.stderr
        outputs.append(pc(pusher, project, "push").stderr)
        for args in (("pull",), ("--progress", "json", "pull"), ("up", "-d"), ("logs",), ("ps",)):
            r = pc(env, project, *args)
            outputs += [r.stdout, r.stderr]
        assert any("started" in out for out in outputs)
    try:
        assert not [line for line in ps.seen if SECRET in line]
        assert not [out for out in outputs if SECRET in out]
        assert grep_tree(root, SECRET.encode()) == [] and grep_tree(tmp_path / "pusher", SECRET.encode()) == []
        assert grep_tree(root, base64.b64encode(f"alice:{SECRET}".encode())) == []
    finally:
        pc(env, project, "down", "-v", "-t", "0", check=False)
    assert settled_leftovers(str(root), Root(str(root)).cgroup_name) == []

    assert pc(env, project, "logout", reg.host).stdout == f"Removing login credentials for {reg.host}\n"
    assert json.loads(config.read_text()) == {"auths": {}}
    assert pc(env, project, "logout", reg.host).stdout == f"Not logged in to {reg.host}\n"
    r = pc(env, project, "pull", check=False)
    assert r.returncode == 1 and f"log in with `pycompose login {reg.host}`" in r.stderr


def test_identity_token_from_login_is_used_as_a_refresh_token(tmp_path, token_reg, pki):
    reg, tokens = token_reg
    tokens.offline = True  # the token server hands out refresh tokens to logins
    pki.certs_dir(tmp_path / "certs.d", reg.host)
    env = env_for(tmp_path)
    r = pc(env, tmp_path, "login", reg.host, "-u", "alice", "--password-stdin", stdin=SECRET)
    assert r.stdout == "Login Succeeded\n"
    entry = json.loads((Path(env["HOME"]) / ".docker/config.json").read_text())["auths"][reg.host]
    assert entry["identitytoken"] in tokens.refresh_tokens and SECRET not in json.dumps(entry)
    ref = f"{reg.host}/busybox:latest"
    tokens.requests.clear()
    digest = push(busybox(tmp_path, ref), ref, context=ctx(env))
    assert registry.pull(store(tmp_path, "dst"), ref, context=ctx(env)).digest == digest
    assert [(r["method"], r["scopes"], r["ok"]) for r in tokens.requests] == [
        ("POST", ["repository:busybox:pull,push"], True), ("POST", ["repository:busybox:pull"], True)]
