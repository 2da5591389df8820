"""References as the distribution API sees them, the progress events of a transfer, registry errors.

``parse_remote`` resolves a reference the way Docker does: ``postgres:16`` is
``docker.io/library/postgres:16``, ``user/app`` is ``docker.io/user/app:latest``,
``index.docker.io`` is an alias of ``docker.io``, and a first component with
a dot, a port, ``localhost`` or an upper-case letter names a registry. Where
a reference is then fetched from (mirrors, rewritten locations, Docker Hub's
API host ``registry-1.docker.io``) is ``regconf``'s business.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ArchiveError, EngineError, NotFound
from . import refs as refnames
from .model import is_sha256

DOCKER_HUB = "docker.io"
HUB_ALIASES = frozenset({"docker.io", "index.docker.io"})
JSON_LIMIT = 16 << 20  # the most a manifest, index or config may be


@dataclass(frozen=True)
class RemoteRef:
    """A reference split for the registry API: ``registry/repository[:tag][@digest]``.

    ``registry`` is the name the user means (``docker.io`` for Docker Hub),
    not necessarily the host a request goes to. ``qualified`` is False for a
    short name (``postgres``), which ``unqualified-search-registries`` may
    send elsewhere.
    """

    registry: str
    repository: str
    tag: str | None
    digest: str | None
    qualified: bool = True

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest when there is one, else the tag."""
        return self.digest or self.tag or refnames.DEFAULT_TAG

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def local_tag(self) -> str | None:
        """The tag the store keeps the image under, in Docker's familiar form (None for a digest-only one)."""
        return refnames.normalize(f"{self.name}:{self.tag}") if self.tag else None

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse_remote(text: str) -> RemoteRef:
    """Split ``text`` as Docker resolves it; EngineError for a malformed reference."""
    name, at, digest = text.partition("@")
    if at and not is_sha256(digest):
        raise EngineError(f'invalid reference format: "{text}": bad digest (sha256:<64 hex digits> expected)')
    qualified = "/" in name and refnames.is_domain(name.split("/", 1)[0])
    registry, _, rest = refnames.canonical(name).partition("/")  # validates, and fills in docker.io
    if registry in HUB_ALIASES:
        registry = DOCKER_HUB
    repository, _, tag = rest.rpartition(":")
    explicit = ":" in name.rsplit("/", 1)[-1]
    return RemoteRef(registry, repository, tag if explicit or not digest else None, digest or None, qualified)


# -- progress -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    """One step of a pull or push, as Docker reports it.

    ``id`` is a layer's short digest (12 hex digits), or "" for the image as
    a whole; ``status`` is Docker's wording (``Pulling fs layer``, ``Waiting``,
    ``Downloading``, ``Verifying Checksum``, ``Download complete``,
    ``Extracting``, ``Pull complete``, ``Already exists``, ``Pushing``,
    ``Pushed``, ``Mounted from NAME``, ``Layer already exists``...);
    ``current``/``total`` are bytes for ``Downloading``, ``Extracting`` and
    ``Pushing``.
    """

    id: str
    status: str
    current: int = 0
    total: int = 0


Progress = Callable[[Transfer], None]


def no_progress(_event: Transfer) -> None:
    pass


# -- errors ------------------------------------------------------------------------------


class RegistryError(EngineError):
    """A registry refused or failed a request (its status, and the registry's own error codes)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class AccessDenied(RegistryError):
    """401 or 403 after authenticating (or with nothing to authenticate with)."""


class Unreachable(RegistryError):
    """No answer: the name does not resolve, the connection is refused or times out, TLS fails."""


def error_detail(body: bytes) -> str:
    """The registry's own error codes in an answer's body (``CODE: message; ...``), or ""."""
    try:
        errors = json.loads(body).get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        return ""


def registry_error(status: int, reason: str, body: bytes, what: str) -> EngineError:
    """The error a non-success answer means, with the registry's own error codes."""
    detail = error_detail(body)
    tail = f" ({detail})" if detail else ""
    if status == 404:
        return NotFound(f"{what}: not found{tail}")
    if status in (401, 403):
        return AccessDenied(f"{what}: access denied (HTTP {status}{', ' + detail if detail else ''})", status)
    return RegistryError(f"{what}: registry answered HTTP {status} {reason}{tail}", status)


def parse_json(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ArchiveError(f"{where}: not valid JSON ({exc})") from None
