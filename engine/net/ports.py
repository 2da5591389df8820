"""Whether host ports can be published: free on the host and not taken by another container of ours."""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterable

from ..errors import Conflict


def bindable(host_ip: str | None, port: int, protocol: str) -> bool:
    """Can something bind ``host_ip:port`` now? (A listener there means the port is in use.)"""
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:  # a listener still blocks the bind; a closing connection does not
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host_ip or "0.0.0.0", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def ephemeral(protocol: str, host_ip: str | None = None) -> int:
    """A free port chosen by the kernel, for a container port published without a host port."""
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host_ip or "0.0.0.0", 0))
        return int(s.getsockname()[1])


def check(wanted: Iterable[tuple[str | None, int, str]], taken: Iterable[tuple[str | None, int, str, str]]) -> None:
    """Raise Conflict naming the first ``(host_ip, port, protocol)`` that cannot be published.

    ``taken`` lists what our own containers already publish, as (host_ip, port, protocol, owner).
    """
    ours = list(taken)
    for host_ip, port, protocol in wanted:
        where = f"{host_ip or '0.0.0.0'}:{port}/{protocol}"
        for other_ip, other_port, other_proto, owner in ours:
            if other_port == port and other_proto == protocol and (
                    not host_ip or not other_ip or host_ip == other_ip):
                raise Conflict(f"port {where} is already published by {owner}")
        with contextlib.suppress(OSError):
            if not bindable(host_ip, port, protocol):
                raise Conflict(f"port {where} is already in use on the host")
