"""The steps commands are made of: one container created, started, removed; networks and volumes ensured;
dependency conditions awaited.

``converge`` (``up``), ``lifecycle`` and ``oneoff`` compose these; each
step reports its progress and names the service when it fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from engine.faults import point as fault_point

from ..errors import Cancelled, ComposeError, ConfigError, UpError
from . import hooks, labels
from .files import service_files
from .resolve import resolve
from .translate import spec_for

if TYPE_CHECKING:
    from engine.images.model import Image
    from engine.runtime.containers import Container

    from ..config.model import Dependency, Service
    from .session import Session


def create_container(session: Session, svc: Service, number: int, image: Image, name: str,
                     fresh_volumes: frozenset[str] = frozenset(), *, oneoff: bool = False,
                     tty: bool | None = None, inherit: Container | None = None, renew: bool = False,
                     aliases: bool = True) -> str:
    """Create (not start) container ``number`` of ``svc``; its id.

    ``inherit``: the container this one replaces (its anonymous volumes move over unless ``renew``);
    ``aliases``: the container answers to the service's name and aliases (not a ``run`` container by default).
    The container is claimed before anything is allocated for it, so what it took (addresses, the
    anonymous volumes made for it) is given back if its creation fails, or by the next ``reconcile``
    if this process dies first.
    """
    from engine.errors import EngineError
    from engine.runtime.containers import new_id

    cid = new_id()
    try:
        with session.rt.creating(cid):
            given = service_files(session.project, svc, session.environment)
            resolved = resolve(session, svc, cid, name, image, fresh_volumes, inherit=inherit, renew=renew,
                                       aliases=aliases)
            resolved = dataclasses.replace(resolved, file_mounts=given.mounts)
            spec = spec_for(session.project, svc, number, cid, resolved, name=name, oneoff=oneoff, tty=tty,
                            stdin_open=tty)
            session.rt.create(spec, given.files)
            fault_point("create.recorded")
    except EngineError as exc:
        raise UpError(f"service {svc.name}: {exc}") from None
    finally:
        session.changed()
    return cid


def reconcile(session: Session) -> None:
    """Give back what commands killed half-way left (see ``Runtime.reconcile``), saying what it was."""
    for what in session.rt.reconcile():
        session.progress.message(f"Reclaimed {what}, left by an interrupted command")


def start_container(session: Session, service: str, c: Container) -> None:
    """Start ``c``, then run its service's ``post_start`` hooks."""
    from engine.errors import EngineError

    try:
        session.rt.start(c.id)
    except EngineError as exc:
        raise UpError(f"service {service}: {exc}") from None
    finally:
        session.changed()
    svc = session.project.services.get(service)
    if svc is not None and svc.post_start and not session.dry_run:
        hooks.run(session, svc, c, "post_start")


def stop_container(session: Session, c: Container, timeout: float | None) -> None:
    """Run its service's ``pre_stop`` hooks (a failing hook is a warning: the stop goes on), then stop ``c``."""
    svc = session.project.services.get(c.spec.labels.get(labels.SERVICE, ""))
    if svc is not None and svc.pre_stop and c.status == "running" and not session.dry_run:
        try:
            hooks.run(session, svc, c, "pre_stop")
        except ComposeError as exc:
            session.progress.message(f"WARN[0000] {exc}")
    from .events import journal

    if c.running:
        journal(session, c, "kill", signal=str(signal_number(c.spec.stop_signal)))
    stopped = session.rt.stop(c.id, timeout)
    if c.running:
        journal(session, c, "die", stopped.finished_at, exitCode=str(stopped.exit_code or 0))
        journal(session, c, "stop")
    session.changed()


def signal_number(name: str) -> int:
    import signal

    try:
        return int(name) if name.isdigit() else int(signal.Signals[name if name.startswith("SIG") else "SIG" + name])
    except (ValueError, KeyError):
        return 15


def ensure_networks(session: Session, services: Iterable[Service], *, every: bool = False) -> None:
    """Make the networks the services use (``every``: all the project declares)."""
    from .netplan import apply, plan

    keys = sorted({n for svc in services for n in svc.networks} | (set(session.project.networks) if every else set()))
    for name in apply(plan(session.project, keys), session.nets):
        session.progress.event("Network", name, "Creating")
        session.progress.event("Network", name, "Created")


def ensure_volumes(session: Session, services: Iterable[Service], *, every: bool = False) -> set[str]:
    """Make the named volumes the services use (``every``: all the project declares); the keys of those made
    just now (to be seeded from images)."""
    from engine.errors import NotFound

    project = session.project
    fresh: set[str] = set()
    used = sorted({m.source for svc in services for m in svc.volumes if m.type == "volume" and m.source}
                  | (set(project.volumes) if every else set()))
    existing = {v.name for v in session.vols.list()}
    for key in used:
        vol = project.volumes[key]
        if vol.external:
            try:
                session.vols.get(vol.name)
            except NotFound:
                raise ConfigError(f"volume {vol.name} declared as external, but could not be found",
                                  path=("volumes", key)) from None
            continue
        if vol.name not in existing:
            session.progress.event("Volume", vol.name, "Creating")
            session.vols.create(vol.name, labels={**vol.labels, labels.PROJECT: project.name, labels.VOLUME: key},
                                driver=vol.driver or "local", options=dict(vol.driver_opts))
            fresh.add(key)
            session.progress.event("Volume", vol.name, "Created")
    return fresh


def await_dependencies(session: Session, svc: Service, timeout: float = 300.0,
                       cancel: Callable[[], bool] | None = None, *, restart_only: bool = False) -> None:
    """Block until each dependency's condition holds (``service_healthy``, ``service_completed_successfully``).

    Its containers say ``Waiting``, then ``Healthy`` or ``Exited``; ``cancel`` (asked between looks) ends
    the wait with ``Cancelled``. ``restart_only``: only dependencies declared with ``restart: true`` (what
    ``restart`` waits for).
    """
    if session.dry_run:
        return
    for dep, cond in svc.depends_on.items():
        if restart_only and not cond.restart:
            continue
        if dep in session.project.services and cond.condition != "service_started":
            _await(session, svc, dep, cond, timeout, cancel)


def _each_event(session: Session, containers: Iterable[Container], status: str) -> None:
    for c in containers:
        session.progress.event("Container", c.name, status)


def _await(session: Session, svc: Service, dep: str, cond: Dependency, timeout: float,
           cancel: Callable[[], bool] | None) -> None:
    deadline = time.monotonic() + timeout
    rt = session.rt
    waiting = session.of(dep)
    if not waiting:
        if cond.required:
            raise UpError(f"{svc.name} is missing dependency {dep}")
        session.progress.message(f"WARN[0000] {svc.name} is missing dependency {dep}")
        return
    _each_event(session, waiting, "Waiting")
    while True:
        states = [rt.get(c.id) for c in waiting]
        if cond.condition == "service_healthy":
            health = [rt.health(c.id) for c in states]
            if states and all(h == "healthy" for h in health):
                _each_event(session, states, "Healthy")
                return
            if any(h == "unhealthy" for h in health) or any(c.status == "exited" for c in states):
                if cond.required:
                    _each_event(session, states, "Error")
                    raise UpError(f"dependency failed to start: container {states[0].name} is unhealthy")
                _each_event(session, states, f'Skipped: optional dependency "{dep}" failed to start')
                return
        else:  # service_completed_successfully
            if states and all(c.status == "exited" for c in states):
                bad = [c for c in states if c.exit_code != 0]
                if bad and cond.required:
                    raise UpError(f"service {dep} didn't complete successfully: exit {bad[0].exit_code}")
                _each_event(session, states, "Exited")
                return
        if cancel is not None and cancel():
            raise Cancelled("interrupted")
        if time.monotonic() > deadline:
            raise UpError(f"service {svc.name}: timed out waiting for {dep} ({cond.condition})")
        time.sleep(0.05)
        session.changed()


def wait_running_or_healthy(session: Session, services: Iterable[Service], timeout: float | None) -> None:
    """``--wait``: every container of ``services`` running, and healthy where it has a healthcheck."""
    deadline = time.monotonic() + (timeout or 300)
    rt = session.rt
    containers = [c for svc in services for c in session.of(svc.name)]
    _each_event(session, containers, "Waiting")
    for c in containers:
        while True:
            now = rt.get(c.id)
            health = rt.health(c.id)
            if health == "unhealthy" or now.status == "exited":
                session.progress.event("Container", c.name, "Error")
                raise UpError(f"container {c.name} is {health or now.status}")
            if now.status == "running" and health in (None, "healthy"):
                session.progress.event("Container", c.name, "Healthy")
                break
            if time.monotonic() > deadline:
                raise UpError(f"timed out waiting for {c.name}")
            time.sleep(0.05)


def remove_container(session: Session, c: Container, timeout: float | None, quiet: bool = False,
                     anonymous_volumes: bool = False) -> None:
    """Stop (if running) and remove ``c``; its anonymous volumes go with it only when asked (``rm -v``,
    ``down -v``, ``run --rm``), as Docker keeps them otherwise."""
    from engine.errors import EngineError

    progress = session.progress
    if c.running:
        if not quiet:
            progress.event("Container", c.name, "Stopping")
        stop_container(session, c, timeout)
        if not quiet:
            progress.event("Container", c.name, "Stopped")
    anonymous = [os.path.basename(os.path.dirname(m.source)) for m in c.spec.mounts
                 if m.source and "/volumes/" in m.source]
    session.rt.remove(c.id, force=True)
    session.changed()
    if not quiet:
        progress.event("Container", c.name, "Removed")
    if not anonymous_volumes:
        return
    from engine.volumes import ANONYMOUS_LABEL

    for name in anonymous:
        with contextlib.suppress(EngineError):
            if ANONYMOUS_LABEL in session.vols.get(name).labels:
                session.vols.remove(name)
