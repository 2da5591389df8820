"""The watched services' containers, noticed when they start, stop or are replaced, and their logs.

Checking costs a directory listing and a ``stat`` of each container's state file; the containers are
read again only when one of those changed. The logs are followed as attached ``up`` follows them.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from ..logs import LogFollower, LogPrinter
from ..session import service_of, short_name

if TYPE_CHECKING:
    from engine.runtime.containers import Container

    from ..session import Session


_TEMPORARY = re.compile(r"^[0-9a-f]{12}_")


class Tracker:
    def __init__(self, session: Session, services: Sequence[str]) -> None:
        self.session = session
        self.services = tuple(services)
        self._stamp: tuple[object, ...] | None = None
        self.current: list[Container] = []

    def _stamp_now(self) -> tuple[object, ...]:
        folder = self.session.root.containers
        try:
            ids = sorted(os.listdir(folder))
        except FileNotFoundError:
            return ()
        stamps: list[object] = []
        for cid in ids:
            try:
                st = os.stat(os.path.join(folder, cid, "state.json"))
                stamps.append((cid, st.st_ino, st.st_mtime_ns))
            except FileNotFoundError:
                stamps.append((cid, 0, 0))
        return tuple(stamps)

    def poll(self) -> bool:
        """Whether the containers changed since the last poll (``current`` then holds them as they are)."""
        stamp = self._stamp_now()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        self.session.changed()
        self.current = self.session.containers(self.services)
        return True

    def of(self, service: str) -> list[Container]:
        return [c for c in self.current if service_of(c) == service]


class _Locked:
    """A stream written a line at a time under the feedback lock."""

    def __init__(self, out: TextIO, lock: threading.Lock) -> None:
        self.out, self.lock = out, lock

    def write(self, text: str) -> int:
        with self.lock:
            return self.out.write(text)

    def flush(self) -> None:
        with self.lock:
            self.out.flush()


class Logs:
    """Follows the output of each container as it appears (a replacement's from its start)."""

    def __init__(self, session: Session, out: TextIO, lock: threading.Lock, *, color: bool) -> None:
        self.session, self.color = session, color
        self.out = _Locked(out, lock)
        self.followers: dict[str, LogFollower] = {}
        self.paths: dict[str, str] = {}
        self.seen: dict[str, tuple[int, int]] = {}

    def update(self, containers: Sequence[Container], *, from_start: bool) -> None:
        """Follow ``containers`` (those not followed yet: all they wrote when ``from_start``, else what
        they write from now on); forget those that are gone."""
        ids = {c.id for c in containers}
        for cid in [cid for cid in self.followers if cid not in ids]:
            self.followers.pop(cid).poll()
            self.paths.pop(cid, None)
            self.seen.pop(cid, None)
        for c in containers:
            if c.id not in self.followers:
                # a replacement is created under a temporary name (``<old id>_<name>``), then renamed
                shown = dataclasses.replace(c, name=_TEMPORARY.sub("", c.name))
                printer = LogPrinter([short_name(shown)], out=self.out, split_streams=False)  # type: ignore[arg-type]
                self.followers[c.id] = LogFollower(self.session.rt, [shown], printer, new_only=not from_start)
                self.paths[c.id] = self.session.rt.log_path(c.id)

    def poll(self) -> None:
        """Print what was written since; a log whose size and inode did not change is not opened."""
        for cid, follower in self.followers.items():
            try:
                st = os.stat(self.paths[cid])
                stamp = (st.st_ino, st.st_size)
            except OSError:
                stamp = (0, 0)
            if self.seen.get(cid) != stamp:
                self.seen[cid] = stamp
                follower.poll()
