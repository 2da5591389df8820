"""Network links through netlink (pyroute2): bridges, veth pairs, addresses, routes.

The only module that imports pyroute2 (about 0.2 s), and only when a
command touches networks. Calls that act inside a container's network
namespace are made by the container's own first process, which is already
there: no thread ever switches namespaces.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import EngineError


@contextlib.contextmanager
def _netlink() -> Iterator[Any]:
    from pyroute2 import IPRoute

    ip = IPRoute()
    try:
        yield ip
    finally:
        ip.close()


def _index(ip: Any, name: str) -> int | None:
    found = ip.link_lookup(ifname=name)
    return found[0] if found else None


def exists(name: str) -> bool:
    """Whether a link of that name exists (sysfs: no netlink, no pyroute2 import)."""
    import os

    return os.path.exists(f"/sys/class/net/{name}")


def create_bridge(name: str, gateway: str, prefixlen: int, alias: str) -> None:
    """A bridge with the gateway address, up; ``alias`` (IFLA_IFALIAS) names its network."""
    from pyroute2 import NetlinkError

    with _netlink() as ip:
        try:
            if _index(ip, name) is None:
                ip.link("add", ifname=name, kind="bridge")
            idx = _index(ip, name)
            ip.link("set", index=idx, ifalias=alias[:255])
            if not any(a.get_attr("IFA_ADDRESS") == gateway for a in ip.get_addr(index=idx)):
                ip.addr("add", index=idx, address=gateway, prefixlen=prefixlen)
            ip.link("set", index=idx, state="up")
        except NetlinkError as exc:
            with contextlib.suppress(NetlinkError):
                if (idx := _index(ip, name)) is not None:
                    ip.link("del", index=idx)
            raise EngineError(f"cannot create bridge {name} ({gateway}/{prefixlen}): {exc}") from None


def delete(name: str) -> None:
    """Delete a link (a veth's peer goes with it); nothing if it is already gone."""
    from pyroute2 import NetlinkError

    with _netlink() as ip:
        idx = _index(ip, name)
        if idx is not None:
            with contextlib.suppress(NetlinkError):
                ip.link("del", index=idx)


def bridge_alias(name: str) -> str | None:
    with _netlink() as ip:
        idx = _index(ip, name)
        if idx is None:
            return None
        return ip.get_links(idx)[0].get_attr("IFLA_IFALIAS")


@dataclass(frozen=True)
class Plug:
    """One veth to make for a container: host end on ``bridge``, peer named ``peer`` inside."""

    bridge: str
    host: str  # host-side name (<= 15 chars)
    peer: str  # temporary name inside the namespace, renamed by the container


def plug(pid: int, plugs: list[Plug]) -> None:
    """Create veth pairs whose peers land in ``pid``'s network namespace, host ends on their bridges."""
    from pyroute2 import NetlinkError

    with _netlink() as ip:
        made: list[int] = []
        try:
            for p in plugs:
                bridge = _index(ip, p.bridge)
                if bridge is None:
                    raise EngineError(f"the bridge {p.bridge} does not exist (was its network removed?)")
                stale = _index(ip, p.host)
                if stale is not None:  # left by a container that died with its namespace still held
                    ip.link("del", index=stale)
                ip.link("add", ifname=p.host, kind="veth", peer={"ifname": p.peer, "net_ns_pid": pid})
                idx = _index(ip, p.host)
                made.append(idx)  # type: ignore[arg-type]
                ip.link("set", index=idx, master=bridge, state="up")
                _hairpin(p.host)
        except NetlinkError as exc:
            for idx in made:
                with contextlib.suppress(NetlinkError):
                    ip.link("del", index=idx)
            raise EngineError(f"cannot connect the container to its networks: {exc}") from None


def _hairpin(port: str) -> None:
    """Let a frame leave by the bridge port it came in on: a container reaching its own published port."""
    with contextlib.suppress(OSError):
        with open(f"/sys/class/net/{port}/brport/hairpin_mode", "w") as fh:
            fh.write("1")


@dataclass(frozen=True)
class Interface:
    """An interface to configure from inside the namespace."""

    temp_name: str
    name: str  # eth0, eth1, ...
    address: str
    prefixlen: int
    mac: str | None = None
    gateway: str | None = None  # the default route goes through the first network's gateway


def configure_inside(interfaces: list[Interface]) -> None:
    """Rename, address and bring up the interfaces; lo up; default route. Runs inside the namespace."""
    with _netlink() as ip:
        lo = _index(ip, "lo")
        if lo is not None:
            ip.link("set", index=lo, state="up")
        for itf in interfaces:
            idx = _index(ip, itf.temp_name)
            if idx is None:
                raise EngineError(f"interface {itf.temp_name} is missing in the container")
            changes: dict[str, Any] = {"ifname": itf.name}
            if itf.mac:
                changes["address"] = itf.mac
            ip.link("set", index=idx, **changes)
            ip.addr("add", index=idx, address=itf.address, prefixlen=itf.prefixlen)
            ip.link("set", index=idx, state="up")
        gateway = next((i.gateway for i in interfaces if i.gateway), None)
        if gateway:
            ip.route("add", dst="0.0.0.0/0", gateway=gateway)
