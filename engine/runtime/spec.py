"""What a container is: an image plus everything the runtime needs to run it.

``ContainerSpec`` is the engine's own description (it knows nothing of
compose files). It is stored as JSON in the container's record and read back
by the supervisor each time the container starts.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from .limits import Limits

_T = TypeVar("_T")

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ContainerFile:
    """A file the engine writes into the container's own folder at creation (a secret or a config), for a
    ``file`` mount. Its content is never part of the spec or of any record."""

    data: bytes
    uid: int = 0
    gid: int = 0
    mode: int = 0o444


@dataclass(frozen=True)
class MountSpec:
    """A bind (host path), tmpfs, or file mount. Named volumes arrive here as binds of their folder; a file
    mount's ``source`` names one of the ``ContainerFile``s given at creation, bound read-only."""

    type: str  # "bind" | "tmpfs" | "file"
    target: str
    source: str | None = None
    read_only: bool = False
    propagation: str | None = None  # rprivate by default
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None
    create: bool = False  # make the host folder if it is missing (short-syntax binds)
    copy_up: bool = False  # an empty volume gets the image's files at ``target`` (Docker's behaviour)


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]  # ("CMD", ...) or ("CMD-SHELL", "...")
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0
    start_interval: float = 5.0


@dataclass(frozen=True)
class Device:
    source: str
    target: str
    permissions: str = "rwm"


@dataclass(frozen=True)
class EndpointSpec:
    """The container's interface on one network (addresses are allocated when it is created)."""

    network: str
    bridge: str
    address: str
    prefixlen: int
    gateway: str
    mac: str
    internal: bool = False  # no default route through it


@dataclass(frozen=True)
class PortSpec:
    """A published port: host [ip:]port -> the container's port, carried by DNAT."""

    container_port: int
    host_port: int
    protocol: str = "tcp"
    host_ip: str | None = None


@dataclass(frozen=True)
class ContainerSpec:
    id: str
    name: str
    image_id: str
    layers: tuple[str, ...]  # unpacked layer folders, bottom first
    argv: tuple[str, ...]
    env: tuple[str, ...] = ()  # KEY=VALUE, image env then the container's
    working_dir: str = "/"
    user: str | None = None
    group_add: tuple[str, ...] = ()
    hostname: str = ""
    domainname: str = ""
    group: str = "default"  # the supervisor that runs it (a compose project)
    mounts: tuple[MountSpec, ...] = ()
    devices: tuple[Device, ...] = ()  # host device nodes made in the container, and allowed in its cgroup
    device_rules: tuple[str, ...] = ()  # device cgroup rules allowed too ("c 10:200 rwm", as Docker's)
    seccomp: str | None = None  # None: Docker's default (none if privileged); "builtin", "unconfined", or JSON
    read_only: bool = False
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    no_new_privileges: bool = False
    sysctls: dict[str, str] = field(default_factory=dict)
    ulimits: dict[str, tuple[int, int]] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    oom_score_adj: int | None = None
    shm_size: int | None = None
    network: str = "none"  # "none" | "bridge" (endpoints) | "host" | "netns:<path>" | "container:<id>"
    endpoints: tuple[EndpointSpec, ...] = ()  # network "bridge": eth0, eth1, ... in this order
    ports: tuple[PortSpec, ...] = ()
    ipc: str = "private"  # "private" | "shareable" | "host" | "container:<id>"
    pid: str = "private"  # "private" | "host" | "container:<id>"
    uts: str = "private"  # "private" | "host"
    init: bool = False
    stop_signal: str = "SIGTERM"
    stop_timeout: float = 10.0
    restart: str = "no"  # no | always | on-failure[:N] | unless-stopped
    tty: bool = False
    stdin_open: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    hosts: tuple[tuple[str, str], ...] = ()  # extra /etc/hosts entries: (name, address)
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    log_max_size: int = 10 << 20
    log_max_files: int = 3
    healthcheck: Healthcheck | None = None
    masked_paths: tuple[str, ...] | None = None  # None: Docker's defaults
    readonly_paths: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ContainerSpec:
        """The spec of a record (JSON: lists where the spec has tuples); unknown keys are ignored."""
        kw = {k: v for k, v in data.items() if k in _FIELDS}
        kw["mounts"] = tuple(_build(MountSpec, m) for m in _items(data.get("mounts")))
        kw["devices"] = tuple(_build(Device, d) for d in _items(data.get("devices")))
        kw["endpoints"] = tuple(_build(EndpointSpec, e) for e in _items(data.get("endpoints")))
        kw["ports"] = tuple(_build(PortSpec, p) for p in _items(data.get("ports")))
        health = data.get("healthcheck")
        if isinstance(health, dict) and health:
            kw["healthcheck"] = _build(Healthcheck, {**health, "test": tuple(_strings(health.get("test")))})
        limits = data.get("limits")
        kw["limits"] = Limits.from_dict(limits if isinstance(limits, dict) else {})
        ulimits = data.get("ulimits")
        kw["ulimits"] = {str(k): (int(v[0]), int(v[1])) for k, v in ulimits.items()
                         if isinstance(v, list | tuple)} if isinstance(ulimits, dict) else {}
        kw["hosts"] = tuple((str(h[0]), str(h[1])) for h in _list(data.get("hosts")) if isinstance(h, list | tuple))
        for key in ("layers", "argv", "env", "group_add", "cap_add", "cap_drop", "dns", "dns_search",
                    "dns_options", "device_rules"):
            if key in kw:
                kw[key] = tuple(_strings(kw[key]))
        for key in ("masked_paths", "readonly_paths"):
            if kw.get(key) is not None:
                kw[key] = tuple(_strings(kw[key]))
        return _build(cls, kw)


_FIELDS = frozenset(f.name for f in dataclasses.fields(ContainerSpec))


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def _strings(value: object) -> list[str]:
    return [str(v) for v in _list(value)]


def _items(value: object) -> Iterable[Mapping[str, object]]:
    return [{str(k): v for k, v in item.items()} for item in _list(value) if isinstance(item, dict)]


def _build(cls: type[_T], data: Mapping[str, object]) -> _T:
    """``cls(**data)``: the JSON boundary, where a record's fields become a dataclass's."""
    return cls(**dict(data))


# Inside /proc only the files lxcfs stands in for may be mount targets (runc 1.4's list).
PROC_TARGETS = ("/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps", "/proc/uptime",
                "/proc/loadavg", "/proc/slabinfo", "/proc/sys/kernel/ns_last_pid", "/proc/sys/crypto/fips_enabled")


def mount_target_problem(target: str) -> str | None:
    """Why ``target`` cannot be a mount's destination in the container (Docker's and runc's rules), or None.

    Not ``/``, not ``/proc`` (the container's own procfs), nothing inside /proc
    but the files lxcfs provides: a mount onto /proc/sys would undo its
    read-only bind, and others would hide what the kernel shows there.
    """
    path = posixpath.normpath("/" + target.lstrip("/"))
    if path == "/":
        return "the destination cannot be '/'"
    if path == "/proc":
        return f'"{target}" cannot be mounted because it is the container\'s procfs'
    if path.startswith("/proc/") and path not in PROC_TARGETS:
        return f'"{target}" cannot be mounted because it is inside /proc'
    return None


_IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}


def check_sysctl(name: str, spec: ContainerSpec) -> None:
    """Refuse a sysctl that is not isolated by one of the container's own namespaces.

    Such a sysctl would change the host, since it is written as root before
    the container starts. The rules are runc's.
    """
    if name in _IPC_SYSCTLS or name.startswith("fs.mqueue."):
        if spec.ipc in ("host",) or spec.ipc.startswith("container:"):
            raise ValueError(f'sysctl "{name}" needs the container\'s own IPC namespace (ipc is {spec.ipc})')
        return
    if name.startswith("net."):
        if spec.network == "host":
            raise ValueError(f'sysctl "{name}" cannot be set with the host\'s network')
        return
    if name in ("kernel.domainname", "kernel.hostname"):
        raise ValueError(f'sysctl "{name}": set hostname or domainname instead')
    raise ValueError(f'sysctl "{name}" is not namespaced: setting it would change the host '
                     "(allowed: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*)")


def resolve_argv(image_entrypoint: list[str] | None, image_cmd: list[str] | None,
                 entrypoint: list[str] | None, command: list[str] | None) -> list[str]:
    """The process to run, with Docker's rules for entrypoint and command.

    A container's own ``entrypoint`` replaces the image's and also drops the
    image's CMD; its ``command`` replaces the image's CMD only. An empty
    ``entrypoint: []`` clears the image's entrypoint.
    """
    if entrypoint is not None:
        return list(entrypoint) + list(command or [])
    return list(image_entrypoint or []) + list(command if command is not None else image_cmd or [])


def merge_env(image_env: list[str], env: dict[str, str | None], hostname: str) -> list[str]:
    """HOSTNAME, then the image's Env, then the container's (None values dropped); PATH defaulted.

    HOME is added at start, from the user's passwd entry, when neither sets it.
    """
    merged: dict[str, str] = {"HOSTNAME": hostname} if hostname else {}
    for item in image_env:
        key, _, value = item.partition("=")
        merged[key] = value
    for key, given in env.items():
        if given is not None:
            merged[key] = given
    merged.setdefault("PATH", DEFAULT_PATH)
    return [f"{k}={v}" for k, v in merged.items()]
