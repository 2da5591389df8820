"""The two ways in: ``pycompose watch`` (bring the services up, then watch; Ctrl-C leaves them running)
and ``up --watch`` (attached ``up`` with the watch beside it; Ctrl-C stops the services, as in ``up``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .loop import Watcher, WatchOptions, on_signals, watch

if TYPE_CHECKING:
    from ..session import Session


def watch_command(session: Session, services: Sequence[str], *, no_up: bool, prune: bool, quiet: bool) -> int:
    """``watch``: unless ``no_up``, build the services that have both ``build`` and ``develop`` (as Compose
    does) and bring the services up; then watch until SIGINT or SIGTERM. The exit code."""
    if not no_up:
        bring_up(session, services, quiet=quiet)
    return watch(session, WatchOptions(services=tuple(services), prune=prune, quiet=quiet))


def bring_up(session: Session, services: Sequence[str], *, quiet: bool) -> None:
    from ..converge import UpOptions, up
    from ..imaging import Imaging

    project = session.project
    imaging = Imaging(project, session.images, session.rt, session.progress, quiet_pull=quiet)
    chosen = [project.services[name] for name in sorted(project.select(tuple(services) or None, with_deps=True))]
    to_build = [svc for svc in chosen if svc.build is not None and svc.develop is not None]
    if to_build:
        imaging.build(to_build, quiet=quiet)
    up(session, UpOptions(services=tuple(services), quiet_pull=quiet))


def up_watching(session: Session, services: Sequence[str], timeout: float | None) -> int:
    """``up --watch`` once the services are up: their output from the start, as attached ``up`` shows it,
    with the watch's lines between; the first Ctrl-C stops the services, a second one kills them. The
    containers a rebuild replaces are followed too. The exit code."""
    from ..lifecycle import kill, stop

    watcher = Watcher(session, WatchOptions(services=tuple(services), from_start=True))
    interrupted = on_signals()
    try:
        watcher.open()
        watcher.run(interrupted)
    finally:
        watcher.close()
    session.progress.message("Gracefully stopping... (press Ctrl+C again to force)")
    try:
        stop(session, services, timeout)
    except KeyboardInterrupt:
        kill(session, services)
        return 130
    return 0
