"""Registry credentials: read from the files Docker and Podman keep, written by ``pycompose login``.

Read in this order, the first file with an answer for the registry winning:
``$REGISTRY_AUTH_FILE``, ``$XDG_RUNTIME_DIR/containers/auth.json``, then
``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``). In each
file, ``credHelpers[registry]`` comes first, then ``credsStore``, then the
``auths`` entry (``auth`` is base64 ``user:password``; ``identitytoken`` an
OAuth refresh token). Helpers speak Docker's protocol: ``docker-credential-NAME
get|store|erase`` with the server on standard input and JSON on standard
output, so a secret never appears in any process's arguments. Podman's keys
for a namespace (``host/org``) beat the host's own.

Docker Hub's entry is keyed ``https://index.docker.io/v1/`` as Docker keys it.
A ``Credential``'s repr hides its secrets.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import EngineError
from ..state import write_json
from .distribution import DOCKER_HUB, HUB_ALIASES

HUB_KEY = "https://index.docker.io/v1/"
_HUB_HOSTS = HUB_ALIASES | {"registry-1.docker.io", "registry.hub.docker.com"}
_HELPER_TIMEOUT = 60.0


class CredentialError(EngineError):
    """A credentials file or helper is unusable: the message names it, never a secret."""


@dataclass(frozen=True)
class Credential:
    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    source: str = ""


def registry_key(server: str) -> str:
    """The key a registry's entry has in a credentials file (Docker Hub's URL, else ``host[:port]``)."""
    host = server.split("://", 1)[-1].rstrip("/").split("/", 1)[0]
    return HUB_KEY if host in _HUB_HOSTS else host


def _host_of_key(key: str) -> str:
    rest = key.split("://", 1)[-1].rstrip("/")
    if rest.endswith("/v1") or rest.endswith("/v2"):
        rest = rest[:-3]
    host, sep, path = rest.partition("/")
    return (DOCKER_HUB if host in _HUB_HOSTS else host) + sep + path


class Credentials:
    """The credential sources an environment points at; looked up per registry."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.env = dict(env)
        files = []
        if env.get("REGISTRY_AUTH_FILE"):
            files.append(env["REGISTRY_AUTH_FILE"])
        if env.get("XDG_RUNTIME_DIR"):
            files.append(os.path.join(env["XDG_RUNTIME_DIR"], "containers", "auth.json"))
        files.append(docker_config(env))
        self.files = files

    def lookup(self, host: str, repository: str = "") -> Credential | None:
        """The credential for ``repository`` on ``host`` (an endpoint host), or None for anonymous access."""
        registry = DOCKER_HUB if host in _HUB_HOSTS else host
        for path in self.files:
            data = _read(path)
            if data is None:
                continue
            found = self._from_file(data, path, registry, repository)
            if found is not None:
                return found
        return None

    def _from_file(self, data: dict[str, Any], path: str, registry: str, repository: str) -> Credential | None:
        helpers = data.get("credHelpers") or {}
        if not isinstance(helpers, dict):
            raise CredentialError(f"{path}: credHelpers must be an object")
        for key, helper in helpers.items():
            if _host_of_key(key) == registry:
                return run_get(str(helper), key, self.env, path)
        auths = data.get("auths") or {}
        if not isinstance(auths, dict):
            raise CredentialError(f"{path}: auths must be an object")
        matches = sorted(((k, v) for k, v in auths.items() if _covers(_host_of_key(k), registry, repository)),
                         key=lambda kv: len(_host_of_key(kv[0])), reverse=True)
        store = data.get("credsStore")
        if store:
            found = run_get(str(store), registry_key(registry) if not matches else matches[0][0], self.env, path)
            if found is not None:
                return found
        for key, entry in matches:
            cred = _entry(entry, f"{path}: auths.{key}")
            if cred is not None:
                return cred
        return None


def docker_config(env: Mapping[str, str]) -> str:
    base = env.get("DOCKER_CONFIG") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def _covers(key: str, registry: str, repository: str) -> bool:
    return key == registry or (bool(repository) and (f"{registry}/{repository}" + "/").startswith(key + "/"))


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CredentialError(f"{path}: not valid JSON ({type(exc).__name__})") from None
    except OSError as exc:
        raise CredentialError(f"{path}: cannot read it: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise CredentialError(f"{path}: expected a JSON object")
    return data


def _entry(entry: Any, where: str) -> Credential | None:
    if not isinstance(entry, dict):
        raise CredentialError(f"{where}: must be an object")
    token = entry.get("identitytoken") or ""
    user, password = entry.get("username") or "", entry.get("password") or ""
    if entry.get("auth"):
        try:
            user, sep, password = base64.b64decode(str(entry["auth"]), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
            sep = ""
        if not sep:
            raise CredentialError(f"{where}: auth is not base64 of user:password")
    if not (user or password or token):
        return None
    return Credential(str(user), str(password), str(token), where.split(": ", 1)[0])


# -- helpers ---------------------------------------------------------------------------


def _helper(name: str, env: Mapping[str, str], where: str) -> str:
    program = f"docker-credential-{name}"
    path = shutil.which(program, path=env.get("PATH"))
    if path is None:
        raise CredentialError(f"{where}: credential helper {program} is not on PATH")
    return path


def _run(name: str, action: str, data: str, env: Mapping[str, str], where: str) -> subprocess.CompletedProcess[str]:
    program = _helper(name, env, where)
    try:
        return subprocess.run([program, action], input=data, capture_output=True, text=True,
                              timeout=_HELPER_TIMEOUT, env=dict(env))
    except subprocess.TimeoutExpired:
        raise CredentialError(f"credential helper {os.path.basename(program)} {action}: no answer within "
                              f"{_HELPER_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise CredentialError(f"credential helper {os.path.basename(program)}: {exc.strerror}") from None


def run_get(name: str, server: str, env: Mapping[str, str], where: str) -> Credential | None:
    """``docker-credential-NAME get``: the credential for ``server``, or None when it has none."""
    done = _run(name, "get", server, env, where)
    if done.returncode != 0:
        if "credentials not found" in (done.stdout + done.stderr).lower():
            return None
        first = (done.stderr or done.stdout).strip().splitlines()[:1]
        raise CredentialError(f"credential helper docker-credential-{name} get {server}: exit status "
                              f"{done.returncode}{': ' + first[0][:200] if first else ''}")
    try:
        answer = json.loads(done.stdout)
        user, secret = str(answer.get("Username") or ""), str(answer.get("Secret") or "")
    except (ValueError, AttributeError):
        raise CredentialError(f"credential helper docker-credential-{name} get {server}: "
                              "its answer is not the expected JSON") from None
    if not secret:
        return None
    source = f"docker-credential-{name}"
    if user == "<token>":
        return Credential(identity_token=secret, source=source)
    return Credential(user, secret, source=source)


# -- login and logout ------------------------------------------------------------------


def store_login(server: str, cred: Credential, environ: Mapping[str, str] | None = None) -> str:
    """Keep ``cred`` for ``server`` (a helper when configured, else ``auths`` in config.json, mode 0600)."""
    env = os.environ if environ is None else environ
    path = docker_config(env)
    data = _read(path) or {}
    key = registry_key(server)
    helper = (data.get("credHelpers") or {}).get(key) or data.get("credsStore")
    auths = data.setdefault("auths", {})
    if not isinstance(auths, dict):
        raise CredentialError(f"{path}: auths must be an object")
    if helper:
        user = "<token>" if cred.identity_token else cred.username
        payload = json.dumps({"ServerURL": key, "Username": user, "Secret": cred.identity_token or cred.password})
        done = _run(str(helper), "store", payload, env, path)
        if done.returncode != 0:
            raise CredentialError(f"credential helper docker-credential-{helper} store: exit status "
                                  f"{done.returncode}")
        auths[key] = {}
    else:
        secret = "" if cred.identity_token else cred.password
        entry: dict[str, str] = {"auth": base64.b64encode(f"{cred.username}:{secret}".encode()).decode()}
        if cred.identity_token:
            entry["identitytoken"] = cred.identity_token
        auths[key] = entry
    _write(path, data)
    return path


def remove_login(server: str, environ: Mapping[str, str] | None = None) -> bool:
    """Forget ``server``'s credentials in config.json (and its helper); whether there were any."""
    env = os.environ if environ is None else environ
    path = docker_config(env)
    data = _read(path)
    if data is None:
        return False
    key = registry_key(server)
    auths = data.get("auths") or {}
    known = [k for k in auths if registry_key(k) == key] if isinstance(auths, dict) else []
    helper = (data.get("credHelpers") or {}).get(key) or data.get("credsStore")
    erased = False
    if helper:
        erased = _run(str(helper), "erase", key, env, path).returncode == 0
    if not known and not erased:
        return False
    for k in known:
        del auths[k]
    _write(path, data)
    return True


def _write(path: str, data: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    write_json(path, data)  # a temporary file made 0600, renamed over the old one
    os.chmod(path, 0o600)
