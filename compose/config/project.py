"""Assemble the Project from the merged compose dict: profiles, resources, checks."""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError, ConfigErrors, Location
from . import coerce as cv
from .forms import scalar_str
from .model import FileObject, IpamPool, Network, Project, Service, Volume
from .normalize import Locate, Normalizer, Reader


def _enabled(svc: Mapping[str, Any], name: str, profiles: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    own = [scalar_str(p) for p in svc.get("profiles") or []]
    active = profiles or ("",)  # with none active, Compose enables a service listing the profile ""
    return not own or "*" in active or any(p in active for p in own) or name in wanted


def _extensions(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k.startswith("x-")}


def _ext_name(raw: Mapping[str, Any], key: str, project: str) -> tuple[bool, str]:
    external = raw.get("external")
    if isinstance(external, dict):  # legacy ``external: {name: x}``
        return True, scalar_str(external.get("name", raw.get("name", key)))
    is_ext = bool(cv.to_bool(external)) if external is not None else False
    if raw.get("name") is not None:  # even "", which Compose keeps (and does not print)
        return is_ext, scalar_str(raw["name"])
    return is_ext, key if is_ext else f"{project}_{key}"


def network(key: str, raw: Mapping[str, Any] | None, project: str) -> Network:
    raw = raw or {}
    external, name = _ext_name(raw, key, project)
    ipam = raw.get("ipam") or {}
    pools = tuple(
        IpamPool(subnet=cv.opt_str(c.get("subnet")), ip_range=cv.opt_str(c.get("ip_range")),
                 gateway=cv.opt_str(c.get("gateway")), aux_addresses=cv.str_map(c.get("aux_addresses")))
        for c in ipam.get("config") or []
    )
    def flag(k: str) -> bool | None:
        return None if raw.get(k) is None else cv.to_bool(raw[k])
    return Network(
        name=name, driver=cv.opt_str(raw.get("driver")), driver_opts=cv.str_map(raw.get("driver_opts")),
        ipam_driver=cv.opt_str(ipam.get("driver")), ipam_config=pools,
        ipam_options=cv.str_map(ipam.get("options")), external=external,
        internal=bool(flag("internal")), attachable=bool(flag("attachable")),
        enable_ipv4=flag("enable_ipv4"), enable_ipv6=flag("enable_ipv6"),
        labels=cv.str_map(raw.get("labels")), extensions=_extensions(raw),
    )


def volume(key: str, raw: Mapping[str, Any] | None, project: str) -> Volume:
    raw = raw or {}
    labels = raw.get("labels")
    if isinstance(labels, list) and len(set(map(str, labels))) != len(labels):  # from two files
        raise ValueError("labels: must not contain the same item twice")
    external, name = _ext_name(raw, key, project)
    return Volume(name=name, driver=cv.opt_str(raw.get("driver")), driver_opts=cv.str_map(raw.get("driver_opts")),
                  external=external, labels=cv.str_map(raw.get("labels")), extensions=_extensions(raw))


def file_object(key: str, raw: Mapping[str, Any] | None, project: str) -> FileObject:
    raw = raw or {}
    external, name = _ext_name(raw, key, project)
    return FileObject(
        name=name, file=cv.opt_str(raw.get("file")), environment=cv.opt_str(raw.get("environment")),
        content=cv.opt_str(raw.get("content")), external=external, driver=cv.opt_str(raw.get("driver")),
        driver_opts=cv.str_map(raw.get("driver_opts")), template_driver=cv.opt_str(raw.get("template_driver")),
        labels=cv.str_map(raw.get("labels")), extensions=_extensions(raw),
    )


def _used(services: Any) -> dict[str, set[str]]:
    """The top-level resources the enabled services refer to."""
    used: dict[str, set[str]] = {"networks": set(), "volumes": set(), "secrets": set(), "configs": set()}
    for svc in services:
        used["networks"].update(svc.networks)
        used["volumes"].update(m.source for m in svc.volumes if m.type == "volume" and m.source)
        used["secrets"].update(r.source for r in svc.secrets)
        used["configs"].update(r.source for r in svc.configs)
        if svc.build is not None:
            used["secrets"].update(r.source for r in svc.build.secrets)
    return used


def _keep(resources: dict[str, Any], used: set[str]) -> dict[str, Any]:
    """Compose drops the resources no enabled service uses (``WithoutUnnecessaryResources``)."""
    return {k: v for k, v in resources.items() if k in used}


def build_project(
    merged: Mapping[str, Any], *, name: str, working_dir: str, config_files: tuple[str, ...],
    reader: Reader, profiles: tuple[str, ...], wanted: tuple[str, ...], locate: Locate,
    all_resources: bool = False, consistency: bool = True, env_resolution: bool = True,
) -> Project:
    """``all_resources`` keeps what no service uses; without ``consistency`` only values are checked, not the
    references between services and resources; without ``env_resolution`` env_file files are not read."""
    norm = Normalizer(reader, locate, env_resolution=env_resolution)
    raw_services: dict[str, Any] = {k: v or {} for k, v in (merged.get("services") or {}).items()}
    enabled: dict[str, Service] = {}
    disabled: dict[str, Service] = {}
    for key, raw in raw_services.items():
        svc = norm.service(key, raw)
        (enabled if _enabled(raw, key, profiles, wanted) else disabled)[key] = svc

    def resources(kind: str, make: Any) -> dict[str, Any]:
        out = {}
        for key, raw in (merged.get(kind) or {}).items():
            try:
                out[key] = make(key, raw, name)
            except ValueError as exc:
                raise ConfigError.at(locate((kind, key)), (kind, key), str(exc)) from None
        return out

    networks = resources("networks", network)
    if any("default" in s.networks for s in enabled.values()) and "default" not in networks:
        networks = {**networks, "default": Network(name=f"{name}_default")}
    used = _used(enabled.values())
    if all_resources:
        used = {kind: set(merged.get(kind) or {}) | names for kind, names in used.items()}
        if "default" in networks:
            used["networks"].add("default")
    project = Project(
        name=name, working_dir=working_dir, config_files=config_files,
        services=enabled,
        networks=_keep(networks, used["networks"]),
        volumes=_keep(resources("volumes", volume), used["volumes"]),
        secrets=_keep(resources("secrets", file_object), used["secrets"]),
        configs=_keep(resources("configs", file_object), used["configs"]),
        models=dict(merged.get("models") or {}),
        extensions=_extensions(merged),
        disabled_services=disabled,
        profiles=profiles,
        locations=_service_locations(raw_services, locate),
    )
    if consistency:
        check_consistency(project, locate, norm.errors)
    elif norm.errors:
        raise ConfigErrors(sorted(norm.errors, key=lambda e: (e.file or "", e.line, e.column)))
    return project


def _service_locations(raw: Mapping[str, Any], locate: Locate, depth: int = 4) -> dict[str, Location]:
    """Where each key under ``services`` was written, down to ``depth`` levels below a service."""
    out: dict[str, Location] = {}

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        if len(path) > depth + 1:
            return
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            where = (*path, key)
            found = locate(("services", *where))
            if found is not None and found.line:
                out[".".join(str(p) for p in ("services", *where))] = found
            walk(value, where)

    walk(raw, ())
    return out


def check_consistency(project: Project, locate: Locate, errors: list[ConfigError]) -> None:
    """References between services and top-level resources, as Compose checks them.

    Raises ConfigErrors with ``errors`` (found earlier) and every problem found here.
    """

    def err(path: tuple[str | int, ...], message: str) -> None:
        errors.append(ConfigError.at(locate(path), path, message))

    for name, svc in project.services.items():
        p = ("services", name)
        if svc.image is None and svc.build is None and svc.provider is None:
            err(p, f'service "{name}" has neither an image nor a build context specified')
        if svc.network_mode and svc.networks:
            err(p + ("network_mode",), f'service "{name}" declares both network_mode and networks; use one')
        for net in svc.networks:
            if net not in project.networks:
                err(p + ("networks", net), f'service "{name}" refers to undefined network "{net}"')
        for i, m in enumerate(svc.volumes):
            if m.type == "volume" and m.source and m.source not in project.volumes:
                err(p + ("volumes", i), f'service "{name}" refers to undefined volume "{m.source}"')
        for kind in ("secrets", "configs"):
            defined = getattr(project, kind)
            for i, ref in enumerate(getattr(svc, kind)):
                if ref.source not in defined:
                    err(p + (kind, i), f'service "{name}" refers to undefined {kind[:-1]} "{ref.source}"')
        if svc.container_name and svc.replicas > 1:
            err(p + ("container_name",),
                f'service "{name}" sets container_name but runs {svc.replicas} replicas; '
                "a container name must be unique")
        if svc.scale is not None and svc.deploy and svc.deploy.replicas is not None \
                and svc.scale != svc.deploy.replicas:
            err(p + ("scale",), f"scale ({svc.scale}) and deploy.replicas ({svc.deploy.replicas}) disagree")
        check_service_values(project, name, svc, err)
    named: dict[str, str] = {}
    for name, svc in project.services.items():
        if svc.container_name and svc.container_name in named:
            err(("services", name, "container_name"),
                f'container name "{svc.container_name}" is already used by service "{named[svc.container_name]}"')
        elif svc.container_name:
            named[svc.container_name] = name
    for kind in ("secrets", "configs"):
        for key, obj in getattr(project, kind).items():
            sources = [s for s in (obj.file, obj.environment, obj.content) if s is not None]
            if not obj.external and len(sources) != 1:
                err((kind, key), f'{kind[:-1]} "{key}" must have exactly one of file, environment or content')
    check_dependencies(project, locate, errors)
    if errors:
        raise ConfigErrors(sorted(errors, key=lambda e: (e.file or "", e.line, e.column)))


def check_service_values(project: Project, name: str, svc: Service,
                         err: Callable[[tuple[str | int, ...], str], None]) -> None:
    """The checks Compose makes between a service's own values."""
    p: tuple[str | int, ...] = ("services", name)
    if svc.scale is not None and svc.scale < 0:
        err(p + ("scale",), "must be greater than or equal to 0")
    deploy = svc.deploy
    if deploy is not None and deploy.replicas is not None and deploy.replicas < 0:
        err(p + ("deploy", "replicas"), "must be greater than or equal to 0")
    limits = deploy.resources_limits if deploy else None
    reservations = deploy.resources_reservations if deploy else None
    for key, own, block, field_name, where in (
        ("cpus", svc.cpus, limits, "cpus", "deploy.resources.limits.cpus"),
        ("mem_limit", svc.mem_limit, limits, "memory", "deploy.resources.limits.memory"),
        ("mem_reservation", svc.mem_reservation, reservations, "memory", "deploy.resources.reservations.memory"),
        ("pids_limit", svc.pids_limit, limits, "pids", "deploy.resources.limits.pids"),
    ):
        if own and block is not None and not _same(own, getattr(block, field_name) or 0):
            err(p + (key,), f"can't set distinct values on '{key}' and '{where}'")
    if svc.build is not None and svc.build.platforms and svc.platform and svc.platform not in svc.build.platforms:
        err(p + ("build", "platforms"), f'service.build.platforms MUST include service.platform "{svc.platform}"')
    for model in svc.models or {}:
        if model not in project.models:
            err(p + ("models",), f'service "{name}" refers to undefined model {model}')
    for key in ("security_opt", "volumes_from", "external_links", "group_add", "device_cgroup_rules"):
        values = getattr(svc, key)
        if len(set(values)) != len(values):  # the same item from two files: Compose's schema refuses it
            err(p + (key,), "must not contain the same item twice")
    mounted: dict[str, str] = {}
    for i, tmpfs in enumerate(svc.tmpfs):
        mounted.setdefault(tmpfs.split(":")[0], f"tmpfs[{i}]")
    for i, m in enumerate(svc.volumes):
        if m.target in mounted:
            err(p + ("volumes", i), f"target {m.target} already mounted as services.{name}.{mounted[m.target]}")
        mounted.setdefault(m.target, f"volumes[{i}]")


def _same(own: float, other: float) -> bool:
    """Compose compares cpus as float32: 1.5 and "1.50" agree."""
    return struct.unpack("f", struct.pack("f", own))[0] == struct.unpack("f", struct.pack("f", other))[0]


def dependency_refs(svc: Service) -> list[tuple[str, str, bool]]:
    """(key it was written under, service, required) for every other service ``svc`` needs."""
    refs = []
    refs += [("links", link.split(":")[0], True) for link in svc.links]
    for vf in svc.volumes_from:
        if not vf.startswith("container:"):
            refs.append(("volumes_from", vf.split(":")[0], True))
    for key in ("network_mode", "ipc", "pid", "uts", "cgroup"):
        value = getattr(svc, key)
        if value and value.startswith("service:"):
            refs.append((key, value.split(":", 1)[1], True))
    written = {dep for _, dep, _ in refs}
    return [("depends_on", dep, d.required) for dep, d in svc.depends_on.items() if dep not in written] + refs


def check_dependencies(project: Project, locate: Locate, errors: list[ConfigError]) -> None:
    for name, svc in project.services.items():
        for kind, dep, required in dependency_refs(svc):
            if dep in project.services or not required:
                continue
            path = ("services", name, kind)
            if dep in project.disabled_services:
                profiles = ", ".join(project.disabled_services[dep].profiles)
                msg = (f'service "{name}" depends on service "{dep}", which is disabled '
                       f"(profiles: {profiles}); enable it with --profile or drop the dependency")
            else:
                msg = f'service "{name}" depends on undefined service "{dep}"'
            errors.append(ConfigError.at(locate(path), path, msg))
