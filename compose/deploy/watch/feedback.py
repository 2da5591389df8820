"""What ``watch`` tells the user: one line per action, between the services' log lines, on stdout."""

from __future__ import annotations

import sys
import threading
from typing import TextIO


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def took(seconds: float) -> str:
    """``12 ms`` under a second, ``4.1 s`` from there."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def synced(service: str, written: int, removed: int, seconds: float) -> str:
    """``web: synced 3 files (12 ms)``, ``web: synced 2 files, removed 1 (9 ms)``, ``web: removed 4 files``."""
    if written and removed:
        what = f"synced {plural(written, 'file')}, removed {removed}"
    elif removed:
        what = f"removed {plural(removed, 'file')}"
    else:
        what = f"synced {plural(written, 'file')}"
    return f"{service}: {what} ({took(seconds)})"


class Feedback:
    """Lines written whole, whichever thread writes them (log lines go through ``out`` too)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()
