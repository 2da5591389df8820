"""Image references (``NAME[:TAG]``), normalized to Docker's familiar form.

The store keys tags by the familiar string Docker prints: ``busybox`` is
``busybox:latest``, ``docker.io/library/busybox:1`` is ``busybox:1``,
``docker.io/foo/bar`` is ``foo/bar:latest`` and ``localhost:5000/x/y:t`` stays
as it is. Normalizing once, on the way in, means two spellings of one tag can
never become two tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import EngineError

DEFAULT_TAG = "latest"
_DOCKER_HUB = ("docker.io", "index.docker.io")
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DOMAIN = re.compile(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\.?)+(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?")
_MAX_NAME = 255


@dataclass(frozen=True)
class Reference:
    """A repository and a tag, both already normalized."""

    repository: str
    tag: str

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}"


def parse(text: str) -> Reference:
    """Parse and normalize ``text``; EngineError saying what is wrong with a malformed one."""
    if not text or text != text.strip():
        raise EngineError(f'invalid reference format: "{text}"')
    if "@" in text:
        raise EngineError(f'invalid reference format: "{text}": digest references are not supported here')
    name, tag = text, DEFAULT_TAG
    colon, slash = text.rfind(":"), text.rfind("/")
    if colon > slash:
        name, tag = text[:colon], text[colon + 1:]
        if not _TAG.fullmatch(tag):
            raise EngineError(f'invalid reference format: "{text}": bad tag "{tag}"')
    domain, path = _split_domain(name)
    if domain is not None and not _DOMAIN.fullmatch(domain):
        raise EngineError(f'invalid reference format: "{text}": bad registry "{domain}"')
    for component in path.split("/"):
        if not _COMPONENT.fullmatch(component):
            if component.lower() != component and _COMPONENT.fullmatch(component.lower()):
                raise EngineError(f'invalid reference format: repository name "{name}" must be lowercase')
            raise EngineError(f'invalid reference format: "{text}"')
    repository = _familiar(domain, path)
    if len(repository) > _MAX_NAME:
        raise EngineError(f'invalid reference format: repository name longer than {_MAX_NAME} characters: "{text}"')
    return Reference(repository, tag)


def normalize(text: str) -> str:
    """``text`` as the store keys it, e.g. ``busybox`` -> ``busybox:latest``."""
    return str(parse(text))


def split(ref: str) -> tuple[str, str]:
    """A normalized reference split into (repository, tag)."""
    parsed = parse(ref)
    return parsed.repository, parsed.tag


def canonical(ref: str) -> str:
    """The fully qualified form (``docker.io/library/busybox:latest``), as containerd names images."""
    parsed = parse(ref)
    first = parsed.repository.split("/", 1)[0]
    if "/" in parsed.repository and is_domain(first):
        return str(parsed)
    if "/" not in parsed.repository:
        return f"docker.io/library/{parsed}"
    return f"docker.io/{parsed}"


def _split_domain(name: str) -> tuple[str | None, str]:
    first, sep, rest = name.partition("/")
    if sep and is_domain(first):
        return first, rest
    return None, name


def is_domain(component: str) -> bool:
    """Whether the first component of a name is a registry (Docker's rule)."""
    # Docker's rule: a first component with a dot or a port, "localhost", or
    # any upper-case letter names a registry rather than a namespace.
    return any(c in component for c in ".:") or component == "localhost" or component.lower() != component


def _familiar(domain: str | None, path: str) -> str:
    if domain is None or domain in _DOCKER_HUB:
        if domain is not None and path.startswith("library/") and path.count("/") == 1:
            return path[len("library/"):]
        return path
    return f"{domain}/{path}"
