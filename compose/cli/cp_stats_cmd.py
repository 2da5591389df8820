"""``pycompose cp`` and ``pycompose stats``."""

from __future__ import annotations

import os
import sys
import time
from typing import Annotated

import typer

from ..errors import UsageError
from .context import GlobalOptions


def register(app: typer.Typer) -> None:
    app.command("cp")(cp)
    app.command("stats")(stats)


def _split(arg: str) -> tuple[str | None, str]:
    """``service:path`` -> (service, path); a host path -> (None, path)."""
    head, sep, tail = arg.partition(":")
    if sep and head and "/" not in head and not os.path.exists(arg):
        return head, tail
    return None, arg


def cp(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="SERVICE:SRC_PATH or a host path")],
    dest: Annotated[str, typer.Argument(help="a host path or SERVICE:DEST_PATH")],
    index: Annotated[int, typer.Option("--index", help="Index of the container if service has multiple replicas",
                                       show_default=False)] = 1,
    archive: Annotated[bool, typer.Option("-a", "--archive", help="Archive mode (copy all uid/gid information)")] = False,
    follow_link: Annotated[bool, typer.Option("-L", "--follow-link", help="Always follow symbol link in SRC_PATH")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Include containers created by the run command (DEPRECATED)",
                                       hidden=True)] = False,
) -> None:
    """Copy files/folders between a service container and the local filesystem."""
    from ..deploy.oneoff import copy

    (src_svc, src), (dst_svc, dst) = _split(source), _split(dest)
    service = src_svc or dst_svc
    if service is None or (src_svc and dst_svc):
        raise UsageError("copying needs exactly one side to be SERVICE:PATH")
    if dst_svc and not os.path.lexists(src):
        raise UsageError(f"no such file or directory: {src}")
    copy(ctx.obj.session((service,), by_name=True, title="Copying", one_container=True), service, index or 1, src, dst,
         into=bool(dst_svc), archive=archive, follow=follow_link)


def stats(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Argument(help="Service")] = None,
    all_: Annotated[bool, typer.Option("-a", "--all", help="Show all containers (default shows just running)")] = False,
    fmt: Annotated[str, typer.Option("--format", help="Format output using a custom template: 'table', 'table "
                                     "TEMPLATE', 'json' or 'TEMPLATE' (a Go template)", show_default=False)] = "",
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Disable streaming stats and only pull the first "
                                            "result")] = False,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Do not truncate output")] = False,
) -> None:
    """Display a live stream of container(s) resource usage statistics."""
    from ..deploy.usage import usage
    from .records import STATS_HEADER, STATS_TABLE, stats_record
    from .tables import write_records

    opts: GlobalOptions = ctx.obj
    chosen = (service,) if service else ()
    session = opts.session(chosen, by_name=True)
    containers = [c for c in session.containers(chosen or None) if all_ or c.running]
    before = {u.id: u for u in usage(session, containers)}
    time.sleep(0.5)
    while True:
        after = {u.id: u for u in usage(session, containers)}
        records = []
        for c in containers:
            u0, u1 = before[c.id], after[c.id]
            cpu = 0.0
            if u0.cpu_ns is not None and u1.cpu_ns is not None and u1.taken_at > u0.taken_at:
                cpu = (u1.cpu_ns - u0.cpu_ns) / ((u1.taken_at - u0.taken_at) * 1e9) * 100
            records.append(stats_record(cid=c.id, name=c.name, cpu=cpu, memory=u1.memory, limit=u1.memory_limit,
                                        rx=u1.rx, tx=u1.tx, read=u1.block_read, write=u1.block_write,
                                        pids=u1.pids, trunc=not no_trunc))
        text = write_records(fmt or "table", records, STATS_HEADER, default_table=STATS_TABLE)
        if not no_stream and sys.stdout.isatty():
            print("\x1b[2J\x1b[H", end="")
        print(text, end="", flush=True)
        if no_stream:
            return
        before = after
        time.sleep(1)
