"""``pycompose port SERVICE PRIVATE_PORT``: the host address a container port is published on."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("port")(port)


def port(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service")],
    private_port: Annotated[int, typer.Argument(help="The container's port")],
    protocol: Annotated[str, typer.Option("--protocol", help="tcp or udp (default tcp)", show_default=False)] = "tcp",
    index: Annotated[int, typer.Option("--index", help="Index of the container if service has multiple replicas",
                                       show_default=False)] = 0,
) -> None:
    """Print the public port for a port binding."""
    from ..deploy.inspect import port as published

    print(published(ctx.obj.session((service,), by_name=True, one_container=True), service, private_port, protocol, index or 1))
