"""Parsers for Compose's short syntaxes: ports, expose, volumes.

Each raises ValueError with a message fit to follow the key's path, e.g.
``"80:abc" is not a valid port: abc is not a port number``.
"""

from __future__ import annotations

import ipaddress
import posixpath
from dataclasses import dataclass

from .merge import split_volume
from .model import BindOptions, Mount, Port, VolumeOptions

PROTOCOLS = ("tcp", "udp", "sctp")


def _port_range(text: str, spec: str, what: str) -> tuple[int, int]:
    start_s, dash, end_s = text.partition("-")
    try:
        start = int(start_s)
        end = int(end_s) if dash else start
    except ValueError:
        raise ValueError(f'"{spec}" is not a valid port: {text} is not a {what} port number') from None
    if not (0 <= start <= 65535 and 0 <= end <= 65535):
        raise ValueError(f'"{spec}" is not a valid port: {text} is out of range 0-65535')
    if end < start:
        raise ValueError(f'"{spec}" is not a valid port: the range {text} ends before it starts')
    return start, end


def _split_host(spec: str, rest: str) -> tuple[str | None, str | None, str]:
    """``[ip:][published:]target`` -> (ip, published, target)."""
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0 or rest[close + 1:close + 2] != ":":
            raise ValueError(f'"{spec}" is not a valid port: unterminated IPv6 address')
        ip = rest[1:close]
        published, sep, target = rest[close + 2:].rpartition(":")
        if not sep:
            raise ValueError(f'"{spec}" is not a valid port: no container port after the host address')
        return ip, published, target
    parts = rest.split(":")
    if len(parts) == 1:
        return None, None, parts[0]
    if len(parts) == 2:
        return None, parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    ip, published, target = ":".join(parts[:-2]), parts[-2], parts[-1]
    return ip, published, target


def parse_port(value: int | str) -> list[Port]:
    """One short-syntax port entry -> one Port per container port it names."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 65535:
            raise ValueError(f'"{value}" is not a valid port: out of range 0-65535')
        return [Port(target=value)]
    spec = str(value).strip()
    rest, slash, protocol = spec.partition("/")
    protocol = protocol.lower() if slash else "tcp"
    if protocol not in PROTOCOLS:
        raise ValueError(f'"{spec}" is not a valid port: protocol must be tcp, udp or sctp')
    ip, published, target = _split_host(spec, rest)
    if ip is not None and ip != "":
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ValueError(f'"{spec}" is not a valid port: {ip} is not an IP address') from None
    if not target:
        raise ValueError(f'"{spec}" is not a valid port: no container port')
    t_start, t_end = _port_range(target, spec, "container")
    host_ip = ip or None
    if not published:
        return [Port(target=p, host_ip=host_ip, protocol=protocol) for p in range(t_start, t_end + 1)]
    p_start, p_end = _port_range(published, spec, "host")
    if t_start == t_end:
        pub = str(p_start) if p_start == p_end else f"{p_start}-{p_end}"
        return [Port(target=t_start, published=pub, host_ip=host_ip, protocol=protocol)]
    if p_end - p_start != t_end - t_start:
        raise ValueError(
            f'"{spec}" is not a valid port: the host range {published} and the container '
            f"range {target} are not the same length"
        )
    return [
        Port(target=t, published=str(p_start + i), host_ip=host_ip, protocol=protocol)
        for i, t in enumerate(range(t_start, t_end + 1))
    ]


def check_expose(value: int | str) -> None:
    spec = str(value)
    port, _, proto = spec.partition("/")
    if proto and proto.lower() not in PROTOCOLS:
        raise ValueError(f'"{spec}" is not a valid port to expose: protocol must be tcp, udp or sctp')
    try:
        _port_range(port, spec, "container")
    except ValueError:
        raise ValueError(f'"{spec}" is not a valid port to expose (like 3000, 8000-8010, 53/udp)') from None


_PROPAGATION = {"shared", "rshared", "slave", "rslave", "private", "rprivate"}
_CONSISTENCY = {"consistent", "cached", "delegated"}
_MODES = {"ro", "rw", "z", "Z", "nocopy"} | _PROPAGATION | _CONSISTENCY


def is_path(source: str) -> bool:
    """A short-syntax volume source is a host path (bind) when it looks like one."""
    return source.startswith((".", "/", "~"))


@dataclass(frozen=True)
class _VolumeParts:
    source: str
    target: str
    modes: tuple[str, ...]


def _split(spec: str) -> _VolumeParts:
    parts = split_volume(spec)
    if len(parts) == 1:
        source, target, mode = "", parts[0], ""
    elif len(parts) == 2:
        if parts[1] and not parts[1].startswith("/") and all(m in _MODES for m in parts[1].split(",")) \
                and parts[0].startswith("/"):
            source, target, mode = "", parts[0], parts[1]
        else:
            source, target, mode = parts[0], parts[1], ""
    elif len(parts) == 3:
        source, target, mode = parts
    else:
        raise ValueError(f'"{spec}" is not a valid volume: too many colons')
    if not target:
        raise ValueError(f'"{spec}" is not a valid volume: no container path')
    if not target.startswith("/"):
        raise ValueError(f'"{spec}" is not a valid volume: the container path {target} is not absolute')
    target = posixpath.normpath(target)
    modes = tuple(m for m in mode.split(",") if m) if mode else ()
    for m in modes:
        if m not in _MODES:
            raise ValueError(f'"{spec}" is not a valid volume: unknown mode "{m}"')
    if "ro" in modes and "rw" in modes:
        raise ValueError(f'"{spec}" is not a valid volume: both ro and rw')
    return _VolumeParts(source, target, modes)


def check_volume(spec: str) -> None:
    _split(spec)


def parse_volume(spec: str) -> Mount:
    """``./src:/app:ro`` / ``data:/var/lib/x`` / ``/tmp/cache`` -> a Mount (source as written)."""
    parts = _split(spec)
    modes = set(parts.modes)
    read_only = "ro" in modes
    consistency = next((m for m in parts.modes if m in _CONSISTENCY), None)
    if not parts.source:
        return Mount(type="volume", target=parts.target, read_only=read_only,
                     consistency=consistency, volume=VolumeOptions(nocopy="nocopy" in modes))
    if is_path(parts.source):
        propagation = next((m for m in parts.modes if m in _PROPAGATION), None)
        selinux = "z" if "z" in modes else ("Z" if "Z" in modes else None)
        return Mount(type="bind", source=parts.source, target=parts.target, read_only=read_only,
                     consistency=consistency,
                     bind=BindOptions(propagation=propagation, create_host_path=True, selinux=selinux))
    return Mount(type="volume", source=parts.source, target=parts.target, read_only=read_only,
                 consistency=consistency, volume=VolumeOptions(nocopy="nocopy" in modes))
