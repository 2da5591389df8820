"""One watched service: its pending work and the thread that carries it out, one action at a time.

Work that arrives while the service is busy (a rebuild takes seconds) is merged into what waits, so it
runs once the current action is done: nothing is lost, and a burst costs one sync and one restart.
Every container run (a container id and its start time) is brought up to date once: the files changed
since ``watch`` began are synced into it where they differ, so what was changed while a container was
stopped, or before it was recreated, is there once it runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import feedback
from .rules import Rule
from .work import Work, changes_of, is_folder

if TYPE_CHECKING:
    from engine.runtime.containers import Container
    from engine.runtime.inject import Change

    from .feedback import Feedback

Run = tuple[str, str]  # a container's id and when it started


@dataclass(frozen=True)
class Actions:
    """What the worker does to the service's containers (the loop gives the real ones; tests, fakes)."""

    containers: Callable[[], list[Container]]  # the service's containers as last seen
    inject: Callable[[Container, Sequence[Change]], tuple[int, int, tuple[str, ...]]]  # written, removed, failed
    restart: Callable[[], None]
    exec: Callable[[Container, Rule], int]  # exit code
    rebuild: Callable[[], bool]  # False when the build or the recreate failed (the old container stays)


class Worker:
    def __init__(self, service: str, rules: Sequence[Rule], actions: Actions, say: Feedback) -> None:
        self.service = service
        self.rules = list(rules)
        self.actions = actions
        self.say = say
        self.pending = Work()
        self.touched: dict[str, bool] = {}  # host paths synced since the start (True: a folder to walk)
        self.done: set[Run] = set()  # container runs brought up to date
        self.busy = False
        self._cond = threading.Condition()
        self._look = False  # the containers changed: bring new runs up to date
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"watch-{service}", daemon=True)

    def start(self, initial: Work | None = None) -> None:
        """Take the containers running now as up to date, except for ``initial`` (the initial sync)."""
        self.done = {(c.id, c.started_at or "") for c in self.actions.containers() if c.running}
        if initial:
            self.touched.update(initial.paths)
            self._catch_up(initial=True)
        self._thread.start()

    def submit(self, work: Work) -> None:
        with self._cond:
            self.pending.merge(work)
            self._cond.notify()

    def containers_changed(self) -> None:
        with self._cond:
            self._look = True
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join()

    def idle(self) -> bool:
        with self._cond:
            return not self.busy and not self.pending and not self._look

    # -- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self.pending or self._look or self._closing):
                    self._cond.wait()
                if self._closing:
                    return
                work, self.pending = self.pending, Work()
                look, self._look = self._look, False
                self.busy = True
            try:
                if work:
                    self._do(work)
                if look or work:
                    self._catch_up()
            except Exception as exc:  # noqa: BLE001 - one failed action must not end the watch
                self.say.line(f"{self.service}: {exc}")
            finally:
                with self._cond:
                    self.busy = False

    def _do(self, work: Work) -> None:
        if work.rebuild:
            self.actions.rebuild()  # its new container is then brought up to date by _catch_up
        changed = 0
        if work.paths:
            changed = self._sync(work.paths)
        if work.restart or (work.after_sync_restart and changed):
            start = time.monotonic()
            self.actions.restart()
            self.say.line(f"{self.service}: restarted ({feedback.took(time.monotonic() - start)})")
        if work.execs and changed:
            for index in sorted(work.execs):
                for c in self._running():
                    self.actions.exec(c, self.rules[index])

    def _running(self) -> list[Container]:
        return [c for c in self.actions.containers() if c.running]

    def _sync(self, paths: dict[str, bool]) -> int:
        """Sync ``paths`` into every running container; the number of files changed in the first."""
        for path, walk in paths.items():
            self.touched[path] = self.touched.get(path, False) or walk
        changes = changes_of(self.rules, paths)
        running = self._running()
        if not changes or not running:
            return 0
        start = time.monotonic()
        counted = None
        for c in running:
            written, removed, failed = self.actions.inject(c, changes)
            for why in failed:
                self.say.line(f"{self.service}: could not sync {why}")
            if counted is None:
                counted = (written, removed)
        written, removed = counted or (0, 0)
        if written or removed:
            self.say.line(feedback.synced(self.service, written, removed, time.monotonic() - start))
        return written + removed

    def _catch_up(self, *, initial: bool = False) -> None:
        """Bring each container run not yet up to date: the touched paths where they differ."""
        runs = [(c, (c.id, c.started_at or "")) for c in self._running()]
        fresh = [(c, run) for c, run in runs if initial or run not in self.done]
        if not fresh or not self.touched:
            self.done |= {run for _, run in fresh}
            return
        paths = {p: walk or is_folder(p) for p, walk in self.touched.items()}
        changes = changes_of(self.rules, paths, only_if_differs=True)
        for c, run in fresh:
            start = time.monotonic()
            written, removed, failed = self.actions.inject(c, changes)
            for why in failed:
                self.say.line(f"{self.service}: could not sync {why}")
            if written or removed:
                self.say.line(feedback.synced(self.service, written, removed, time.monotonic() - start))
            self.done.add(run)
