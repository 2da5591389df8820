"""What a new container gets from the engine before it is created: addresses, host ports, volume folders, peers.

These are the engine's answers ``translate.spec_for`` needs; asking is the
only side effect (an address is allocated, an anonymous volume is made), and
``converge`` gives back what a failed creation took.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import TYPE_CHECKING

from engine.faults import point as fault_point

from ..errors import ConfigError, UpError
from . import labels
from .translate import Resolved, security

if TYPE_CHECKING:
    from engine.images.model import Image
    from engine.runtime.containers import Container
    from engine.runtime.spec import EndpointSpec, MountSpec

    from ..config.model import Service
    from .session import Session


def resolve(session: Session, svc: Service, cid: str, name: str, image: Image,
            fresh_volumes: frozenset[str] = frozenset(), *, inherit: Container | None = None,
            renew: bool = False, aliases: bool = True) -> Resolved:
    """``inherit``: the container this one replaces, whose anonymous volumes it takes over (unless ``renew``)."""
    project = session.project
    seccomp_profile = _seccomp_profile(session, svc)  # first: a read, nothing to give back
    endpoints = _endpoints(session, svc, cid, name, aliases)  # given back by the caller if anything fails
    host_ports, inherited, peers = _host_ports(svc), _inherited(session, svc), _peers(session, svc)
    anonymous, new = _anonymous(session, svc, cid, image, None if renew else inherit)  # last: nothing after fails
    return Resolved(
        image_id=image.id, image_config=image.config, layers=tuple(session.images.layer_dirs(image)),
        endpoints=endpoints, host_ports=host_ports,
        volume_paths={k: session.vols.path(project.volumes[k].name)
                      for k in {m.source for m in svc.volumes if m.type == "volume" and m.source}},
        anonymous=anonymous, new_anonymous=frozenset(new),
        fresh_volumes=fresh_volumes, peers=peers, inherited=inherited, seccomp_profile=seccomp_profile)


def _seccomp_profile(session: Session, svc: Service) -> str | None:
    """The text of the seccomp profile file ``security_opt`` names (relative to the project directory)."""
    sec = security(session.project, svc)
    if sec.seccomp is None or sec.seccomp in ("unconfined", "builtin"):
        return None
    try:
        with open(sec.seccomp, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise ConfigError(f"opening seccomp profile ({sec.seccomp}) failed: {reason}",
                          path=("services", svc.name, "security_opt", sec.seccomp_index)) from None


def _endpoints(session: Session, svc: Service, cid: str, name: str, with_aliases: bool = True
               ) -> tuple[EndpointSpec, ...]:
    from engine.runtime.spec import EndpointSpec

    hostname = svc.hostname or cid[:12]
    endpoints: list[EndpointSpec] = []
    ordered = sorted(svc.networks.items(), key=lambda kv: (-(kv[1].priority or 0) if kv[1] else 0, kv[0]))
    for key, cfg in ordered:
        net = session.project.networks[key]
        aliases = tuple(cfg.aliases) if cfg else ()
        aliases += _link_aliases(session, svc)
        names = (svc.name, name, hostname, *aliases) if with_aliases else (name, hostname)
        ep = session.nets.allocate(net.name, cid, container_name=name,
                                   address=cfg.ipv4_address if cfg else None, names=names)
        mac = (cfg.mac_address if cfg and cfg.mac_address else None) or (svc.mac_address if not endpoints else None)
        endpoints.append(EndpointSpec(ep.network, ep.bridge, ep.address, ep.prefixlen, ep.gateway,
                                      mac or ep.mac, internal=session.nets.get(net.name).internal))
    return tuple(endpoints)


def _link_aliases(session: Session, svc: Service) -> tuple[str, ...]:
    """``links: [db:database]`` elsewhere makes ``database`` a name of db's containers. Docker scopes such an
    alias to the linking container; here every container on the shared network sees it."""
    out = []
    for other in session.project.services.values():
        for link in other.links:
            target, _, alias = link.partition(":")
            if target == svc.name and alias and alias != svc.name and alias not in out:
                out.append(alias)
    return tuple(out)


def _host_ports(svc: Service) -> dict[tuple[int, str, int], int]:
    """The host port of each published port: as written, the first free one of a range, or the kernel's pick."""
    from engine.net import ports

    host_ports: dict[tuple[int, str, int], int] = {}
    for i, p in enumerate(svc.ports):
        if not p.published:
            host_ports[(p.target, p.protocol, i)] = ports.ephemeral(p.protocol, p.host_ip or None)
        elif "-" in p.published:
            lo, hi = (int(x) for x in p.published.split("-"))
            free = next((n for n in range(lo, hi + 1) if ports.bindable(p.host_ip or None, n, p.protocol)), None)
            if free is None:
                raise UpError(f"service {svc.name}: no free host port in {p.published}/{p.protocol}")
            host_ports[(p.target, p.protocol, i)] = free
        else:
            host_ports[(p.target, p.protocol, i)] = int(p.published)
    return host_ports


def anonymous_targets(svc: Service, image: Image) -> list[str]:
    """Where the container gets anonymous volumes: ``volumes`` entries without a source, and the image's
    ``VOLUME``s that no mount of the service covers (Docker makes those anonymous volumes too)."""
    own = [m.target for m in svc.volumes if m.type == "volume" and not m.source]
    covered = {m.target.rstrip("/") or "/" for m in svc.volumes} | {t.partition(":")[0] for t in svc.tmpfs}
    from_image = [v for v in image.config.volumes if (v.rstrip("/") or "/") not in covered and v not in own]
    return own + sorted(from_image)


def _anonymous(session: Session, svc: Service, cid: str, image: Image,
               inherit: Container | None) -> tuple[dict[str, str], list[str]]:
    """target -> folder of each anonymous volume (the replaced container's where it had one, else a new one),
    and the targets whose volume was made just now (the caller removes those if creation fails)."""
    from engine.errors import NotFound
    from engine.volumes import ANONYMOUS_LABEL

    previous: dict[str, str] = {}
    for m in inherit.spec.mounts if inherit is not None else ():
        if m.type == "bind" and m.source and "/volumes/" in m.source:
            with contextlib.suppress(NotFound):
                if session.vols.get(os.path.basename(os.path.dirname(m.source))).anonymous:
                    previous[m.target] = m.source
    out: dict[str, str] = {}
    new: list[str] = []
    for target in anonymous_targets(svc, image):
        if target in previous:
            out[target] = previous[target]
            continue
        vol = session.vols.create(f"{cid[:12]}{os.urandom(20).hex()}", owner=cid,
                                  labels={ANONYMOUS_LABEL: "", labels.PROJECT: session.project.name})
        out[target] = session.vols.path(vol.name)
        new.append(target)
    if new:
        fault_point("create.volumes")
    return out, new


def _inherited(session: Session, svc: Service) -> tuple[MountSpec, ...]:
    """``volumes_from``: the bind mounts of another service's (or container's) first container."""
    inherited: list[MountSpec] = []
    for entry in svc.volumes_from:
        kind, _, rest = entry.partition(":") if entry.startswith("container:") else ("service", "", entry)
        other, _, access = rest.partition(":")
        source = session.of(other) if kind == "service" else [c for c in session.all_containers() if c.name == other]
        if not source:
            raise UpError(f"service {svc.name}: volumes_from {entry}: no such {kind} container")
        inherited += [dataclasses.replace(m, read_only=m.read_only or access == "ro", copy_up=False)
                      for m in source[0].spec.mounts if m.type == "bind"]
    return tuple(inherited)


def _peers(session: Session, svc: Service) -> dict[str, str]:
    """Containers whose namespaces the service joins (``service:x``/``container:x`` modes): name -> id."""
    peers = {}
    for mode in (svc.network_mode, svc.ipc, svc.pid):
        if mode and ":" in mode:
            kind, _, other = mode.partition(":")
            found = session.of(other) if kind == "service" else [c for c in session.all_containers()
                                                                 if c.name == other]
            if found:
                peers[other] = found[0].id
    return peers
