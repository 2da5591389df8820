"""Commands on a project's existing containers: start, stop, restart, kill, pause, unpause, rm, wait, down.

Each changes containers under the project's lock, in dependency order
(dependencies first to start, dependents first to stop), the containers of
one dependency level in parallel. ``start`` and ``restart`` wait for each
service's ``depends_on`` conditions, as ``up`` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from engine.faults import point as fault_point

from ..errors import UsageError
from . import labels
from .session import service_of
from .steps import await_dependencies, reconcile, remove_container, start_container, stop_container

if TYPE_CHECKING:
    from engine.runtime.containers import Container

    from .session import Session


def _by_level(session: Session, containers: Iterable[Container], *, reverse: bool) -> list[list[Container]]:
    """``containers`` grouped by dependency level (stop order with ``reverse``); unknown services last."""
    chosen = list(containers)
    groups = [[c for c in chosen if service_of(c) in level] for level in session.project.levels(reverse=reverse)]
    known = {s for level in session.project.levels() for s in level}
    groups.append([c for c in chosen if service_of(c) not in known])
    return [sorted(g, key=lambda c: c.name) for g in groups if g]


def _each(session: Session, containers: Sequence[Container], fn: Callable[[Container], None]) -> None:
    """``fn`` on every container at once (within ``--parallel``); the first failure is raised once all are
    done."""
    if not containers:
        return
    with ThreadPoolExecutor(max_workers=session.workers(len(containers))) as pool:
        futures = [pool.submit(fn, c) for c in containers]
        errors = [e for e in (f.exception() for f in futures) if e is not None]
    if errors:
        raise errors[0]


def start(session: Session, services: Sequence[str] = (), cancel: Callable[[], bool] | None = None) -> None:
    """Start the stopped containers of ``services`` (all when empty), each service once its dependencies hold.

    ``cancel`` is asked while dependencies are awaited and between levels: when it says so, ``Cancelled``.
    """
    from ..errors import Cancelled

    with session.lock():
        for group in _by_level(session, session.containers(services or None), reverse=False):
            if cancel is not None and cancel():
                raise Cancelled("interrupted")
            for svc in sorted({service_of(c) for c in group}):
                if svc in session.project.services:
                    await_dependencies(session, session.project.services[svc], cancel=cancel)

            def one(c: Container) -> None:
                if not c.running:
                    session.progress.event("Container", c.name, "Starting")
                    start_container(session, service_of(c), c)
                    session.progress.event("Container", c.name, "Started")
            _each(session, group, one)
        session.changed()


def stop(session: Session, services: Sequence[str] = (), timeout: float | None = None) -> None:
    """Stop the running containers of ``services``, dependents first."""
    with session.lock():
        for group in _by_level(session, session.containers(services or None), reverse=True):
            def one(c: Container) -> None:
                if c.running:
                    session.progress.event("Container", c.name, "Stopping")
                    stop_container(session, c, timeout)
                    session.progress.event("Container", c.name, "Stopped")
            _each(session, group, one)
        session.changed()


def check_startable(session: Session, services: Sequence[str] = ()) -> None:
    """``start``: every service chosen has a container to start, in Compose's words when one has none."""
    from ..errors import UsageError

    project = session.project
    if not project.services and not session.containers():  # a project known by name only, with nothing left
        raise UsageError(f'no container found for project "{project.name}": not found')
    for name in sorted(project.select(services or None, with_deps=False)):
        if not session.of(name) and project.services[name].replicas != 0:
            raise UsageError(f'service "{name}" has no container to start')


def restart_set(session: Session, services: Sequence[str], *, no_deps: bool = False) -> tuple[str, ...]:
    """What ``restart SERVICES`` restarts: them, and (unless ``no_deps``) the services that depend on them with
    ``restart: true``, transitively."""
    chosen = set(services)
    if no_deps or not chosen:
        return tuple(sorted(chosen))
    grew = True
    while grew:
        grew = False
        for name, svc in session.project.services.items():
            if name not in chosen and any(dep in chosen and cond.restart for dep, cond in svc.depends_on.items()):
                chosen.add(name)
                grew = True
    return tuple(sorted(chosen))


def restart(session: Session, services: Sequence[str] = (), timeout: float | None = None, *,
            no_deps: bool = False) -> None:
    """Stop and start each container of ``services`` (and their ``restart: true`` dependents unless
    ``no_deps``), in dependency order, waiting for dependencies."""
    chosen = restart_set(session, services, no_deps=no_deps)
    with session.lock():
        for group in _by_level(session, session.containers(chosen or None), reverse=False):
            for svc in sorted({service_of(c) for c in group}):
                if svc in session.project.services:
                    await_dependencies(session, session.project.services[svc], restart_only=True)

            def one(c: Container) -> None:
                from .events import journal

                session.progress.event("Container", c.name, "Restarting")
                stop_container(session, c, timeout)
                start_container(session, service_of(c), c)
                journal(session, c, "restart")
                session.progress.event("Container", c.name, "Started")
            _each(session, group, one)
        session.changed()


def kill(session: Session, services: Sequence[str] = (), signal: str = "SIGKILL", *,
         remove_orphans: bool = False) -> int:
    """Send ``signal`` to the running containers of ``services`` (``--remove-orphans``: and remove orphans);
    how many there were."""
    with session.lock():
        running = [c for c in session.containers(services or None) if c.running]
        def one(c: Container) -> None:
            if c.running:
                from .events import journal
                from .steps import signal_number

                session.progress.event("Container", c.name, "Killing")
                journal(session, c, "kill", signal=str(signal_number(signal)))
                session.rt.kill(c.id, signal)
                session.progress.event("Container", c.name, "Killed")
        _each(session, session.in_order(running, reverse=True), one)
        if remove_orphans:
            for c in session.orphans():
                remove_container(session, c, None)
        session.changed()
    return len(running)


def pause(session: Session, services: Sequence[str] = ()) -> None:
    with session.lock():
        for c in session.in_order(session.containers(services or None)):
            if c.status == "running":
                session.rt.pause(c.id)
                session.progress.event("Container", c.name, "Paused")
        session.changed()


def unpause(session: Session, services: Sequence[str] = ()) -> None:
    with session.lock():
        for c in session.in_order(session.containers(services or None)):
            if c.status == "paused":
                session.rt.unpause(c.id)
                session.progress.event("Container", c.name, "Unpaused")
        session.changed()


def stopped(session: Session, services: Sequence[str] = ()) -> list[Container]:
    """The containers ``rm`` would remove: the stopped ones of ``services``, dependents first."""
    return [c for c in session.in_order(session.containers(services or None), reverse=True) if not c.running]


def remove(session: Session, containers: Iterable[Container], *, volumes: bool = False) -> None:
    """``rm``: remove these stopped containers (with their anonymous volumes when ``volumes``)."""
    with session.lock():
        for c in containers:
            remove_container(session, session.refresh(c), None, anonymous_volumes=volumes)


def wait(session: Session, services: Sequence[str], poll: float = 0.1) -> Container:
    """Block until the first container of ``services`` stops; that container."""
    chosen = session.containers(services)
    if not chosen:
        raise UsageError("no containers to wait for")
    while True:
        for c in chosen:
            now = session.refresh(c)
            if not now.running:
                return now
        time.sleep(poll)


def dependents(session: Session, services: Sequence[str]) -> set[str]:
    """``services`` and every service that depends on one of them, transitively."""
    chosen = set(services)
    grew = True
    while grew:
        grew = False
        for name, svc in session.project.services.items():
            if name not in chosen and any(dep in chosen for dep in svc.depends_on):
                chosen.add(name)
                grew = True
    return chosen


def down(session: Session, services: Sequence[str] = (), *, volumes: bool = False, remove_orphans: bool = False,
         timeout: float | None = None) -> None:
    """Remove the project's containers (dependents first; with ``services``, theirs and their dependents'),
    its networks (those no container uses any more) and, with ``volumes``, its volumes."""
    project = session.project
    progress = session.progress
    with session.lock():
        reconcile(session)
        mine = session.containers() + session.containers(oneoff=True)
        if services:
            wanted = dependents(session, services)
            mine = [c for c in mine if service_of(c) in wanted]
        keep_orphans = [c for c in mine if service_of(c) not in project.services and not remove_orphans]
        todo = [c for c in mine if c not in keep_orphans]
        groups = _by_level(session, todo, reverse=True)
        if remove_orphans:  # orphans first: nothing in the file depends on them
            orphans = [c for c in todo if service_of(c) not in project.services]
            groups = [orphans] + [[c for c in g if c not in orphans] for g in groups]
        for group in groups:
            _each(session, group, lambda c: remove_container(session, c, timeout, anonymous_volumes=volumes))
        fault_point("down.containers")
        nets = [n for n in session.nets.list() if n.labels.get(labels.PROJECT) == project.name]
        vols = [v for v in session.vols.list() if v.labels.get(labels.PROJECT) == project.name] if volumes else []
        if not todo and not nets and not vols:
            # logrus' level prefix, then Compose's own text
            progress.message(f'WARN[0000] Warning: No resource found to remove for project "{project.name}".')
        for net in nets:
            if not net.allocations:
                progress.event("Network", net.name, "Removing")
                session.nets.remove(net.name)
                progress.event("Network", net.name, "Removed")
        for vol in vols:
            from engine.errors import EngineError

            progress.event("Volume", vol.name, "Removing")
            try:
                session.vols.remove(vol.name)
            except EngineError:
                progress.event("Volume", vol.name, "Resource is still in use")
                continue
            progress.event("Volume", vol.name, "Removed")
        session.drop_lock()
