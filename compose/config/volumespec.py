"""The short syntax of a service's volume, read as Docker Compose reads it.

``SOURCE:TARGET[:OPTIONS]``, or a lone ``TARGET`` for an anonymous volume. A source that
starts with ``.``, ``/`` or ``~`` is a host path (a bind mount), anything else names a volume.
OPTIONS is a comma-separated list: ``ro``/``rw`` (the last one wins), ``nocopy``, a bind
propagation (``rshared`` …) and ``z``/``Z`` (SELinux labels, kept for named volumes too).
Other options are ignored, as Compose ignores them (``cached``, ``delegated`` …).

Colons inside ``${…}`` do not split (seen with ``--no-interpolate``). pycompose runs on Linux
only, so ``c:/data`` is not a Windows drive path.
"""

from __future__ import annotations

import posixpath

from .model import BindOptions, Mount, VolumeOptions

PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")
SELINUX = ("z", "Z")


def is_path(source: str) -> bool:
    """A short-syntax volume source is a host path (bind) when it looks like one."""
    return source.startswith((".", "/", "~"))


def split_volume(spec: str) -> list[str]:
    """``src:dst[:opts]`` split on the colons that are not inside ``${…}``."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(spec):
        if spec.startswith("${", i):
            depth += 1
            i += 2
            continue
        char = spec[i]
        if char == "}" and depth:
            depth -= 1
        elif char == ":" and not depth:
            parts.append(spec[start:i])
            start = i + 1
        i += 1
    parts.append(spec[start:])
    return parts


def parse_volume(spec: str) -> Mount:
    """``./src:/app:ro`` / ``data:/var/lib/x`` / ``/tmp/cache`` -> a Mount (source as written).

    Raises ValueError for what Compose refuses: an empty spec, an empty part (``:/data``, as
    ``${UNSET}:/data`` becomes), more than three parts, and, unlike Compose, a container path
    that is not absolute (Docker refuses it when the container is created).
    """
    if not spec:
        raise ValueError("invalid empty volume spec")
    if len(spec) <= 2:
        return Mount(type="volume", target=_target(spec, spec))
    parts = split_volume(spec)
    if any(not part for part in parts):
        raise ValueError(f'"{spec}" is not a valid volume: empty section between colons')
    if len(parts) > 3:
        raise ValueError(f'"{spec}" is not a valid volume: too many colons')
    source = parts[0] if len(parts) > 1 else None
    target = _target(spec, parts[1] if len(parts) > 1 else parts[0])
    read_only = False
    nocopy = False
    propagation = selinux = None
    for option in parts[2].split(",") if len(parts) == 3 else ():
        if option in ("ro", "rw"):
            read_only = option == "ro"
        elif option == "nocopy":
            nocopy = True
        elif option in PROPAGATIONS:
            propagation = option
        elif option in SELINUX:
            selinux = option
    volume = VolumeOptions(nocopy=True) if nocopy else None
    if source is not None and is_path(source):
        bind = BindOptions(propagation=propagation, create_host_path=True, selinux=selinux)
        return Mount(type="bind", source=source, target=target, read_only=read_only, bind=bind, volume=volume)
    bind_opts = BindOptions(propagation=propagation, selinux=selinux) if propagation or selinux else None
    return Mount(type="volume", source=source, target=target, read_only=read_only, bind=bind_opts,
                 volume=volume or VolumeOptions())


def _target(spec: str, target: str) -> str:
    if not target.startswith("/"):
        raise ValueError(f'"{spec}" is not a valid volume: the container path {target} is not absolute')
    return clean(target)


def clean(path: str) -> str:
    """Go's ``path.Clean``: ``/a//b/../c/`` -> ``/a/c``."""
    out = posixpath.normpath(path)
    return "/" + out.lstrip("/") if out.startswith("//") else out


def volume_target(spec: str) -> str:
    """The container path of a short-syntax entry, for de-duplication; the spec itself if unreadable."""
    try:
        return parse_volume(spec).target
    except ValueError:
        return spec
