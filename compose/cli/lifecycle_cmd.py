"""``start``, ``stop``, ``restart``, ``kill``, ``rm``, ``pause``, ``unpause``, ``wait``, ``exec``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..errors import UsageError


def register(app: typer.Typer) -> None:
    for name, fn in (("start", start), ("stop", stop), ("restart", restart), ("kill", kill), ("rm", rm),
                     ("pause", pause), ("unpause", unpause), ("wait", wait)):
        app.command(name)(fn)
    # options end at the service: `exec db sh -c ...` passes -c to sh
    app.command("exec", context_settings={"allow_interspersed_args": False})(exec_)


Services = Annotated[list[str] | None, typer.Argument(help="Services")]


def _chosen(ctx: typer.Context, services: list[str] | None, *, reverse: bool = False) -> tuple[Any, list[Any]]:
    """The orchestrator and the chosen services' containers, in dependency (or stop) order."""
    from ..deploy import labels
    from .up_cmd import orchestrator

    orch = orchestrator(ctx.obj, tuple(services or ()))
    levels = orch.project.levels(reverse=reverse)
    order = {s: i for i, level in enumerate(levels) for s in level}
    chosen = [c for c in orch.containers() if not services or c.spec.labels.get(labels.SERVICE) in services]
    chosen.sort(key=lambda c: (order.get(c.spec.labels.get(labels.SERVICE, ""), -1), c.name))
    return orch, chosen


def start(ctx: typer.Context, services: Services = None) -> None:
    """Start services."""
    orch, chosen = _chosen(ctx, services)
    for c in chosen:
        if not c.running:
            orch.progress.event("Container", c.name, "Starting")
            orch.rt.start(c.id)
            orch.progress.event("Container", c.name, "Started")


def stop(ctx: typer.Context, services: Services = None,
         timeout: Annotated[float | None, typer.Option("-t", "--timeout", help="Seconds to wait")] = None) -> None:
    """Stop services."""
    orch, chosen = _chosen(ctx, services, reverse=True)
    for c in chosen:
        if c.running:
            orch.progress.event("Container", c.name, "Stopping")
            orch.rt.stop(c.id, timeout)
            orch.progress.event("Container", c.name, "Stopped")


def restart(ctx: typer.Context, services: Services = None,
            timeout: Annotated[float | None, typer.Option("-t", "--timeout", help="Seconds to wait")] = None) -> None:
    """Restart service containers."""
    orch, chosen = _chosen(ctx, services)
    for c in chosen:
        orch.progress.event("Container", c.name, "Restarting")
        orch.rt.stop(c.id, timeout)
        orch.rt.start(c.id)
        orch.progress.event("Container", c.name, "Started")


def kill(ctx: typer.Context, services: Services = None,
         signal: Annotated[str, typer.Option("-s", "--signal", help="Signal to send")] = "SIGKILL") -> None:
    """Force stop service containers."""
    orch, chosen = _chosen(ctx, services, reverse=True)
    for c in chosen:
        if c.running:
            orch.rt.kill(c.id, signal)
            orch.progress.event("Container", c.name, "Killed")


def rm(ctx: typer.Context, services: Services = None,
       force: Annotated[bool, typer.Option("-f", "--force", help="Don't ask")] = False,
       stop_first: Annotated[bool, typer.Option("-s", "--stop", help="Stop the containers first")] = False,
       volumes: Annotated[bool, typer.Option("-v", "--volumes", help="Remove anonymous volumes too")] = False) -> None:
    """Remove stopped service containers."""
    orch, chosen = _chosen(ctx, services, reverse=True)
    if stop_first:
        for c in chosen:
            if c.running:
                orch.rt.stop(c.id)
        chosen = [orch.rt.get(c.id) for c in chosen]
    stopped = [c for c in chosen if not c.running]
    if not stopped:
        orch.progress.message("No stopped containers")
        return
    if not force:
        orch.progress.message("Going to remove " + ", ".join(c.name for c in stopped))
        if not typer.confirm("Are you sure?", default=False):
            raise typer.Exit(1)
    for c in stopped:
        orch.remove_container(c, None)


def pause(ctx: typer.Context, services: Services = None) -> None:
    """Pause services (freezer cgroup)."""
    orch, chosen = _chosen(ctx, services)
    for c in chosen:
        if c.status == "running":
            orch.rt.pause(c.id)
            orch.progress.event("Container", c.name, "Paused")


def unpause(ctx: typer.Context, services: Services = None) -> None:
    """Unpause services."""
    orch, chosen = _chosen(ctx, services)
    for c in chosen:
        if c.status == "paused":
            orch.rt.unpause(c.id)
            orch.progress.event("Container", c.name, "Unpaused")


def wait(ctx: typer.Context, services: Annotated[list[str], typer.Argument(help="Services")],
         down_project: Annotated[bool, typer.Option("--down-project", help="Remove the project when one exits")] = False) -> None:
    """Block until the first service container stops; print its exit code."""
    import time

    orch, chosen = _chosen(ctx, services)
    if not chosen:
        raise UsageError("no containers to wait for")
    while True:
        done = [orch.rt.get(c.id) for c in chosen if not orch.rt.get(c.id).running]
        if done:
            print(done[0].exit_code)
            break
        time.sleep(0.1)
    if down_project:
        orch.down()
    raise typer.Exit(int(done[0].exit_code or 0))


def exec_(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service")],
    command: Annotated[list[str], typer.Argument(help="Command and arguments")],
    detach: Annotated[bool, typer.Option("-d", "--detach", help="Run in the background")] = False,
    no_tty: Annotated[bool, typer.Option("-T", "--no-TTY", help="Don't allocate a terminal")] = False,
    env: Annotated[list[str] | None, typer.Option("-e", "--env", help="KEY=VAL")] = None,
    user: Annotated[str | None, typer.Option("-u", "--user", help="Run as this user")] = None,
    workdir: Annotated[str | None, typer.Option("-w", "--workdir", help="Working directory")] = None,
    index: Annotated[int, typer.Option("--index", help="Which replica")] = 1,
    privileged: Annotated[bool, typer.Option("--privileged", help="Every capability")] = False,
) -> None:
    """Execute a command in a running container."""
    import sys

    from engine.runtime.exec import ExecOptions, exec_container

    from ..deploy import labels

    orch, chosen = _chosen(ctx, [service])
    target = [c for c in chosen if c.spec.labels.get(labels.NUMBER) == str(index)]
    if not target:
        raise UsageError(f"service {service} has no container number {index}")
    if target[0].status != "running":
        raise UsageError(f"service {service} is not running")
    variables = {}
    for item in env or []:
        key, sep, value = item.partition("=")
        variables[key] = value if sep else (ctx.obj.environ.get(key) or "")
    tty = not no_tty and sys.stdin.isatty() and sys.stdout.isatty()
    code = exec_container(orch.rt, target[0].id, ExecOptions(
        argv=command, env=variables, user=user, working_dir=workdir, tty=tty, interactive=tty,
        privileged=privileged, detach=detach))
    raise typer.Exit(code)
