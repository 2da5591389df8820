"""The project's networks as the engine makes them: names, labels, IPAM, checks.

``plan`` is pure: it turns the model's networks into requests and refuses
what pycompose cannot do (a driver other than bridge, IPv6) with errors
naming the network. ``apply`` hands the requests to the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import __version__
from ..config.model import Project
from ..errors import ConfigError, ConfigErrors
from . import labels

if TYPE_CHECKING:
    from engine.net.networks import Networks


@dataclass(frozen=True)
class NetworkRequest:
    key: str  # the name in the compose file
    name: str  # the engine's name: <project>_<key>, or name:
    external: bool = False
    internal: bool = False
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


def plan(project: Project, keys: Iterable[str] | None = None) -> list[NetworkRequest]:
    """Requests for the project's networks (or just ``keys``); ConfigErrors for what cannot be done."""
    errors: list[ConfigError] = []
    out: list[NetworkRequest] = []
    for key in sorted(project.networks if keys is None else keys):
        net = project.networks[key]
        path = ("networks", key)
        if net.external:
            out.append(NetworkRequest(key=key, name=net.name, external=True))
            continue
        if net.driver not in (None, "bridge"):
            errors.append(ConfigError(f'driver "{net.driver}" is not supported: pycompose makes bridge networks',
                                      path=path + ("driver",)))
        if net.enable_ipv6:
            errors.append(ConfigError("IPv6 networks are not supported yet: drop enable_ipv6", path=path))
        if len(net.ipam_config) > 1:
            errors.append(ConfigError("only one ipam.config entry is supported", path=path + ("ipam",)))
        pool = net.ipam_config[0] if net.ipam_config else None
        if pool and pool.subnet and ":" in pool.subnet:
            errors.append(ConfigError(f"IPv6 subnet {pool.subnet} is not supported yet", path=path + ("ipam",)))
        tags = {**net.labels, labels.PROJECT: project.name, labels.NETWORK: key, labels.VERSION: __version__}
        out.append(NetworkRequest(key=key, name=net.name, internal=net.internal,
                                  subnet=pool.subnet if pool else None, gateway=pool.gateway if pool else None,
                                  ip_range=pool.ip_range if pool else None, labels=tags))
    if errors:
        raise ConfigErrors(errors)
    return out


def apply(requests: Iterable[NetworkRequest], networks: Networks) -> list[str]:
    """Create the networks; external ones must exist. The names of the networks made just now."""
    from engine.errors import NotFound

    made = []
    for req in requests:
        if req.external:
            try:
                networks.get(req.name)
            except NotFound:
                raise ConfigError(f'network {req.name} declared as external, but could not be found; '
                                  f'create it first (pycompose network ls lists the ones there are)',
                                  path=("networks", req.key)) from None
            continue
        _, new = networks.create(req.name, subnet=req.subnet, gateway=req.gateway, ip_range=req.ip_range,
                                 internal=req.internal, labels=req.labels)
        if new:
            made.append(req.name)
    return made
