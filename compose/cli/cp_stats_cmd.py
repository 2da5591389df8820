"""``pycompose cp`` and ``pycompose stats``."""

from __future__ import annotations

import os
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
    index: Annotated[int, typer.Option("--index", help="Which replica")] = 1,
) -> None:
    """Copy files between a service container and the host."""
    from ..deploy.oneoff import copy

    (src_svc, src), (dst_svc, dst) = _split(source), _split(dest)
    service = src_svc or dst_svc
    if service is None or (src_svc and dst_svc):
        raise UsageError("copying needs exactly one side to be SERVICE:PATH")
    if dst_svc and not os.path.lexists(src):
        raise UsageError(f"no such file or directory: {src}")
    copy(ctx.obj.session((service,), by_name=True), service, index, src, dst, into=bool(dst_svc))


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return f"{n:.4g}GiB"


def stats(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services")] = None,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Print once")] = False,
    all_: Annotated[bool, typer.Option("-a", "--all", help="Stopped containers too")] = False,
) -> None:
    """Display a live stream of container resource usage (from cgroups)."""
    from ..deploy.inspect import usage
    from .ps_cmd import table

    opts: GlobalOptions = ctx.obj
    chosen = tuple(services or ())
    session = opts.session(chosen, by_name=True)
    containers = [c for c in session.containers(chosen or None) if all_ or c.running]
    before = {u.id: u for u in usage(session, containers)}
    time.sleep(0.5)
    while True:
        after = {u.id: u for u in usage(session, containers)}
        rows = [("CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "PIDS")]
        for c in containers:
            u0, u1 = before[c.id], after[c.id]
            cpu = 0.0
            if u0.cpu_ns is not None and u1.cpu_ns is not None and u1.taken_at > u0.taken_at:
                cpu = (u1.cpu_ns - u0.cpu_ns) / ((u1.taken_at - u0.taken_at) * 1e9) * 100
            rows.append((c.id[:12], c.name, f"{cpu:.2f}%", f"{_human(u1.memory)} / {_human(u1.memory_limit)}",
                         f"{u1.memory / u1.memory_limit * 100:.2f}%", f"{_human(u1.rx)} / {_human(u1.tx)}",
                         str(u1.pids)))
        if not no_stream:
            print("\x1b[2J\x1b[H", end="")
        print(table(rows), end="", flush=True)
        if no_stream:
            return
        before = after
        time.sleep(1)
