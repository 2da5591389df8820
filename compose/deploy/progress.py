"""Progress lines as Docker Compose prints them: ``Container demo-db-1  Started``.

``plain`` and ``tty`` print a line per state change to stderr (tty with the
check marks Compose uses), ``json`` one JSON object per line, ``quiet`` nothing.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import TextIO

_DONE = {"Created", "Started", "Running", "Stopped", "Removed", "Healthy", "Exited", "Recreated", "Killed",
         "Paused", "Unpaused", "Restarted", "Waiting", "Built"}


class Progress:
    def __init__(self, mode: str = "auto", stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "tty" if self.stream.isatty() else "plain"
        self.mode = mode
        self.lock = threading.Lock()

    def event(self, kind: str, name: str, status: str, detail: str = "") -> None:
        """One resource changed state, e.g. ("Container", "demo-db-1", "Started")."""
        if self.mode == "quiet":
            return
        with self.lock:
            if self.mode == "json":
                record = {"id": f"{kind} {name}", "status": status, **({"text": detail} if detail else {})}
                print(json.dumps(record), file=self.stream, flush=True)
                return
            mark = ""
            if self.mode == "tty":
                mark = "✔ " if status in _DONE else ("✘ " if status in ("Error", "Unhealthy") else "")
            tail = f" {detail}" if detail else ""
            print(f" {mark}{kind} {name}  {status}{tail}", file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if self.mode != "quiet":
            with self.lock:
                print(text, file=self.stream, flush=True)
