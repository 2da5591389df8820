"""``up`` and ``create``: bring a project's services to the state its file describes.

Networks, volumes and images first; then the services level by level in
dependency order, the services of a level in parallel, each after its
dependencies' conditions hold. For each service ``plan.plan_service``
decides and this module carries the actions out: only what changed is
recreated (by config hash and image), scaling adds or removes replicas.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.errors import EngineError
from engine.faults import point as fault_point

from ..errors import UpError
from . import labels, support
from .imaging import Imaging
from .plan import Existing, Policy, Step, plan_service
from .session import number_of, service_of
from .steps import (
    await_dependencies,
    create_container,
    ensure_networks,
    ensure_volumes,
    reconcile,
    remove_container,
    start_container,
    stop_container,
    wait_running_or_healthy,
)
from .translate import config_hash, container_name

if TYPE_CHECKING:
    from engine.images.model import Image
    from engine.runtime.containers import Container

    from ..config.model import Service
    from .session import Session


@dataclass(frozen=True)
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
    renew_anon_volumes: bool = False
    always_recreate_deps: bool = False  # dependencies pulled in by the services named are recreated too
    ignore_orphans: bool = False  # COMPOSE_IGNORE_ORPHANS: no warning about them
    all_resources: bool = False  # every declared network and volume, used or not
    quiet_pull: bool = False


class Converger:
    """One ``up`` run on a session: what it made and recreated, so dependents can react."""

    def __init__(self, session: Session, opts: UpOptions) -> None:
        self.s = session
        self.opts = opts
        self.imaging = Imaging(session.project, session.images, session.rt, session.progress,
                               quiet_pull=opts.quiet_pull)
        self.fresh_volumes: set[str] = set()
        self.recreated: set[str] = set()  # services whose containers this run replaced

    def run(self) -> None:
        s, opts = self.s, self.opts
        project = s.project
        chosen = project.select(opts.services or None, with_deps=not opts.no_deps)
        support.check(project, chosen)  # before anything is pulled, built or created
        with s.lock():
            reconcile(s)
            self._orphans()
            services = [project.services[name] for name in sorted(chosen)]
            images = self.images(services)
            self._check_ports(services)
            # The supervisor starts while the networks and the first containers are made (the first start
            # waits for it); the firewall and netd follow the new networks in a child while the containers
            # start, and are in place before ``up`` returns. Both fork: before any thread exists.
            s.rt.begin_supervisor(project.name)
            try:
                s.nets.deferred = True
                try:
                    ensure_networks(s, services, every=opts.all_resources)
                finally:
                    s.nets.deferred = False
                    s.nets.sync_in_background()  # forked before any thread exists
                fault_point("up.networks")
                self.fresh_volumes |= ensure_volumes(s, services, every=opts.all_resources)
                fault_point("up.volumes")
                self._levels(images)
                s.nets.wait_sync()
            finally:
                with contextlib.suppress(EngineError):
                    s.nets.wait_sync()  # a failed up still leaves the firewall and netd in line
                s.rt.settle()
            if opts.wait and not opts.no_start:
                wait_running_or_healthy(s, services, opts.wait_timeout)

    def _levels(self, images: dict[str, Image]) -> None:
        """Each dependency level's services in parallel, after the levels before it."""
        project, opts = self.s.project, self.opts
        for level in project.levels(opts.services or None, with_deps=not opts.no_deps):
            todo = [project.services[name] for name in level]
            with ThreadPoolExecutor(max_workers=self.s.workers(len(todo))) as pool:
                futures = [pool.submit(self._converge, svc, images[svc.name]) for svc in todo]
                failed = [e for e in (f.exception() for f in futures) if e is not None]
            if failed:
                raise failed[0]

    def _orphans(self) -> None:
        s = self.s
        orphans = s.orphans()
        if orphans and self.opts.ignore_orphans and not self.opts.remove_orphans:
            return
        if orphans and self.opts.remove_orphans:
            for c in orphans:
                remove_container(s, c, self.opts.timeout)
        elif orphans:
            names = ", ".join(sorted({service_of(c) for c in orphans}))
            s.progress.message(f"WARN[0000] Found orphan containers ({', '.join(c.name for c in orphans)}) "
                               f"for this project (services: {names}). If you removed or renamed this "
                               "service in your compose file, you can run this command with the "
                               "--remove-orphans flag to clean it up.")

    def images(self, services: list[Service]) -> dict[str, Image]:
        """Each service's image: pulled or built first where the flags and pull policies say so."""
        opts = self.opts
        self.imaging.pull([svc for svc in services if not (opts.build and svc.build)], opts.pull)
        buildable = [svc for svc in services if svc.build is not None and not opts.no_build]
        to_build = [svc for svc in buildable if opts.build or not self.imaging.has(svc)]
        if to_build:
            self.imaging.build(to_build)
        kept = [svc for svc in buildable if svc not in to_build]
        if kept:
            self.imaging.warn_stale(kept)
        return {svc.name: self.imaging.get(svc) for svc in services}

    def _desired(self, svc: Service) -> int:
        return self.opts.scale.get(svc.name, svc.replicas)

    def _check_ports(self, services: list[Service]) -> None:
        """Every host port to publish is free, before anything is created (ports of kept containers are ours)."""
        from engine.errors import Conflict
        from engine.net import ports

        s = self.s
        keep = {c.id for svc in services for c in s.of(svc.name)
                if c.running and not self.opts.force_recreate
                and c.spec.labels.get(labels.CONFIG_HASH) == config_hash(svc)}
        taken = [(p.host_ip, p.host_port, p.protocol, c.name) for c in s.all_containers()
                 if c.running and c.id not in keep for p in c.spec.ports
                 if c.spec.labels.get(labels.PROJECT) != s.project.name]
        for svc in services:
            mine = s.of(svc.name)
            if all(c.id in keep for c in mine) and len(mine) == self._desired(svc):
                continue
            wanted = [(p.host_ip if p.host_ip not in ("", "0.0.0.0") else None, int(p.published), p.protocol)
                      for p in svc.ports if p.published and "-" not in p.published]
            try:
                ports.check(wanted, taken)
            except Conflict as exc:
                raise UpError(f"service {svc.name}: {exc}") from None

    def _converge(self, svc: Service, image: Image) -> None:
        s, opts = self.s, self.opts
        if not opts.no_start:  # a create waits for nothing: up attached waits as it starts
            await_dependencies(s, svc)
        existing = {number_of(c): c for c in s.of(svc.name)}
        bounced = any(cond.restart and dep in self.recreated for dep, cond in svc.depends_on.items())
        named = not opts.services or svc.name in opts.services
        force = opts.force_recreate if named else opts.always_recreate_deps
        actions = plan_service(
            self._desired(svc), config_hash(svc), image.id,
            {n: Existing(number=n, config_hash=c.spec.labels.get(labels.CONFIG_HASH, ""),
                         image_id=c.spec.image_id, running=c.running and not c.stopping)
             for n, c in existing.items()},
            Policy(force_recreate=force, no_recreate=opts.no_recreate, no_start=opts.no_start),
            dependency_recreated=bounced)
        progress = s.progress
        for action in actions:
            c = existing.get(action.number)
            if action.step is Step.CREATE:
                self._create_and_start(svc, action.number, image)
            elif c is None:
                continue
            elif action.step is Step.START:
                progress.event("Container", c.name, "Starting")
                start_container(s, svc.name, c)
                progress.event("Container", c.name, "Started")
            elif action.step is Step.RESTART:  # depends_on restart: true
                progress.event("Container", c.name, "Restarting")
                stop_container(s, c, opts.timeout)
                start_container(s, svc.name, c)
                progress.event("Container", c.name, "Restarted")
            elif action.step is Step.KEEP:
                if c.running:
                    progress.event("Container", c.name, "Running")
            elif action.step is Step.RECREATE:
                progress.event("Container", c.name, "Recreate")
                self.recreated.add(svc.name)
                self._recreate(svc, c, action.number, image)
            elif action.step is Step.REMOVE:
                remove_container(s, c, opts.timeout)

    def _recreate(self, svc: Service, old: Container, number: int, image: Image) -> None:
        """The replacement is created first, under a temporary name, taking over the old container's
        anonymous volumes; only then is the old one stopped and removed and the new one renamed. If the
        creation fails, the old container is left as it was."""
        s = self.s
        name = container_name(s.project, svc, number, s.separator)
        cid = create_container(s, svc, number, image, f"{old.id[:12]}_{name}", frozenset(self.fresh_volumes),
                               inherit=old, renew=self.opts.renew_anon_volumes)
        remove_container(s, old, self.opts.timeout, quiet=True)
        s.rt.rename(cid, name)
        s.changed()
        s.progress.event("Container", name, "Recreated")
        if not self.opts.no_start:
            s.progress.event("Container", name, "Starting")
            start_container(s, svc.name, s.rt.get(cid))
            s.progress.event("Container", name, "Started")

    def _create_and_start(self, svc: Service, number: int, image: Image, recreated: bool = False) -> None:
        s = self.s
        name = container_name(s.project, svc, number, s.separator)
        s.progress.event("Container", name, "Creating")
        cid = create_container(s, svc, number, image, name, frozenset(self.fresh_volumes))
        s.progress.event("Container", name, "Recreated" if recreated else "Created")
        fault_point("up.created")
        if not self.opts.no_start:
            s.progress.event("Container", name, "Starting")
            start_container(s, svc.name, s.rt.get(cid))
            s.progress.event("Container", name, "Started")
            fault_point("up.started")


def up(session: Session, opts: UpOptions) -> None:
    Converger(session, opts).run()
