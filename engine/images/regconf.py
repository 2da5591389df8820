"""Where a reference is fetched from: ``registries.conf`` (containers-registries.conf(5), version 2).

pycompose has no daemon, like Podman, so it reads the daemonless tools' file:
``$CONTAINERS_REGISTRIES_CONF``, else ``~/.config/containers/registries.conf``,
else ``/etc/containers/registries.conf`` (none at all is fine). It knows

- ``unqualified-search-registries`` (default ``["docker.io"]``): where a short
  name such as ``postgres`` is looked for, in order;
- ``[[registry]]`` with ``prefix`` (default: its ``location``; ``*.example.com``
  matches subdomains), ``location`` (what the prefix is rewritten to),
  ``insecure``, ``blocked``, ``mirror-by-digest-only``, and ``[[registry.mirror]]``
  entries (``location``, ``insecure``, ``pull-from-mirror``) tried in order
  before the registry itself. The longest matching prefix wins.

``insecure`` means plain HTTP is allowed and TLS certificates are not
verified. Loopback registries (``localhost``, ``127.*``, ``::1``) may speak
plain HTTP without being listed, but their certificates are verified when
they speak TLS. Docker Hub (``docker.io``) is served by ``registry-1.docker.io``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import EngineError
from .distribution import DOCKER_HUB, HUB_ALIASES, RemoteRef

HUB_ENDPOINT = "registry-1.docker.io"
SYSTEM_CONF = "/etc/containers/registries.conf"
CERTS_DIRS = ("/etc/containers/certs.d", "/etc/docker/certs.d")
_PULL_FROM = ("all", "digest-only", "tag-only")


class RegistriesConfError(EngineError):
    """registries.conf is malformed: the message names the file and the entry."""


@dataclass(frozen=True)
class Endpoint:
    """A place to fetch a repository from: a host (with port), the repository there, how to talk to it."""

    host: str
    repository: str
    insecure: bool = False  # plain HTTP allowed, TLS unverified
    mirror: bool = False

    @property
    def plain_http_allowed(self) -> bool:
        return self.insecure or is_loopback(self.host)


@dataclass(frozen=True)
class Mirror:
    location: str
    insecure: bool
    pull_from: str  # all, digest-only, tag-only


@dataclass(frozen=True)
class Registry:
    prefix: str
    location: str
    insecure: bool
    blocked: bool
    mirrors: tuple[Mirror, ...]


@dataclass(frozen=True)
class RegistriesConf:
    """The parsed file (or the defaults), plus extra insecure hosts and the certificate folders."""

    path: str | None = None
    search: tuple[str, ...] = (DOCKER_HUB,)
    registries: tuple[Registry, ...] = ()
    insecure_hosts: frozenset[str] = frozenset()
    certs_dirs: tuple[str, ...] = CERTS_DIRS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RegistriesConf:
        """The file the environment points at (see the module doc), parsed.

        ``PYCOMPOSE_INSECURE_REGISTRIES`` (comma-separated hosts) adds insecure
        hosts; ``PYCOMPOSE_CERTS_DIRS`` (colon-separated) replaces the
        certificate folders (``/etc/containers/certs.d``, ``/etc/docker/certs.d``).
        """
        env = os.environ if environ is None else environ
        path = conf_path(env)
        insecure = frozenset(h.strip() for h in env.get("PYCOMPOSE_INSECURE_REGISTRIES", "").split(",") if h.strip())
        certs = tuple(d for d in env.get("PYCOMPOSE_CERTS_DIRS", "").split(":") if d) or CERTS_DIRS
        if path is None:
            return cls(None, insecure_hosts=insecure, certs_dirs=certs)
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise RegistriesConfError(f"{path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise RegistriesConfError(f"{path}: cannot read it: {exc.strerror}") from None
        return parse(data, path, insecure, certs)

    # -- resolution ----------------------------------------------------------------

    def candidates(self, ref: RemoteRef) -> list[RemoteRef]:
        """The fully qualified references a reference may mean: one, or one per search registry."""
        if ref.qualified:
            return [ref]
        if not self.search:
            raise RegistriesConfError(f"{ref}: a short name, and {self.path or 'registries.conf'} lists no "
                                      "unqualified-search-registries; write the registry out "
                                      f"(e.g. docker.io/{ref.repository})")
        out = []
        for registry in self.search:
            if registry in HUB_ALIASES:
                out.append(RemoteRef(DOCKER_HUB, ref.repository, ref.tag, ref.digest, False))
            else:
                short = ref.repository.removeprefix("library/")
                out.append(RemoteRef(registry, short, ref.tag, ref.digest, False))
        return out

    def endpoints(self, ref: RemoteRef) -> list[Endpoint]:
        """Where to fetch ``ref`` from, in order: its mirrors, then the registry itself."""
        name = ref.name
        entry = self.find(name)
        if entry is None:
            return [self._endpoint(ref.registry, ref.repository, False, False)]
        if entry.blocked:
            raise RegistriesConfError(f"{ref}: registry {entry.prefix} is blocked in {self.path}")
        rest = name[len(_bare(entry.prefix)):] if not entry.prefix.startswith("*.") else name[len(ref.registry):]
        out = []
        for mirror in entry.mirrors:
            if (mirror.pull_from == "digest-only" and not ref.digest) or (
                    mirror.pull_from == "tag-only" and ref.digest):
                continue
            out.append(self._at(mirror.location + rest, mirror.insecure, True))
        location = entry.location if entry.location else ref.registry
        out.append(self._at(location + rest if entry.location else name, entry.insecure, False))
        return out

    def find(self, name: str) -> Registry | None:
        """The ``[[registry]]`` whose prefix matches ``name`` (``host/repository``) longest."""
        best: Registry | None = None
        for entry in self.registries:
            if _matches(entry.prefix, name) and (best is None or len(entry.prefix) > len(best.prefix)):
                best = entry
        return best

    def host_endpoint(self, host: str) -> Endpoint:
        """How to talk to ``host`` itself (login, logout): its entry's insecure flag."""
        registry = DOCKER_HUB if host in HUB_ALIASES else host
        entry = self.find(registry)
        return self._endpoint(registry, "", bool(entry and entry.insecure), False)

    def _at(self, location: str, insecure: bool, mirror: bool) -> Endpoint:
        host, _, repository = location.partition("/")
        return self._endpoint(host, repository, insecure, mirror)

    def _endpoint(self, host: str, repository: str, insecure: bool, mirror: bool) -> Endpoint:
        if host in HUB_ALIASES:
            host = HUB_ENDPOINT
            if repository and "/" not in repository:
                repository = f"library/{repository}"
        listed = host in self.insecure_hosts or (urlsplit("//" + host).hostname or host) in self.insecure_hosts
        return Endpoint(host, repository, insecure or listed, mirror)


def conf_path(env: Mapping[str, str]) -> str | None:
    """The registries.conf to read, or None when there is none."""
    if env.get("CONTAINERS_REGISTRIES_CONF"):
        return env["CONTAINERS_REGISTRIES_CONF"]
    home = env.get("HOME") or os.path.expanduser("~")
    user = os.path.join(env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "containers", "registries.conf")
    for path in (user, SYSTEM_CONF):
        if os.path.isfile(path):
            return path
    return None


def is_loopback(host: str) -> bool:
    name = urlsplit("//" + host).hostname or host
    return name in ("localhost", "::1") or name.startswith("127.")


def parse(data: dict[str, Any], path: str, insecure: frozenset[str] = frozenset(),
          certs: tuple[str, ...] = CERTS_DIRS) -> RegistriesConf:
    """A registries.conf's TOML data, checked; RegistriesConfError naming the file and the key."""
    if "registries" in data:
        raise RegistriesConfError(f"{path}: the version 1 format ([registries.search] ...) is not supported; "
                                  "use version 2 ([[registry]] tables)")
    search = data.get("unqualified-search-registries", [DOCKER_HUB])
    if not isinstance(search, list) or not all(isinstance(s, str) and s for s in search):
        raise RegistriesConfError(f"{path}: unqualified-search-registries must be a list of registry names")
    items = data.get("registry", [])
    if not isinstance(items, list):
        raise RegistriesConfError(f"{path}: registry must be an array of tables ([[registry]])")
    registries = tuple(_registry(item, f"{path}: [[registry]] #{i + 1}") for i, item in enumerate(items))
    seen: set[str] = set()
    for entry in registries:
        if entry.prefix in seen:
            raise RegistriesConfError(f"{path}: two [[registry]] entries have the prefix {entry.prefix}")
        seen.add(entry.prefix)
    return RegistriesConf(path, tuple(search), registries, insecure, certs)


def _registry(item: Any, where: str) -> Registry:
    if not isinstance(item, dict):
        raise RegistriesConfError(f"{where}: must be a table")
    location = _string(item, "location", where)
    prefix = _string(item, "prefix", where) or location
    if not prefix:
        raise RegistriesConfError(f"{where}: needs a location or a prefix")
    if prefix.startswith("*.") and location:
        raise RegistriesConfError(f"{where}: a wildcard prefix ({prefix}) cannot have a location")
    by_digest = _flag(item, "mirror-by-digest-only", where)
    mirrors = item.get("mirror", [])
    if not isinstance(mirrors, list):
        raise RegistriesConfError(f"{where}: mirror must be an array of tables ([[registry.mirror]])")
    out = []
    for i, m in enumerate(mirrors):
        mwhere = f"{where} mirror #{i + 1}"
        if not isinstance(m, dict) or not _string(m, "location", mwhere):
            raise RegistriesConfError(f"{mwhere}: needs a location")
        pull_from = _string(m, "pull-from-mirror", mwhere) or ("digest-only" if by_digest else "all")
        if pull_from not in _PULL_FROM:
            raise RegistriesConfError(f"{mwhere}: pull-from-mirror must be one of {', '.join(_PULL_FROM)}, "
                                      f'not "{pull_from}"')
        out.append(Mirror(_bare(m["location"]), _flag(m, "insecure", mwhere), pull_from))
    return Registry(_bare(prefix), _bare(location), _flag(item, "insecure", where), _flag(item, "blocked", where),
                    tuple(out))


def _string(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key, "")
    if not isinstance(value, str):
        raise RegistriesConfError(f"{where}: {key} must be a string")
    return value


def _flag(item: dict[str, Any], key: str, where: str) -> bool:
    value = item.get(key, False)
    if not isinstance(value, bool):
        raise RegistriesConfError(f"{where}: {key} must be true or false")
    return value


def _bare(location: str) -> str:
    """A location without a scheme or trailing slash; Docker Hub's aliases as ``docker.io``."""
    location = location.split("://", 1)[-1].rstrip("/")
    host, sep, rest = location.partition("/")
    return (DOCKER_HUB if host in HUB_ALIASES else host) + sep + rest


def _matches(prefix: str, name: str) -> bool:
    if prefix.startswith("*."):
        host = name.split("/", 1)[0]
        return host.endswith(prefix[1:]) and len(host) > len(prefix) - 1
    return name == prefix or name.startswith(prefix + "/")
