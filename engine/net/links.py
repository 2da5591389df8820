"""Network links through netlink: bridges, veth pairs, addresses, routes.

The only module that speaks netlink. Each change is one plain rtnetlink
request, acknowledged (``_Rtnl``), about what ``ip link``/``ip addr``/``ip
route`` send: no library to import (pyroute2 took about 0.2 s to import, in
the command, the supervisor and each container's first process). Calls
that act inside a container's network namespace are made by the
container's own first process, which is already there: no thread ever
switches namespaces.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
from dataclasses import dataclass

from ..errors import EngineError


def exists(name: str) -> bool:
    """Whether a link of that name exists in the host's network namespace (sysfs: no netlink)."""
    return os.path.exists(f"/sys/class/net/{name}")


def create_bridge(name: str, gateway: str, prefixlen: int, alias: str) -> None:
    """A bridge with the gateway address, up; ``alias`` (IFLA_IFALIAS) names its network."""
    with _Rtnl() as nl:
        try:
            if not exists(name):
                nl.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _ifinfo(0) + _attr(IFLA_IFNAME, _cstr(name))
                           + _attr(IFLA_LINKINFO, _attr(IFLA_INFO_KIND, _cstr("bridge"))))
            idx = socket.if_nametoindex(name)
            nl.request(RTM_NEWLINK, 0, _ifinfo(idx) + _attr(IFLA_IFALIAS, _cstr(alias[:255])))
            packed = socket.inet_aton(gateway)
            try:
                nl.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, struct.pack("=BBBBI", socket.AF_INET, prefixlen,
                                                                               0, 0, idx)
                           + _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed))
            except FileExistsError:
                pass  # the bridge has it already (made again after a reboot left the record)
            nl.request(RTM_NEWLINK, 0, _ifinfo(idx, IFF_UP, IFF_UP))
        except OSError as exc:
            with contextlib.suppress(OSError):
                nl.request(RTM_DELLINK, 0, _ifinfo(socket.if_nametoindex(name)))
            raise EngineError(f"cannot create bridge {name} ({gateway}/{prefixlen}): {exc.strerror or exc}") from None


def delete(name: str) -> None:
    """Delete a link (a veth's peer goes with it); nothing if it is already gone."""
    with _Rtnl() as nl, contextlib.suppress(OSError):
        nl.request(RTM_DELLINK, 0, _ifinfo(socket.if_nametoindex(name)))


def bridge_alias(name: str) -> str | None:
    try:
        with open(f"/sys/class/net/{name}/ifalias") as fh:
            return fh.read().rstrip("\n") or None
    except OSError:
        return None


# rtnetlink, as <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h> and <linux/if_addr.h> define it
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 20, 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_PID, IFLA_IFALIAS = 1, 3, 10, 18, 19, 20
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST = 5, 254, 4, 0, 1
IFF_UP = 0x1


def _attr(kind: int, payload: bytes) -> bytes:
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * (-size % 4)


def _u32(value: int) -> bytes:
    return struct.pack("=I", value)


def _cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def _ifinfo(index: int, flags: int = 0, change: int = 0) -> bytes:
    return struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, flags, change)


class _Rtnl:
    """One NETLINK_ROUTE socket; each request waits for its acknowledgement (an error: OSError with its errno)."""

    def __enter__(self) -> _Rtnl:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> None:
        self.seq += 1
        self.sock.send(struct.pack("=LHHLL", 16 + len(body), kind, flags | NLM_F_REQUEST | NLM_F_ACK, self.seq, 0)
                       + body)
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, kind_, _, seq, _ = struct.unpack_from("=LHHLL", data, offset)
                if kind_ == NLMSG_ERROR and seq == self.seq:
                    (error,) = struct.unpack_from("=i", data, offset + 16)
                    if error:
                        raise OSError(-error, os.strerror(-error))
                    return
                offset += max(16, (length + 3) & ~3)


@dataclass(frozen=True)
class Plug:
    """One veth to make for a container: host end on ``bridge``, peer named ``peer`` inside."""

    bridge: str
    host: str  # host-side name (<= 15 chars)
    peer: str  # temporary name inside the namespace, renamed by the container


def plug(pid: int, plugs: list[Plug]) -> None:
    """Create veth pairs whose peers land in ``pid``'s network namespace, host ends on their bridges."""
    with _Rtnl() as nl:
        made: list[int] = []
        try:
            for p in plugs:
                bridge = _ifindex(p.bridge)
                if bridge is None:
                    raise EngineError(f"the bridge {p.bridge} does not exist (was its network removed?)")
                stale = _ifindex(p.host)
                if stale is not None:  # left by a container that died with its namespace still held
                    try:
                        nl.request(RTM_DELLINK, 0, _ifinfo(stale))
                    except OSError as exc:
                        if exc.errno != errno.ENODEV:
                            raise  # gone meanwhile: the kernel removes a veth as its old namespace is torn down
                peer = _ifinfo(0) + _attr(IFLA_IFNAME, _cstr(p.peer)) + _attr(IFLA_NET_NS_PID, _u32(pid))
                nl.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _ifinfo(0) + _attr(IFLA_IFNAME, _cstr(p.host))
                           + _attr(IFLA_LINKINFO, _attr(IFLA_INFO_KIND, _cstr("veth"))
                                   + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer))))
                idx = socket.if_nametoindex(p.host)
                made.append(idx)
                nl.request(RTM_NEWLINK, 0, _ifinfo(idx, IFF_UP, IFF_UP) + _attr(IFLA_MASTER, _u32(bridge)))
                _hairpin(p.host)
        except OSError as exc:
            for idx in made:
                with contextlib.suppress(OSError):
                    nl.request(RTM_DELLINK, 0, _ifinfo(idx))
            raise EngineError(f"cannot connect the container to its networks: {exc.strerror or exc}") from None


def _ifindex(name: str) -> int | None:
    """The index of the link ``name`` in this network namespace (not sysfs: that shows the one it was mounted in)."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


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
    with _Rtnl() as nl:
        try:
            lo = _ifindex("lo")
            if lo is not None:
                nl.request(RTM_NEWLINK, 0, _ifinfo(lo, IFF_UP, IFF_UP))
            for itf in interfaces:
                idx = _ifindex(itf.temp_name)
                if idx is None:
                    raise EngineError(f"interface {itf.temp_name} is missing in the container")
                changes = _attr(IFLA_IFNAME, _cstr(itf.name))
                if itf.mac:
                    changes += _attr(IFLA_ADDRESS, bytes.fromhex(itf.mac.replace(":", "")))
                nl.request(RTM_NEWLINK, 0, _ifinfo(idx) + changes)
                address = socket.inet_aton(itf.address)
                nl.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL,
                           struct.pack("=BBBBI", socket.AF_INET, itf.prefixlen, 0, 0, idx)
                           + _attr(IFA_LOCAL, address) + _attr(IFA_ADDRESS, address))
                nl.request(RTM_NEWLINK, 0, _ifinfo(idx, IFF_UP, IFF_UP))
            gateway = next((i.gateway for i in interfaces if i.gateway), None)
            if gateway:  # as ``ip route add default via GATEWAY proto static``
                nl.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL,
                           struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC,
                                       RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
                           + _attr(RTA_GATEWAY, socket.inet_aton(gateway)))
        except OSError as exc:
            raise EngineError(f"cannot configure the container's network interfaces: {exc.strerror or exc}") from None
