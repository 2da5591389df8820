"""The progress sink every command reports to, drawn as Docker Compose v2.40 draws it.

``Progress`` is the one interface (``event``, ``message``, ``close``); the
mode picks the renderer, as Compose's ``pkg/progress`` does (v2.40.3,
49b1c1e9: ``plain.go``, ``json.go``, ``tty.go``):

- ``plain``: a line per event, `` Container demo-db-1  Started``;
- ``json``: an object per event, ``{"id":"Container demo-db-1","status":"Started"}``;
- ``tty``: a live block redrawn ten times a second (``progress_tty``, on rich),
  ``[+] Running 2/3`` then a line per resource with a spinner, its state
  and its time;
- ``quiet``: nothing.

With ``dry_run`` every line carries Compose's `` DRY-RUN MODE - `` prefix.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

from .statuses import DRY_RUN_PREFIX

if TYPE_CHECKING:
    from .progress_tty import LiveBlock

_LIVE: set[Progress] = set()  # those drawing a tty block now


class Progress:
    """Where commands report what happens to each resource (``Container demo-db-1``, ``Network demo_default``).

    ``mode``: auto (tty when ``stream`` is a terminal, else plain), tty, plain, json or quiet. ``title``
    heads the tty block (``Running``, ``Stopping``...). ``color``: whether the tty block is coloured.
    """

    def __init__(self, mode: str = "auto", stream: TextIO | None = None, *, title: str = "Running",
                 dry_run: bool = False, color: bool = True, force_terminal: bool = False) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "tty" if force_terminal or _isatty(self.stream) else "plain"
        self.mode = mode
        self.title = title
        self.dry_run = dry_run
        self.color = color
        self.force_terminal = force_terminal
        self.lock = threading.Lock()
        self._live: LiveBlock | None = None

    # -- what commands call -------------------------------------------------------------------

    def event(self, kind: str, name: str, status: str, detail: str = "", *, text: str = "") -> None:
        """One resource changed state, e.g. ("Container", "demo-db-1", "Started")."""
        ident = f"{kind} {name}" if kind else name
        if self.mode == "quiet":
            return
        if self.mode == "tty":
            self._block().event(ident, text, status, detail)
            return
        with self.lock:
            if self.mode == "json":
                record: dict[str, object] = {"dry-run": True} if self.dry_run else {}
                record["id"] = ident
                if text:
                    record["text"] = text
                record["status"] = f"{status} {detail}".strip() if detail else status
                print(json.dumps(record, separators=(",", ":"), ensure_ascii=False), file=self.stream, flush=True)
                return
            prefix = DRY_RUN_PREFIX if self.dry_run else ""
            tail = f" {detail}" if detail else ""
            print(f"{prefix} {ident} {text} {status}{tail}", file=self.stream, flush=True)

    def message(self, text: str) -> None:
        """A line of its own (a warning, a summary): above the tty block while it is drawn."""
        if self.mode == "quiet" and not text.startswith("WARN"):
            return
        if self.mode == "json":
            self._json_message(text)
            return
        if self._live is not None:
            self._live.message(text)
            return
        if text.startswith(_WARN):
            text = warning_line(text[len(_WARN):], self.stream)
        with self.lock:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """Finish the tty block (drawn one last time, then left on the screen); a new one starts on the next
        event."""
        live, self._live = self._live, None
        _LIVE.discard(self)
        if live is not None:
            live.close()

    @contextlib.contextmanager
    def detached(self) -> Iterator[None]:
        """Leave the terminal to someone else for a while (a renderer of its own, a child's output)."""
        self.close()
        yield

    # -- internals ----------------------------------------------------------------------------

    def _block(self) -> LiveBlock:
        with self.lock:
            if self._live is None:
                from .progress_tty import LiveBlock

                self._live = LiveBlock(self.stream, self.title, dry_run=self.dry_run, color=self.color,
                                       force_terminal=self.force_terminal)
                _LIVE.add(self)
            return self._live

    def _json_message(self, text: str) -> None:
        import time

        level, _, rest = text.partition(" ")
        with self.lock:
            if level.startswith("WARN["):
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
                stamp = stamp[:-2] + ":" + stamp[-2:]
                record: dict[str, object] = {"level": "warning", "msg": rest, "time": stamp}
            else:
                record = {"dry-run": True} if self.dry_run else {}
                record.update({"tail": True, "text": text})
            print(json.dumps(record, separators=(",", ":"), ensure_ascii=False), file=self.stream, flush=True)


_WARN = "WARN[0000] "


def warning_line(msg: str, stream: TextIO) -> str:
    """A warning as Compose's logger (logrus' text formatter) writes it: ``WARN[0000] msg`` on a terminal,
    ``time="2026-11-29T18:07:26Z" level=warning msg="..."`` otherwise (as recorded from Docker Compose v2.40.3
    writing to a pipe)."""
    if _isatty(stream):
        return _WARN + msg
    from datetime import datetime

    stamp = datetime.now().astimezone().isoformat(timespec="seconds").replace("+00:00", "Z")
    plain = msg != "" and all(ch.isalnum() or ch in "-._/@^+" for ch in msg)
    return f'time="{stamp}" level=warning msg={msg if plain else json.dumps(msg, ensure_ascii=False)}'


def close_all() -> None:
    """Finish every tty block still drawn (the CLI calls this before it prints an error or exits)."""
    for progress in list(_LIVE):
        progress.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
