"""The resolved project: frozen dataclasses, everything normalized.

Sizes are bytes (int), durations seconds (float), paths absolute, every
short syntax expanded to its long form. Field names are the compose keys.
A few blocks are kept as plain data: ``develop``, hooks, ``gpus``, ``provider`` and
``models`` in the canonical form Compose prints (see ``blocks``), ``blkio_config`` and
``credential_spec`` as the validated values they were written as.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import Location
from .parts import (  # re-exported: the model is one namespace for its users
    BindOptions,
    Build,
    Dependency,
    Deploy,
    Device,
    Env,
    EnvFile,
    FileRef,
    Healthcheck,
    Logging,
    Mount,
    Port,
    Resources,
    RestartPolicy,
    ServiceNetwork,
    TmpfsOptions,
    Ulimit,
    VolumeOptions,
)

__all__ = [
    "BindOptions",
    "Build",
    "Dependency",
    "Deploy",
    "Device",
    "Env",
    "EnvFile",
    "FileObject",
    "FileRef",
    "Healthcheck",
    "IpamPool",
    "Logging",
    "Mount",
    "Network",
    "Port",
    "Project",
    "Resources",
    "RestartPolicy",
    "Service",
    "ServiceNetwork",
    "TmpfsOptions",
    "Ulimit",
    "Volume",
    "VolumeOptions",
]


def _map() -> Any:
    return field(default_factory=dict)


@dataclass(frozen=True)
class Service:
    name: str
    image: str | None = None
    build: Build | None = None
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: Env = _map()
    env_file: tuple[EnvFile, ...] = ()
    working_dir: str | None = None
    user: str | None = None
    group_add: tuple[str, ...] = ()
    hostname: str | None = None
    domainname: str | None = None
    container_name: str | None = None
    labels: Mapping[str, str] = _map()
    annotations: Mapping[str, str] = _map()
    ports: tuple[Port, ...] = ()
    expose: tuple[str, ...] = ()
    volumes: tuple[Mount, ...] = ()
    volumes_from: tuple[str, ...] = ()
    tmpfs: tuple[str, ...] = ()
    networks: Mapping[str, ServiceNetwork | None] = _map()
    network_mode: str | None = None
    mac_address: str | None = None
    links: tuple[str, ...] = ()
    external_links: tuple[str, ...] = ()
    extra_hosts: Mapping[str, tuple[str, ...]] = _map()
    dns: tuple[str, ...] = ()
    dns_opt: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    depends_on: Mapping[str, Dependency] = _map()
    healthcheck: Healthcheck | None = None
    restart: str | None = None
    deploy: Deploy | None = None
    scale: int | None = None
    profiles: tuple[str, ...] = ()
    init: bool | None = None
    privileged: bool | None = None
    read_only: bool | None = None
    stdin_open: bool | None = None
    tty: bool | None = None
    attach: bool | None = None
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    sysctls: Mapping[str, str] = _map()
    ulimits: Mapping[str, Ulimit] = _map()
    devices: tuple[Device, ...] = ()
    device_cgroup_rules: tuple[str, ...] = ()
    ipc: str | None = None
    pid: str | None = None
    uts: str | None = None
    userns_mode: str | None = None
    cgroup: str | None = None
    cgroup_parent: str | None = None
    mem_limit: int | None = None
    mem_reservation: int | None = None
    memswap_limit: int | None = None
    mem_swappiness: int | None = None
    shm_size: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    cpu_period: int | None = None
    cpu_quota: int | None = None
    cpu_rt_period: int | None = None
    cpu_rt_runtime: int | None = None
    cpu_count: int | None = None
    cpu_percent: int | None = None
    cpuset: str | None = None
    pids_limit: int | None = None
    oom_kill_disable: bool | None = None
    oom_score_adj: int | None = None
    stop_signal: str | None = None
    stop_grace_period: float | None = None
    logging: Logging | None = None
    secrets: tuple[FileRef, ...] = ()
    configs: tuple[FileRef, ...] = ()
    platform: str | None = None
    pull_policy: str | None = None
    runtime: str | None = None
    isolation: str | None = None
    storage_opt: Mapping[str, str] = _map()
    # Kept as written (validated, interpolated): pycompose does not act on them.
    blkio_config: Any = None
    credential_spec: Any = None
    develop: Any = None
    gpus: Any = None
    models: Any = None
    provider: Any = None
    post_start: Any = None
    pre_stop: Any = None
    label_file: tuple[str, ...] = ()
    use_api_socket: bool | None = None
    pull_refresh_after: str | None = None
    extensions: Mapping[str, Any] = _map()

    @property
    def replicas(self) -> int:
        """How many containers ``up`` runs for this service."""
        if self.scale is not None:
            return self.scale
        if self.deploy is not None and self.deploy.replicas is not None:
            return self.deploy.replicas
        return 1

    def image_name(self, project: str) -> str:
        """The image to run: ``image``, else the name ``up --build`` gives (``<project>-<service>``)."""
        return self.image or f"{project}-{self.name}"


@dataclass(frozen=True)
class IpamPool:
    subnet: str | None = None
    ip_range: str | None = None
    gateway: str | None = None
    aux_addresses: Mapping[str, str] = _map()


@dataclass(frozen=True)
class Network:
    name: str
    driver: str | None = None
    driver_opts: Mapping[str, str] = _map()
    ipam_driver: str | None = None
    ipam_config: tuple[IpamPool, ...] = ()
    ipam_options: Mapping[str, str] = _map()
    external: bool = False
    internal: bool = False
    attachable: bool = False
    enable_ipv4: bool | None = None
    enable_ipv6: bool | None = None
    labels: Mapping[str, str] = _map()
    extensions: Mapping[str, Any] = _map()


@dataclass(frozen=True)
class Volume:
    name: str
    driver: str | None = None
    driver_opts: Mapping[str, str] = _map()
    external: bool = False
    labels: Mapping[str, str] = _map()
    extensions: Mapping[str, Any] = _map()


@dataclass(frozen=True)
class FileObject:
    """A top-level secret or config."""

    name: str
    file: str | None = None
    environment: str | None = None
    content: str | None = None
    external: bool = False
    driver: str | None = None
    driver_opts: Mapping[str, str] = _map()
    template_driver: str | None = None
    labels: Mapping[str, str] = _map()
    extensions: Mapping[str, Any] = _map()


@dataclass(frozen=True)
class Project:
    name: str
    working_dir: str
    config_files: tuple[str, ...]
    services: Mapping[str, Service] = _map()
    networks: Mapping[str, Network] = _map()
    volumes: Mapping[str, Volume] = _map()
    secrets: Mapping[str, FileObject] = _map()
    configs: Mapping[str, FileObject] = _map()
    models: Mapping[str, Any] = _map()
    extensions: Mapping[str, Any] = _map()
    disabled_services: Mapping[str, Service] = _map()
    profiles: tuple[str, ...] = ()
    # From the dependency graph, computed once when the project is loaded (and cached with it):
    start_order: tuple[tuple[str, ...], ...] = ()  # levels that can start in parallel, dependencies first
    requires: Mapping[str, frozenset[str]] = _map()  # every service a service needs, directly or not
    # Where each service key was written ("services.web.gpus" -> compose.yaml:12:5), down to four levels
    # below ``services``, so later stages (a key the engine cannot honour) can name the file and line.
    locations: Mapping[str, Location] = _map()

    def location(self, path: Sequence[str | int]) -> Location | None:
        """Where ``path`` (or its nearest recorded parent) was written."""
        probe = list(path)
        while probe:
            found = self.locations.get(".".join(str(p) for p in probe))
            if found is not None:
                return found
            probe.pop()
        return None

    def select(self, services: Iterable[str] | None = None, *, with_deps: bool = True) -> set[str]:
        """The chosen services (all when None) plus, unless told not to, what they depend on."""
        if not services:
            return set(self.services)
        chosen = set(services)
        if with_deps:
            for s in list(chosen):
                chosen |= self.requires.get(s, frozenset())
        return chosen

    def levels(self, services: Iterable[str] | None = None, *, with_deps: bool = True,
               reverse: bool = False) -> list[list[str]]:
        """Start levels restricted to a selection (stop order with ``reverse``)."""
        chosen = self.select(services, with_deps=with_deps)
        out = [[s for s in level if s in chosen] for level in self.start_order]
        out = [level for level in out if level]
        return out[::-1] if reverse else out

    def all_profiles(self) -> list[str]:
        """Every profile named by any service, enabled or not, sorted."""
        names = {p for s in (*self.services.values(), *self.disabled_services.values())
                 for p in s.profiles}
        return sorted(names)
