"""``pycompose export`` and ``commit``: a service container's filesystem as a tar archive or a new image."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import UsageError

Index = Annotated[int, typer.Option("--index", help="index of the container if service has multiple replicas.",
                                    show_default=False)]


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("commit")(commit)


def export(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service")],
    index: Index = 0,
    output: Annotated[str | None, typer.Option("-o", "--output", help="Write to a file, instead of STDOUT")] = None,
) -> None:
    """Export a service container's filesystem as a tar archive."""
    from ..deploy.snapshot import export as export_container

    if output is None and sys.stdout.isatty():
        raise UsageError("output option is required when exporting to terminal")
    session = ctx.obj.session((service,), by_name=True, title="Exporting", one_container=True)
    export_container(session, service, index or 1, output, sys.stdout.buffer)


def commit(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service")],
    reference: Annotated[str | None, typer.Argument(help="REPOSITORY[:TAG]")] = None,
    author: Annotated[str, typer.Option("-a", "--author", help='Author (e.g., "John Hannibal Smith '
                                        '<hannibal@a-team.com>")')] = "",
    change: Annotated[list[str] | None, typer.Option("-c", "--change", help="Apply Dockerfile instruction to the "
                                                     "created image")] = None,
    index: Index = 0,
    message: Annotated[str, typer.Option("-m", "--message", help="Commit message")] = "",
    pause: Annotated[bool, typer.Option("-p", "--pause/--no-pause", help="Pause container during commit "
                                        "(default true)", show_default=False)] = True,
) -> None:
    """Create a new image from a service container's changes."""
    from ..deploy.snapshot import commit as commit_container

    session = ctx.obj.session((service,), by_name=True, title="Committing", one_container=True)
    commit_container(session, service, index or 1, reference, pause=pause, message=message, author=author,
                     changes=tuple(change or ()))
