"""Turn the merged, validated compose dict into the typed model (compose.model).

Everything here is pure except reading ``env_file`` files, which Compose
resolves into the service's environment at load time.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..errors import ConfigError, Location, PathPart
from . import blocks, resources
from . import coerce as cv
from .dotenv import parse_dotenv, parse_raw_env
from .forms import extra_hosts_to_dict, names_to_dict, scalar_str
from .model import (
    BindOptions,
    Build,
    Dependency,
    Device,
    EnvFile,
    FileRef,
    Logging,
    Mount,
    Port,
    Service,
    ServiceNetwork,
    TmpfsOptions,
    VolumeOptions,
)
from .syntax import parse_port, parse_volume
from .units import parse_duration, parse_size

Locate = Callable[[tuple[PathPart, ...]], Location | None]


class Reader(Protocol):
    """How normalization reaches outside: env_file files and environment variables."""

    def lookup(self, name: str) -> str | None: ...
    def isfile(self, path: str) -> bool: ...
    def read_text(self, path: str) -> str: ...


class Normalizer:
    """Converts one service at a time; errors carry the path and, when known, the place."""

    def __init__(self, reader: Reader, locate: Locate, *, env_resolution: bool = True) -> None:
        self.reader = reader
        self.locate = locate
        self.env_resolution = env_resolution  # read env_file files into environment
        self.errors: list[ConfigError] = []

    def fail(self, path: tuple[PathPart, ...], message: str) -> ConfigError:
        return ConfigError.at(self.locate(path), path, message)

    def conv(self, path: tuple[PathPart, ...], fn: Callable[[Any], Any], value: Any) -> Any:
        """``fn(value)``; a ValueError is recorded (all are reported together) and gives None."""
        if value is None:
            return None
        try:
            return fn(value)
        except ValueError as exc:
            self.errors.append(self.fail(path, str(exc)))
            return None

    # -- services -----------------------------------------------------------------

    def service(self, name: str, raw: Mapping[str, Any]) -> Service:
        p: tuple[PathPart, ...] = ("services", name)
        c = self.conv
        simple_str = (
            "image", "working_dir", "user", "hostname", "domainname", "container_name",
            "network_mode", "mac_address", "ipc", "pid", "uts", "userns_mode", "cgroup",
            "cgroup_parent", "cpuset", "stop_signal", "platform", "pull_policy", "runtime",
            "isolation", "pull_refresh_after",
        )
        ints = (
            "mem_swappiness", "cpu_shares", "cpu_period", "cpu_rt_period", "cpu_quota", "cpu_rt_runtime",
            "cpu_count", "cpu_percent", "oom_score_adj", "scale",
        )
        bools = (
            "init", "privileged", "read_only", "stdin_open", "tty", "attach",
            "oom_kill_disable", "use_api_socket",
        )
        sizes = ("mem_limit", "mem_reservation", "memswap_limit", "shm_size")
        kw: dict[str, Any] = {"name": name}
        for key in simple_str:
            kw[key] = cv.opt_str(raw.get(key))
        for key in ints:
            kw[key] = c(p + (key,), cv.to_int, raw.get(key))
        for key in bools:
            kw[key] = c(p + (key,), cv.to_bool, raw.get(key))
        for key in sizes:
            value = raw.get(key)
            kw[key] = -1 if scalar_str(value) == "-1" else c(p + (key,), parse_size, value)
        kw["pids_limit"] = c(p + ("pids_limit",), cv.to_int, raw.get("pids_limit"))
        kw["cpus"] = c(p + ("cpus",), cv.to_float, raw.get("cpus"))
        kw["stop_grace_period"] = c(p + ("stop_grace_period",), parse_duration, raw.get("stop_grace_period"))
        for key in ("command", "entrypoint"):
            kw[key] = c(p + (key,), cv.command, raw.get(key))
        for key in ("group_add", "dns", "dns_opt", "dns_search", "tmpfs", "cap_add", "cap_drop",
                    "security_opt", "links", "external_links", "profiles", "volumes_from",
                    "device_cgroup_rules", "label_file"):
            kw[key] = cv.str_tuple(raw.get(key))
        kw["expose"] = cv.str_tuple(raw.get("expose"))
        for key in ("labels", "annotations", "sysctls", "storage_opt"):
            kw[key] = cv.str_map(raw.get(key))
        kw["labels"] = {**self.label_files(p + ("label_file",), kw["label_file"]), **kw["labels"]}
        kw["image"] = kw["image"] or None  # ``image: ""`` is no image, as Compose reads it
        if kw["pull_policy"] == "if_not_present":  # Compose's older name for it
            kw["pull_policy"] = "missing"
        kw["dns"] = tuple(d for d in kw["dns"] if d)  # Compose drops empty servers
        hosts = c(p + ("extra_hosts",), lambda v: extra_hosts_to_dict(v, strict=True), raw.get("extra_hosts"))
        kw["extra_hosts"] = {h: tuple(ips) for h, ips in (hosts or {}).items()}
        kw["restart"] = c(p + ("restart",), resources.check_restart, raw.get("restart"))
        kw["env_file"] = self.env_files(p, raw.get("env_file"))
        kw["environment"] = self.environment(p, raw.get("environment"), kw["env_file"])
        kw["build"] = self.build(p + ("build",), raw.get("build"))
        kw["ports"] = self.ports(p + ("ports",), raw.get("ports") or [])
        kw["volumes"] = tuple(self.mount(p + ("volumes", i), v) for i, v in enumerate(raw.get("volumes") or []))
        kw["networks"] = self.service_networks(p + ("networks",), raw)
        kw["depends_on"] = implied_dependencies(
            self.depends_on(p + ("depends_on",), raw.get("depends_on")), raw)
        kw["healthcheck"] = resources.healthcheck(c, self.fail, p + ("healthcheck",), raw.get("healthcheck"))
        kw["deploy"] = resources.deploy(c, p + ("deploy",), raw.get("deploy"))
        kw["ulimits"] = resources.ulimits(c, p + ("ulimits",), raw.get("ulimits"))
        kw["devices"] = tuple(self.device(p + ("devices", i), d) for i, d in enumerate(raw.get("devices") or []))
        kw["logging"] = self.logging(raw.get("logging"))
        kw["secrets"] = tuple(
            self.file_ref(p + ("secrets", i), r, default_dir="/run/secrets")
            for i, r in enumerate(raw.get("secrets") or []))
        kw["configs"] = tuple(self.file_ref(p + ("configs", i), r) for i, r in enumerate(raw.get("configs") or []))
        for key in ("blkio_config", "credential_spec"):
            kw[key] = raw.get(key)
        kw["models"] = names_to_dict(raw.get("models")) if raw.get("models") is not None else None
        for key, canonical in (("develop", blocks.develop), ("gpus", blocks.gpus), ("provider", blocks.provider),
                               ("post_start", blocks.hooks), ("pre_stop", blocks.hooks)):
            kw[key] = c(p + (key,), canonical, raw.get(key))
        kw["extensions"] = {k: v for k, v in raw.items() if k.startswith("x-")}
        return Service(**kw)

    def env_files(self, p: tuple[PathPart, ...], raw: Any) -> tuple[EnvFile, ...]:
        if raw is None:
            return ()
        items = raw if isinstance(raw, list) else [raw]
        out = []
        for i, item in enumerate(items):
            if isinstance(item, dict):
                required = self.conv(p + ("env_file", i, "required"), cv.to_bool, item.get("required"))
                out.append(EnvFile(path=scalar_str(item["path"]),
                                   required=True if required is None else required,
                                   format=cv.opt_str(item.get("format"))))
            else:
                out.append(EnvFile(path=scalar_str(item)))
        return tuple(out)

    def label_files(self, p: tuple[PathPart, ...], paths: tuple[str, ...]) -> dict[str, str]:
        """Labels read from ``label_file`` files (.env syntax); the service's own labels win."""
        out: dict[str, str] = {}
        for i, path in enumerate(paths):
            if not self.reader.isfile(path):
                self.errors.append(self.fail(p + (i,), f"label file {path} not found"))
                continue
            out.update(parse_dotenv(self.reader.read_text(path), filename=path, lookup=self.reader.lookup))
        return out

    def environment(self, p: tuple[PathPart, ...], raw: Any, env_files: tuple[EnvFile, ...]) -> dict[str, str | None]:
        env: dict[str, str | None] = {}
        for i, ef in enumerate(env_files if self.env_resolution else ()):
            if not self.reader.isfile(ef.path):
                if ef.required:
                    self.errors.append(self.fail(p + ("env_file", i), f"env file {ef.path} not found"))
                continue
            text = self.reader.read_text(ef.path)
            if ef.format not in (None, "raw"):
                self.errors.append(self.fail(p + ("env_file", i, "format"),
                                             f'unsupported env_file format "{ef.format}" (raw, or none for .env syntax)'))
                continue
            parse = parse_raw_env if ef.format == "raw" else parse_dotenv
            env.update(parse(text, filename=ef.path, lookup=self.reader.lookup))
        for key, value in cv.opt_str_map(raw).items():
            env[key] = self.reader.lookup(key) if value is None else value
        return env

    def build(self, p: tuple[PathPart, ...], raw: Any) -> Build | None:
        if raw is None:
            return None
        if isinstance(raw, str):
            return Build(context=raw)
        c = self.conv
        inline = cv.opt_str(raw.get("dockerfile_inline"))
        if inline and raw.get("dockerfile"):
            self.errors.append(self.fail(p + ("dockerfile_inline",), "dockerfile and dockerfile_inline are exclusive"))
        return Build(
            context=scalar_str(raw.get("context", ".")),
            dockerfile=None if inline is not None else scalar_str(raw.get("dockerfile", "Dockerfile")),
            dockerfile_inline=inline,
            args=_resolved(cv.opt_str_map(raw.get("args")), self.reader.lookup),
            ssh=cv.str_tuple(raw.get("ssh")),
            labels=cv.str_map(raw.get("labels")),
            cache_from=cv.str_tuple(raw.get("cache_from")),
            cache_to=cv.str_tuple(raw.get("cache_to")),
            no_cache=bool(c(p + ("no_cache",), cv.to_bool, raw.get("no_cache"))),
            additional_contexts=cv.str_map(raw.get("additional_contexts")),
            network=cv.opt_str(raw.get("network")),
            pull=bool(c(p + ("pull",), cv.to_bool, raw.get("pull"))),
            target=cv.opt_str(raw.get("target")),
            shm_size=c(p + ("shm_size",), parse_size, raw.get("shm_size")),
            extra_hosts={h: tuple(v) for h, v in extra_hosts_to_dict(raw.get("extra_hosts")).items()},
            isolation=cv.opt_str(raw.get("isolation")),
            privileged=bool(c(p + ("privileged",), cv.to_bool, raw.get("privileged"))),
            secrets=tuple(self.file_ref(p + ("secrets", i), r) for i, r in enumerate(raw.get("secrets") or [])),
            tags=cv.str_tuple(raw.get("tags")),
            ulimits=resources.ulimits(c, p + ("ulimits",), raw.get("ulimits")),
            platforms=cv.str_tuple(raw.get("platforms")),
            entitlements=cv.str_tuple(raw.get("entitlements")),
            provenance=cv.opt_str(raw.get("provenance")),
            sbom=cv.opt_str(raw.get("sbom")),
        )

    def ports(self, p: tuple[PathPart, ...], raw: list[Any]) -> tuple[Port, ...]:
        out: list[Port] = []
        for i, item in enumerate(raw):
            if isinstance(item, dict):
                target = self.conv(p + (i, "target"), cv.to_int, item.get("target"))
                published = item.get("published")
                out.append(Port(
                    target=target,
                    published=None if published in (None, "") else scalar_str(published),
                    host_ip=cv.opt_str(item.get("host_ip")),
                    protocol=scalar_str(item.get("protocol", "tcp")).lower(),
                    protocol_as_written=_if_not_lower(item.get("protocol")),
                    mode=scalar_str(item.get("mode", "ingress")),
                    name=cv.opt_str(item.get("name")),
                    app_protocol=cv.opt_str(item.get("app_protocol")),
                ))
            else:
                out.extend(self.conv(p + (i,), parse_port, item) or ())
        return tuple(out)

    def mount(self, p: tuple[PathPart, ...], raw: Any) -> Mount:
        if not isinstance(raw, dict):
            parsed = self.conv(p, parse_volume, raw)
            return parsed if parsed is not None else Mount(type="volume", target="/")
        c = self.conv
        kind = scalar_str(raw["type"])
        source = cv.opt_str(raw.get("source"))
        if kind == "bind" and not source:
            self.errors.append(self.fail(p, "a bind mount needs a source"))
        bind = volume = tmpfs = None
        if kind == "bind" and raw.get("bind") is not None:
            b = raw["bind"]
            bind = BindOptions(
                propagation=cv.opt_str(b.get("propagation")),
                create_host_path=bool(c(p + ("bind", "create_host_path"), cv.to_bool, b.get("create_host_path"))),
                selinux=cv.opt_str(b.get("selinux")),
                recursive=cv.opt_str(b.get("recursive")),
            )
        elif kind == "volume" and raw.get("volume") is not None:
            v = raw["volume"]
            volume = VolumeOptions(
                nocopy=bool(c(p + ("volume", "nocopy"), cv.to_bool, v.get("nocopy"))),
                subpath=cv.opt_str(v.get("subpath")),
                labels=cv.str_map(v.get("labels")),
            )
        elif kind == "tmpfs" and raw.get("tmpfs") is not None:
            t = raw["tmpfs"]
            tmpfs = TmpfsOptions(size=c(p + ("tmpfs", "size"), parse_size, t.get("size")),
                                 mode=c(p + ("tmpfs", "mode"), cv.to_mode, t.get("mode")))
        target = scalar_str(raw.get("target", ""))
        if not target.startswith("/") and kind != "npipe":
            self.errors.append(self.fail(p + ("target",), f'the container path "{target}" is not absolute'))
        target = posixpath.normpath(target) if target else target
        image = raw.get("image") or {}
        return Mount(
            type=kind, target=target, source=source,
            read_only=bool(c(p + ("read_only",), cv.to_bool, raw.get("read_only"))),
            consistency=cv.opt_str(raw.get("consistency")),
            bind=bind, volume=volume, tmpfs=tmpfs,
            image_subpath=cv.opt_str(image.get("subpath")) if kind == "image" else None,
        )

    def service_networks(self, p: tuple[PathPart, ...], raw: Mapping[str, Any]) -> dict[str, ServiceNetwork | None]:
        nets = raw.get("networks")
        if not nets:  # none, or an empty block: the default network, as Compose gives, except to
            # a service with a network_mode (even "") or a provider service
            return {} if "network_mode" in raw or "provider" in raw else {"default": None}
        out: dict[str, ServiceNetwork | None] = {}
        for name, cfg in names_to_dict(nets).items():
            if cfg is None:
                out[name] = None
                continue
            q = p + (name,)
            out[name] = ServiceNetwork(
                aliases=cv.str_tuple(cfg.get("aliases")),
                ipv4_address=cv.opt_str(cfg.get("ipv4_address")),
                ipv6_address=cv.opt_str(cfg.get("ipv6_address")),
                link_local_ips=cv.str_tuple(cfg.get("link_local_ips")),
                mac_address=cv.opt_str(cfg.get("mac_address")),
                driver_opts=cv.str_map(cfg.get("driver_opts")),
                priority=self.conv(q + ("priority",), cv.to_int, cfg.get("priority")),
                gw_priority=self.conv(q + ("gw_priority",), cv.to_int, cfg.get("gw_priority")),
                interface_name=cv.opt_str(cfg.get("interface_name")),
            )
        return out

    def depends_on(self, p: tuple[PathPart, ...], raw: Any) -> dict[str, Dependency]:
        out = {}
        for name, cfg in names_to_dict(raw).items():
            cfg = cfg or {}
            restart = self.conv(p + (name, "restart"), cv.to_bool, cfg.get("restart"))
            required = self.conv(p + (name, "required"), cv.to_bool, cfg.get("required"))
            out[name] = Dependency(
                condition=scalar_str(cfg.get("condition", "service_started")),
                restart=bool(restart),
                required=True if required is None else required,
            )
        return out

    def device(self, p: tuple[PathPart, ...], raw: Any) -> Device:
        if isinstance(raw, dict):
            source = scalar_str(raw.get("source", ""))
            if "target" not in raw:
                raise self.fail(p, "a device in the long syntax needs a target")
            return Device(source=source, target=scalar_str(raw["target"]),
                          permissions=scalar_str(raw.get("permissions", "rwm")))
        parts = scalar_str(raw).split(":")
        if len(parts) > 3 or not parts[0]:
            raise self.fail(p, f'"{raw}" is not a valid device (like /dev/sda:/dev/xvda:rwm)')
        source = parts[0]
        target = parts[1] if len(parts) > 1 and parts[1] else source
        perms = parts[2] if len(parts) > 2 else "rwm"
        if len(parts) == 2 and parts[1] and not parts[1].startswith("/"):
            target, perms = source, parts[1]
        return Device(source=source, target=target, permissions=perms)

    def logging(self, raw: Any) -> Logging | None:
        if raw is None:
            return None
        opts = raw.get("options") or {}
        return Logging(driver=cv.opt_str(raw.get("driver")),
                       options={k: "" if v is None else scalar_str(v) for k, v in opts.items()})

    def file_ref(self, p: tuple[PathPart, ...], raw: Any, default_dir: str | None = None) -> FileRef:
        """A secret or config a service uses; secrets default to /run/secrets/<source>."""
        source = scalar_str(raw["source"]) if isinstance(raw, dict) else scalar_str(raw)
        target = cv.opt_str(raw.get("target")) if isinstance(raw, dict) else None
        if target is None and default_dir:
            target = f"{default_dir}/{source}"
        if not isinstance(raw, dict):
            return FileRef(source=source, target=target)
        return FileRef(
            source=source,
            target=target,
            uid=cv.opt_str(raw.get("uid")),
            gid=cv.opt_str(raw.get("gid")),
            mode=self.conv(p + ("mode",), cv.to_mode, raw.get("mode")),
        )


def _if_not_lower(value: Any) -> str | None:
    text = cv.opt_str(value)
    return text if text is not None and text != text.lower() else None


def _resolved(args: dict[str, str | None], lookup: Callable[[str], str | None]) -> dict[str, str]:
    """Build args: one given without a value takes the environment's, and is dropped when unset."""
    out = {}
    for key, value in args.items():
        found = lookup(key) if value is None else value
        if found is not None:
            out[key] = found
    return out


def implied_dependencies(declared: dict[str, Dependency], raw: Mapping[str, Any]) -> dict[str, Dependency]:
    """depends_on plus what ``links``, ``volumes_from`` and ``service:X`` namespaces imply (as Compose adds them)."""
    out = dict(declared)
    for link in raw.get("links") or []:
        out.setdefault(scalar_str(link).split(":")[0], Dependency(restart=True))
    for key in ("network_mode", "ipc", "pid", "uts", "cgroup"):
        value = raw.get(key)
        if isinstance(value, str) and value.startswith("service:"):
            out.setdefault(value.split(":", 1)[1], Dependency(restart=True))
    for vf in raw.get("volumes_from") or []:
        text = scalar_str(vf)
        if not text.startswith("container:"):
            out.setdefault(text.split(":")[0], Dependency())
    return out
