"""Networks as commands change them: the records, then the firewall and the DNS daemon that follow them.

``networks.Networks`` keeps the records and bridges and nothing else; this
layer above it brings the root's nftables table and its netd in line after
every change, so the records never start daemons themselves.
"""

from __future__ import annotations

from ..state import Root
from . import netd
from .networks import Network, Networks
from .sync import apply_firewall


class NetworkManager(Networks):
    """``Networks`` whose changes reach the firewall and DNS at once."""

    def __init__(self, root: Root) -> None:
        super().__init__(root)

    def create(self, name: str, *, subnet: str | None = None, gateway: str | None = None,
               ip_range: str | None = None, internal: bool = False,
               labels: dict[str, str] | None = None) -> tuple[Network, bool]:
        net, made = super().create(name, subnet=subnet, gateway=gateway, ip_range=ip_range, internal=internal,
                                   labels=labels)
        if made:
            self.sync()
        return net, made

    def remove(self, name: str) -> None:
        super().remove(name)
        self.sync()

    def revive(self) -> None:
        """Start netd if a network exists and it is not running (it died, or the machine restarted)."""
        if not netd.running(self.root) and self.list():
            netd.ensure(self.root)

    def sync(self) -> None:
        """Bring the firewall and the DNS daemon in line with the records."""
        apply_firewall(self.root)
        if self.list():
            netd.ensure(self.root)
