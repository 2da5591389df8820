"""The live progress block Docker Compose draws on a terminal, drawn with rich.

Laid out as Compose v2.40.3's ``pkg/progress/tty.go`` lays it out (49b1c1e9)::

    [+] Running 2/3
     ✔ Network demo_default  Created                                   0.1s
     ⠙ Container demo-db-1   Waiting                                   2.3s
     ✔ Container demo-web-1  Started                                   0.4s

A line per resource in the order they first appeared: a spinner while the
work goes on (✔ done, ! warning, ✘ error), the status, and the time it
took (still counting while under way) against the right edge. Redrawn ten
times a second by rich's ``Live``; imported only when such a block is drawn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from .statuses import DRY_RUN_PREFIX, kind_of

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
MARKS = {"done": "✔", "warning": "!", "error": "✘"}
# Compose's colours (pkg/progress/colors.go): done green, warnings bold yellow, errors bold red, the
# spinner yellow, timers blue, the dry-run prefix cyan.
STYLES = {"done": "green", "warning": "bold yellow", "error": "bold red", "working": ""}


@dataclass
class Line:
    ident: str
    text: str
    status: str
    kind: str
    started: float
    ended: float | None


class Block:
    """The lines of a progress block, and how they look at a given width and time (no I/O)."""

    def __init__(self, title: str, *, dry_run: bool = False) -> None:
        self.title = title
        self.dry_run = dry_run
        self.lines: dict[str, Line] = {}
        self.lock = threading.Lock()

    def event(self, ident: str, text: str, status: str, now: float) -> None:
        kind = kind_of(status)
        with self.lock:
            line = self.lines.get(ident)
            if line is None:
                self.lines[ident] = Line(ident, text, status, kind, now, None if kind == "working" else now)
                return
            if kind != "working" and (line.kind != kind or line.ended is None):
                line.ended = now
            elif kind == "working":
                line.ended = None
            line.text, line.status, line.kind = text, status, kind

    def done(self) -> int:
        return sum(1 for line in self.lines.values() if line.kind != "working")

    def rows(self, width: int, now: float) -> Iterator[tuple[list[tuple[str, str]], str]]:
        """The header, then each line: (its left part as (text, style) pieces, its timer)."""
        with self.lock:
            lines = list(self.lines.values())
        done = sum(1 for line in lines if line.kind != "working")
        yield [(f"[+] {self.title} {done}/{len(lines)}", "blue" if lines and done == len(lines) else "")], ""
        pad = max((len(f"{line.ident} {line.text}") for line in lines), default=0)
        prefix = DRY_RUN_PREFIX if self.dry_run else ""
        for line in lines:
            txt = f"{line.ident} {line.text}"
            end = now if line.ended is None else line.ended
            if line.kind == "working":
                mark, mark_style = SPINNER[int((now - line.started) * 10) % len(SPINNER)], "yellow"
            else:
                mark, mark_style = MARKS[line.kind], STYLES[line.kind]
            status = line.status
            room = width - len(txt) - pad - 15
            if 0 < room < len(status):
                status = status[:room] + "..."
            yield ([(" ", ""), (mark, mark_style), (prefix, "cyan"), (" " + txt + " " * max(0, pad - len(txt)) + " ", ""),
                    (status, STYLES[line.kind])], f"{max(0.0, end - line.started):.1f}s ")


class _View:
    """What rich's ``Live`` redraws: the block as it stands now."""

    def __init__(self, block: Block) -> None:
        self.block = block

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        width = options.max_width
        for pieces, timer in self.block.rows(width, time.monotonic()):
            line = Text(no_wrap=True, overflow="crop")
            for text, style in pieces:
                line.append(text, style=style or None)
            gap = width - line.cell_len - len(timer)
            if timer:
                line.append(" " * max(gap, 1))
                line.append(timer, style="blue")
            line.truncate(width, overflow="crop")
            yield line


class LiveBlock:
    """A ``Block`` kept on the terminal by rich until closed."""

    def __init__(self, stream: TextIO, title: str, *, dry_run: bool = False, color: bool = True,
                 force_terminal: bool = False) -> None:
        from rich.console import Console
        from rich.live import Live

        self.block = Block(title, dry_run=dry_run)
        self.console = Console(file=stream, force_terminal=True if force_terminal else None, no_color=not color,
                               highlight=False, emoji=False, markup=False)
        self.live = Live(_View(self.block), console=self.console, refresh_per_second=10, transient=False,
                         redirect_stdout=False, redirect_stderr=False, vertical_overflow="visible")
        self.live.start()

    def event(self, ident: str, text: str, status: str, detail: str) -> None:
        self.block.event(ident, text, f"{status} {detail}".strip() if detail else status, time.monotonic())

    def message(self, text: str) -> None:
        from rich.text import Text

        self.live.console.print(Text(text), soft_wrap=True)

    def close(self) -> None:
        self.live.refresh()
        self.live.stop()
