"""``ps``, ``ls``, ``top``, ``images`` and ``volumes``: rendering what ``deploy.inspect`` finds.

Tables, ``json`` and Go templates as Docker Compose v2.40.3 prints them
(cmd/compose/ps.go, list.go, top.go, images.go, volumes.go).
"""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer

from ..errors import UsageError

FORMAT_HELP = ("Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE' "
               "(a Go template)")


def register(app: typer.Typer) -> None:
    app.command("ps")(ps)
    app.command("ls")(ls)
    app.command("top")(top)
    app.command("images")(images)
    app.command("volumes")(volumes)


Services = Annotated[list[str] | None, typer.Argument(help="Services")]


def ps(
    ctx: typer.Context,
    services: Services = None,
    all_: Annotated[bool, typer.Option("-a", "--all", help="Show all stopped containers (including those "
                                                            "created by the run command)")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only display IDs")] = False,
    list_services: Annotated[bool, typer.Option("--services", help="Display services")] = False,
    fmt: Annotated[str, typer.Option("--format", help=FORMAT_HELP + " (default table)", show_default=False)] = "table",
    status: Annotated[list[str] | None, typer.Option(
        "--status", help="Filter services by status. Values: [paused | restarting | removing | running | dead | "
                         "created | exited]")] = None,
    filter_: Annotated[str | None, typer.Option(
        "--filter", help="Filter services by a property (supported filters: status)")] = None,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Don't truncate output")] = False,
    orphans: Annotated[bool, typer.Option("--orphans/--no-orphans", help="Include orphaned services (not "
                                          "declared by project) (default true)", show_default=False)] = True,
) -> None:
    """List containers."""
    from ..deploy import inspect
    from .records import PS_HEADER, PS_RAW, PS_TABLE, ps_record
    from .tables import write_records

    chosen = tuple(services or ())
    wanted = list(status or ())
    if filter_:
        key, sep, value = filter_.partition("=")
        if not sep:
            raise UsageError("arguments to --filter should be in form KEY=VAL")
        if key != "status":
            raise UsageError("not implemented" if key == "source" else f"unknown filter {key}")
        wanted.append(value)
    rows = inspect.ps(ctx.obj.session(chosen, by_name=True), chosen, all_=all_, statuses=wanted, orphans=orphans)
    if quiet:
        typer.echo("".join(f"{r.id}\n" for r in rows), nl=False)
        return
    if list_services:
        seen: list[str] = []
        for r in rows:
            if r.service not in seen:
                seen.append(r.service)
        print("\n".join(seen))
        return
    fmt = PS_RAW if fmt == "raw" else fmt
    text = write_records(fmt, [ps_record(r, trunc=not no_trunc) for r in rows], PS_HEADER, default_table=PS_TABLE)
    print(text, end="")


def ls(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("-a", "--all", help="Show all stopped Compose projects")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only display project names")] = False,
    fmt: Annotated[str, typer.Option("--format", help="Format the output. Values: [table | json] (default table)",
                                     show_default=False)] = "table",
    filter_: Annotated[list[str] | None, typer.Option(
        "--filter", help="Filter output based on conditions provided")] = None,
) -> None:
    """List running compose projects."""
    from engine.state import Root

    from ..deploy.inspect import projects
    from .gotemplate import Record
    from .tables import simple_table, write_records

    names = []
    for item in filter_ or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"bad format of filter (expected name=value): {item}")
        if key != "name":
            raise UsageError(f"invalid filter '{key}'")
        names.append(value)
    items = projects(Root.from_env(), all_=all_)
    if names:
        items = [p for p in items if any(_matches(n, p.name) for n in names)]
    if quiet:
        print("".join(f"{p.name}\n" for p in items), end="")
        return
    if fmt.lower() == "json":
        print(json.dumps([{"Name": p.name, "Status": p.status, "ConfigFiles": p.config_files} for p in items],
                         separators=(",", ":"), ensure_ascii=False))
        return
    if fmt.lower() in ("table", "pretty", ""):
        print(simple_table(("NAME", "STATUS", "CONFIG FILES"), [(p.name, p.status, p.config_files) for p in items]),
              end="")
        return
    records = [Record("stackView", {"Name": p.name, "Status": p.status, "ConfigFiles": p.config_files})
               for p in items]
    print(write_records(fmt, records, {"Name": "NAME", "Status": "STATUS", "ConfigFiles": "CONFIG FILES"},
                        default_table="table {{.Name}}\t{{.Status}}\t{{.ConfigFiles}}"), end="")


def _matches(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return pattern == name


def top(ctx: typer.Context, services: Services = None) -> None:
    """Display the running processes."""
    from ..deploy.usage import TOP_TITLES
    from ..deploy.usage import top as processes
    from .tables import tabwrite

    chosen = tuple(services or ())
    found = processes(ctx.obj.session(chosen, by_name=True), chosen)
    rows = [(p.service, p.replica, *proc) for p in found for proc in p.processes]
    if not rows:
        return
    text = "\n".join("\t".join(r) for r in [("SERVICE", "#", *TOP_TITLES), *rows]) + "\n"
    print(tabwrite(text, 4, 2), end="")


def images(
    ctx: typer.Context,
    services: Services = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only display IDs")] = False,
    fmt: Annotated[str, typer.Option("--format", help="Format the output. Values: [table | json] (default table)",
                                     show_default=False)] = "table",
) -> None:
    """List images used by the created containers."""
    from ..deploy import inspect
    from ..deploy.humanize import ago, human_size
    from .gotemplate import Record
    from .tables import simple_table, write_records

    chosen = tuple(services or ())
    found = inspect.images(ctx.obj.session(chosen, by_name=True), chosen)
    if quiet:
        ids: list[str] = []
        for row in found:
            short = row.id.split(":", 1)[-1]
            if short not in ids:
                ids.append(short)
        print("".join(f"{i}\n" for i in ids), end="")
        return
    if fmt == "json":
        listed = [{"ID": r.id, "ContainerName": r.container, "Repository": r.repository, "Tag": r.tag,
                   "Platform": r.platform, "Size": r.size, "LastTagTime": r.created} for r in found]
        print(json.dumps(listed or None, separators=(",", ":"), ensure_ascii=False) + "\n")
        return
    cells = [(r.container, r.repository or "<none>", r.tag or "<none>", r.platform, r.id.split(":", 1)[-1][:12],
              human_size(r.size, 3), ago(r.created)) for r in found]
    if fmt.lower() in ("table", "pretty", ""):
        print(simple_table(("CONTAINER", "REPOSITORY", "TAG", "PLATFORM", "IMAGE ID", "SIZE", "CREATED"), cells),
              end="")
        return
    keys = ("ContainerName", "Repository", "Tag", "Platform", "ID", "Size", "Created")
    records = [Record("imageSummary", dict(zip(keys, c, strict=True))) for c in cells]
    header = dict(zip(keys, ("CONTAINER", "REPOSITORY", "TAG", "PLATFORM", "IMAGE ID", "SIZE", "CREATED"),
                      strict=True))
    print(write_records(fmt, records, header, default_table="table " + "\t".join(f"{{{{.{k}}}}}" for k in keys)),
          end="")


def volumes(
    ctx: typer.Context,
    services: Services = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only display volume names")] = False,
    fmt: Annotated[str, typer.Option("--format", help=FORMAT_HELP + " (default table)", show_default=False)] = "table",
) -> None:
    """List volumes."""
    from ..deploy import inspect
    from .records import VOLUME_HEADER, VOLUME_TABLE, volume_record
    from .tables import write_records

    chosen = tuple(services or ())
    found = inspect.volumes(ctx.obj.session(chosen, by_name=True), chosen)
    if quiet:
        print("".join(f"{v.name}\n" for v in found), end="")
        return
    print(write_records(fmt, [volume_record(v) for v in found], VOLUME_HEADER, default_table=VOLUME_TABLE), end="")
