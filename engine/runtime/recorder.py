"""The supervisor's writes of container state, which a full disk must not stop.

A write that fails (no space left, a quota) is kept, merged with the changes
that follow it, and tried again from a timer until it succeeds, so the loop
goes on and the record catches up once space returns. The old record stays
as it was meanwhile (``write_json`` is atomic): never half of a new one.
"""

from __future__ import annotations

import sys
from typing import Unpack

from .loop import Loop, Timer
from .records import Records, StateChanges

RETRY = 1.0  # seconds between tries of a write that failed


class Recorder:
    def __init__(self, loop: Loop, records: Records) -> None:
        self.loop = loop
        self.records = records
        self.unwritten: dict[str, StateChanges] = {}
        self._retry: Timer | None = None

    def update(self, cid: str, **changes: Unpack[StateChanges]) -> None:
        pending: StateChanges = {**self.unwritten.pop(cid, {}), **changes}
        try:
            self.records.update(cid, **pending)
        except OSError as exc:
            if not self.unwritten:
                print(f"container {cid[:12]}: its state could not be written ({exc.strerror}); "
                      f"trying again every {RETRY:g}s", file=sys.stderr, flush=True)
            self.unwritten[cid] = pending
            if self._retry is None:
                self._retry = self.loop.later(RETRY, self._again)

    @property
    def busy(self) -> bool:
        return bool(self.unwritten)

    def _again(self) -> None:
        self._retry = None
        for cid in list(self.unwritten):
            self.update(cid)
        if not self.unwritten:
            print("container states written again", file=sys.stderr, flush=True)
