"""What a batch of host changes asks of each service, and which files that means in its containers.

Pure, apart from looking at the host's files: ``dispatch`` sorts changed paths into each service's
``Work`` (merged with what is still waiting, so nothing is lost while a service is busy), and
``changes_of`` turns a sync into the engine's changes, walking the folders that appeared.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from engine.runtime.inject import Change

from .rules import Rule


@dataclass
class Work:
    """A service's pending actions: host paths to sync (True: walk it, a folder that appeared), a restart,
    the ``sync+exec`` rules to run (by index in the service's rules), a rebuild."""

    paths: dict[str, bool] = field(default_factory=dict)
    restart: bool = False
    after_sync_restart: bool = False  # restart only if the sync changed something (sync+restart)
    execs: set[int] = field(default_factory=set)
    rebuild: bool = False

    def __bool__(self) -> bool:
        return bool(self.paths or self.restart or self.after_sync_restart or self.execs or self.rebuild)

    def merge(self, other: Work) -> None:
        for path, walk in other.paths.items():
            self.paths[path] = self.paths.get(path, False) or walk
        self.restart |= other.restart
        self.after_sync_restart |= other.after_sync_restart
        self.execs |= other.execs
        self.rebuild |= other.rebuild


def is_folder(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def dispatch(rules: Sequence[Rule], changed: Iterable[tuple[str, bool]]) -> dict[str, Work]:
    """Each service's work for the changed host paths (path, appeared); services with none are left out."""
    out: dict[str, Work] = {}
    for path, appeared in changed:
        folder = is_folder(path)
        for index, rule in enumerate(rules):
            if not rule.concerns(path, folder=folder):
                continue
            work = out.setdefault(rule.service, Work())
            if rule.action == "rebuild":
                work.rebuild = True
            elif rule.action == "restart":
                work.restart = True
            else:
                work.paths[path] = work.paths.get(path, False) or (appeared and folder)
                if rule.action == "sync+restart":
                    work.after_sync_restart = True
                elif rule.action == "sync+exec":
                    work.execs.add(index)
    return out


def changes_of(rules: Sequence[Rule], paths: dict[str, bool], *, only_if_differs: bool = False) -> list[Change]:
    """The engine's changes for host ``paths`` under the service's sync ``rules``: each path to its target
    (or targets), a folder that appeared with everything in it that the rules take."""
    syncs = [r for r in rules if r.syncs]
    wanted: dict[str, Change] = {}
    for path, walk in sorted(paths.items()):
        for rule in syncs:
            if not rule.concerns(path, folder=walk):
                continue
            items = _walk(rule, path) if walk else iter([path])
            for item in items:
                if item == path and walk and not rule.concerns(path):
                    continue  # a folder only its files are included from: made as their parent
                target = rule.target_of(item)
                wanted[target] = Change(item, target, only_if_differs)
    return list(wanted.values())


def _walk(rule: Rule, top: str) -> Iterator[str]:
    """``top`` and what is under it that ``rule`` takes, folders before what they hold (a folder that only
    holds what ``include`` takes is made as the parent of those files)."""
    yield top
    yield from _under(rule, top)


def _under(rule: Rule, top: str) -> Iterator[str]:
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if rule.skips_folder(entry.path):
                continue
            if rule.concerns(entry.path):
                yield entry.path
            yield from _under(rule, entry.path)
        elif rule.concerns(entry.path):
            yield entry.path
