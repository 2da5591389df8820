"""``pycompose attach``: our terminal (or the output) of a service's running container."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("attach")(attach)


def attach(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service")],
    detach_keys: Annotated[str | None, typer.Option(
        "--detach-keys", help="Override the key sequence for detaching from a container.")] = None,
    index: Annotated[int, typer.Option("--index", help="index of the container if service has multiple replicas.",
                                       show_default=False)] = 0,
    no_stdin: Annotated[bool, typer.Option("--no-stdin", help="Do not attach STDIN")] = False,
    sig_proxy: Annotated[bool, typer.Option("--sig-proxy/--no-sig-proxy", help="Proxy all received signals to the "
                                            "process (default true)", show_default=False)] = True,
) -> None:
    """Attach local standard input, output, and error streams to a service's running container."""
    from ..deploy.console import attach as attach_to

    session = ctx.obj.session((service,), by_name=True, one_container=True)
    if ctx.obj.dry_run:
        return
    raise typer.Exit(attach_to(session, service, index or 1, detach_keys=detach_keys, no_stdin=no_stdin,
                               sig_proxy=sig_proxy))
