"""Parsers for Compose's short syntaxes: ports, expose (volumes: see volumespec).

Each raises ValueError with a message fit to follow the key's path, e.g.
``"80:abc" is not a valid port: abc is not a port number``.
"""

from __future__ import annotations

import ipaddress

from .model import Port
from .volumespec import is_path, parse_volume

__all__ = ["PROTOCOLS", "check_expose", "check_volume", "is_path", "parse_port", "parse_volume"]

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


def check_volume(spec: str) -> None:
    parse_volume(spec)
