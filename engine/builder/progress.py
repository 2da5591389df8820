"""What a build tells as it goes, in BuildKit's words: each step, its output, CACHED, DONE with its time.

The builder emits ``Event`` values; ``plain_line`` renders one the way
``--progress=plain`` does::

    #5 [web builder 3/7] RUN pip install -r requirements.txt
    #5 0.512 Collecting flask
    #5 DONE 3.2s
    #6 [web 4/7] COPY . .
    #6 CACHED

A terminal renderer (the compose layer's) may fold the output lines and
show them only when a step fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    vertex: int  # the step's number in this build (#5)
    kind: str  # step | log | cached | done | error | note
    text: str = ""  # step: "[web 3/7] RUN ..."; log: an output line; error: the message; note: a remark
    seconds: float | None = None  # log: since the step started; done and error: how long the step took


Sink = Callable[[Event], None]


def plain_line(event: Event) -> str:
    """``event`` as BuildKit's plain progress prints it."""
    v = f"#{event.vertex}"
    if event.kind == "step":
        return f"{v} {event.text}"
    if event.kind == "log":
        return f"{v} {event.seconds or 0.0:.3f} {event.text}"
    if event.kind == "cached":
        return f"{v} CACHED"
    if event.kind == "done":
        return f"{v} DONE {event.seconds or 0.0:.1f}s"
    if event.kind == "error":
        return f"{v} ERROR: {event.text}"
    return f"{v} {event.text}" if event.vertex else event.text


def lines_to(progress: Callable[[str], None]) -> Sink:
    """A sink printing plain lines through ``progress``."""
    return lambda event: progress(plain_line(event))
