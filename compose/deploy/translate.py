"""A service's container as the engine runs it: compose model -> ``engine.runtime.spec.ContainerSpec``.

Pure: everything that comes from the engine (the image's config, the
addresses allocated, volume folders, peer containers, chosen host ports) is
passed in, so the translation can be tested without running anything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import __version__
from ..config.model import Healthcheck as ComposeHealthcheck
from ..config.model import Project, Service
from ..config.render import service as render_service
from ..errors import ConfigError
from . import labels

if TYPE_CHECKING:  # the engine's types; translation itself imports them when it runs
    from engine.images.model import HealthConfig, ImageConfig
    from engine.runtime.limits import DeviceLimit, Limits
    from engine.runtime.spec import (
        ContainerSpec,
        Device,
        EndpointSpec,
        Healthcheck,
        MountSpec,
        PortSpec,
    )


@dataclass(frozen=True)
class Resolved:
    """What the engine told us, for one container."""

    image_id: str
    image_config: ImageConfig
    layers: tuple[str, ...]
    endpoints: tuple[EndpointSpec, ...] = ()  # in the service's network order
    volume_paths: dict[str, str] = field(default_factory=dict)  # named volume key -> its folder
    anonymous: dict[str, str] = field(default_factory=dict)  # target -> folder of its anonymous volume
    new_anonymous: frozenset[str] = frozenset()  # targets whose anonymous volume was made for this container
    file_mounts: tuple[MountSpec, ...] = ()  # secrets and configs (deploy.files)
    fresh_volumes: frozenset[str] = frozenset()  # volume keys created just now (copied up from the image)
    peers: dict[str, str] = field(default_factory=dict)  # service or container name -> container id
    host_ports: dict[tuple[int, str, int], int] = field(default_factory=dict)  # (target, proto, i) -> host port
    inherited: tuple[MountSpec, ...] = ()  # taken from other containers (volumes_from)
    seccomp_profile: str | None = None  # the text of the file ``security_opt: [seccomp=<file>]`` names


@dataclass(frozen=True)
class Security:
    """A service's ``security_opt``: no_new_privs, and the seccomp profile (None: Docker's default;
    "unconfined", "builtin", or the profile file's absolute path) with its index in the list."""

    no_new_privileges: bool = False
    seccomp: str | None = None
    seccomp_index: int = 0


_SECURITY_KNOWN = ("no-new-privileges[=true|false], seccomp=unconfined|builtin|<profile.json>, label=disable, "
                   "apparmor=unconfined")


def security(project: Project, svc: Service) -> Security:
    """Parse ``security_opt`` as Docker does (``key=value``; the old ``key:value`` too); anything pycompose
    cannot honour is refused, never ignored."""
    out = Security()
    for i, opt in enumerate(svc.security_opt):
        key, _, value = opt.partition("=") if "=" in opt else opt.partition(":")
        path = ("services", svc.name, "security_opt", i)
        if key == "no-new-privileges" and value.lower() in ("", "true", "false", "1", "0"):
            out = dataclasses.replace(out, no_new_privileges=value.lower() in ("", "true", "1"))
        elif key == "seccomp" and value:
            seccomp = value if value in ("unconfined", "builtin") else os.path.join(project.working_dir, value)
            out = dataclasses.replace(out, seccomp=seccomp, seccomp_index=i)
        elif (key, value) in (("label", "disable"), ("apparmor", "unconfined")):
            pass  # no SELinux labels nor AppArmor profiles here: that is what these ask for
        elif key in ("label", "apparmor"):
            raise ConfigError(f'security_opt "{opt}": pycompose applies no SELinux labels or AppArmor profiles; '
                              f"only {key}={'disable' if key == 'label' else 'unconfined'} is accepted", path=path)
        else:
            raise ConfigError(f'security_opt "{opt}" is not supported (use {_SECURITY_KNOWN})', path=path)
    return out


def container_name(project: Project, svc: Service, number: int, separator: str = "-") -> str:
    """``<project>-<service>-<number>`` (``_`` between them in compatibility mode), or its ``container_name``."""
    return svc.container_name or separator.join((project.name, svc.name, str(number)))


def config_hash(svc: Service) -> str:
    """What, when it changes, makes ``up`` recreate the service's containers."""
    data = render_service(svc)
    data.pop("scale", None)  # scaling adds or removes containers; it does not recreate them
    deploy = data.get("deploy")
    if isinstance(deploy, dict):
        deploy.pop("replicas", None)
        if not deploy:
            data.pop("deploy")
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _restart(svc: Service) -> str:
    if svc.restart:
        return svc.restart
    rp = svc.deploy.restart_policy if svc.deploy else None
    if rp and rp.condition:
        if rp.condition == "any":
            return "always"
        if rp.condition == "on-failure":
            return f"on-failure:{rp.max_attempts}" if rp.max_attempts else "on-failure"
    return "no"


def _namespace(svc: Service, key: str, value: str | None, peers: dict[str, str]) -> str:
    if not value or value in ("private", "shareable", "host"):
        return value or "private"
    kind, _, name = value.partition(":")
    if kind in ("service", "container") and name:
        if name not in peers:
            raise ConfigError(f'{value}: there is no container to share with (is "{name}" running?)',
                              path=("services", svc.name, key))
        return f"container:{peers[name]}"
    raise ConfigError(f'unsupported {key} "{value}"', path=("services", svc.name, key))


def _healthcheck(svc: Service, image_config: ImageConfig) -> Healthcheck | None:
    from engine.runtime.spec import Healthcheck

    hc: ComposeHealthcheck | None = svc.healthcheck
    image_hc: HealthConfig | None = image_config.healthcheck
    test = hc.test if hc and hc.test else (tuple(image_hc.test) if image_hc and image_hc.test else None)
    if (hc and hc.disabled) or not test or test[0] == "NONE":
        return None

    def pick(name: str, default: float) -> float:
        mine = getattr(hc, name, None) if hc else None
        theirs = getattr(image_hc, name, None) if image_hc else None
        return float(mine if mine is not None else theirs if theirs is not None else default)

    retries = (hc.retries if hc and hc.retries is not None else
               image_hc.retries if image_hc and image_hc.retries else 3)
    return Healthcheck(test=tuple(test), interval=pick("interval", 30), timeout=pick("timeout", 30),
                       retries=int(retries), start_period=pick("start_period", 0),
                       start_interval=pick("start_interval", 5))


def _tmpfs_entry(text: str) -> MountSpec:
    from engine.runtime.spec import MountSpec

    from ..config.units import parse_size

    target, _, opts = text.partition(":")
    size = mode = None
    for opt in filter(None, opts.split(",")):
        key, _, value = opt.partition("=")
        if key == "size":
            size = parse_size(value)
        elif key == "mode":
            mode = int(value, 8)
    return MountSpec(type="tmpfs", target=target, tmpfs_size=size, tmpfs_mode=mode)


def _mounts(svc: Service, r: Resolved) -> tuple[MountSpec, ...]:
    from engine.runtime.spec import MountSpec, mount_target_problem

    out = []
    for i, m in enumerate(svc.volumes):
        path = ("services", svc.name, "volumes", i)
        if m.type == "bind":
            out.append(MountSpec(type="bind", source=m.source, target=m.target, read_only=m.read_only,
                                 propagation=m.bind.propagation if m.bind else None,
                                 create=bool(m.bind and m.bind.create_host_path)))
        elif m.type == "volume":
            if m.source:
                folder = r.volume_paths[m.source]
                copy = m.source in r.fresh_volumes and not (m.volume and m.volume.nocopy)
            else:
                folder, copy = r.anonymous[m.target], not (m.volume and m.volume.nocopy)
            if m.volume and m.volume.subpath:
                folder = f"{folder}/{m.volume.subpath.strip('/')}"
            out.append(MountSpec(type="bind", source=folder, target=m.target, read_only=m.read_only, copy_up=copy))
        elif m.type == "tmpfs":
            out.append(MountSpec(type="tmpfs", target=m.target, read_only=m.read_only,
                                 tmpfs_size=m.tmpfs.size if m.tmpfs else None,
                                 tmpfs_mode=m.tmpfs.mode if m.tmpfs else None))
        else:
            raise ConfigError(f'volume type "{m.type}" is not supported', path=path)
    out += [_tmpfs_entry(t) for t in svc.tmpfs]
    where = [("volumes", i) for i in range(len(svc.volumes))] + [("tmpfs", i) for i in range(len(svc.tmpfs))]
    for made, (key, i) in zip(out, where, strict=True):
        problem = mount_target_problem(made.target)
        if problem:
            written = svc.volumes[i] if key == "volumes" else None  # the name or path, as written
            what = f"{written.source}:{made.target}" if written and written.source else made.target
            raise ConfigError(f'the volume "{what}" of service {svc.name} cannot be mounted: {problem}',
                              path=("services", svc.name, key, i))
    mine = {m.target for m in out}
    out += [MountSpec(type="bind", source=folder, target=target, copy_up=True)  # the image's VOLUMEs
            for target, folder in r.anonymous.items() if target not in mine]
    mine = {m.target for m in out}
    out += [m for m in r.file_mounts if m.target not in mine]  # a volume at the same place wins, as in Compose
    mine = {m.target for m in out}
    out += [m for m in r.inherited if m.target not in mine]  # volumes_from: our own mounts win
    return tuple(out)


def _ports(svc: Service, r: Resolved) -> tuple[PortSpec, ...]:
    from engine.runtime.spec import PortSpec

    out = []
    for i, p in enumerate(svc.ports):
        host_port = r.host_ports.get((p.target, p.protocol, i))
        if host_port is None:
            continue
        out.append(PortSpec(container_port=p.target, host_port=host_port, protocol=p.protocol,
                            host_ip=p.host_ip if p.host_ip not in (None, "", "0.0.0.0") else None))
    return tuple(out)


def _limits(svc: Service) -> Limits:
    from engine.runtime.limits import Limits

    lim = svc.deploy.resources_limits if svc.deploy else None
    res = svc.deploy.resources_reservations if svc.deploy else None
    blkio: Mapping[str, object] = svc.blkio_config if isinstance(svc.blkio_config, dict) else {}
    return Limits(
        memory=svc.mem_limit or (lim.memory if lim else None),
        memory_swap=svc.memswap_limit,
        memory_reservation=svc.mem_reservation or (res.memory if res else None),
        cpus=svc.cpus or (lim.cpus if lim else None),
        cpu_shares=svc.cpu_shares, cpu_period=svc.cpu_period, cpu_quota=svc.cpu_quota,
        cpuset_cpus=svc.cpuset,
        pids=svc.pids_limit or (lim.pids if lim else None),
        memory_swappiness=svc.mem_swappiness,
        blkio_weight=int(str(blkio["weight"])) if blkio.get("weight") is not None else None,
        blkio_weight_device=_device_limits(blkio, "weight_device", "weight", False),
        device_read_bps=_device_limits(blkio, "device_read_bps", "rate", True),
        device_write_bps=_device_limits(blkio, "device_write_bps", "rate", True),
        device_read_iops=_device_limits(blkio, "device_read_iops", "rate", False),
        device_write_iops=_device_limits(blkio, "device_write_iops", "rate", False),
    )


def _device_limits(blkio: Mapping[str, object], key: str, field_name: str, size: bool) -> tuple[DeviceLimit, ...]:
    """One list of blkio_config as the engine's per-device limits; rates in bytes (``1mb``) or per second."""
    from engine.runtime.limits import DeviceLimit

    from ..config.units import parse_size

    out = []
    items = blkio.get(key)
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            value = str(item.get(field_name))
            out.append(DeviceLimit(path=str(item.get("path")), value=parse_size(value) if size else int(value)))
    return tuple(out)


def _devices(svc: Service) -> tuple[tuple[Device, ...], tuple[str, ...]]:
    """``devices`` and ``device_cgroup_rules``, checked as Docker checks them."""
    from engine.runtime import devices
    from engine.runtime.spec import Device

    for i, d in enumerate(svc.devices):
        try:
            devices.check_permissions(d.permissions)
        except ValueError as exc:
            raise ConfigError(str(exc), path=("services", svc.name, "devices", i)) from None
    for i, rule in enumerate(svc.device_cgroup_rules):
        try:
            devices.parse(rule)
        except ValueError as exc:
            raise ConfigError(str(exc), path=("services", svc.name, "device_cgroup_rules", i)) from None
    return tuple(Device(d.source, d.target, d.permissions) for d in svc.devices), tuple(svc.device_cgroup_rules)


def _seccomp(svc: Service, sec: Security, r: Resolved) -> str | None:
    """``ContainerSpec.seccomp``: None, "unconfined", "builtin", or the profile file's JSON (checked here)."""
    from engine.runtime import seccomp

    if sec.seccomp is None or sec.seccomp in ("unconfined", "builtin"):
        return sec.seccomp
    assert r.seccomp_profile is not None, "resolve() reads the profile"
    try:
        seccomp.check(r.seccomp_profile)
    except seccomp.ProfileError as exc:
        raise ConfigError(f"seccomp profile {sec.seccomp}: {exc}",
                          path=("services", svc.name, "security_opt", sec.seccomp_index)) from None
    return json.dumps(json.loads(r.seccomp_profile), separators=(",", ":"))


def container_labels(project: Project, svc: Service, number: int, digest: str, oneoff: bool = False) -> dict[str, str]:
    return {
        **svc.labels,
        labels.PROJECT: project.name, labels.SERVICE: svc.name, labels.NUMBER: str(number),
        labels.ONEOFF: "True" if oneoff else "False", labels.CONFIG_HASH: digest,
        labels.WORKING_DIR: project.working_dir, labels.CONFIG_FILES: ",".join(project.config_files),
        labels.VERSION: __version__,
        labels.DEPENDS_ON: ",".join(f"{dep}:{cond.condition}:{str(cond.restart).lower()}"
                                    for dep, cond in sorted(svc.depends_on.items())),
        labels.IMAGE: svc.image_name(project.name),
    }


def spec_for(project: Project, svc: Service, number: int, cid: str, r: Resolved, *,
             name: str | None = None, oneoff: bool = False, tty: bool | None = None,
             stdin_open: bool | None = None) -> ContainerSpec:
    """The ContainerSpec of container ``number`` of ``svc`` (``tty``/``stdin_open`` override the service's)."""
    from engine.runtime.spec import ContainerSpec, merge_env, resolve_argv

    img = r.image_config
    hostname = svc.hostname or cid[:12]
    argv = resolve_argv(list(img.entrypoint) if img.entrypoint is not None else None,
                        list(img.cmd) if img.cmd is not None else None,
                        list(svc.entrypoint) if svc.entrypoint is not None else None,
                        list(svc.command) if svc.command is not None else None)
    if svc.network_mode in (None, "bridge") and svc.networks:
        network = "bridge"
    elif svc.network_mode in ("none", "host"):
        network = svc.network_mode
    elif svc.network_mode:
        network = _namespace(svc, "network_mode", svc.network_mode, r.peers)
    else:
        network = "none"
    options = dict((svc.logging.options if svc.logging else {}) or {})
    from ..config.units import parse_size

    sec = security(project, svc)
    devices, device_rules = _devices(svc)

    return ContainerSpec(
        id=cid, name=name or container_name(project, svc, number), image_id=r.image_id, layers=r.layers,
        argv=tuple(argv), env=tuple(merge_env(list(img.env), dict(svc.environment), hostname)),
        working_dir=svc.working_dir or img.working_dir or "/", user=svc.user or img.user or None,
        group_add=svc.group_add, hostname=hostname, domainname=svc.domainname or "", group=project.name,
        mounts=_mounts(svc, r),
        devices=devices, device_rules=device_rules, seccomp=_seccomp(svc, sec, r),
        read_only=bool(svc.read_only), privileged=bool(svc.privileged), cap_add=svc.cap_add, cap_drop=svc.cap_drop,
        no_new_privileges=sec.no_new_privileges,
        sysctls=dict(svc.sysctls), ulimits={k: (u.soft, u.hard) for k, u in svc.ulimits.items()},
        limits=_limits(svc), oom_score_adj=svc.oom_score_adj, shm_size=svc.shm_size,
        network=network, endpoints=tuple(r.endpoints) if network == "bridge" else (), ports=_ports(svc, r),
        ipc=_namespace(svc, "ipc", svc.ipc, r.peers), pid=_namespace(svc, "pid", svc.pid, r.peers),
        uts="host" if svc.uts == "host" else "private",
        init=bool(svc.init), stop_signal=svc.stop_signal or img.stop_signal or "SIGTERM",
        stop_timeout=svc.stop_grace_period if svc.stop_grace_period is not None else 10.0,
        restart=_restart(svc), tty=bool(svc.tty) if tty is None else tty,
        stdin_open=bool(svc.stdin_open) if stdin_open is None else stdin_open,
        labels=container_labels(project, svc, number, config_hash(svc), oneoff),
        hosts=tuple((h, ip) for h, ips in svc.extra_hosts.items() for ip in ips),
        dns=svc.dns, dns_search=svc.dns_search, dns_options=svc.dns_opt,
        log_max_size=parse_size(options["max-size"]) if options.get("max-size") else 10 << 20,
        log_max_files=int(str(options["max-file"])) if options.get("max-file") else 3,
        healthcheck=_healthcheck(svc, img),
    )
