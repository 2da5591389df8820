"""The model printed as ``docker compose config`` prints a project.

Service keys are sorted; nested blocks keep Compose's field order. Sizes
print as byte counts in strings (``"536870912"``), durations as Go prints
them (``1m30s``), published ports as strings, commands as lists.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from .model import (
    Build,
    Deploy,
    FileObject,
    Healthcheck,
    Mount,
    Network,
    Port,
    Project,
    Resources,
    Service,
    Ulimit,
    Volume,
)
from .units import format_duration, parse_size


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    """Drop unset entries: None, False flags, empty strings and collections (Go's ``omitempty``)."""
    return {k: v for k, v in d.items()
            if v is not None and v is not False and v != "" and v != {} and v != [] and v != ()}


def _size(n: int | None) -> str | None:
    return None if n is None else str(n)


def _dur(s: float | None) -> str | None:
    return None if s is None else format_duration(s)


def _number(x: float | None) -> float | int | None:
    """A float32 as Go prints it: 2.0 is ``2``."""
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _list(t: tuple[Any, ...]) -> list[Any] | None:
    return list(t) if t else None


def port(p: Port) -> dict[str, Any]:
    return _clean({"name": p.name, "mode": p.mode, "host_ip": p.host_ip, "target": p.target,
                   "published": p.published, "protocol": p.protocol_as_written or p.protocol,
                   "app_protocol": p.app_protocol})


def mount(m: Mount) -> dict[str, Any]:
    out = _clean({"type": m.type, "source": m.source, "target": m.target,
                  "read_only": m.read_only, "consistency": m.consistency})
    if m.bind is not None:
        out["bind"] = _clean({"propagation": m.bind.propagation, "create_host_path": m.bind.create_host_path,
                              "selinux": m.bind.selinux, "recursive": m.bind.recursive})
    if m.volume is not None:  # Compose prints ``volume: {}`` even when no option is set
        out["volume"] = _clean({"nocopy": m.volume.nocopy, "subpath": m.volume.subpath,
                                "labels": dict(m.volume.labels)})
    if m.tmpfs is not None:
        out["tmpfs"] = _clean({"size": _size(m.tmpfs.size), "mode": m.tmpfs.mode})
    if m.image_subpath is not None:
        out["image"] = {"subpath": m.image_subpath}
    return {k: v for k, v in out.items() if v != {} or k == "volume"}


def ulimit(u: Ulimit) -> Any:
    """A number when given as one; zeros are not printed (``nofile: 0`` prints ``{}``)."""
    if u.single and u.soft:
        return u.soft
    return {k: v for k, v in (("soft", u.soft), ("hard", u.hard)) if v and not u.single}


def build(b: Build) -> dict[str, Any]:
    return _clean({
        "context": b.context, "dockerfile": b.dockerfile, "dockerfile_inline": b.dockerfile_inline,
        "args": dict(b.args), "ssh": _list(b.ssh), "labels": dict(b.labels),
        "cache_from": _list(b.cache_from), "cache_to": _list(b.cache_to), "no_cache": b.no_cache,
        "additional_contexts": dict(b.additional_contexts), "network": b.network, "pull": b.pull,
        "target": b.target, "shm_size": _size(b.shm_size), "extra_hosts": _hosts(b.extra_hosts),
        "isolation": b.isolation, "privileged": b.privileged,
        "secrets": [_ref(r) for r in b.secrets], "tags": _list(b.tags),
        "ulimits": {k: ulimit(v) for k, v in b.ulimits.items()}, "platforms": _list(b.platforms),
        "entitlements": _list(b.entitlements), "provenance": b.provenance, "sbom": b.sbom,
    })


def healthcheck(h: Healthcheck) -> dict[str, Any]:
    return _clean({"test": _list(h.test) if h.test is not None else None, "timeout": _dur(h.timeout),
                   "interval": _dur(h.interval), "retries": h.retries,
                   "start_period": _dur(h.start_period), "start_interval": _dur(h.start_interval),
                   "disable": h.disable})


def _resources(r: Resources | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return _clean({"cpus": _number(r.cpus) or None, "memory": _size(r.memory or None), "pids": r.pids or None,
                   "devices": list(r.devices), "generic_resources": list(r.generic_resources)})


def deploy(d: Deploy) -> dict[str, Any]:
    policy = None
    if d.restart_policy is not None:
        rp = d.restart_policy
        policy = _clean({"condition": rp.condition, "delay": _dur(rp.delay),
                         "max_attempts": rp.max_attempts, "window": _dur(rp.window)})
    resources = {k: v for k, v in (("limits", _resources(d.resources_limits)),
                                   ("reservations", _resources(d.resources_reservations))) if v is not None}
    return _clean({
        "mode": d.mode, "replicas": d.replicas, "labels": dict(d.labels), "update_config": d.update_config,
        "rollback_config": d.rollback_config, "resources": resources or None,
        "restart_policy": policy, "placement": d.placement, "endpoint_mode": d.endpoint_mode,
    })


def _hosts(hosts: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    return sorted(f"{h}={ip}" for h, ips in hosts.items() for ip in ips) or None


def _ref(r: Any) -> dict[str, Any]:
    mode = None if r.mode is None else f"0{r.mode:o}"  # Compose prints file modes in octal
    return _clean({"source": r.source, "target": r.target, "uid": r.uid, "gid": r.gid, "mode": mode})


def _blkio(value: Any) -> Any:
    """blkio_config as Compose prints it: device entries as ``{Path, Rate}`` / ``{Path, Weight}``
    (its Go types have no JSON names), rates as strings, byte rates in bytes (``12mb`` -> ``"12582912"``)."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key in ("device_read_bps", "device_write_bps", "device_read_iops", "device_write_iops"):
        if isinstance(out.get(key), list):
            out[key] = [_blkio_rate(d, key.endswith("_bps")) for d in out[key]]
    if isinstance(out.get("weight_device"), list):
        out["weight_device"] = [{"Path": d.get("path"), "Weight": d.get("weight")} if isinstance(d, dict) else d
                                for d in out["weight_device"]]
    return out


def _blkio_rate(entry: Any, in_bytes: bool) -> Any:
    if not isinstance(entry, dict):
        return entry
    rate = entry.get("rate")
    text = str(parse_size(rate)) if in_bytes and rate is not None else (None if rate is None else str(rate))
    return {"Path": entry.get("path"), "Rate": text}


# env_file is already folded into environment; Compose v2.40 has no field for pull_refresh_after
_NOT_PRINTED = {"name", "env_file", "label_file", "pull_refresh_after"}  # label_file: folded into labels
_POINTERS = {"init", "attach", "scale", "stop_grace_period"}  # printed even when false or 0


def _zero(value: Any) -> bool:
    return value is False or value == "" or (type(value) in (int, float) and value == 0)


def service(s: Service, *, as_json: bool = False, env_files: bool = False) -> dict[str, Any]:
    """One service as ``config`` prints it; ``env_files``: its env_file list too (when not folded in)."""
    out: dict[str, Any] = {}
    if env_files and s.env_file:
        out["env_file"] = [{"path": ef.path, **({"format": ef.format} if ef.format else {}), "required": ef.required}
                           for ef in s.env_file]
    for f in dataclasses.fields(s):
        if f.name in _NOT_PRINTED:
            continue
        value = getattr(s, f.name)
        if f.name in ("command", "entrypoint") and value is not None:
            out[f.name] = list(value)  # an empty list is printed as such
            continue
        if f.name == "develop" and value is not None:  # a pointer in Compose: ``develop: {}`` is printed
            out[f.name] = develop(value, as_json=as_json)
            continue
        if value is None or value == () or value == {}:
            continue
        if f.name not in _POINTERS and _zero(value):
            continue  # Compose's ``omitempty``: false, 0 and "" are not printed
        if f.name == "extensions":
            if not as_json:  # Compose's JSON leaves service-level x- keys out
                out.update(value)
            continue
        out[f.name] = _service_value(f.name, value, as_json)
    if as_json:
        out.setdefault("command", None)
        out.setdefault("entrypoint", None)
    return {k: out[k] for k in sorted(out)}


def develop(value: Mapping[str, Any], *, as_json: bool) -> dict[str, Any]:
    """Compose's JSON prints every rule's ``exec`` (``{"command": null}`` when empty) and no ``x-`` keys; its
    YAML leaves an empty ``exec`` out and keeps the ``x-`` keys."""
    def plain(d: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if not (as_json and k.startswith("x-"))}

    rules = [{k: v for k, v in plain(rule).items() if as_json or k != "exec" or v != {"command": None}}
             for rule in value.get("watch", ())]
    return {**({"watch": rules} if rules else {}), **{k: v for k, v in plain(value).items() if k != "watch"}}


def _service_value(key: str, value: Any, as_json: bool) -> Any:
    if key in ("mem_limit", "mem_reservation", "memswap_limit", "shm_size", "mem_swappiness"):
        return str(value)
    if key == "blkio_config":
        return _blkio(value)
    if key == "cpus":
        return _number(value)
    if key == "stop_grace_period":
        return format_duration(value)
    if key == "build":
        return build(value)
    if key == "ports":
        return [port(p) for p in value]
    if key == "volumes":
        return [mount(m) for m in value]
    if key == "networks":
        return {n: (None if c is None else _clean({
            "aliases": _list(c.aliases), "ipv4_address": c.ipv4_address, "ipv6_address": c.ipv6_address,
            "link_local_ips": _list(c.link_local_ips), "mac_address": c.mac_address,
            "driver_opts": dict(c.driver_opts), "priority": c.priority, "gw_priority": c.gw_priority,
            "interface_name": c.interface_name,
        })) for n, c in value.items()}
    if key == "depends_on":
        return {n: _clean({"condition": d.condition, "restart": d.restart}) | {"required": d.required}
                for n, d in value.items()}
    if key == "healthcheck":
        return healthcheck(value)
    if key == "deploy":
        out = deploy(value)
        if as_json:  # struct fields Go's JSON encoder always prints
            out.setdefault("resources", {})
            out.setdefault("placement", {})
        return out
    if key == "ulimits":
        return {k: ulimit(v) for k, v in value.items()}
    if key == "devices":
        return [{"source": d.source, "target": d.target, "permissions": d.permissions} for d in value]
    if key == "logging":
        return _clean({"driver": value.driver, "options": dict(value.options)})
    if key in ("secrets", "configs"):
        return [_ref(r) for r in value]
    if key == "extra_hosts":
        return _hosts(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def network(n: Network, *, as_json: bool = False) -> dict[str, Any]:
    ipam = _clean({
        "driver": n.ipam_driver,
        "config": [_clean({"subnet": p.subnet, "ip_range": p.ip_range, "gateway": p.gateway,
                           "aux_addresses": dict(p.aux_addresses)}) for p in n.ipam_config],
    })  # Compose v2.40's IPAM type has no options: they are not printed
    out = _clean({
        "name": n.name, "driver": n.driver, "driver_opts": dict(n.driver_opts), "ipam": ipam or None,
        "external": n.external, "internal": n.internal, "attachable": n.attachable,
        "labels": dict(n.labels),
    }) | {k: v for k, v in (("enable_ipv4", n.enable_ipv4), ("enable_ipv6", n.enable_ipv6)) if v is not None}
    if as_json:
        out.setdefault("ipam", {})
        return out
    return out | dict(n.extensions)


def volume(v: Volume, *, as_json: bool = False) -> dict[str, Any]:
    out = _clean({"name": v.name, "driver": v.driver, "driver_opts": dict(v.driver_opts),
                  "external": v.external, "labels": dict(v.labels)})
    return out if as_json else out | dict(v.extensions)


def file_object(o: FileObject, *, as_json: bool = False) -> dict[str, Any]:
    out = _clean({"name": o.name, "file": o.file, "environment": o.environment, "content": o.content,
                  "external": o.external, "driver": o.driver, "driver_opts": dict(o.driver_opts),
                  "template_driver": o.template_driver, "labels": dict(o.labels)})
    return out if as_json else out | dict(o.extensions)


def project_dict(p: Project, *, as_json: bool = False, escape: bool = True, env_files: bool = False) -> dict[str, Any]:
    """The project as ``config`` prints it; ``escape`` doubles ``$`` so the output loads back as is;
    ``env_files``: the services' env_file lists (``--no-env-resolution``)."""
    j = as_json
    out: dict[str, Any] = {"name": p.name, "services": {k: service(p.services[k], as_json=j, env_files=env_files)
                                                        for k in sorted(p.services)}}
    if p.networks:
        out["networks"] = {k: network(p.networks[k], as_json=j) for k in sorted(p.networks)}
    if p.volumes:
        out["volumes"] = {k: volume(p.volumes[k], as_json=j) for k in sorted(p.volumes)}
    if p.secrets:
        out["secrets"] = {k: file_object(p.secrets[k], as_json=j) for k in sorted(p.secrets)}
    if p.configs:
        out["configs"] = {k: file_object(p.configs[k], as_json=j) for k in sorted(p.configs)}
    # Compose v2.40 prints no top-level models (its project type leaves them out)
    out.update(p.extensions)
    return _escape(out) if escape else out


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    return value


class _Dumper:
    """YAML output as Compose writes it: block style, 2-space indent, lists indented under keys."""

    @staticmethod
    def dump(data: Any) -> str:
        import yaml

        class Dumper(yaml.SafeDumper):
            def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
                return super().increase_indent(flow, False)

            def choose_scalar_style(self) -> Any:
                style = super().choose_scalar_style()
                return '"' if style == "'" else style

        def str_presenter(dumper: Any, value: str) -> Any:
            style = "|" if "\n" in value else None
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

        Dumper.add_representer(str, str_presenter)
        return yaml.dump(data, Dumper=Dumper, sort_keys=False, default_flow_style=False,
                         allow_unicode=True, width=1 << 30)


def to_yaml(data: Any) -> str:
    return _Dumper.dump(data)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
