"""``pycompose up``, ``create`` and ``down``."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from .context import GlobalOptions


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("create")(create)
    app.command("down")(down)


def _scale(values: list[str] | None) -> dict[str, int]:
    out = {}
    for item in values or []:
        name, sep, count = item.partition("=")
        if not sep or not count.isdigit():
            raise UsageError(f'--scale wants SERVICE=NUM, not "{item}"')
        out[name] = int(count)
    return out


def up(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services (and what they depend on)")] = None,
    detach: Annotated[bool, typer.Option("-d", "--detach", help="Run in the background")] = False,
    build: Annotated[bool, typer.Option("--build", help="Build images before starting")] = False,
    no_build: Annotated[bool, typer.Option("--no-build", help="Don't build an image, even if it's missing")] = False,
    force_recreate: Annotated[bool, typer.Option("--force-recreate", help="Recreate even if unchanged")] = False,
    no_recreate: Annotated[bool, typer.Option("--no-recreate", help="Don't recreate existing containers")] = False,
    no_deps: Annotated[bool, typer.Option("--no-deps", help="Don't start linked services")] = False,
    remove_orphans: Annotated[bool, typer.Option("--remove-orphans", help="Remove containers of services not in the file")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for services to be running|healthy (implies -d)")] = False,
    wait_timeout: Annotated[float | None, typer.Option("--wait-timeout", help="Seconds to wait")] = None,
    scale: Annotated[list[str] | None, typer.Option("--scale", help="SERVICE=NUM")] = None,
    abort_on_container_exit: Annotated[bool, typer.Option("--abort-on-container-exit", help="Stop all if any container stops")] = False,
    exit_code_from: Annotated[str | None, typer.Option("--exit-code-from", help="Return this service's exit code")] = None,
    timeout: Annotated[float | None, typer.Option("-t", "--timeout", help="Shutdown timeout in seconds")] = None,
    pull: Annotated[str, typer.Option("--pull", help="Pull images first: always, missing or never")] = "missing",
    quiet_pull: Annotated[bool, typer.Option("--quiet-pull", help="Pull without printing progress")] = False,
    no_start: Annotated[bool, typer.Option("--no-start", help="Create but don't start")] = False,
    renew_anon_volumes: Annotated[bool, typer.Option(
        "-V", "--renew-anon-volumes", help="Recreate anonymous volumes instead of taking over the old ones")] = False,
) -> None:
    """Create and start containers."""
    from ..deploy.attach import attach
    from ..deploy.converge import UpOptions
    from ..deploy.converge import up as converge

    opts: GlobalOptions = ctx.obj
    if force_recreate and no_recreate:
        raise UsageError("--force-recreate and --no-recreate are incompatible")
    if wait:
        detach = True
    if exit_code_from:
        abort_on_container_exit = True
    chosen = tuple(services or ())
    session = opts.session(chosen)
    if exit_code_from and exit_code_from not in session.project.services:
        raise UsageError(f"no such service: {exit_code_from}")
    converge(session, UpOptions(services=chosen, no_deps=no_deps, force_recreate=force_recreate,
                                no_recreate=no_recreate, remove_orphans=remove_orphans, no_start=no_start,
                                scale=_scale(scale), timeout=timeout, wait=wait, wait_timeout=wait_timeout,
                                build=build, no_build=no_build, pull=pull, quiet_pull=quiet_pull,
                                renew_anon_volumes=renew_anon_volumes))
    if detach or no_start:
        return
    raise typer.Exit(attach(session, chosen, abort_on_container_exit, exit_code_from, timeout))


def create(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services")] = None,
    force_recreate: Annotated[bool, typer.Option("--force-recreate")] = False,
    no_recreate: Annotated[bool, typer.Option("--no-recreate")] = False,
    remove_orphans: Annotated[bool, typer.Option("--remove-orphans")] = False,
    scale: Annotated[list[str] | None, typer.Option("--scale", help="SERVICE=NUM")] = None,
) -> None:
    """Create containers for services, without starting them."""
    from ..deploy.converge import UpOptions
    from ..deploy.converge import up as converge

    chosen = tuple(services or ())
    converge(ctx.obj.session(chosen), UpOptions(services=chosen, no_start=True, force_recreate=force_recreate,
                                                no_recreate=no_recreate, remove_orphans=remove_orphans,
                                                scale=_scale(scale)))


def down(
    ctx: typer.Context,
    volumes: Annotated[bool, typer.Option("-v", "--volumes", help="Remove named and anonymous volumes")] = False,
    remove_orphans: Annotated[bool, typer.Option("--remove-orphans", help="Remove containers of services not in the file")] = False,
    timeout: Annotated[float | None, typer.Option("-t", "--timeout", help="Shutdown timeout in seconds")] = None,
    rmi: Annotated[str | None, typer.Option("--rmi", help="Remove images: local or all")] = None,
) -> None:
    """Stop and remove containers, networks (and volumes with -v)."""
    from ..deploy.imaging import remove_images
    from ..deploy.lifecycle import down as take_down

    if rmi not in (None, "local", "all"):
        raise UsageError('--rmi must be "local" or "all"')
    session = ctx.obj.session(by_name=True)
    take_down(session, volumes=volumes, remove_orphans=remove_orphans, timeout=timeout)
    if rmi:
        remove_images(session, local_only=rmi == "local")
