"""``watch`` and ``up --watch``: host changes carried into the services' containers until interrupted.

The main thread takes batches of changes from the notifier and hands each service's share to the
service's worker, follows the containers (their logs, their starts and replacements) and stops on the
first SIGINT or SIGTERM, leaving the containers running. Each worker syncs, restarts, runs commands and
rebuilds in a thread of its own, so a rebuild does not hold up the other services nor the logs.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from ...errors import ComposeError, UsageError
from ..session import short_name
from . import feedback
from .feedback import Feedback
from .notify import Notifier
from .rules import Rule, rules_of
from .tracker import Logs, Tracker
from .work import Work, dispatch
from .worker import Actions, Worker

if TYPE_CHECKING:
    from engine.runtime.containers import Container
    from engine.runtime.inject import Change

    from ..progress import Progress
    from ..session import Session

WAKE = 0.25  # seconds the loop waits for a batch before it looks whether it must stop
LOOK = 2.0  # seconds after which the containers are looked at even if inotify said nothing


@dataclass(frozen=True)
class WatchOptions:
    services: tuple[str, ...] = ()
    prune: bool = True  # remove the image a rebuild replaced, once nothing uses it
    quiet: bool = False  # hide the build output
    logs: bool = True  # follow the containers' output
    from_start: bool = False  # their output from the start (attached ``up``), not only what comes next


def watch(session: Session, opts: WatchOptions, *, stop: threading.Event | None = None,
          out: TextIO | None = None) -> int:
    """Watch until ``stop`` is set (by default: by the first SIGINT or SIGTERM). The exit code."""
    watcher = Watcher(session, opts, out)
    try:
        watcher.open()
        watcher.run(stop or on_signals())
    finally:
        watcher.close()
    return 0


class Watcher:
    """``open`` checks the rules and starts watching (errors are raised there), ``run`` carries changes
    over until its event is set, ``close`` lets the services finish what they are doing."""

    def __init__(self, session: Session, opts: WatchOptions, out: TextIO | None = None) -> None:
        self.session, self.opts = session, opts
        self.say = Feedback(out)
        self.workers: dict[str, Worker] = {}
        self.notifier: Notifier | None = None
        self.logs: Logs | None = None
        self.rules: list[Rule] = []
        self.tracker = Tracker(session, ())
        self.enabled = False

    def open(self) -> None:
        session, opts = self.session, self.opts
        project = session.project
        chosen = sorted(project.select(opts.services or None, with_deps=True))
        self.rules, warnings = rules_of(project, chosen)
        for warning in warnings:
            session.progress.message(f"WARN[0000] {warning}")
        if not self.rules:
            raise UsageError("none of the selected services is configured for watch, consider setting a "
                             "'develop' section")
        self.tracker = Tracker(session, chosen)
        self.tracker.poll()
        if opts.logs:
            self.logs = Logs(session, self.say.out, self.say.lock, color=False)
            self.logs.update(self.tracker.current, from_start=opts.from_start)
        self.notifier = Notifier([r.path for r in self.rules], skip=self._unwatched)
        self._follow()
        for name in sorted({r.service for r in self.rules}):
            mine = [r for r in self.rules if r.service == name]
            self.workers[name] = Worker(name, mine, _actions(session, name, self.tracker, self.say, opts), self.say)
            self.workers[name].start(Work(paths={r.path: True for r in mine if r.initial_sync and r.syncs}))
        self.enabled = True
        self.say.line("Watch enabled")

    def _unwatched(self, folder: str) -> bool:
        """A folder no rule can take anything from (ignored by all, holding no rule's path)."""
        return all(r.skips_folder(folder) and not r.path.startswith(folder.rstrip("/") + "/") for r in self.rules)

    def _follow(self) -> None:
        """inotify on the containers' folders (and their parent, for new ones): their output and states."""
        assert self.notifier is not None
        records = self.session.root.containers
        self.notifier.follow([records, *(os.path.join(records, c.id) for c in self.tracker.current)])

    def run(self, stop: threading.Event) -> None:
        assert self.notifier is not None
        looked = time.monotonic()
        while not stop.is_set():
            batch = self.notifier.next(WAKE)
            if batch is not None and batch.changes:
                for name, work in dispatch(self.rules, batch.changes).items():
                    self.workers[name].submit(work)
            if (batch is not None and batch.containers) or time.monotonic() - looked > LOOK:
                looked = time.monotonic()
                if self.tracker.poll():
                    self._follow()
                    if self.logs is not None:
                        self.logs.update(self.tracker.current, from_start=True)
                    for worker in self.workers.values():
                        worker.containers_changed()
                if self.logs is not None:
                    self.logs.poll()

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close()
        for worker in self.workers.values():
            worker.close()
        if self.logs is not None:
            self.logs.poll()
        if self.enabled:
            self.say.line("Watch disabled")


def on_signals() -> threading.Event:
    """An event set by the first SIGINT or SIGTERM (the handlers only set it); a second one interrupts."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
    return stop


def _actions(session: Session, name: str, tracker: Tracker, say: Feedback, opts: WatchOptions) -> Actions:
    from engine.errors import Conflict, EngineError, NotFound
    from engine.runtime.exec import ExecOptions, exec_output
    from engine.runtime.inject import inject

    rt = session.rt

    def containers() -> list[Container]:
        out = []
        for c in tracker.of(name):
            try:
                out.append(rt.get(c.id))
            except NotFound:
                continue
        return out

    def into(c: Container, changes: Sequence[Change]) -> tuple[int, int, tuple[str, ...]]:
        try:
            done = inject(rt, c.id, changes)
        except Conflict:  # stopped meanwhile: synced when it runs again
            return 0, 0, ()
        except EngineError as exc:
            return 0, 0, (f"into {c.name}: {exc}",)
        return len(done.written), len(done.removed), done.failed

    def restart() -> None:
        from ..lifecycle import restart as restart_service
        from ..progress import Progress

        restart_service(_own_session(session, Progress("quiet")), [name])

    def run(c: Container, rule: Rule) -> int:
        assert rule.exec is not None
        hook = rule.exec
        start = time.monotonic()
        try:
            code = exec_output(rt, c.id, ExecOptions(
                argv=list(hook.command), env=dict(hook.environment), user=hook.user,
                working_dir=hook.working_dir, privileged=hook.privileged),
                lambda line: say.line(f"{short_name(c)}  | {line}"))
        except EngineError as exc:
            say.line(f"{name}: exec {' '.join(hook.command)}: {exc}")
            return 126
        say.line(f"{name}: exec {' '.join(hook.command)}: exit code {code} ({feedback.took(time.monotonic() - start)})")
        return code

    def rebuild() -> bool:
        return _rebuild(session, name, say, opts)

    return Actions(containers=containers, inject=into, restart=restart, exec=run, rebuild=rebuild)


def _own_session(session: Session, progress: Progress) -> Session:
    """A session of its own for a worker's thread (its own container snapshot), on the same engine."""
    from ..session import Engine, Session

    engine = Engine(root=session.root, rt=session.rt, images=session.images, nets=session.nets, vols=session.vols)
    return Session(session.project, engine=engine, progress=progress, environment=session.environment)


def _rebuild(session: Session, name: str, say: Feedback, opts: WatchOptions) -> bool:
    """Build the service's image, then recreate its containers alone (its dependents keep running).
    On failure the error is shown and the old containers are left as they are."""
    from engine.errors import EngineError

    from ..converge import Converger, UpOptions
    from ..imaging import Imaging

    say.line(f"{name}: rebuilding…")
    start = time.monotonic()
    local = _own_session(session, session.progress)
    svc = session.project.services[name]
    before = {c.spec.image_id for c in local.of(name)}
    try:
        Imaging(session.project, session.images, session.rt, session.progress).build([svc], quiet=opts.quiet)
        Converger(local, UpOptions(services=(name,), no_deps=True, force_recreate=True)).run()
    except (ComposeError, EngineError) as exc:
        say.line(f"{name}: rebuild failed, the running container is kept: {exc}")
        return False
    if opts.prune:
        _prune(session, before)
    say.line(f"{name}: recreated ({feedback.took(time.monotonic() - start)})")
    return True


def _prune(session: Session, image_ids: set[str]) -> None:
    """Remove the images a rebuild replaced, when no tag names them and no container uses them."""
    from engine.errors import EngineError

    for image_id in image_ids:
        try:
            if not session.images.get(image_id).refs:
                session.images.remove(image_id)
        except EngineError:
            continue  # still used, or already gone

