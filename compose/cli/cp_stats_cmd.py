"""``pycompose cp`` and ``pycompose stats``."""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

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
    from engine.runtime.copy import copy_in, copy_out

    from ..deploy import labels
    from .up_cmd import orchestrator

    (src_svc, src), (dst_svc, dst) = _split(source), _split(dest)
    if bool(src_svc) == bool(dst_svc):
        raise UsageError("copying needs exactly one side to be SERVICE:PATH")
    service = src_svc or dst_svc
    orch = orchestrator(ctx.obj, (service,))  # type: ignore[arg-type]
    found = [c for c in orch.of(service) if c.spec.labels.get(labels.NUMBER) == str(index)]
    if not found:
        raise UsageError(f"service {service} has no container number {index}")
    if src_svc:
        copy_out(orch.rt, found[0].id, src, dst)
    else:
        if not os.path.lexists(src):
            raise UsageError(f"no such file or directory: {src}")
        copy_in(orch.rt, found[0].id, src, dst)


def _net_io(pid: int) -> tuple[int, int]:
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as fh:
            for line in list(fh)[2:]:
                name, data = line.split(":", 1)
                if name.strip() != "lo":
                    fields = data.split()
                    rx, tx = rx + int(fields[0]), tx + int(fields[8])
    except OSError:
        pass
    return rx, tx


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
    from ..deploy import labels
    from .ps_cmd import table
    from .up_cmd import orchestrator

    opts: GlobalOptions = ctx.obj
    orch = orchestrator(opts, tuple(services or ()))
    chosen = [c for c in orch.containers() if (not services or c.spec.labels.get(labels.SERVICE) in services)
              and (all_ or c.running)]

    def sample() -> dict[str, Any]:
        return {c.id: (orch.rt.cgroups.container(c.id).stats(), time.monotonic()) for c in chosen}

    before = sample()
    time.sleep(0.5)
    while True:
        after = sample()
        rows = [("CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "PIDS")]
        for c in chosen:
            (s0, t0), (s1, t1) = before[c.id], after[c.id]
            cpu = 0.0
            if s0.cpu_usage_ns is not None and s1.cpu_usage_ns is not None and t1 > t0:
                cpu = (s1.cpu_usage_ns - s0.cpu_usage_ns) / ((t1 - t0) * 1e9) * 100
            limit = s1.memory_limit or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            usage = s1.memory_usage or 0
            rx, tx = _net_io(orch.rt.get(c.id).pid) if c.running else (0, 0)
            rows.append((c.id[:12], c.name, f"{cpu:.2f}%", f"{_human(usage)} / {_human(limit)}",
                         f"{usage / limit * 100:.2f}%", f"{_human(rx)} / {_human(tx)}", str(s1.pids_current or 0)))
        if not no_stream:
            print("\x1b[2J\x1b[H", end="")
        print(table(rows), end="", flush=True)
        if no_stream:
            return
        before = after
        time.sleep(1)
