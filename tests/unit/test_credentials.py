"""Credentials: every source in its order, credential helpers, login/logout files; secrets never shown."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from engine.images.auth import Challenge, parse_challenge
from engine.images.credentials import (
    HUB_KEY,
    Credential,
    CredentialError,
    Credentials,
    registry_key,
    remove_login,
    store_login,
)

SECRET = "pa55-Wörd:with:colons"


def auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def write(path, data) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return str(path)


def helper(bin_dir, name: str, store: dict[str, tuple[str, str]], log) -> None:
    """A docker-credential-NAME script answering from ``store`` and logging its calls (action, stdin)."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(f"""#!/usr/bin/env python3
import json, sys
store = {json.dumps({k: list(v) for k, v in store.items()})}
action, data = sys.argv[1], sys.stdin.read()
open({str(log)!r}, "a").write(json.dumps([action, data]) + "\\n")
if action == "get":
    if data not in store:
        print("credentials not found in native keychain"); sys.exit(1)
    user, secret = store[data]
    print(json.dumps({{"ServerURL": data, "Username": user, "Secret": secret}}))
""")
    script.chmod(0o755)


@pytest.fixture
def env(tmp_path):
    return {"HOME": str(tmp_path / "home"), "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}


def test_sources_in_order_first_with_an_answer_wins(tmp_path, env):
    host = "reg.example:5000"
    docker = write(tmp_path / "home/.docker/config.json", {"auths": {host: auth("docker-user", "d")}})
    assert Credentials(env).lookup(host) == Credential("docker-user", "d", source=docker)
    env["DOCKER_CONFIG"] = str(tmp_path / "dc")
    dc = write(tmp_path / "dc/config.json", {"auths": {f"https://{host}": auth("dc-user", "c")}})
    assert Credentials(env).lookup(host) == Credential("dc-user", "c", source=dc)
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    xdg = write(tmp_path / "run/containers/auth.json", {"auths": {host: auth("xdg-user", "x")}})
    assert Credentials(env).lookup(host) == Credential("xdg-user", "x", source=xdg)
    env["REGISTRY_AUTH_FILE"] = str(tmp_path / "auth.json")
    rf = write(tmp_path / "auth.json", {"auths": {host: auth("file-user", SECRET)}})
    assert Credentials(env).lookup(host) == Credential("file-user", SECRET, source=rf)
    assert Credentials(env).lookup("other.example") is None
    assert [os.path.basename(p) for p in Credentials(env).files] == ["auth.json", "auth.json", "config.json"]


def test_docker_hub_key_and_namespaced_keys(tmp_path, env):
    write(tmp_path / "home/.docker/config.json", {"auths": {
        HUB_KEY: auth("hub", "h"), "quay.io": auth("quay", "q"), "quay.io/org": auth("org", "o"),
        "id.example": {"auth": base64.b64encode(b"u:").decode(), "identitytoken": "refresh-123"}}})
    creds = Credentials(env)
    assert creds.lookup("registry-1.docker.io").username == "hub" and creds.lookup("docker.io").username == "hub"
    assert creds.lookup("quay.io", "org/app").username == "org" and creds.lookup("quay.io", "other/x").username == "quay"
    assert creds.lookup("id.example").identity_token == "refresh-123"
    assert registry_key("docker.io") == HUB_KEY == registry_key("index.docker.io")
    assert registry_key("https://reg.example:5000/") == "reg.example:5000"


def test_credential_helpers_cred_helpers_before_creds_store(tmp_path, env):
    log = tmp_path / "helper.log"
    helper(tmp_path / "bin", "mine", {"reg.example": ("helper-user", SECRET)}, log)
    helper(tmp_path / "bin", "desk", {HUB_KEY: ("<token>", "refresh-xyz")}, log)
    cfg = write(tmp_path / "home/.docker/config.json", {
        "credHelpers": {"reg.example": "mine"}, "credsStore": "desk", "auths": {"reg.example": auth("file", "f")}})
    creds = Credentials(env)
    assert creds.lookup("reg.example") == Credential("helper-user", SECRET, source="docker-credential-mine")
    assert creds.lookup("registry-1.docker.io") == Credential(identity_token="refresh-xyz",
                                                              source="docker-credential-desk")
    assert creds.lookup("nothing.example") is None
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [["get", "reg.example"], ["get", HUB_KEY], ["get", "nothing.example"]]
    os.unlink(tmp_path / "bin/docker-credential-mine")
    with pytest.raises(CredentialError) as info:
        creds.lookup("reg.example")
    assert str(info.value) == f"{cfg}: credential helper docker-credential-mine is not on PATH"


def test_repr_and_errors_never_show_a_secret(tmp_path, env):
    cred = Credential("user", SECRET, "tok-secret", "somewhere")
    assert SECRET not in repr(cred) and "tok-secret" not in repr(cred)
    bad = write(tmp_path / "home/.docker/config.json", {"auths": {"r.example": {"auth": "not base64 " + SECRET}}})
    with pytest.raises(CredentialError) as info:
        Credentials(env).lookup("r.example")
    assert str(info.value) == f"{bad}: auths.r.example: auth is not base64 of user:password"
    (tmp_path / "home/.docker/config.json").write_text('{"auths": {"r": ' + SECRET)
    with pytest.raises(CredentialError) as info:
        Credentials(env).lookup("r")
    assert str(info.value) == f"{bad}: not valid JSON (JSONDecodeError)"


def test_login_writes_docker_config_0600_keeping_other_keys_and_logout_removes(tmp_path, env):
    cfg = tmp_path / "home/.docker/config.json"
    write(cfg, {"auths": {"keep.example": auth("k", "k")}, "psFormat": "table"})
    os.chmod(cfg, 0o644)
    assert store_login("reg.example:5000", Credential("alice", SECRET), env) == str(cfg)
    data = json.loads(cfg.read_text())
    assert data == {"auths": {"keep.example": auth("k", "k"), "reg.example:5000": auth("alice", SECRET)},
                    "psFormat": "table"}
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    store_login("docker.io", Credential("bob", identity_token="refresh-1"), env)
    assert json.loads(cfg.read_text())["auths"][HUB_KEY] == {**auth("bob", ""), "identitytoken": "refresh-1"}
    assert remove_login("reg.example:5000", env) is True
    assert remove_login("reg.example:5000", env) is False
    assert sorted(json.loads(cfg.read_text())["auths"]) == ["https://index.docker.io/v1/", "keep.example"]


def test_login_with_a_creds_store_goes_to_the_helper(tmp_path, env):
    log = tmp_path / "helper.log"
    helper(tmp_path / "bin", "desk", {}, log)
    cfg = write(tmp_path / "home/.docker/config.json", {"credsStore": "desk"})
    store_login("reg.example", Credential("alice", SECRET), env)
    assert json.loads(open(cfg).read()) == {"auths": {"reg.example": {}}, "credsStore": "desk"}
    assert remove_login("reg.example", env) is True
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [["store", json.dumps({"ServerURL": "reg.example", "Username": "alice", "Secret": SECRET})],
                     ["erase", "reg.example"]]
    assert SECRET not in open(cfg).read()


@pytest.mark.parametrize(("header", "expected"), [
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull"',
     Challenge("bearer", "https://auth.docker.io/token", "registry.docker.io", "repository:library/x:pull")),
    ('Basic realm="Registry Realm"', Challenge("basic", "Registry Realm", "", "")),
    ('bearer realm="http://a/t", service="s"', Challenge("bearer", "http://a/t", "s", "")),
    ("Negotiate abc", None),
    ("", None),
])
def test_challenges(header, expected):
    assert parse_challenge(header) == expected
