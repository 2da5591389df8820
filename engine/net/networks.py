"""Networks as records, and the addresses given out on them (IPAM).

A network is ``<root>/networks/<name>.json``: its bridge, subnet, gateway and
flags, plus the addresses allocated on it, each with the container that
holds it, the names it answers to and the host ports published to it while
the container runs. Every change is made under one lock and written
atomically, so an address is never given twice. The bridge itself is made
here too; connecting containers happens when they start.

This module is the records only: it neither rebuilds the firewall nor starts
the DNS daemon. ``manage.NetworkManager`` does both after a change.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import Conflict, EngineError, NotFound
from ..faults import point as fault_point
from ..state import Root, locked, owner_exists, read_json, write_json

# Docker's default pools: 172.17-31.0.0/16, then 192.168.0-240.0/20.
POOLS = [ipaddress.IPv4Network(f"172.{i}.0.0/16") for i in range(17, 32)] + \
        [ipaddress.IPv4Network(f"192.168.{i}.0/20") for i in range(0, 256, 16)]
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@dataclass(frozen=True)
class Network:
    name: str
    id: str
    bridge: str
    subnet: str
    gateway: str
    internal: bool = False
    ip_range: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    allocations: dict[str, dict[str, Any]] = field(default_factory=dict)  # address -> {container, names}

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    def containers(self) -> list[str]:
        return sorted({a["container"] for a in self.allocations.values()})


@dataclass(frozen=True)
class Published:
    """A host port forwarded to a container's port on this network while the container runs."""

    host_ip: str
    host_port: int
    container_port: int
    protocol: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Published:
        return cls(host_ip=str(data.get("host_ip") or ""), host_port=int(data["host_port"]),
                   container_port=int(data["container_port"]), protocol=str(data["protocol"]))


@dataclass(frozen=True)
class Endpoint:
    """A container's place on a network."""

    network: str
    bridge: str
    address: str
    prefixlen: int
    gateway: str
    mac: str


def host_routes(path: str = "/proc/net/route") -> list[ipaddress.IPv4Network]:
    """The host's IPv4 routes (not the default one): subnets a new network must not overlap."""
    out = []
    try:
        with open(path) as fh:
            next(fh)
            for line in fh:
                fields = line.split()
                dest, mask = (ipaddress.IPv4Address(int(fields[i], 16).to_bytes(4, "little")) for i in (1, 7))
                if int(mask):
                    out.append(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False))
    except (OSError, StopIteration):
        pass
    return out


def mac_for(address: str) -> str:
    """Docker's scheme: 02:42 followed by the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(address).packed)


Names = list[str]  # named here: inside the class, ``list`` is the method


class Networks:
    def __init__(self, root: Root) -> None:
        self.root = root
        self.dir = root.sub("networks")

    def _lock(self) -> Any:
        return locked(os.path.join(self.root.locks, "networks.lock"))

    def _path(self, name: str) -> str:
        return os.path.join(self.dir, f"{name}.json")

    def _read(self, name: str) -> Network | None:
        data = read_json(self._path(name))
        return None if data is None else Network(**data)

    def _write(self, net: Network) -> None:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        write_json(self._path(net.name), net.__dict__)

    def bridge_name(self, name: str) -> str:
        """``pc-`` and 10 hex digits: within the kernel's 15 characters, unique per root and name."""
        return "pc-" + hashlib.sha256(f"{self.root.path}\0{name}".encode()).hexdigest()[:10]

    def list(self) -> list[Network]:
        try:
            names = sorted(n[:-5] for n in os.listdir(self.dir) if n.endswith(".json"))
        except FileNotFoundError:
            return []
        return [n for n in (self._read(name) for name in names) if n is not None]

    def get(self, name: str) -> Network:
        net = self._read(name) if _NAME.match(name) else None
        if net is None:
            raise NotFound(f"network {name} not found")
        return net

    def create(self, name: str, *, subnet: str | None = None, gateway: str | None = None,
               ip_range: str | None = None, internal: bool = False,
               labels: dict[str, str] | None = None) -> tuple[Network, bool]:
        """Make the network and its bridge; (the network, whether anything was made).

        An existing network of that name is returned as is.
        """
        if not _NAME.match(name):
            raise EngineError(f'invalid network name "{name}"')
        from . import links

        with self._lock():
            net = self._read(name)
            if net is not None and links.exists(net.bridge):
                return net, False
            if net is not None:  # the record outlived its bridge (a reboot): make it again
                links.create_bridge(net.bridge, net.gateway, net.prefixlen, f"pycompose {name}")
                return net, True
            return self._new(name, subnet, gateway, ip_range, internal, labels), True

    def _new(self, name: str, subnet: str | None, gateway: str | None, ip_range: str | None,
             internal: bool, labels: dict[str, str] | None) -> Network:
        from . import links

        net_subnet = self._choose_subnet(subnet)
        gw = self._gateway(net_subnet, gateway, name)
        if ip_range is not None and not ipaddress.ip_network(ip_range).subnet_of(net_subnet):  # type: ignore[arg-type]
            raise EngineError(f"network {name}: ip_range {ip_range} is not inside the subnet {net_subnet}")
        net = Network(name=name, id=hashlib.sha256(os.urandom(16)).hexdigest(),
                      bridge=self.bridge_name(name), subnet=str(net_subnet), gateway=gw,
                      internal=internal, ip_range=ip_range, labels=dict(labels or {}))
        links.create_bridge(net.bridge, gw, net.prefixlen, f"pycompose {name}")
        try:
            self._write(net)
        except BaseException:
            links.delete(net.bridge)
            raise
        return net

    def _choose_subnet(self, wanted: str | None) -> ipaddress.IPv4Network:
        taken = [ipaddress.ip_network(n.subnet) for n in self.list()]
        if wanted is not None:
            try:
                net = ipaddress.ip_network(wanted)
            except ValueError as exc:
                raise EngineError(f"invalid subnet {wanted}: {exc}") from None
            if not isinstance(net, ipaddress.IPv4Network):
                raise EngineError(f"subnet {wanted}: IPv6 networks are not supported yet")
            for other in taken:
                if net.overlaps(other):
                    raise Conflict(f"subnet {wanted} overlaps the subnet {other} of another pycompose network")
            return net
        avoid = taken + host_routes()
        for pool in POOLS:
            if not any(pool.overlaps(a) for a in avoid):
                return pool
        raise EngineError("no free subnet left in the address pools; give one with ipam.config.subnet")

    @staticmethod
    def _gateway(subnet: ipaddress.IPv4Network, wanted: str | None, name: str) -> str:
        if wanted is None:
            return str(next(subnet.hosts()))
        address = ipaddress.ip_address(wanted)
        if address not in subnet:
            raise EngineError(f"network {name}: gateway {wanted} is not in the subnet {subnet}")
        return str(address)

    def remove(self, name: str) -> None:
        """Delete the network and its bridge; refused while containers are attached."""
        from . import links

        self.reconcile()
        with self._lock():
            net = self.get(name)
            if net.allocations:
                users = ", ".join(sorted({a.get("name") or a["container"][:12] for a in net.allocations.values()}))
                raise Conflict(f"network {name} has containers attached: {users}")
            links.delete(net.bridge)
            os.unlink(self._path(name))

    def allocate(self, name: str, container: str, *, container_name: str = "", address: str | None = None,
                 names: tuple[str, ...] = ()) -> Endpoint:
        """Give ``container`` an address on the network (the one asked for, or the next free one)."""
        with self._lock():
            net = self.get(name)
            mine = next((a for a, v in net.allocations.items() if v["container"] == container), None)
            if mine is not None and address in (None, mine):
                return self._endpoint(net, mine)
            subnet = ipaddress.ip_network(net.subnet)
            if address is not None:
                ip = ipaddress.ip_address(address)
                if ip not in subnet or str(ip) == net.gateway or ip in (subnet.network_address, subnet.broadcast_address):
                    raise EngineError(f"address {address} is not usable on network {name} ({net.subnet})")
                if str(ip) in net.allocations:
                    holder = net.allocations[str(ip)]
                    raise Conflict(f"address {address} on network {name} is already used by "
                                   f"{holder.get('name') or holder['container'][:12]}")
                chosen = str(ip)
            else:
                pool = ipaddress.ip_network(net.ip_range) if net.ip_range else subnet
                chosen = next((str(h) for h in pool.hosts()
                               if str(h) != net.gateway and str(h) not in net.allocations), "")
                if not chosen:
                    raise EngineError(f"network {name} has no free address left")
            allocations = {a: v for a, v in net.allocations.items() if v["container"] != container}
            allocations[chosen] = {"container": container, "name": container_name, "names": list(names)}
            net = Network(**{**net.__dict__, "allocations": allocations})
            self._write(net)
            fault_point("create.allocated")
            return self._endpoint(net, chosen)

    def _endpoint(self, net: Network, address: str) -> Endpoint:
        return Endpoint(network=net.name, bridge=net.bridge, address=address, prefixlen=net.prefixlen,
                        gateway=net.gateway, mac=mac_for(address))

    def publish(self, network: str, container: str, ports: Sequence[Published]) -> None:
        """Record the host ports forwarded to ``container`` on ``network`` (none: it stopped publishing)."""
        with self._lock():
            net = self._read(network)
            if net is None:
                return
            allocations = {a: dict(v) for a, v in net.allocations.items()}
            for v in allocations.values():
                if v["container"] == container:
                    if ports:
                        v["published"] = [p.__dict__ for p in ports]
                    else:
                        v.pop("published", None)
            if allocations != net.allocations:
                self._write(Network(**{**net.__dict__, "allocations": allocations}))

    def unpublish(self, container: str) -> None:
        """``container`` forwards no host port any more, on any network."""
        for net in self.list():
            if any(v["container"] == container and v.get("published") for v in net.allocations.values()):
                self.publish(net.name, container, [])

    def published(self) -> Iterator[tuple[Network, str, Published]]:
        """Every published port: (its network, the container's address there, the port)."""
        for net in self.list():
            for address, v in sorted(net.allocations.items()):
                for p in v.get("published", ()):
                    yield net, address, Published.from_dict(p)

    def rename(self, container: str, old: str, new: str) -> None:
        """The container is now called ``new``: its name and the DNS name ``old`` follow, on every network."""
        with self._lock():
            for net in self.list():
                if not any(v["container"] == container for v in net.allocations.values()):
                    continue
                allocations = {}
                for address, v in net.allocations.items():
                    if v["container"] == container:
                        v = {**v, "name": new, "names": [new if n == old else n for n in v.get("names", [])]}
                    allocations[address] = v
                self._write(Network(**{**net.__dict__, "allocations": allocations}))

    def reconcile(self) -> Names:
        """Free the addresses whose container neither has a record nor is being created (a crash
        between the allocation and the record, or between a removal and the release); what was freed."""
        freed: Names = []
        with self._lock():
            for net in self.list():
                kept = {a: v for a, v in net.allocations.items() if owner_exists(self.root, v["container"])}
                if kept != net.allocations:
                    self._write(Network(**{**net.__dict__, "allocations": kept}))
                    freed += [f"address {a} on {net.name}" for a in sorted(set(net.allocations) - set(kept))]
        return freed

    def release(self, container: str) -> None:
        """Give back every address ``container`` holds, on every network."""
        with self._lock():
            for net in self.list():
                kept = {a: v for a, v in net.allocations.items() if v["container"] != container}
                if kept != net.allocations:
                    self._write(Network(**{**net.__dict__, "allocations": kept}))
