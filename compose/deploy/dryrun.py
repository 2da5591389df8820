"""``--dry-run``: what a command would do, reported as it would be, with nothing changed.

``up``, ``create``, ``scale`` and ``down`` are planned from what exists now
with the pure ``plan.plan_service`` (the same decisions ``converge``
makes): the images that would be pulled or built, the networks and volumes
created, each container created, recreated, started, kept or removed. The
lifecycle commands (``stop``, ``start``, ``restart``, ``kill``, ``pause``,
``unpause``, ``rm``) run as usual on an engine whose changing calls do
nothing (``dry_engine``). Every line carries Compose's
`` DRY-RUN MODE - `` prefix (set on the session's progress by the CLI).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import labels
from .converge import UpOptions
from .imaging import Imaging, effective_pull_policy
from .plan import Existing, Policy, Step, plan_service
from .session import Engine, number_of, service_of
from .translate import config_hash, container_name

if TYPE_CHECKING:
    from engine.runtime.containers import Container

    from ..config.model import Service
    from .oneoff import RunRequest
    from .session import Session


def _pair(session: Session, kind: str, name: str, working: str, done: str) -> None:
    session.progress.event(kind, name, working)
    session.progress.event(kind, name, done)


def _images(session: Session, services: list[Service], opts: UpOptions) -> dict[str, str]:
    """Pulls and builds that would happen; each service's image id as far as it is known now ("" if not)."""
    imaging = Imaging(session.project, session.images, session.rt, session.progress)
    ids: dict[str, str] = {}
    pulled: set[str] = set()
    for svc in services:
        present = imaging.has(svc)
        policy = effective_pull_policy(opts.pull, svc.pull_policy)
        builds = svc.build is not None and not opts.no_build and (opts.build or not present)
        if svc.image and not builds and svc.image not in pulled and policy not in ("never", "build") and (
                policy == "always" or not present):
            pulled.add(svc.image)
            _pair(session, "Image", svc.image, "Pulling", "Pulled")
        if builds:
            _pair(session, "Image", svc.image_name(session.project.name), "Building", "Built")
        ids[svc.name] = imaging.get(svc).id if present and not builds else ""
    return ids


def up(session: Session, opts: UpOptions, *, start: bool = True) -> None:
    """Report what ``up`` (``create`` without ``start``) would do."""
    from .netplan import plan as network_plan

    project = session.project
    chosen = project.select(opts.services or None, with_deps=not opts.no_deps)
    services = [project.services[name] for name in sorted(chosen)]
    orphans = session.orphans()
    if orphans and opts.remove_orphans:
        for c in orphans:
            _remove(session, c)
    elif orphans and not opts.ignore_orphans:
        session.progress.message(f"WARN[0000] Found orphan containers ({', '.join(c.name for c in orphans)}) for "
                                 "this project.")
    image_ids = _images(session, services, opts)
    existing_nets = {n.name for n in session.nets.list()}
    keys = {n for svc in services for n in svc.networks} | (set(project.networks) if opts.all_resources else set())
    for req in network_plan(project, sorted(keys)):
        if not req.external and req.name not in existing_nets:
            _pair(session, "Network", req.name, "Creating", "Created")
    existing_vols = {v.name for v in session.vols.list()}
    used = {m.source for svc in services for m in svc.volumes if m.type == "volume" and m.source}
    for key in sorted(used | (set(project.volumes) if opts.all_resources else set())):
        vol = project.volumes[key]
        if not vol.external and vol.name not in existing_vols:
            _pair(session, "Volume", vol.name, "Creating", "Created")
    recreated: set[str] = set()
    for level in project.levels(opts.services or None, with_deps=not opts.no_deps):
        for name in level:
            _service(session, project.services[name], opts, image_ids[name], recreated, start)


def _service(session: Session, svc: Service, opts: UpOptions, image_id: str, recreated: set[str],
             start: bool) -> None:
    progress = session.progress
    existing = {number_of(c): c for c in session.of(svc.name)}
    named = not opts.services or svc.name in opts.services
    actions = plan_service(
        opts.scale.get(svc.name, svc.replicas), config_hash(svc), image_id,
        {n: Existing(number=n, config_hash=c.spec.labels.get(labels.CONFIG_HASH, ""), image_id=c.spec.image_id,
                     running=c.running) for n, c in existing.items()},
        Policy(force_recreate=opts.force_recreate if named else opts.always_recreate_deps,
               no_recreate=opts.no_recreate, no_start=not start),
        dependency_recreated=any(cond.restart and dep in recreated for dep, cond in svc.depends_on.items()))
    for action in actions:
        c = existing.get(action.number)
        name = c.name if c is not None else container_name(session.project, svc, action.number, session.separator)
        if action.step is Step.CREATE:
            _pair(session, "Container", name, "Creating", "Created")
        elif action.step is Step.RECREATE:
            recreated.add(svc.name)
            _pair(session, "Container", name, "Recreate", "Recreated")
        elif action.step is Step.RESTART:
            _pair(session, "Container", name, "Restarting", "Restarted")
            continue
        elif action.step is Step.KEEP:
            if c is not None and c.running:
                progress.event("Container", name, "Running")
            continue
        elif action.step is Step.REMOVE and c is not None:
            _remove(session, c)
            continue
        if start and action.step in (Step.CREATE, Step.RECREATE, Step.START):
            _pair(session, "Container", name, "Starting", "Started")


def _remove(session: Session, c: Container) -> None:
    if c.running:
        _pair(session, "Container", c.name, "Stopping", "Stopped")
    _pair(session, "Container", c.name, "Removing", "Removed")


def down(session: Session, services: Sequence[str] = (), *, volumes: bool = False, remove_orphans: bool = False,
         rmi: str | None = None) -> None:
    """Report what ``down`` would remove."""
    from .lifecycle import dependents

    project = session.project
    mine = session.containers() + session.containers(oneoff=True)
    if services:
        wanted = dependents(session, services)
        mine = [c for c in mine if service_of(c) in wanted]
    todo = [c for c in mine if service_of(c) in project.services or remove_orphans]
    for c in session.in_order(todo, reverse=True):
        _remove(session, c)
    nets = [n for n in session.nets.list() if n.labels.get(labels.PROJECT) == project.name]
    vols = [v for v in session.vols.list() if v.labels.get(labels.PROJECT) == project.name] if volumes else []
    if not todo and not nets and not vols:
        session.progress.message(f'WARN[0000] Warning: No resource found to remove for project "{project.name}".')
    for net in nets:
        _pair(session, "Network", net.name, "Removing", "Removed")
    for vol in vols:
        _pair(session, "Volume", vol.name, "Removing", "Removed")
    if rmi:
        for svc in project.services.values():
            if rmi == "all" or not svc.image:
                _pair(session, "Image", svc.image_name(project.name), "Removing", "Removed")


def images(session: Session, services: Sequence[str], action: str) -> None:
    """``pull``/``push``/``build`` under ``--dry-run``: ``Pulling``/``Pulled`` (...) for each image concerned."""
    words = {"pull": ("Pulling", "Pulled"), "push": ("Pushing", "Pushed"), "build": ("Building", "Built")}[action]
    done: set[str] = set()
    for name in sorted(services or session.project.services):
        svc = session.project.services[name]
        ref = svc.image_name(session.project.name) if action == "build" else svc.image
        if not ref or ref in done or (action == "build" and svc.build is None):
            continue
        done.add(ref)
        _pair(session, "Image", ref, *words)


def dry_engine(session: Session) -> None:
    """Swap the session's engine for one whose changing calls do nothing (reads go to the real one)."""
    from engine.runtime.containers import Runtime
    from engine.volumes import Volumes

    class DryRuntime(Runtime):
        def start(self, ref: str) -> Container:
            return self.get(ref)

        def stop(self, ref: str, timeout: float | None = None) -> Container:
            return self.get(ref)

        def kill(self, ref: str, sig: str | int = "SIGKILL") -> None:
            return None

        def remove(self, ref: str, *, force: bool = False) -> None:
            return None

        def pause(self, ref: str) -> None:
            return None

        def unpause(self, ref: str) -> None:
            return None

        def ensure_supervisor(self, group: str) -> None:
            return None

    class DryVolumes(Volumes):
        def remove(self, name: str, *, force: bool = False) -> None:
            return None

    parts = Engine(root=session.root, rt=DryRuntime(session.root), images=session.images, nets=session.nets,
                   vols=DryVolumes(session.root))
    session.rt, session.vols = parts.rt, parts.vols
    session.dry_run = True


def run(session: Session, req: RunRequest) -> None:
    """Report what ``run`` would do: its dependencies brought up, the one-off container made and started."""
    project = session.project
    deps = sorted(project.requires.get(req.service, frozenset()))
    if deps and not req.no_deps:
        up(session, UpOptions(services=tuple(deps), pull=req.pull, remove_orphans=req.remove_orphans))
    svc = project.services[req.service]
    _images(session, [svc], UpOptions(build=req.build, pull=req.pull))
    name = req.name or session.separator.join((project.name, req.service, "run", "000000000000"))
    _pair(session, "Container", name, "Creating", "Created")
    _pair(session, "Container", name, "Starting", "Started")
