"""``pycompose run``: a one-off container for a service."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Annotated, Any

import typer

from ..errors import UsageError
from .context import GlobalOptions


def register(app: typer.Typer) -> None:
    # options end at the service: `run web sh -c ...` passes -c to sh
    app.command("run", context_settings={"allow_interspersed_args": False})(run)


def _env(items: list[str] | None, environ: dict[str, str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        out[key] = value if sep else environ.get(key)
    return out


def run(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service")],
    command: Annotated[list[str] | None, typer.Argument(help="Command and arguments")] = None,
    detach: Annotated[bool, typer.Option("-d", "--detach", help="Run in the background, print the container ID")] = False,
    rm: Annotated[bool, typer.Option("--rm", help="Remove the container when it exits")] = False,
    name: Annotated[str | None, typer.Option("--name", help="Container name")] = None,
    env: Annotated[list[str] | None, typer.Option("-e", "--env", help="KEY=VAL")] = None,
    entrypoint: Annotated[str | None, typer.Option("--entrypoint", help="Override the entrypoint")] = None,
    user: Annotated[str | None, typer.Option("-u", "--user", help="Run as this user")] = None,
    workdir: Annotated[str | None, typer.Option("-w", "--workdir", help="Working directory")] = None,
    publish: Annotated[list[str] | None, typer.Option("-p", "--publish", help="Publish a port")] = None,
    service_ports: Annotated[bool, typer.Option("--service-ports", help="Publish the service's ports")] = False,
    volume: Annotated[list[str] | None, typer.Option("-v", "--volume", help="Bind mount a volume")] = None,
    no_deps: Annotated[bool, typer.Option("--no-deps", help="Don't start linked services")] = False,
    no_tty: Annotated[bool, typer.Option("-T", "--no-TTY", help="Don't allocate a terminal")] = False,
    label: Annotated[list[str] | None, typer.Option("-l", "--label", help="Add a label")] = None,
) -> None:
    """Run a one-off command on a service."""
    from ..config import syntax
    from ..deploy.orchestrator import UpOptions
    from ..deploy.translate import spec_for
    from .up_cmd import orchestrator

    opts: GlobalOptions = ctx.obj
    orch = orchestrator(opts, (service,))
    svc = orch.project.services[service]
    deps = sorted(orch.project.requires.get(service, frozenset()))
    if deps and not no_deps:
        orch.up(UpOptions(services=tuple(deps)))
    changes: dict[str, Any] = {}
    if command:
        changes["command"] = tuple(command)
    if entrypoint is not None:
        changes["entrypoint"] = tuple(entrypoint.split()) if entrypoint else ()
    if env:
        changes["environment"] = {**svc.environment, **_env(env, opts.environ)}
    if user:
        changes["user"] = user
    if workdir:
        changes["working_dir"] = workdir
    try:
        if publish:
            changes["ports"] = tuple(p for spec in publish for p in syntax.parse_port(spec))
        elif not service_ports:
            changes["ports"] = ()
        if volume:
            mounts = [syntax.parse_volume(v) for v in volume]
            mounts = [dataclasses.replace(m, source=os.path.abspath(m.source))
                      if m.type == "bind" and m.source else m for m in mounts]
            changes["volumes"] = svc.volumes + tuple(mounts)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if label:
        changes["labels"] = {**svc.labels, **dict(item.partition("=")[::2] for item in label)}
    one = dataclasses.replace(svc, restart=None, **changes)
    import sys

    from engine.errors import EngineError
    from engine.runtime.containers import new_id

    tty = not no_tty and not detach and sys.stdin.isatty() and sys.stdout.isatty()
    cid = new_id()
    container = name or f"{orch.project.name}-{service}-run-{cid[:12]}"
    image = orch.imaging.get(one)
    orch.ensure_networks([one])
    orch.ensure_volumes([one])
    try:
        resolved = orch.resolve(one, cid, container, image)
        spec = spec_for(orch.project, one, 1, cid, resolved, name=container, oneoff=True,
                        overrides={"tty": tty, "stdin_open": tty})
        orch.rt.create(spec)
        orch.rt.start(cid)
    except EngineError as exc:
        orch.nets.release(cid)
        if rm:
            import contextlib

            with contextlib.suppress(EngineError):
                orch.rt.remove(cid, force=True)
        raise UsageError(f"service {service}: {exc}") from None
    if detach:
        print(cid)
        return
    code = _interact(orch, cid) if tty else _follow(orch, cid)
    if rm:
        orch.remove_container(orch.rt.get(cid), 0, quiet=True)
    raise typer.Exit(code)


def _interact(orch: Any, cid: str) -> int:
    """Relay our terminal to the container's until it exits; its exit code."""
    from engine.runtime.exec import relay_terminal

    master, hold = orch.rt.attach(cid)
    try:
        relay_terminal(master)
    finally:
        hold.close()
    orch.rt.wait(cid)
    return int(orch.rt.get(cid).exit_code or 0)


def _follow(orch: Any, cid: str) -> int:
    """Print the one-off container's output as it comes; its exit code."""
    import sys

    from .logs_cmd import LogFollower

    follower = LogFollower(orch.rt, [orch.rt.get(cid)], color=False, tail=None, timestamps=False, prefix=False)
    try:
        while orch.rt.get(cid).running:
            follower.poll()
            time.sleep(0.05)
    except KeyboardInterrupt:
        orch.rt.stop(cid, 0)
    follower.poll()
    sys.stdout.flush()
    return int(orch.rt.get(cid).exit_code or 0)
