"""``pycompose up``, ``create`` and ``down``."""

from __future__ import annotations

import signal
import sys
import time
from typing import Annotated

import typer

from ..errors import UsageError
from .context import GlobalOptions


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("create")(create)
    app.command("down")(down)


def _scale(values: list[str] | None) -> dict[str, int]:
    out = {}
    for item in values or []:
        name, sep, count = item.partition("=")
        if not sep or not count.isdigit():
            raise UsageError(f'--scale wants SERVICE=NUM, not "{item}"')
        out[name] = int(count)
    return out


def orchestrator(opts: GlobalOptions, services: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    from ..deploy.orchestrator import Orchestrator
    from ..deploy.progress import Progress

    project = opts.load(services=services).project
    unknown = [s for s in services if s not in project.services]
    if unknown:
        raise UsageError("no such service: " + ", ".join(unknown))
    return Orchestrator(project, progress=Progress(opts.progress.value))


def up(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services (and what they depend on)")] = None,
    detach: Annotated[bool, typer.Option("-d", "--detach", help="Run in the background")] = False,
    build: Annotated[bool, typer.Option("--build", help="Build images before starting")] = False,
    no_build: Annotated[bool, typer.Option("--no-build", help="Don't build an image, even if it's missing")] = False,
    force_recreate: Annotated[bool, typer.Option("--force-recreate", help="Recreate even if unchanged")] = False,
    no_recreate: Annotated[bool, typer.Option("--no-recreate", help="Don't recreate existing containers")] = False,
    no_deps: Annotated[bool, typer.Option("--no-deps", help="Don't start linked services")] = False,
    remove_orphans: Annotated[bool, typer.Option("--remove-orphans", help="Remove containers of services not in the file")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for services to be running|healthy (implies -d)")] = False,
    wait_timeout: Annotated[float | None, typer.Option("--wait-timeout", help="Seconds to wait")] = None,
    scale: Annotated[list[str] | None, typer.Option("--scale", help="SERVICE=NUM")] = None,
    abort_on_container_exit: Annotated[bool, typer.Option("--abort-on-container-exit", help="Stop all if any container stops")] = False,
    exit_code_from: Annotated[str | None, typer.Option("--exit-code-from", help="Return this service's exit code")] = None,
    timeout: Annotated[float | None, typer.Option("-t", "--timeout", help="Shutdown timeout in seconds")] = None,
    pull: Annotated[str, typer.Option("--pull", help="Pull images first: always, missing or never")] = "missing",
    no_start: Annotated[bool, typer.Option("--no-start", help="Create but don't start")] = False,
) -> None:
    """Create and start containers."""
    from ..deploy.orchestrator import UpOptions

    opts: GlobalOptions = ctx.obj
    if force_recreate and no_recreate:
        raise UsageError("--force-recreate and --no-recreate are incompatible")
    if wait:
        detach = True
    if exit_code_from:
        abort_on_container_exit = True
    orch = orchestrator(opts, tuple(services or ()))
    if exit_code_from and exit_code_from not in orch.project.services:
        raise UsageError(f"no such service: {exit_code_from}")
    orch.up(UpOptions(services=tuple(services or ()), no_deps=no_deps, force_recreate=force_recreate,
                      no_recreate=no_recreate, remove_orphans=remove_orphans, no_start=no_start,
                      scale=_scale(scale), timeout=timeout, wait=wait, wait_timeout=wait_timeout,
                      build=build, no_build=no_build, pull=pull))
    if detach or no_start:
        return
    code = attach(orch, tuple(services or ()), abort_on_container_exit, exit_code_from, timeout)
    raise typer.Exit(code)


def attach(orch, services, abort_on_exit, exit_code_from, timeout) -> int:  # type: ignore[no-untyped-def]
    """Stream the containers' output; Ctrl-C stops the project, a second one kills it."""
    from ..deploy import labels
    from .logs_cmd import LogFollower

    containers = [c for c in orch.containers() if not services or c.spec.labels.get(labels.SERVICE) in services]
    follower = LogFollower(orch.rt, containers, color=sys.stdout.isatty(), tail=None, timestamps=False)
    interrupted = {"count": 0}

    def on_interrupt(*_: object) -> None:
        interrupted["count"] += 1
        if interrupted["count"] == 1:
            orch.progress.message("Gracefully stopping... (press Ctrl+C again to force)")
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)
    code = 0
    try:
        while True:
            follower.poll()
            states = {c.id: orch.rt.get(c.id) for c in containers}
            done = [c for c in states.values() if c.status == "exited"]
            if abort_on_exit and done:
                first = done[0]
                orch.progress.message(f"{first.name} exited with code {first.exit_code}")
                break
            if len(done) == len(states) and states:
                break
            time.sleep(0.1)
    except KeyboardInterrupt:
        code = 130
    follower.poll()
    try:
        for c in containers:
            if orch.rt.get(c.id).running:
                orch.progress.event("Container", c.name, "Stopping")
                orch.rt.stop(c.id, 0 if interrupted["count"] > 1 else timeout)
                orch.progress.event("Container", c.name, "Stopped")
    except KeyboardInterrupt:
        for c in containers:
            if orch.rt.get(c.id).running:
                orch.rt.kill(c.id)
    follower.poll()
    if exit_code_from:
        chosen = [orch.rt.get(c.id) for c in containers if c.spec.labels.get(labels.SERVICE) == exit_code_from]
        return int(chosen[0].exit_code or 0) if chosen else 0
    return code


def create(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services")] = None,
    force_recreate: Annotated[bool, typer.Option("--force-recreate")] = False,
    no_recreate: Annotated[bool, typer.Option("--no-recreate")] = False,
    remove_orphans: Annotated[bool, typer.Option("--remove-orphans")] = False,
    scale: Annotated[list[str] | None, typer.Option("--scale", help="SERVICE=NUM")] = None,
) -> None:
    """Create containers for services, without starting them."""
    from ..deploy.orchestrator import UpOptions

    orch = orchestrator(ctx.obj, tuple(services or ()))
    orch.up(UpOptions(services=tuple(services or ()), no_start=True, force_recreate=force_recreate,
                      no_recreate=no_recreate, remove_orphans=remove_orphans, scale=_scale(scale)))


def down(
    ctx: typer.Context,
    volumes: Annotated[bool, typer.Option("-v", "--volumes", help="Remove named and anonymous volumes")] = False,
    remove_orphans: Annotated[bool, typer.Option("--remove-orphans", help="Remove containers of services not in the file")] = False,
    timeout: Annotated[float | None, typer.Option("-t", "--timeout", help="Shutdown timeout in seconds")] = None,
    rmi: Annotated[str | None, typer.Option("--rmi", help="Remove images: local or all")] = None,
) -> None:
    """Stop and remove containers, networks (and volumes with -v)."""
    if rmi not in (None, "local", "all"):
        raise UsageError('--rmi must be "local" or "all"')
    orch = orchestrator(ctx.obj)
    orch.down(volumes=volumes, remove_orphans=remove_orphans, timeout=timeout)
    if rmi:
        from engine.errors import EngineError

        for svc in orch.project.services.values():
            if rmi == "local" and svc.image:
                continue
            ref = svc.image_name(orch.project.name)
            try:
                for line in orch.images.remove(ref):
                    orch.progress.event("Image", ref, "Removed", line)
            except EngineError:
                pass
