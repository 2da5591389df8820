"""Pure: a service's ``build:`` section (plus the command line) as the build the engine is asked for.

Every key of Compose's ``build`` section either becomes part of the
``BuildSpec`` or is refused here with one line naming the service and the
key. ``print_json`` is ``build --print``: the effective definition in the
shape ``docker compose build --print`` gives (bake's ``group``/``target``).
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..config.model import Project, Service
from ..errors import ConfigError, UpError

_MACHINES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}
HOST_PLATFORM = "linux/" + _MACHINES.get(platform.machine(), platform.machine())
_NETWORKS = ("default", "host", "none")
_REMOTE = ("http://", "https://", "git://", "git@", "ssh://", "github.com/")


@dataclass(frozen=True)
class BuildSpec:
    service: str
    image: str  # the tag ``up`` looks for
    context: str
    dockerfile: str = "Dockerfile"
    dockerfile_inline: str | None = None
    args: Mapping[str, str | None] = field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    no_cache: bool = False
    pull: bool = False
    network: str = "default"
    extra_hosts: tuple[tuple[str, str], ...] = ()
    secrets: tuple[tuple[str, str, str], ...] = ()  # (id, "file" or "env", the path or variable)
    contexts: Mapping[str, str] = field(default_factory=dict)  # name -> folder, docker-image://REF, service:NAME
    shm_size: int | None = None
    ulimits: tuple[tuple[str, int, int], ...] = ()
    memory: int | None = None
    platforms: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # warnings about keys accepted but without effect

    @property
    def needs(self) -> tuple[str, ...]:
        """The services whose images this build uses (``additional_contexts: {x: service:NAME}``)."""
        return tuple(sorted(v[len("service:"):] for v in self.contexts.values() if v.startswith("service:")))


def _refuse(project: Project, svc: Service, key: str, message: str) -> ConfigError:
    """One located error: ``compose.yaml:7:9: services.web.build.ssh: ...``."""
    path = ("services", svc.name, "build", *key.split("."))
    return ConfigError.at(project.location(path), path, message)


def build_spec(project: Project, svc: Service, *, no_cache: bool = False, pull: bool = False,
               extra_args: Mapping[str, str | None] | None = None, memory: int | None = None) -> BuildSpec:
    """The build of ``svc``; a located ConfigError for a key pycompose cannot honour."""
    b = svc.build
    if b is None:
        raise UpError(f"service {svc.name} has no build section")
    if b.context.startswith(_REMOTE) or "://" in b.context:
        raise _refuse(project, svc, "context", f'"{b.context}" is a remote context: pycompose builds from a local folder '
                                      "(clone or download it, and give its path)")
    if b.ssh:
        raise _refuse(project, svc, "ssh", "SSH agent forwarding is not supported: use a build secret for the key, or "
                                  "fetch over HTTPS")
    if b.privileged:
        raise _refuse(project, svc, "privileged", "privileged builds are not supported (RUN --security=insecure needs "
                                         "an entitlement pycompose does not grant)")
    if b.isolation not in (None, "default"):
        raise _refuse(project, svc, "isolation", f'"{b.isolation}" is not supported on Linux (only default)')
    network = b.network or "default"
    if network not in _NETWORKS:
        raise _refuse(project, svc, "network", f'"{network}": a build runs in the host\'s network or none '
                                      "(default, host or none)")
    for p in b.platforms:
        if p.lower().rstrip("/") not in (HOST_PLATFORM, HOST_PLATFORM + "/v1"):
            raise _refuse(project, svc, "platforms", f'"{p}": pycompose builds for this host\'s platform only '
                                            f"({HOST_PLATFORM})")
    notes: list[str] = []
    for key, entries in (("cache_from", b.cache_from), ("cache_to", b.cache_to)):
        for entry in entries:
            kind = next((f[5:] for f in entry.split(",") if f.startswith("type=")), "registry")
            if kind not in ("registry", "inline"):
                raise _refuse(project, svc, key, f'"{entry}": only image references are accepted (pycompose keeps its '
                                        "layer cache in its state root and imports or exports none)")
            notes.append(f"service {svc.name}: build.{key} {entry} is not used: pycompose's layer cache is local")
    return BuildSpec(
        service=svc.name, image=svc.image_name(project.name), context=b.context,
        dockerfile=b.dockerfile or "Dockerfile", dockerfile_inline=b.dockerfile_inline,
        args={**b.args, **(extra_args or {})}, target=b.target, labels=dict(b.labels), tags=b.tags,
        no_cache=no_cache or b.no_cache, pull=pull or b.pull, network=network,
        extra_hosts=tuple((host, addr) for host, addrs in sorted(b.extra_hosts.items()) for addr in addrs),
        secrets=_secrets(project, svc), contexts=_contexts(project, svc), shm_size=b.shm_size,
        ulimits=tuple((name, u.soft, u.hard) for name, u in sorted(b.ulimits.items())), memory=memory,
        platforms=b.platforms, notes=tuple(notes))


def _secrets(project: Project, svc: Service) -> tuple[tuple[str, str, str], ...]:
    assert svc.build is not None
    out: list[tuple[str, str, str]] = []
    for ref in svc.build.secrets:
        obj = project.secrets.get(ref.source)
        if obj is None:
            raise _refuse(project, svc, "secrets", f'secret "{ref.source}" is not defined in the top-level secrets')
        ident = ref.target or ref.source
        if obj.file is not None:
            out.append((ident, "file", obj.file))
        elif obj.environment is not None:
            out.append((ident, "env", obj.environment))
        else:
            raise _refuse(project, svc, "secrets", f'secret "{ref.source}" must be a file or an environment variable '
                                          "for a build (external secrets are not supported)")
    return tuple(out)


def _contexts(project: Project, svc: Service) -> dict[str, str]:
    assert svc.build is not None
    out: dict[str, str] = {}
    for name, value in svc.build.additional_contexts.items():
        if value.startswith("service:"):
            other = project.services.get(value[len("service:"):])
            if other is None or other.build is None:
                raise _refuse(project, svc, f"additional_contexts.{name}", f'"{value}" does not name a service with a '
                                                                  "build section")
        elif value.startswith("docker-image://"):
            pass
        elif "://" in value or value.startswith("git@"):
            raise _refuse(project, svc, f"additional_contexts.{name}", f'"{value}": only folders, service:NAME and '
                                                              "docker-image://REF are supported")
        out[name] = value
    return out


def read_secrets(spec: BuildSpec, environ: Mapping[str, str] | None = None) -> dict[str, bytes]:
    """The secrets' bytes, read now; UpError naming the service and the secret that cannot be read."""
    env = os.environ if environ is None else environ
    out: dict[str, bytes] = {}
    for ident, kind, source in spec.secrets:
        if kind == "env":
            if source not in env:
                raise UpError(f'service {spec.service}: build.secrets: secret "{ident}": the environment '
                              f"variable {source} is not set")
            out[ident] = env[source].encode()
            continue
        try:
            with open(source, "rb") as fh:
                out[ident] = fh.read(16 << 20)
        except OSError as exc:
            raise UpError(f'service {spec.service}: build.secrets: secret "{ident}": cannot read {source}: '
                          f"{exc.strerror}") from None
    return out


def print_json(specs: list[BuildSpec]) -> str:
    """``build --print``: the effective build definitions, bake's JSON shape."""
    targets: dict[str, dict[str, object]] = {}
    for s in specs:
        t: dict[str, object] = {"context": s.context, "dockerfile": s.dockerfile}
        if s.dockerfile_inline is not None:
            t["dockerfile-inline"] = s.dockerfile_inline
        t["args"] = {k: v for k, v in sorted(s.args.items()) if v is not None}
        if s.contexts:
            t["contexts"] = {k: _context_text(v) for k, v in sorted(s.contexts.items())}
        t["labels"] = dict(sorted(s.labels.items()))
        t["tags"] = [s.image, *s.tags]
        if s.target:
            t["target"] = s.target
        t["network"] = s.network
        if s.secrets:
            t["secret"] = [f"id={i},{'src' if k == 'file' else 'env'}={src}" for i, k, src in s.secrets]
        if s.extra_hosts:
            t["extra-hosts"] = [f"{h}={a}" for h, a in s.extra_hosts]
        if s.shm_size is not None:
            t["shm-size"] = str(s.shm_size)
        if s.ulimits:
            t["ulimits"] = [f"{n}={soft}:{hard}" for n, soft, hard in s.ulimits]
        if s.platforms:
            t["platforms"] = list(s.platforms)
        t["no-cache"] = s.no_cache
        t["pull"] = s.pull
        targets[s.service] = t
    doc = {"group": {"default": {"targets": [s.service for s in specs]}}, "target": targets}
    return json.dumps(doc, indent=2)


def _context_text(value: str) -> str:
    return f"target:{value[len('service:'):]}" if value.startswith("service:") else value
