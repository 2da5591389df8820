"""Conversions between the two written forms that many compose keys allow.

``environment: [A=1, B]`` and ``environment: {A: "1", B: null}`` mean the same;
merge and normalization both want the mapping form.
"""

from __future__ import annotations

from typing import Any


def scalar_str(value: Any) -> str:
    """A YAML scalar as Compose prints it in a string context (``true``, ``1.5``, ``8080``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def kv_to_dict(value: Any, sep: str = "=") -> dict[str, Any]:
    """List of ``KEY=VALUE`` / ``KEY`` strings, or a mapping, to a mapping (``KEY`` -> None)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    out: dict[str, Any] = {}
    for item in value:
        text = scalar_str(item)
        if sep in text:
            key, _, val = text.partition(sep)
            out[key] = val
        else:
            out[text] = None
    return out


def extra_hosts_to_dict(value: Any, *, strict: bool = False) -> dict[str, list[str]]:
    """``["host:1.2.3.4", "h2=::1,::2"]`` or ``{host: ip | [ips]}`` to ``{host: [ips]}``.

    With ``strict``, what Compose refuses raises ValueError: an entry with no ``=`` or ``:``,
    an empty host name or one holding ``=`` or ``:``.
    """
    out: dict[str, list[str]] = {}
    if value is None:
        return out
    if isinstance(value, dict):
        for host, ips in value.items():
            items = ips if isinstance(ips, list) else [ips]
            out.setdefault(host, []).extend(_unbracket("" if i is None else scalar_str(i)) for i in items)
    else:
        for item in value:
            text = scalar_str(item)
            sep = "=" if "=" in text else ":"
            host, found, ip = text.partition(sep)
            if not found and strict:
                raise ValueError(f'"{text}" is not a valid extra host: no IP address (like host=1.2.3.4)')
            out.setdefault(host, []).extend(_unbracket(i) for i in ip.split(","))
    if strict:
        for host in out:
            if not host or ":" in host or "=" in host:
                raise ValueError(f'"{host}" is not a valid host name for extra_hosts')
    return out


def _unbracket(ip: str) -> str:
    """``[::1]`` -> ``::1`` (Compose accepts an IPv6 address in brackets)."""
    return ip[1:-1] if len(ip) > 2 and ip.startswith("[") and ip.endswith("]") else ip


def names_to_dict(value: Any) -> dict[str, Any]:
    """``[a, b]`` or ``{a: {...}, b: null}`` to a mapping (list items map to None)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    return {scalar_str(v): None for v in value}
