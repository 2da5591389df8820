"""``pycompose ps``, ``ls``, ``top`` and ``images``: rendering what ``deploy.inspect`` finds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("ps")(ps)
    app.command("ls")(ls)
    app.command("top")(top)
    app.command("images")(images)


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows) + "\n"


def ps(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services")] = None,
    all_: Annotated[bool, typer.Option("-a", "--all", help="Show stopped containers too")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only IDs")] = False,
    list_services: Annotated[bool, typer.Option("--services", help="Show the services")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    status: Annotated[list[str] | None, typer.Option("--status", help="Filter by status")] = None,
    filter_: Annotated[str | None, typer.Option("--filter", help="status=... (the only filter Compose has)")] = None,
) -> None:
    """List containers."""
    from ..deploy import inspect

    chosen = tuple(services or ())
    wanted = list(status or ())
    if filter_:
        key, _, value = filter_.partition("=")
        if key == "status":
            wanted.append(value)
    rows = inspect.ps(ctx.obj.session(chosen, by_name=True), chosen, all_=all_, statuses=wanted)
    if list_services:
        print("\n".join(sorted({r.service for r in rows})))
        return
    if quiet:
        print("\n".join(r.id for r in rows))
        return
    if fmt == "json":
        for r in rows:
            print(json.dumps({
                "ID": r.id, "Name": r.name, "Image": r.image, "Command": r.command, "Project": r.project,
                "Service": r.service, "State": r.state, "Health": r.health, "ExitCode": r.exit_code,
                "Publishers": [{"URL": p.url, "TargetPort": p.target_port, "PublishedPort": p.published_port,
                                "Protocol": p.protocol} for p in r.publishers],
                "Status": r.status}))
        return
    out = [("NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS")]
    for r in rows:
        command = f'"{r.command[:20]}…"' if len(r.command) > 20 else f'"{r.command}"'
        out.append((r.name, r.image, command, r.service, r.created, r.status, r.ports))
    print(table(out), end="")


def ls(
    all_: Annotated[bool, typer.Option("-a", "--all", help="Show stopped projects too")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only names")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """List running compose projects (every project on this host)."""
    from engine.state import Root

    from ..deploy.inspect import projects

    items = [p for p in projects(Root.from_env()) if all_ or p.running]
    if quiet:
        print("\n".join(p.name for p in items))
        return
    if fmt == "json":
        print(json.dumps([{"Name": p.name, "Status": p.status, "ConfigFiles": p.config_files} for p in items]))
        return
    print(table([("NAME", "STATUS", "CONFIG FILES"), *((p.name, p.status, p.config_files) for p in items)]), end="")


def top(ctx: typer.Context, services: Annotated[list[str] | None, typer.Argument(help="Services")] = None) -> None:
    """Display the running processes of each container."""
    from ..deploy import inspect

    chosen = tuple(services or ())
    for name, procs in inspect.top(ctx.obj.session(chosen, by_name=True), chosen):
        print(name)
        print(table([("UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"), *procs]))


def images(ctx: typer.Context, services: Annotated[list[str] | None, typer.Argument(help="Services")] = None,
           quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only IDs")] = False) -> None:
    """List images used by the created containers."""
    from ..deploy import inspect

    chosen = tuple(services or ())
    found = inspect.images(ctx.obj.session(chosen, by_name=True), chosen)
    if quiet:
        for row in found:
            print(row.id)
        return
    rows = [("CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE")]
    rows += [(r.container, r.repository, r.tag, r.id.split(":")[1][:12], f"{r.size / 1e6:.1f}MB") for r in found]
    print(table(rows), end="")
