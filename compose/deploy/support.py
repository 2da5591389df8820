"""What the engine cannot do, refused before anything is created: no compose key is silently dropped.

``config`` accepts every key of the Compose Specification, as Docker Compose
does; ``up``, ``create`` and ``run`` call ``check`` first, and a service that
uses a key pycompose cannot honour fails with one error per key, naming the
file, line, service and key. Nothing is created when any key is refused.
"""

from __future__ import annotations

import platform as host
from collections.abc import Iterable
from dataclasses import dataclass

from ..config.model import Project, Service
from ..errors import ConfigError, ConfigErrors

PathPart = str | int


@dataclass(frozen=True)
class Gap:
    path: tuple[PathPart, ...]  # below ``services.<name>``
    message: str


_LOG_DRIVERS = (None, "json-file", "local")
_LOG_OPTIONS = ("max-size", "max-file")
_PLATFORMS = {"x86_64": ("linux/amd64", "linux/x86_64", "linux/amd64/v1", "linux/amd64/v2", "linux/amd64/v3"),
              "aarch64": ("linux/arm64", "linux/arm64/v8", "linux/aarch64")}
# key -> why it cannot be honoured; any value set means the key is refused
_UNSUPPORTED = {
    "userns_mode": "user namespaces are not supported yet",
    "cgroup_parent": "containers always live under pycompose's own cgroup",
    "cpu_rt_period": "real-time CPU scheduling is not supported",
    "cpu_rt_runtime": "real-time CPU scheduling is not supported",
    "cpu_count": "cpu_count is a Windows option; use cpus",
    "cpu_percent": "cpu_percent is a Windows option; use cpus",
    "gpus": "GPUs are not supported",
    "credential_spec": "credential_spec is a Windows option",
    "runtime": "pycompose runs containers itself; other OCI runtimes cannot be chosen",
    "storage_opt": "storage options are not supported (the root filesystem is an overlay of the image)",
    "models": "models are not supported",
    "provider": "provider services are not supported",
    "external_links": "external_links is not supported: put both containers on a shared network instead",
    "label_file": "label_file is not supported yet: use labels",
}


def gaps(svc: Service) -> list[Gap]:
    """Every key of ``svc`` that pycompose would otherwise ignore, with the reason."""
    out = [Gap((key,), f"{key} is not supported: {why}")
           for key, why in _UNSUPPORTED.items() if getattr(svc, key) not in (None, (), {}, "", False)]
    if svc.oom_kill_disable:
        out.append(Gap(("oom_kill_disable",), "oom_kill_disable is not supported: the OOM killer always applies"))
    if svc.cgroup == "private":
        out.append(Gap(("cgroup",), "cgroup: private is not supported yet: containers share the host's "
                                    "cgroup namespace (as on a cgroup v1 host)"))
    if svc.isolation not in (None, "", "default"):
        out.append(Gap(("isolation",), f"isolation: {svc.isolation} is a Windows option"))
    if svc.use_api_socket:
        out.append(Gap(("use_api_socket",), "use_api_socket is not supported: pycompose has no Docker API socket"))
    if svc.platform and svc.platform.lower() not in _PLATFORMS.get(host.machine(), ()):
        out.append(Gap(("platform",), f"platform {svc.platform} is not this machine's ({host.machine()}); "
                                      "pycompose runs images of the host's platform only"))
    out += _logging(svc) + _deploy(svc) + _networks(svc) + _volumes(svc)
    return out


def _files(project: Project, svc: Service) -> list[Gap]:
    out = []
    for kind, refs, objects in (("secrets", svc.secrets, project.secrets), ("configs", svc.configs, project.configs)):
        for i, ref in enumerate(refs):
            obj = objects.get(ref.source)
            if obj is not None and obj.external:
                out.append(Gap((kind, i), f"{kind[:-1]} {ref.source} is external: external {kind} live in a "
                                          "swarm; give it a file, environment or content"))
            elif obj is not None and (obj.driver or obj.template_driver):
                out.append(Gap((kind, i), f"{kind[:-1]} {ref.source}: drivers are a swarm feature"))
    return out


def _logging(svc: Service) -> list[Gap]:
    if svc.logging is None:
        return []
    out = []
    if svc.logging.driver not in _LOG_DRIVERS:
        out.append(Gap(("logging", "driver"), f'logging driver "{svc.logging.driver}" is not supported: '
                                              "logs are kept as json-file"))
    out += [Gap(("logging", "options", key), f'logging option "{key}" is not supported (only max-size, max-file)')
            for key in svc.logging.options if key not in _LOG_OPTIONS]
    return out


def _deploy(svc: Service) -> list[Gap]:
    d = svc.deploy
    if d is None:
        return []
    out = []
    if d.mode in ("replicated-job", "global-job"):
        out.append(Gap(("deploy", "mode"), f"deploy mode {d.mode} is a swarm mode"))
    reservations = d.resources_reservations
    if reservations is not None and reservations.devices:
        out.append(Gap(("deploy", "resources", "reservations", "devices"), "device reservations (GPUs) "
                                                                           "are not supported"))
    if reservations is not None and reservations.generic_resources:
        out.append(Gap(("deploy", "resources", "reservations", "generic_resources"),
                       "generic resources are a swarm feature"))
    return out


def _networks(svc: Service) -> list[Gap]:
    out = []
    for name, cfg in svc.networks.items():
        if cfg is None:
            continue
        where = ("networks", name)
        if cfg.ipv6_address:
            out.append(Gap((*where, "ipv6_address"), "IPv6 is not supported yet"))
        if cfg.link_local_ips:
            out.append(Gap((*where, "link_local_ips"), "link-local addresses are not supported"))
        if cfg.driver_opts:
            out.append(Gap((*where, "driver_opts"), "endpoint driver options are not supported"))
        if cfg.interface_name:
            out.append(Gap((*where, "interface_name"), "interface names are not supported: interfaces are "
                                                        "eth0, eth1... in network order"))
        if cfg.gw_priority:
            out.append(Gap((*where, "gw_priority"), "gw_priority is not supported: the default route goes "
                                                     "through the first network by priority"))
    return out


def _volumes(svc: Service) -> list[Gap]:
    out = []
    for i, m in enumerate(svc.volumes):
        if m.type not in ("bind", "volume", "tmpfs"):
            out.append(Gap(("volumes", i), f'volume type "{m.type}" is not supported'))
        elif m.bind is not None and m.bind.recursive not in (None, "", "enabled"):
            out.append(Gap(("volumes", i, "bind", "recursive"), f"recursive: {m.bind.recursive} is not supported"))
    return out


def check(project: Project, services: Iterable[str]) -> None:
    """Raise ConfigErrors, one located error per key the engine cannot honour, for ``services``."""
    errors = []
    for name in sorted(set(services)):
        for gap in gaps(project.services[name]) + _files(project, project.services[name]):
            path = ("services", name, *gap.path)
            errors.append(ConfigError.at(project.location(path), path, gap.message))
    if errors:
        raise ConfigErrors(errors)
