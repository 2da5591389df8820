"""``pycompose run``: a one-off container for a service."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .context import GlobalOptions


def register(app: typer.Typer) -> None:
    # options end at the service: `run web sh -c ...` passes -c to sh
    app.command("run", context_settings={"allow_interspersed_args": False})(run)


def _env(items: list[str] | None, environ: dict[str, str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        out[key] = value if sep else environ.get(key)
    return out


def run(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service")],
    command: Annotated[list[str] | None, typer.Argument(help="Command and arguments")] = None,
    detach: Annotated[bool, typer.Option("-d", "--detach", help="Run in the background, print the container ID")] = False,
    rm: Annotated[bool, typer.Option("--rm", help="Remove the container when it exits")] = False,
    name: Annotated[str | None, typer.Option("--name", help="Container name")] = None,
    env: Annotated[list[str] | None, typer.Option("-e", "--env", help="KEY=VAL")] = None,
    entrypoint: Annotated[str | None, typer.Option("--entrypoint", help="Override the entrypoint")] = None,
    user: Annotated[str | None, typer.Option("-u", "--user", help="Run as this user")] = None,
    workdir: Annotated[str | None, typer.Option("-w", "--workdir", help="Working directory")] = None,
    publish: Annotated[list[str] | None, typer.Option("-p", "--publish", help="Publish a port")] = None,
    service_ports: Annotated[bool, typer.Option("--service-ports", help="Publish the service's ports")] = False,
    volume: Annotated[list[str] | None, typer.Option("-v", "--volume", help="Bind mount a volume")] = None,
    no_deps: Annotated[bool, typer.Option("--no-deps", help="Don't start linked services")] = False,
    no_tty: Annotated[bool, typer.Option("-T", "--no-TTY", "--no-tty", help="Don't allocate a terminal")] = False,
    interactive: Annotated[bool, typer.Option("-i", "--interactive/--no-interactive",
                                              help="Keep stdin open (the default)")] = True,
    tty_flag: Annotated[bool, typer.Option("-t", "--tty", help="Allocate a terminal (the default on one)")] = False,
    label: Annotated[list[str] | None, typer.Option("-l", "--label", help="Add a label")] = None,
) -> None:
    """Run a one-off command on a service."""
    from ..deploy.oneoff import RunRequest
    from ..deploy.oneoff import run as run_one_off

    opts: GlobalOptions = ctx.obj
    tty = not no_tty and not detach and (tty_flag or sys.stdin.isatty()) and sys.stdout.isatty()
    cid, code = run_one_off(opts.session((service,)), RunRequest(
        service=service, command=tuple(command or ()), entrypoint=entrypoint, env=_env(env, opts.environ),
        user=user, workdir=workdir, publish=tuple(publish or ()), service_ports=service_ports,
        volumes=tuple(volume or ()), labels=dict(item.partition("=")[::2] for item in label or ()), name=name,
        no_deps=no_deps, detach=detach, remove=rm, tty=tty, interactive=interactive))
    if code is None:
        print(cid)
        return
    raise typer.Exit(code)
