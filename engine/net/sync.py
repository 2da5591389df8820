"""The firewall made from the records: every network's bridge, every running container's published ports.

Called whenever networks change and whenever a container with published
ports starts or stops, so DNAT rules exist exactly while their container runs.
"""

from __future__ import annotations

import contextlib
import os

from ..runtime.spec import ContainerSpec
from ..state import Root, locked, read_json
from .firewall import BridgeRule, Firewall, PortRule, set_route_localnet
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
        first = spec.endpoints[0]
        rules += [PortRule(bridge=first.bridge, container_ip=first.address, container_port=p.container_port,
                           host_port=p.host_port, protocol=p.protocol, host_ip=p.host_ip) for p in spec.ports]
    return rules


def apply_firewall(root: Root) -> None:
    """Rebuild pycompose's nftables table for ``root`` from its records (deleted when no network is left)."""
    with locked(os.path.join(root.locks, "firewall.lock")):
        networks = Networks(root).list()
        bridges = [BridgeRule(bridge=n.bridge, subnet=n.subnet, internal=n.internal) for n in networks]
        firewall = Firewall(table_name(root))
        if bridges:
            if any(not b.internal for b in bridges):
                firewall.enable_forwarding()
            for b in bridges:
                with contextlib.suppress(OSError):
                    set_route_localnet(b.bridge, True)  # lets 127.0.0.1 be DNATed out of our bridge
        firewall.apply(bridges, port_rules(root) if bridges else [])
