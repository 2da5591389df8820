"""``pycompose logs``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)


def logs(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services")] = None,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Follow log output")] = False,
    tail: Annotated[str, typer.Option("-n", "--tail", help="Lines from the end of each log, or all")] = "all",
    since: Annotated[str | None, typer.Option("--since", help="Since a time (RFC 3339) or a duration (10m)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Until a time or a duration ago")] = None,
    timestamps: Annotated[bool, typer.Option("-t", "--timestamps", help="Show timestamps")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="Monochrome output")] = False,
    no_log_prefix: Annotated[bool, typer.Option("--no-log-prefix", help="No container name prefix")] = False,
    index: Annotated[int | None, typer.Option("--index", help="index of the container if service has multiple "
                                              "replicas")] = None,
) -> None:
    """View output from containers."""
    from ..deploy.logs import show
    from ..deploy.logs import since as time_of
    from ..errors import UsageError

    if tail != "all" and not tail.lstrip("-").isdigit():
        raise UsageError(f'--tail wants a number or "all", not "{tail}"')
    chosen = tuple(services or ())
    if index and len(chosen) != 1:
        raise UsageError("--index requires one service to be selected")
    show(ctx.obj.session(chosen, by_name=True), chosen, index=index or None, follow=follow,
         tail=None if tail == "all" else int(tail), since_time=time_of(since), until_time=time_of(until),
         timestamps=timestamps, color=not no_color and ctx.obj.log_color(sys.stdout), prefix=not no_log_prefix)
