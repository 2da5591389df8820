"""Pull and push progress as Docker Compose shows it: per service, per layer, with sizes.

``tty`` keeps a live block redrawn in place (at most ten times a second)::

    [+] Pulling 1/2
     ✔ db Pulled                                              3.2s
     ⠿ web Pulling 12.35MB/45.61MB                            2.1s
       ✔ a1b2c3d4e5f6 Pull complete
       ⠿ 9f8e7d6c5b4a Downloading [=====>          ]  12.35MB/45.61MB

``plain`` prints one line per event (`` web Pulling``, `` 9f8e7d6c5b4a Downloading
[=====>  ]  12.35MB/45.61MB``), ``json`` one object per event with ``id``,
``parent_id``, ``status``, ``current``, ``total``, ``percent`` and ``text``.
Both carry the same events: every status change, and a byte count at most
once a second per layer. ``quiet`` shows nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .progress import Progress

if TYPE_CHECKING:
    from engine.images.distribution import Transfer

_COUNTED = ("Downloading", "Extracting", "Pushing")
_DONE = ("Pull complete", "Already exists", "Pushed", "Layer already exists", "Pulled", "Skipped")
_RECEIVED = ("Verifying Checksum", "Download complete", "Extracting", "Pull complete", "Already exists", "Pushed",
             "Layer already exists")
PLAIN_EVERY = 1.0
TTY_EVERY = 0.1
BAR = 50


def human(size: float) -> str:
    """Docker's human size: decimal units, four significant digits (``45.61MB``)."""
    units = ("B", "kB", "MB", "GB", "TB")
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.4g}{units[i]}"


def bar(current: int, total: int) -> str:
    """``[=====>     ]  12.35MB/45.61MB`` as Docker draws it (50 columns)."""
    if total <= 0:
        return f"{human(current):>8}"
    done = min(BAR - 1, int(BAR * current / total))
    return f"[{'=' * done}>{' ' * (BAR - 1 - done)}] {human(current):>8}/{human(total)}"


@dataclass
class _Layer:
    status: str = ""
    current: int = 0
    total: int = 0
    shown: float = 0.0  # when a byte count was last printed (plain, json)


@dataclass
class _Service:
    status: str
    detail: str = ""
    started: float = 0.0
    ended: float | None = None
    layers: dict[str, _Layer] = field(default_factory=dict)


class PullView:
    """Receives service and layer events from many threads; renders them in the progress mode."""

    def __init__(self, progress: Progress, title: str = "Pulling", *, quiet: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.progress = progress
        self.mode = "quiet" if quiet else progress.mode
        self.title = title
        self.clock = clock
        self._lock = threading.Lock()
        self._services: dict[str, _Service] = {}
        self._drawn = 0
        self._last_draw = 0.0
        if self.mode == "tty":
            progress.close()  # this view draws its own block: the progress block so far stays above it

    def service(self, name: str, status: str, detail: str = "") -> None:
        """A service's state: Pulling, Pulled, Skipped, Warning, Error (Pushing, Pushed)."""
        with self._lock:
            now = self.clock()
            state = self._services.setdefault(name, _Service(status, started=now))
            state.status, state.detail = status, detail
            if status not in ("Pulling", "Pushing"):
                state.ended = now
            if self.mode == "json":
                self._json({"id": name, "status": status, **({"text": detail} if detail else {})})
            elif self.mode == "plain":
                self._line(f" {name} {status}{' ' + detail if detail else ''}")
            elif self.mode == "tty":
                self._draw(force=True)

    def layer(self, service: str, event: Transfer) -> None:
        """A layer's step (engine ``Transfer``); an image-wide one (empty id) is a message for the service."""
        with self._lock:
            state = self._services.setdefault(service, _Service("Pulling", started=self.clock()))
            if not event.id:
                state.detail = event.status
                return
            layer = state.layers.setdefault(event.id, _Layer())
            changed = event.status != layer.status
            layer.status = event.status
            if event.total:  # a size, once known, is kept through the statuses that do not repeat it
                layer.current, layer.total = event.current, event.total
            now = self.clock()
            if self.mode in ("plain", "json"):
                counted = event.status in _COUNTED and event.total and event.current < event.total
                if counted and not changed and now - layer.shown < PLAIN_EVERY:
                    return
                layer.shown = now
                text = bar(event.current, event.total) if event.status in _COUNTED else ""
                if self.mode == "json":
                    percent = int(100 * event.current / event.total) if event.total else 0
                    self._json({"id": event.id, "parent_id": service, "status": event.status,
                                **({"current": event.current, "total": event.total, "percent": percent}
                                   if event.status in _COUNTED else {}), **({"text": text} if text else {})})
                else:
                    self._line(f" {event.id} {event.status}{' ' + text if text else ''}")
            elif self.mode == "tty":
                self._draw(force=changed)

    def close(self) -> None:
        with self._lock:
            if self.mode == "tty":
                self._draw(force=True)

    # -- output ------------------------------------------------------------------------

    def _line(self, text: str) -> None:
        with self.progress.lock:
            print(text, file=self.progress.stream, flush=True)

    def _json(self, record: dict[str, object]) -> None:
        with self.progress.lock:
            print(json.dumps(record), file=self.progress.stream, flush=True)

    def lines(self) -> list[str]:
        """The tty block as it stands."""
        now = self.clock()
        done = sum(1 for s in self._services.values() if s.ended is not None)
        out = [f"[+] {self.title} {done}/{len(self._services)}"]
        for name, s in self._services.items():
            mark = "✔" if s.status in _DONE else "✘" if s.status == "Error" else "!" if s.status == "Warning" else "⠿"
            elapsed = (s.ended if s.ended is not None else now) - s.started
            total = sum(layer.total for layer in s.layers.values())
            got = sum(layer.total if layer.status in _RECEIVED else layer.current for layer in s.layers.values())
            sizes = f" {human(got)}/{human(total)}" if total and s.ended is None else ""
            head = f" {mark} {name} {s.status}{sizes}{' ' + s.detail if s.detail and s.ended else ''}"
            out.append(f"{head:<60} {elapsed:5.1f}s")
            for lid, layer in s.layers.items():
                lmark = "✔" if layer.status in _DONE else "⠿"
                text = f" {bar(layer.current, layer.total)}" if layer.status in _COUNTED else ""
                out.append(f"   {lmark} {lid} {layer.status}{text}")
        return out

    def _draw(self, *, force: bool) -> None:
        now = self.clock()
        if not force and now - self._last_draw < TTY_EVERY:
            return
        self._last_draw = now
        lines = self.lines()
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        text = up + "".join(f"\x1b[2K{line}\n" for line in lines)
        with self.progress.lock:
            self.progress.stream.write(text)
            self.progress.stream.flush()
        self._drawn = len(lines)
