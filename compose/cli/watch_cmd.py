"""``pycompose watch``."""

from __future__ import annotations

from typing import Annotated

import typer

from .context import GlobalOptions, UsageError


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)


def watch(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services (and what they depend on)")] = None,
    no_up: Annotated[bool, typer.Option("--no-up", help="Do not build & start services before watching")] = False,
    prune: Annotated[bool, typer.Option("--prune/--no-prune", help="Prune dangling images on rebuild")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", help="hide build output")] = False,
) -> None:
    """Watch build context for service and rebuild/refresh containers when files are updated."""
    from ..deploy.watch.commands import watch_command

    opts: GlobalOptions = ctx.obj
    if opts.dry_run:
        raise UsageError("watch does not run in --dry-run mode: it acts on the files as they change")
    chosen = tuple(services or ())
    raise typer.Exit(watch_command(opts.session(chosen), chosen, no_up=no_up, prune=prune, quiet=quiet))
