"""The firewall made from the records: every network's bridge, every running container's published ports.

Called whenever networks change and whenever a container with published
ports starts or stops, so DNAT rules exist exactly while their container runs.
"""

from __future__ import annotations

import contextlib
import os

from ..runtime.spec import ContainerSpec
from ..state import Root, locked, read_json
from .firewall import BridgeRule, Firewall, PortRule
from .networks import Networks


def table_name(root: Root) -> str:
    """``pycompose`` for the default root; another root gets its own table."""
    return root.cgroup_name.replace("-", "_")


def port_rules(root: Root) -> list[PortRule]:
    rules: list[PortRule] = []
    try:
        ids = os.listdir(root.containers)
    except FileNotFoundError:
        return rules
    for cid in sorted(ids):
        state = read_json(os.path.join(root.containers, cid, "state.json"), {}) or {}
        if state.get("status") not in ("running", "paused", "restarting"):
            continue
        record = read_json(os.path.join(root.containers, cid, "container.json"))
        if not record:
            continue
        spec = ContainerSpec.from_dict(record["spec"])
        if not spec.endpoints:
            continue
        way_in = next((e for e in spec.endpoints if not e.internal), None)  # internal networks publish nothing
        if way_in is None:
            continue
        rules += [PortRule(bridge=way_in.bridge, container_ip=way_in.address, container_port=p.container_port,
                           host_port=p.host_port, protocol=p.protocol, host_ip=p.host_ip) for p in spec.ports]
    return rules


FORWARD = "/proc/sys/net/ipv4/ip_forward"


def apply_firewall(root: Root) -> None:
    """Rebuild pycompose's nftables table for ``root`` from its records (deleted when no network is left).

    IP forwarding is switched on for NAT; if pycompose was the one to switch
    it on, it is switched off again when its last network goes.
    """
    marker = os.path.join(root.run, "ip_forward.set-by-pycompose")
    with locked(os.path.join(root.locks, "firewall.lock")):
        networks = Networks(root).list()
        bridges = [BridgeRule(bridge=n.bridge, subnet=n.subnet, internal=n.internal) for n in networks]
        firewall = Firewall(table_name(root))
        if any(not b.internal for b in bridges) and _read(FORWARD) == "0":
            firewall.enable_forwarding()
            with open(marker, "w"):
                pass
        firewall.apply(bridges, port_rules(root) if bridges else [])
        if not bridges and os.path.exists(marker):
            with contextlib.suppress(OSError):
                with open(FORWARD, "w") as fh:
                    fh.write("0")
            os.unlink(marker)


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return ""
