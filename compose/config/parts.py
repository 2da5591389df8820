"""The parts of a service in the resolved project: ports, mounts, build, health, resources…

Frozen dataclasses, normalized as ``model`` describes; ``model`` re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Env = Mapping[str, str | None]


def _map() -> Any:
    return field(default_factory=dict)


@dataclass(frozen=True)
class Port:
    target: int
    published: str | None = None
    host_ip: str | None = None
    protocol: str = "tcp"
    mode: str = "ingress"
    name: str | None = None
    app_protocol: str | None = None
    protocol_as_written: str | None = None  # "UDP" in a long-syntax port: Compose prints it so


@dataclass(frozen=True)
class BindOptions:
    propagation: str | None = None
    create_host_path: bool = False
    selinux: str | None = None
    recursive: str | None = None


@dataclass(frozen=True)
class VolumeOptions:
    nocopy: bool = False
    subpath: str | None = None
    labels: Mapping[str, str] = _map()


@dataclass(frozen=True)
class TmpfsOptions:
    size: int | None = None
    mode: int | None = None


@dataclass(frozen=True)
class Mount:
    """An entry of a service's ``volumes``: bind, volume, tmpfs, npipe, cluster or image."""

    type: str
    target: str
    source: str | None = None
    read_only: bool = False
    consistency: str | None = None
    bind: BindOptions | None = None
    volume: VolumeOptions | None = None
    tmpfs: TmpfsOptions | None = None
    image_subpath: str | None = None


@dataclass(frozen=True)
class Build:
    context: str
    dockerfile: str | None = "Dockerfile"
    dockerfile_inline: str | None = None
    args: Env = _map()
    ssh: tuple[str, ...] = ()
    labels: Mapping[str, str] = _map()
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    no_cache: bool = False
    additional_contexts: Mapping[str, str] = _map()
    network: str | None = None
    pull: bool = False
    target: str | None = None
    shm_size: int | None = None
    extra_hosts: Mapping[str, tuple[str, ...]] = _map()
    isolation: str | None = None
    privileged: bool = False
    secrets: tuple[FileRef, ...] = ()
    tags: tuple[str, ...] = ()
    ulimits: Mapping[str, Ulimit] = _map()
    platforms: tuple[str, ...] = ()
    entitlements: tuple[str, ...] = ()
    provenance: str | None = None  # an attestation flag or its options, as written
    sbom: str | None = None


@dataclass(frozen=True)
class Dependency:
    condition: str = "service_started"
    restart: bool = False
    required: bool = True


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...] | None = None
    interval: float | None = None
    timeout: float | None = None
    retries: int | None = None
    start_period: float | None = None
    start_interval: float | None = None
    disable: bool = False

    @property
    def disabled(self) -> bool:
        """``disable: true`` or ``test: ["NONE"]``: no healthcheck runs."""
        return self.disable or self.test == ("NONE",)


@dataclass(frozen=True)
class Ulimit:
    soft: int
    hard: int
    single: bool = False


@dataclass(frozen=True)
class Logging:
    driver: str | None = None
    options: Mapping[str, str | None] = _map()


@dataclass(frozen=True)
class ServiceNetwork:
    aliases: tuple[str, ...] = ()
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    link_local_ips: tuple[str, ...] = ()
    mac_address: str | None = None
    driver_opts: Mapping[str, str] = _map()
    priority: int | None = None
    gw_priority: int | None = None
    interface_name: str | None = None


@dataclass(frozen=True)
class FileRef:
    """A service's use of a top-level secret or config."""

    source: str
    target: str | None = None
    uid: str | None = None
    gid: str | None = None
    mode: int | None = None


@dataclass(frozen=True)
class EnvFile:
    path: str
    required: bool = True
    format: str | None = None


@dataclass(frozen=True)
class Device:
    source: str
    target: str
    permissions: str = "rwm"


@dataclass(frozen=True)
class Resources:
    cpus: float | None = None
    memory: int | None = None
    pids: int | None = None
    devices: tuple[Any, ...] = ()
    generic_resources: tuple[Any, ...] = ()


@dataclass(frozen=True)
class RestartPolicy:
    condition: str | None = None
    delay: float | None = None
    max_attempts: int | None = None
    window: float | None = None


@dataclass(frozen=True)
class Deploy:
    mode: str | None = None
    replicas: int | None = None
    labels: Mapping[str, str] = _map()
    resources_limits: Resources | None = None
    resources_reservations: Resources | None = None
    restart_policy: RestartPolicy | None = None
    endpoint_mode: str | None = None
    placement: Any = None
    update_config: Any = None
    rollback_config: Any = None
