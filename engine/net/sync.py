"""The firewall made from the network records: every network's bridge, every published port.

Called whenever networks change and whenever a container with published
ports starts or stops (the runtime records its ports on the network while
it runs), so DNAT rules exist exactly while their container runs.
"""

from __future__ import annotations

import contextlib
import os

from ..state import Root, locked
from .firewall import BridgeRule, Firewall, PortRule
from .networks import Networks


def table_name(root: Root) -> str:
    """``pycompose`` for the default root; another root gets its own table."""
    return root.cgroup_name.replace("-", "_")


def port_rules(networks: Networks) -> list[PortRule]:
    """DNAT rules for the ports published on non-internal networks (internal ones publish nothing)."""
    return [PortRule(bridge=net.bridge, container_ip=address, container_port=p.container_port,
                     host_port=p.host_port, protocol=p.protocol, host_ip=p.host_ip)
            for net, address, p in networks.published() if not net.internal]


FORWARD = "/proc/sys/net/ipv4/ip_forward"


def apply_firewall(root: Root) -> None:
    """Rebuild pycompose's nftables table for ``root`` from its records (deleted when no network is left).

    IP forwarding is switched on for NAT; if pycompose was the one to switch
    it on, it is switched off again when its last network goes.
    """
    marker = os.path.join(root.run, "ip_forward.set-by-pycompose")
    with locked(os.path.join(root.locks, "firewall.lock")):
        records = Networks(root)
        networks = records.list()
        bridges = [BridgeRule(bridge=n.bridge, subnet=n.subnet, internal=n.internal) for n in networks]
        firewall = Firewall(table_name(root))
        if any(not b.internal for b in bridges) and _read(FORWARD) == "0":
            firewall.enable_forwarding()
            with open(marker, "w"):
                pass
        firewall.apply(bridges, port_rules(records) if bridges else [])
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
