"""``pycompose port SERVICE PRIVATE_PORT``: the host address a container port is published on."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from .context import GlobalOptions


def register(app: typer.Typer) -> None:
    app.command("port")(port)


def port(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service")],
    private_port: Annotated[int, typer.Argument(help="The container's port")],
    protocol: Annotated[str, typer.Option("--protocol", help="tcp, udp or sctp")] = "tcp",
    index: Annotated[int, typer.Option("--index", help="Which replica (1 for the first)")] = 1,
) -> None:
    """Print the public port for a port binding."""
    from engine.runtime.containers import Runtime
    from engine.state import Root

    from ..deploy import labels

    opts: GlobalOptions = ctx.obj
    project = opts.load(services=(service,)).project
    if service not in project.services:
        raise UsageError(f"no such service: {service}")
    for c in Runtime(Root.from_env()).list():
        tags = c.spec.labels
        if (tags.get(labels.PROJECT), tags.get(labels.SERVICE), tags.get(labels.NUMBER)) != \
                (project.name, service, str(index)):
            continue
        for p in c.spec.ports:
            if p.container_port == private_port and p.protocol == protocol:
                print(f"{p.host_ip or '0.0.0.0'}:{p.host_port}")
                return
        raise UsageError(f"no port {private_port}/{protocol} published for container {c.name}")
    raise UsageError(f"service {service} has no container number {index}")
