"""``pycompose events``: the project's container events, as text or JSON lines.

The formats are Compose's (cmd/compose/events.go and pkg/api/api.go's
``Event.String`` at v2.40.3, 49b1c1e9)::

    2026-11-29 15:53:21.123456 container start 5e1f... (image=busybox:latest, name=demo-db-1)

followed by an empty line (``String`` ends with a newline and ``Println``
adds one), and with ``--json``::

    {"action":"start","attributes":{"image":"busybox:latest","name":"demo-db-1"},"id":"5e1f...",
     "service":"db","time":"2026-11-29T15:53:21.123456789Z","type":"container"}

Times are local, as Go prints them; attributes sorted (Go's order is random).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ..deploy.events import Event


def register(app: typer.Typer) -> None:
    app.command("events")(events)


def text_line(e: Event) -> str:
    """``Event.String()`` then ``Println``: the line and an empty one."""
    seconds, nanos = divmod(e.time_ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f".{nanos // 1000:06d}"
    attrs = ", ".join(f"{k}={v}" for k, v in sorted(e.attributes.items()))
    return f"{stamp} container {e.action} {e.container} ({attrs})\n\n"


def rfc3339nano(time_ns: int) -> str:
    """Go's ``time.Time`` in JSON: RFC 3339 with the nanoseconds, trailing zeros dropped, in the local zone."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    local = time.localtime(seconds)
    frac = f".{nanos:09d}".rstrip("0").rstrip(".")
    offset = local.tm_gmtoff
    zone = "Z" if offset == 0 else f"{'+' if offset > 0 else '-'}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + frac + zone


def json_line(e: Event) -> str:
    record = {"action": e.action, "attributes": dict(sorted(e.attributes.items())), "id": e.container,
              "service": e.service, "time": rfc3339nano(e.time_ns), "type": "container"}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"


def events(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Output events as a stream of json objects")] = False,
    since: Annotated[str | None, typer.Option("--since", help="Show all events created since timestamp")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Stream events until this timestamp")] = None,
) -> None:
    """Receive real time events from containers."""
    import sys

    from ..deploy.events import follow
    from ..deploy.logs import since as time_of

    chosen = tuple(services or ())
    session = ctx.obj.session(chosen, by_name=True)
    for e in follow(session, chosen, time_of(since), time_of(until)):
        sys.stdout.write(json_line(e) if as_json else text_line(e))
        sys.stdout.flush()
