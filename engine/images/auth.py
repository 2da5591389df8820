"""Authentication to registries: challenges, the token flow, Basic, identity tokens.

A registry says how it wants to be spoken to in a 401's ``WWW-Authenticate``:

- ``Bearer realm=...,service=...,scope=...``: the distribution token flow. A
  token is asked from the realm for the service and the scopes a request
  needs (``repository:NAME:pull`` or ``pull,push``), with Basic credentials
  when there are any (GET), or an identity token as an OAuth2 refresh token
  (POST). Tokens are cached per host and scopes until shortly before they
  expire (``expires_in``, 60 s when unsaid), and renewed then or when a
  request gets a 401 anyway.
- ``Basic realm=...``: the user and password go with every request.

Challenges are remembered per host, so later requests (other threads, other
repositories) send credentials up front instead of being refused first.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from .credentials import Credential
from .distribution import AccessDenied, RegistryError, parse_json, registry_error
from .transport import Transport

DEFAULT_EXPIRY = 60.0
CLIENT_ID = "pycompose"


class CredentialSource(Protocol):
    """Where credentials come from: ``credentials.Credentials``, or the one ``login`` checks."""

    def lookup(self, host: str, repository: str = "") -> Credential | None: ...


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic", lower case
    realm: str
    service: str
    scope: str


def parse_challenge(header: str) -> Challenge | None:
    """The first Bearer or Basic challenge of a ``WWW-Authenticate`` header."""
    match = re.match(r"\s*(\w+)\s*(.*)", header)
    if not match:
        return None
    scheme = match.group(1).lower()
    if scheme not in ("bearer", "basic"):
        return None
    params = {k.lower(): v for k, v in re.findall(r'(\w+)\s*=\s*"([^"]*)"', match.group(2))}
    return Challenge(scheme, params.get("realm", ""), params.get("service", ""), params.get("scope", ""))


@dataclass
class _Token:
    value: str
    expires: float


class Auth:
    """One run's authentication state, shared by its threads."""

    def __init__(self, transport: Transport, credentials: CredentialSource,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.transport = transport
        self.credentials = credentials
        self.clock = clock
        self._lock = threading.Lock()
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, tuple[str, ...]], _Token] = {}
        self._fetching: dict[tuple[str, tuple[str, ...]], threading.Lock] = {}
        self._creds: dict[tuple[str, str], Credential | None] = {}
        self.token_requests = 0

    def challenge(self, host: str) -> Challenge | None:
        """The last challenge ``host`` sent."""
        with self._lock:
            return self._challenges.get(host)

    def credential(self, host: str, repository: str) -> Credential | None:
        key = (host, repository)
        with self._lock:
            if key in self._creds:
                return self._creds[key]
        found = self.credentials.lookup(host, repository)
        with self._lock:
            self._creds[key] = found
        return found

    def header(self, host: str, repository: str, scopes: tuple[str, ...], insecure: bool) -> str | None:
        """The ``Authorization`` value for a request to ``host`` (None before any challenge)."""
        with self._lock:
            challenge = self._challenges.get(host)
        if challenge is None:
            return None
        cred = self.credential(host, repository)
        if challenge.scheme == "basic":
            if cred is None or not (cred.username or cred.password):
                return None
            return "Basic " + base64.b64encode(f"{cred.username}:{cred.password}".encode()).decode()
        return "Bearer " + self._token(host, challenge, repository, scopes, cred, insecure)

    def unauthorized(self, host: str, www_authenticate: str, scopes: tuple[str, ...], used: str | None) -> bool:
        """Note a 401's challenge and forget the token it refused (``used``); whether trying again can help."""
        challenge = parse_challenge(www_authenticate)
        if challenge is None:
            return False
        with self._lock:
            before = self._challenges.get(host)
            self._challenges[host] = challenge
            for key, token in list(self._tokens.items()):
                if key[0] == host and used == f"Bearer {token.value}":
                    del self._tokens[key]  # expired or revoked early; another thread may have renewed it already
        return before != challenge or used is not None

    def _token(self, host: str, challenge: Challenge, repository: str, scopes: tuple[str, ...],
               cred: Credential | None, insecure: bool) -> str:
        key = (host, tuple(sorted(set(scopes) | ({challenge.scope} if challenge.scope else set()))))
        with self._lock:
            gate = self._fetching.setdefault(key, threading.Lock())
        with gate:  # one fetch per host and scopes, however many threads ask at once
            with self._lock:
                cached = self._tokens.get(key)
            if cached is not None and cached.expires > self.clock():
                return cached.value
            value, lifetime, _ = self.fetch_token(host, challenge, key[1], cred, insecure)
            margin = min(10.0, lifetime / 4)
            with self._lock:
                self._tokens[key] = _Token(value, self.clock() + lifetime - margin)
            return value

    def fetch_token(self, host: str, challenge: Challenge, scopes: tuple[str, ...], cred: Credential | None,
                    insecure: bool, *, offline: bool = False) -> tuple[str, float, str]:
        """A token, its lifetime in seconds, and a refresh token (asked for with ``offline``, as login does)."""
        if not challenge.realm.startswith(("https://", "http://")):
            raise RegistryError(f"registry {host}: its token realm {challenge.realm!r} is not an http(s) URL")
        self.token_requests += 1
        what = f"registry {host}: token from {challenge.realm}"
        query: list[tuple[str, str]] = [("service", challenge.service)] if challenge.service else []
        if cred is not None and cred.identity_token:
            form = urlencode([*query, ("grant_type", "refresh_token"), ("refresh_token", cred.identity_token),
                              ("client_id", CLIENT_ID), ("scope", " ".join(scopes))]).encode()
            resp = self.transport.request("POST", challenge.realm,
                                          {"Content-Type": "application/x-www-form-urlencoded"}, form,
                                          insecure=insecure, what=what)
        else:
            query += [("scope", s) for s in scopes]
            headers = {}
            if cred is not None and (cred.username or cred.password):
                query.append(("account", cred.username))
                headers["Authorization"] = "Basic " + base64.b64encode(
                    f"{cred.username}:{cred.password}".encode()).decode()
            if offline:
                query += [("offline_token", "true"), ("client_id", CLIENT_ID)]
            sep = "&" if "?" in challenge.realm else "?"
            resp = self.transport.request("GET", challenge.realm + sep + urlencode(query), headers,
                                          insecure=insecure, what=what)
        with resp:
            body = resp.read(1 << 20)
            if resp.status != 200:
                error = registry_error(resp.status, resp.reason, body, what)
                if isinstance(error, AccessDenied):
                    raise AccessDenied(f"{what}: {denied(host, cred)}", resp.status)
                raise error
        data = parse_json(body, what)
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{what}: the answer has no token")
        refresh = data.get("refresh_token") if offline and isinstance(data.get("refresh_token"), str) else ""
        lifetime = data.get("expires_in")
        return token, float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else DEFAULT_EXPIRY, refresh


def denied(host: str, cred: Credential | None) -> str:
    """Why a registry said no, naming where the credentials came from (never what they are)."""
    if cred is None:
        return ("access denied without credentials; log in with "
                f"`pycompose login {host if host != 'registry-1.docker.io' else 'docker.io'}`")
    return f"access denied: the credentials from {cred.source or 'the credential store'} were refused"
