"""``pycompose ps``, ``ls``, ``top`` and ``images``."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    app.command("ps")(ps)
    app.command("ls")(ls)
    app.command("top")(top)
    app.command("images")(images)


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows) + "\n"


def _ago(stamp: str | None) -> str:
    from engine.runtime.logs import parse_timestamp

    if not stamp:
        return ""
    secs = max(0, time.time() - parse_timestamp(stamp))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if secs >= size:
            n = int(secs // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return f"{int(secs)} seconds ago"


def status_text(rt: Any, c: Any) -> str:
    """Docker's wording: ``Up 5 minutes (healthy)``, ``Exited (0) 2 minutes ago``."""
    if c.status in ("running", "paused"):
        health = rt.health(c.id)
        up = _ago(c.started_at).replace(" ago", "")
        return f"Up {up}" + (" (Paused)" if c.status == "paused" else "") + (f" ({health})" if health else "")
    if c.status == "restarting":
        return f"Restarting ({c.exit_code})"
    if c.status == "exited":
        return f"Exited ({c.exit_code if c.exit_code is not None else 'unknown'}) {_ago(c.finished_at)}"
    return "Created"


def ports_text(c: Any) -> str:
    return ", ".join(f"{p.host_ip or '0.0.0.0'}:{p.host_port}->{p.container_port}/{p.protocol}" for p in c.spec.ports)


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
    from ..deploy import labels
    from .up_cmd import orchestrator

    orch = orchestrator(ctx.obj, tuple(services or ()))
    wanted = set(status or ())
    if filter_:
        key, _, value = filter_.partition("=")
        if key == "status":
            wanted.add(value)
    rows = []
    for c in orch.containers() + orch.containers(oneoff=True):
        service = c.spec.labels.get(labels.SERVICE, "")
        if services and service not in services:
            continue
        if wanted and c.status not in wanted:
            continue
        if not all_ and not wanted and c.status not in ("running", "paused", "restarting"):
            continue
        rows.append((c, service))
    if list_services:
        print("\n".join(sorted({s for _, s in rows})))
        return
    if quiet:
        print("\n".join(c.id for c, _ in rows))
        return
    if fmt == "json":
        for c, service in rows:
            print(json.dumps({
                "ID": c.id, "Name": c.name, "Image": c.spec.labels.get("com.docker.compose.image") or c.spec.image_id,
                "Command": " ".join(c.spec.argv), "Project": orch.project.name, "Service": service,
                "State": c.status, "Health": orch.rt.health(c.id) or "", "ExitCode": c.exit_code or 0,
                "Publishers": [{"URL": p.host_ip or "0.0.0.0", "TargetPort": p.container_port,
                                "PublishedPort": p.host_port, "Protocol": p.protocol} for p in c.spec.ports],
                "Status": status_text(orch.rt, c)}))
        return
    out = [("NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS")]
    for c, service in rows:
        svc = orch.project.services.get(service)
        image = svc.image_name(orch.project.name) if svc else c.spec.image_id[:19]
        command = " ".join(c.spec.argv)
        out.append((c.name, image, f'"{command[:20]}…"' if len(command) > 20 else f'"{command}"', service,
                    _ago(c.created), status_text(orch.rt, c), ports_text(c)))
    print(table(out), end="")


def ls(
    all_: Annotated[bool, typer.Option("-a", "--all", help="Show stopped projects too")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only names")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """List running compose projects (every project on this host)."""
    from engine.runtime.containers import Runtime
    from engine.state import Root

    from ..deploy import labels

    projects: dict[str, dict[str, Any]] = {}
    for c in Runtime(Root.from_env()).list():
        name = c.spec.labels.get(labels.PROJECT)
        if not name:
            continue
        p = projects.setdefault(name, {"states": {}, "files": c.spec.labels.get(labels.CONFIG_FILES, "")})
        p["states"][c.status] = p["states"].get(c.status, 0) + 1
    items = [(n, p) for n, p in sorted(projects.items()) if all_ or p["states"].get("running")]
    if quiet:
        print("\n".join(n for n, _ in items))
        return
    summary = [(n, ", ".join(f"{s}({k})" for s, k in sorted(p["states"].items())), p["files"]) for n, p in items]
    if fmt == "json":
        print(json.dumps([{"Name": n, "Status": s, "ConfigFiles": f} for n, s, f in summary]))
        return
    print(table([("NAME", "STATUS", "CONFIG FILES"), *summary]), end="")


def top(ctx: typer.Context, services: Annotated[list[str] | None, typer.Argument(help="Services")] = None) -> None:
    """Display the running processes of each container."""
    from ..deploy import labels
    from .up_cmd import orchestrator

    orch = orchestrator(ctx.obj, tuple(services or ()))
    for c in orch.containers():
        if services and c.spec.labels.get(labels.SERVICE) not in services or c.status != "running":
            continue
        rows: list[tuple[str, ...]] = [("UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD")]
        for pid in sorted(orch.rt.cgroups.container(c.id).pids()):
            rows.append(_proc_row(pid))
        print(c.name)
        print(table(rows))


def _proc_row(pid: int) -> tuple[str, ...]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open(f"/proc/{pid}/status") as fh:
            uid = next(line.split()[1] for line in fh if line.startswith("Uid:"))
    except OSError:
        return (str(pid), "", "", "", "", "", "", "")
    fields = stat[stat.rindex(b")") + 2:].split()
    ticks = (int(fields[11]) + int(fields[12])) // 100
    return (uid, str(pid), fields[1].decode(), "0", "", "?", f"{ticks // 3600:02}:{ticks // 60 % 60:02}:{ticks % 60:02}",
            cmd)


def images(ctx: typer.Context, services: Annotated[list[str] | None, typer.Argument(help="Services")] = None,
           quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only IDs")] = False) -> None:
    """List images used by the created containers."""
    from ..deploy import labels
    from .up_cmd import orchestrator

    orch = orchestrator(ctx.obj, tuple(services or ()))
    rows = [("CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE")]
    for c in orch.containers():
        if services and c.spec.labels.get(labels.SERVICE) not in services:
            continue
        try:
            image = orch.images.get(c.spec.image_id)
        except Exception:  # noqa: BLE001 - the image may be gone
            continue
        if quiet:
            print(image.id)
            continue
        repo, _, tag = (image.refs[0] if image.refs else "<none>:<none>").rpartition(":")
        rows.append((c.name, repo, tag, image.id.split(":")[1][:12], f"{image.size / 1e6:.1f}MB"))
    if not quiet:
        print(table(rows), end="")
