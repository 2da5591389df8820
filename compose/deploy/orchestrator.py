"""Bring a project's services onto the engine, and take them off again.

``up`` creates what is missing, starts what is stopped, recreates what
changed (by config hash), scales to the wanted replicas and leaves the rest
untouched; services start level by level in dependency order, the services of
a level in parallel, each after its dependencies' conditions hold. ``down``
removes it all. A lock per project keeps two commands from interleaving.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..config.model import Project, Service
from ..errors import ConfigError
from . import labels
from .imaging import Imaging, UpError
from .progress import Progress
from .translate import Resolved, config_hash, container_name, spec_for


@dataclass
class UpOptions:
    services: tuple[str, ...] = ()
    no_deps: bool = False
    force_recreate: bool = False
    no_recreate: bool = False
    remove_orphans: bool = False
    no_start: bool = False
    scale: dict[str, int] = field(default_factory=dict)
    timeout: float | None = None
    wait: bool = False
    wait_timeout: float | None = None
    build: bool = False
    no_build: bool = False
    pull: str | None = None


class Orchestrator:
    def __init__(self, project: Project, root: Any = None, progress: Progress | None = None) -> None:
        from engine.images.store import ImageStore
        from engine.net.manage import NetworkManager
        from engine.runtime.containers import Runtime
        from engine.state import Root
        from engine.volumes import Volumes

        self.project = project
        self.root = root or Root.from_env()
        self.root.ensure()
        self.rt = Runtime(self.root)
        self.images = ImageStore(self.root)
        self.nets = NetworkManager(self.root)
        self.vols = Volumes(self.root)
        self.progress = progress or Progress("plain")
        self.imaging = Imaging(project, self.images, self.rt, self.progress)
        self.fresh_volumes: set[str] = set()
        self.recreated: set[str] = set()  # services whose containers this run replaced
        self._snapshot: list[Any] | None = None  # the engine's containers, read once until we change them

    # -- what exists --------------------------------------------------------

    def lock(self) -> Any:
        from engine.state import locked

        return locked(os.path.join(self.root.locks, f"project-{self.project.name}.lock"))

    def all_containers(self) -> list[Any]:
        """Every container of the engine (read once, again after this orchestrator changed any)."""
        if self._snapshot is None:
            self._snapshot = self.rt.list()
        return self._snapshot

    def changed(self) -> None:
        self._snapshot = None

    def containers(self, *, oneoff: bool = False) -> list[Any]:
        """This project's containers, by service and number."""
        out = [c for c in self.all_containers() if c.spec.labels.get(labels.PROJECT) == self.project.name
               and (c.spec.labels.get(labels.ONEOFF) == "True") == oneoff]
        return sorted(out, key=lambda c: (c.spec.labels.get(labels.SERVICE, ""), int(c.spec.labels.get(labels.NUMBER, 0))))

    def of(self, service: str) -> list[Any]:
        return [c for c in self.containers() if c.spec.labels.get(labels.SERVICE) == service]

    def orphans(self) -> list[Any]:
        return [c for c in self.containers() if c.spec.labels.get(labels.SERVICE) not in self.project.services]

    # -- up -----------------------------------------------------------------

    def up(self, opts: UpOptions) -> None:
        chosen = self.project.select(opts.services or None, with_deps=not opts.no_deps)
        with self.lock():
            orphans = self.orphans()
            if orphans and opts.remove_orphans:
                for c in orphans:
                    self.remove_container(c, opts.timeout)
            elif orphans:
                names = ", ".join(sorted({c.spec.labels.get(labels.SERVICE, "") for c in orphans}))
                self.progress.message(f"WARN[0000] Found orphan containers ({', '.join(c.name for c in orphans)}) "
                                      f"for this project (services: {names}). If you removed or renamed this "
                                      "service in your compose file, you can run this command with the "
                                      "--remove-orphans flag to clean it up.")
            services = [self.project.services[s] for s in sorted(chosen)]
            self.imaging.pull([s for s in services if not (opts.build and s.build)], opts.pull)
            for s in services:
                if s.build is not None and not opts.no_build and (opts.build or not self.imaging.has(s)):
                    self.imaging.build(s)
            images = {s.name: self.imaging.get(s) for s in services}
            self._check_ports(services, opts)
            self.ensure_networks(services)
            self.ensure_volumes(services)
            self.rt.ensure_supervisor(self.project.name)  # spawned before any thread exists
            for level in self.project.levels(opts.services or None, with_deps=not opts.no_deps):
                todo = [self.project.services[s] for s in level]
                with ThreadPoolExecutor(max_workers=max(1, min(8, len(todo)))) as pool:
                    errors = [f.exception() for f in [pool.submit(self._converge, s, images[s.name], opts)
                                                       for s in todo]]
                failed = [e for e in errors if e is not None]
                if failed:
                    raise failed[0]
            if opts.wait and not opts.no_start:
                self._wait_running_or_healthy(services, opts.wait_timeout)

    def _desired(self, svc: Service, opts: UpOptions) -> int:
        return opts.scale.get(svc.name, svc.replicas)

    def _check_ports(self, services: list[Service], opts: UpOptions) -> None:
        """Every host port to publish is free, before anything is created (ports of kept containers are ours)."""
        from engine.errors import Conflict
        from engine.net import ports

        keep = {c.id for s in services for c in self.of(s.name)
                if c.running and not opts.force_recreate and c.spec.labels.get(labels.CONFIG_HASH) == config_hash(s)}
        taken = [(p.host_ip, p.host_port, p.protocol, c.name) for c in self.all_containers()
                 if c.running and c.id not in keep for p in c.spec.ports
                 if c.spec.labels.get(labels.PROJECT) != self.project.name]
        for svc in services:
            if all(c.id in keep for c in self.of(svc.name)) and len(self.of(svc.name)) == self._desired(svc, opts):
                continue
            wanted = [(p.host_ip if p.host_ip not in ("", "0.0.0.0") else None, int(p.published), p.protocol)
                      for p in svc.ports if p.published and "-" not in p.published]
            try:
                ports.check(wanted, taken)
            except Conflict as exc:
                raise UpError(f"service {svc.name}: {exc}") from None

    def ensure_networks(self, services: list[Service]) -> None:
        from .netplan import apply, plan

        keys = sorted({n for s in services for n in s.networks})
        for req in plan(self.project, keys):
            existed = not req.external and any(n.name == req.name for n in self.nets.list())
            apply([req], self.nets)
            if not req.external and not existed:
                self.progress.event("Network", req.name, "Created")

    def ensure_volumes(self, services: list[Service]) -> None:
        from engine.errors import NotFound

        used = sorted({m.source for s in services for m in s.volumes if m.type == "volume" and m.source})
        for key in used:
            vol = self.project.volumes[key]
            if vol.external:
                try:
                    self.vols.get(vol.name)
                except NotFound:
                    raise ConfigError(f"volume {vol.name} declared as external, but could not be found",
                                      path=("volumes", key)) from None
                continue
            if not any(v.name == vol.name for v in self.vols.list()):
                self.vols.create(vol.name, labels={**vol.labels, labels.PROJECT: self.project.name,
                                                   labels.VOLUME: key},
                                 driver=vol.driver or "local", options=dict(vol.driver_opts))
                self.fresh_volumes.add(key)
                self.progress.event("Volume", vol.name, "Created")

    def _converge(self, svc: Service, image: Any, opts: UpOptions) -> None:
        self._await_dependencies(svc)
        want = self._desired(svc, opts)
        digest = config_hash(svc)
        existing = {int(c.spec.labels.get(labels.NUMBER, 0)): c for c in self.of(svc.name)}
        for number in range(1, want + 1):
            c = existing.get(number)
            if c is None:
                self._create_and_start(svc, number, image, opts)
                continue
            same = c.spec.labels.get(labels.CONFIG_HASH) == digest and c.spec.image_id == image.id
            if opts.no_recreate or (same and not opts.force_recreate):
                bounced = [d for d, cond in svc.depends_on.items() if cond.restart and d in self.recreated]
                if bounced and c.running and not opts.no_start:  # depends_on restart: true
                    self.progress.event("Container", c.name, "Restarting")
                    self.rt.stop(c.id, opts.timeout)
                    self._start(svc, c.id)
                    self.changed()
                    self.progress.event("Container", c.name, "Restarted")
                    continue
                if not c.running and not opts.no_start:
                    self.progress.event("Container", c.name, "Starting")
                    self._start(svc, c.id)
                    self.changed()
                    self.progress.event("Container", c.name, "Started")
                else:
                    self.progress.event("Container", c.name, "Running")
                continue
            self.progress.event("Container", c.name, "Recreate")
            self.recreated.add(svc.name)
            self.remove_container(c, opts.timeout, quiet=True)
            self._create_and_start(svc, number, image, opts, recreated=True)
        for number, c in sorted(existing.items()):
            if number > want:
                self.remove_container(c, opts.timeout)

    def _start(self, svc: Service, cid: str) -> None:
        from engine.errors import EngineError

        try:
            self.rt.start(cid)
        except EngineError as exc:
            raise UpError(f"service {svc.name}: {exc}") from None

    def _create_and_start(self, svc: Service, number: int, image: Any, opts: UpOptions,
                          recreated: bool = False) -> None:
        from engine.errors import EngineError
        from engine.runtime.containers import new_id

        cid = new_id()
        name = container_name(self.project, svc, number)
        self.progress.event("Container", name, "Creating")
        try:
            resolved = self.resolve(svc, cid, name, image)
            self.rt.create(spec_for(self.project, svc, number, cid, resolved))
            self.changed()
        except EngineError as exc:
            self.nets.release(cid)
            raise UpError(f"service {svc.name}: {exc}") from None
        self.progress.event("Container", name, "Recreated" if recreated else "Created")
        if not opts.no_start:
            self.progress.event("Container", name, "Starting")
            self._start(svc, cid)
            self.progress.event("Container", name, "Started")

    def resolve(self, svc: Service, cid: str, name: str, image: Any) -> Resolved:
        from engine.net import ports
        from engine.runtime.spec import EndpointSpec

        hostname = svc.hostname or cid[:12]
        endpoints: list[EndpointSpec] = []
        ordered = sorted(svc.networks.items(), key=lambda kv: (-(kv[1].priority or 0) if kv[1] else 0, kv[0]))
        for key, cfg in ordered:
            net = self.project.networks[key]
            aliases = tuple(cfg.aliases) if cfg else ()
            ep = self.nets.allocate(net.name, cid, container_name=name, address=cfg.ipv4_address if cfg else None,
                                    names=(svc.name, name, hostname, *aliases))
            mac = (cfg.mac_address if cfg and cfg.mac_address else None) or (svc.mac_address if not endpoints else None)
            endpoints.append(EndpointSpec(ep.network, ep.bridge, ep.address, ep.prefixlen, ep.gateway,
                                          mac or ep.mac, internal=self.nets.get(net.name).internal))
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
        anonymous = {}
        for m in svc.volumes:
            if m.type == "volume" and not m.source:
                vol = self.vols.create(f"{cid[:12]}{os.urandom(20).hex()}", labels={
                    "com.docker.volume.anonymous": "", labels.PROJECT: self.project.name})
                anonymous[m.target] = self.vols.path(vol.name)
        inherited = []
        for entry in svc.volumes_from:
            kind, _, rest = entry.partition(":") if entry.startswith("container:") else ("service", "", entry)
            other, _, access = rest.partition(":")
            source = self.of(other) if kind == "service" else [c for c in self.all_containers() if c.name == other]
            if not source:
                raise UpError(f"service {svc.name}: volumes_from {entry}: no such {kind} container")
            inherited += [dataclasses.replace(m, read_only=m.read_only or access == "ro", copy_up=False)
                          for m in source[0].spec.mounts if m.type == "bind"]
        peers = {}
        for mode in (svc.network_mode, svc.ipc, svc.pid):
            if mode and ":" in mode:
                kind, _, other = mode.partition(":")
                found = self.of(other) if kind == "service" else [c for c in self.all_containers() if c.name == other]
                if found:
                    peers[other] = found[0].id
        return Resolved(image_id=image.id, image_config=image.config,
                        layers=tuple(self.images.layer_dirs(image)), endpoints=tuple(endpoints),
                        volume_paths={k: self.vols.path(self.project.volumes[k].name)
                                      for k in {m.source for m in svc.volumes if m.type == "volume" and m.source}},
                        anonymous=anonymous, fresh_volumes=frozenset(self.fresh_volumes), peers=peers,
                        host_ports=host_ports, inherited=tuple(inherited))

    def _await_dependencies(self, svc: Service, timeout: float = 300.0) -> None:
        for dep, cond in svc.depends_on.items():
            if dep not in self.project.services or cond.condition == "service_started":
                continue
            deadline = time.monotonic() + timeout
            while True:
                states = [self.rt.get(c.id) for c in self.of(dep)]
                if cond.condition == "service_healthy":
                    health = [self.rt.health(c.id) for c in states]
                    if states and all(h == "healthy" for h in health):
                        self.progress.event("Container", states[0].name, "Healthy")
                        break
                    if any(h == "unhealthy" for h in health) or any(c.status == "exited" for c in states):
                        if cond.required:
                            raise UpError(f"dependency failed to start: container {states[0].name} is unhealthy")
                        break
                else:  # service_completed_successfully
                    if states and all(c.status == "exited" for c in states):
                        bad = [c for c in states if c.exit_code != 0]
                        if bad and cond.required:
                            raise UpError(f"service {dep} didn't complete successfully: exit {bad[0].exit_code}")
                        self.progress.event("Container", states[0].name, "Exited")
                        break
                if time.monotonic() > deadline:
                    raise UpError(f"service {svc.name}: timed out waiting for {dep} ({cond.condition})")
                time.sleep(0.05)

    def _wait_running_or_healthy(self, services: Iterable[Service], timeout: float | None) -> None:
        deadline = time.monotonic() + (timeout or 300)
        for svc in services:
            for c in self.of(svc.name):
                while True:
                    now = self.rt.get(c.id)
                    health = self.rt.health(c.id)
                    if health == "unhealthy" or now.status == "exited":
                        raise UpError(f"container {c.name} is {health or now.status}")
                    if now.status == "running" and health in (None, "healthy"):
                        break
                    if time.monotonic() > deadline:
                        raise UpError(f"timed out waiting for {c.name}")
                    time.sleep(0.05)

    # -- down and friends ------------------------------------------------------

    def remove_container(self, c: Any, timeout: float | None, quiet: bool = False) -> None:
        if c.running:
            if not quiet:
                self.progress.event("Container", c.name, "Stopping")
            self.rt.stop(c.id, timeout)
            if not quiet:
                self.progress.event("Container", c.name, "Stopped")
        anonymous = [m.source for m in c.spec.mounts if m.source and "/volumes/" in m.source]
        self.rt.remove(c.id, force=True)
        self.changed()
        if not quiet:
            self.progress.event("Container", c.name, "Removed")
        for path in anonymous:  # anonymous volumes go with their container
            name = path.rstrip("/").split("/")[-2]
            with contextlib.suppress(Exception):
                if "com.docker.volume.anonymous" in self.vols.get(name).labels:
                    self.vols.remove(name)

    def down(self, *, volumes: bool = False, remove_orphans: bool = False, timeout: float | None = None) -> None:
        """Remove the project's containers (dependents first), its networks and, with ``volumes``, its volumes."""
        with self.lock():
            by_service: dict[str, list[Any]] = {}
            for c in self.containers() + self.containers(oneoff=True):
                by_service.setdefault(c.spec.labels.get(labels.SERVICE, ""), []).append(c)
            groups = self.project.levels(reverse=True)
            ordered = {s for level in groups for s in level}
            groups.append([s for s in by_service if s in self.project.services and s not in ordered])
            if remove_orphans:
                groups.insert(0, [s for s in by_service if s not in self.project.services])
            for group in groups:
                todo = [c for s in group for c in by_service.get(s, [])]
                if todo:
                    with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
                        list(pool.map(lambda c: self.remove_container(c, timeout), todo))
            for net in self.nets.list():
                if net.labels.get(labels.PROJECT) == self.project.name and not net.allocations:
                    self.progress.event("Network", net.name, "Removing")
                    self.nets.remove(net.name)
                    self.progress.event("Network", net.name, "Removed")
            if volumes:
                for vol in self.vols.list():
                    if vol.labels.get(labels.PROJECT) == self.project.name:
                        self.vols.remove(vol.name)
                        self.progress.event("Volume", vol.name, "Removed")
