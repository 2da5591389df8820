"""Host file changes as batches, from inotify (inotify_simple; imported only by ``watch``).

One thread blocks on the inotify descriptor, so a watcher with nothing to do uses no CPU at all. The
rules' folders are watched recursively, except the folders every rule ignores (``node_modules/`` costs
no watches); a folder that appears is watched at once and reported as appeared, so what was written in
it before its watch was in place is synced by walking it. A watched file is watched through its
folder, so an editor's save by rename is seen too.

Events are gathered until ``QUIET`` passes without one, so a save is handed over within milliseconds;
once more than a few paths changed, until ``QUIET_MANY`` passes. A batch that is already large (a ``git
checkout``, a generator writing many files) is held until the changes stop for ``settle`` seconds, so a
burst of 2,000 files becomes one batch, hence one sync and one restart, even on a busy machine. The same descriptor watches the folders of the services' containers (not recursively), so the
loop hears of their new output and their starts and stops without polling.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ...errors import UpError

QUIET = 0.008  # seconds without an event that end a gathering of a few changes (a save)
QUIET_MANY = 0.05  # ... of more than FEW, which may be the start of a burst
FEW = 4
BURST = 32  # changes in one batch from which more are awaited
SETTLE = 0.5  # seconds without a change that end a burst

# inotify's event bits (inotify(7))
IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF = 0x400, 0x800
IN_Q_OVERFLOW, IN_IGNORED, IN_ONLYDIR, IN_ISDIR = 0x4000, 0x8000, 0x1000000, 0x40000000
WATCHED = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
           | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)


@dataclass(frozen=True)
class Batch:
    """Changed host paths, each with whether it appeared (created or moved in) meanwhile, and whether
    anything of the followed containers changed (their logs, their state, a new one)."""

    changes: tuple[tuple[str, bool], ...] = ()
    containers: bool = False

    def __len__(self) -> int:
        return len(self.changes)


def watched(paths: Iterable[str]) -> tuple[list[str], list[str]]:
    """The folders to watch recursively and those to watch alone (the folders of watched files), with
    nested folders left to the one that holds them."""
    deep: list[str] = []
    shallow: set[str] = set()
    for path in sorted(set(paths)):
        if os.path.isdir(path):
            deep.append(path)
            continue
        folder = os.path.dirname(path)
        while folder != "/" and not os.path.isdir(folder):
            folder = os.path.dirname(folder)
        shallow.add(folder)
    top = [p for p in deep if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in deep)]
    alone = sorted(f for f in shallow if not any(f == q or f.startswith(q.rstrip("/") + "/") for q in top))
    return top, alone


def _failed(cause: BaseException) -> UpError:
    """A failure to watch (a folder gone, no inotify watches left) as one line."""
    text = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
    hint = " (raise fs.inotify.max_user_watches)" if getattr(cause, "errno", 0) == 28 else ""
    return UpError(f"watching the project's files failed: {text}{hint}")


class Notifier:
    """Watches ``paths``; ``next`` returns the next batch. ``skip(folder)``: a folder not to watch."""

    def __init__(self, paths: Iterable[str], *, skip: Callable[[str], bool] = lambda folder: False,
                 burst: int = BURST, settle: float = SETTLE) -> None:
        from inotify_simple import INotify

        self.burst, self.settle, self.skip = burst, settle, skip
        self._queue: queue.Queue[Batch | BaseException] = queue.Queue()
        self._lock = threading.Lock()
        self._folders: dict[int, tuple[str, bool]] = {}  # watch descriptor -> (folder, recursive)
        self._followed: dict[str, int] = {}  # container folders -> watch descriptor
        self._inotify = INotify()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        wanted = set(paths)
        self._missing = {p for p in wanted if not os.path.lexists(p)}  # watched once they appear as folders
        try:
            deep, alone = watched(wanted)
            for folder in deep:
                self._watch_tree(folder)
            for folder in alone:
                self._watch(folder, recursive=False)
        except OSError as exc:
            self._release()
            raise _failed(exc) from None
        self._thread = threading.Thread(target=self._run, name="watch-inotify", daemon=True)
        self._thread.start()

    # -- watches ---------------------------------------------------------------------------------

    def _watch(self, folder: str, *, recursive: bool) -> None:
        wd = self._inotify.add_watch(folder, WATCHED)
        with self._lock:
            self._folders[wd] = (folder, recursive)

    def _watch_tree(self, top: str) -> None:
        """``top`` and the folders under it that are not skipped (a folder gone meanwhile is no error)."""
        try:
            self._watch(top, recursive=True)
        except (FileNotFoundError, NotADirectoryError):
            return
        try:
            entries = list(os.scandir(top))
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and not self.skip(entry.path):
                self._watch_tree(entry.path)

    def follow(self, folders: Iterable[str]) -> None:
        """Watch these folders (not recursively) for ``Batch.containers``, and no others."""
        wanted = set(folders)
        with self._lock:
            gone = [(f, wd) for f, wd in self._followed.items() if f not in wanted]
            for folder, wd in gone:
                del self._followed[folder]
                self._folders.pop(wd, None)
        for _, wd in gone:
            with contextlib.suppress(OSError):  # the folder went, and its watch with it
                self._inotify.rm_watch(wd)
        for folder in sorted(wanted - set(self._followed)):
            try:
                wd = self._inotify.add_watch(folder, IN_MODIFY | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ONLYDIR)
            except OSError:
                continue
            with self._lock:
                self._followed[folder] = wd
                self._folders[wd] = (folder, False)

    # -- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._inotify.fileno(), select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        try:
            while True:
                ready = {fd for fd, _ in poller.poll()}  # blocks: no CPU while nothing happens
                if self._wake_r in ready:
                    return
                changes: dict[str, bool] = {}
                containers = False
                while True:  # gather until QUIET passes without an event
                    containers |= self._read(changes)
                    quiet = QUIET if len(changes) <= FEW else QUIET_MANY
                    more = {fd for fd, _ in poller.poll(int(quiet * 1000))}
                    if not more:
                        break
                    if self._wake_r in more:
                        return
                if changes or containers:
                    self._queue.put(Batch(tuple(changes.items()), containers))
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, which reports it
            self._queue.put(exc)

    def _read(self, changes: dict[str, bool]) -> bool:
        """Read the events there are into ``changes``; whether a followed container folder changed."""
        containers = False
        for event in self._inotify.read(timeout=0):
            if event.mask & IN_Q_OVERFLOW:  # events were lost: every watched folder is looked at again
                with self._lock:
                    roots = [f for f, deep in self._folders.values() if deep]
                for root in roots:
                    changes[root] = True
                containers = True
                continue
            with self._lock:
                known = self._folders.get(event.wd)
                if event.mask & IN_IGNORED:
                    self._folders.pop(event.wd, None)
            if known is None or event.mask & IN_IGNORED:
                continue
            folder, recursive = known
            if folder in self._followed:
                containers = True
                continue
            path = os.path.join(folder, event.name) if event.name else folder
            appeared = bool(event.mask & (IN_CREATE | IN_MOVED_TO))
            if appeared and event.mask & IN_ISDIR and (recursive or path in self._missing) and not self.skip(path):
                self._watch_tree(path)
            changes[path] = changes.get(path, False) or appeared
        return containers

    # -- the loop's side --------------------------------------------------------------------------

    def next(self, timeout: float) -> Batch | None:
        """The next batch, or None when nothing happened within ``timeout`` seconds."""
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        merged: dict[str, bool] = {}
        containers = self._merge(merged, first)
        while True:  # what else is already there, and for a burst, what follows until it settles
            try:
                more = self._queue.get(timeout=self.settle if len(merged) >= self.burst else 0)
            except queue.Empty:
                break
            containers |= self._merge(merged, more)
        return Batch(tuple(sorted(merged.items())), containers)

    @staticmethod
    def _merge(into: dict[str, bool], item: Batch | BaseException) -> bool:
        if isinstance(item, BaseException):
            raise _failed(item)
        for path, added in item.changes:
            into[path] = into.get(path, False) or added
        return item.containers

    def close(self) -> None:
        if self._thread.is_alive():
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=10)
        self._release()

    def _release(self) -> None:
        self._inotify.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
