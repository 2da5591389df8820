"""``start``, ``stop``, ``restart``, ``kill``, ``rm``, ``pause``, ``unpause``, ``wait``, ``exec``."""

from __future__ import annotations

from typing import Annotated

import typer

from .context import GlobalOptions


def register(app: typer.Typer) -> None:
    for name, fn in (("start", start), ("stop", stop), ("restart", restart), ("kill", kill), ("rm", rm),
                     ("pause", pause), ("unpause", unpause), ("wait", wait)):
        app.command(name)(fn)
    # options end at the service: `exec db sh -c ...` passes -c to sh
    app.command("exec", context_settings={"allow_interspersed_args": False})(exec_)


Services = Annotated[list[str] | None, typer.Argument(help="Services")]
Timeout = Annotated[float | None, typer.Option("-t", "--timeout", help="Seconds to wait")]


def start(ctx: typer.Context, services: Services = None) -> None:
    """Start services."""
    from ..deploy import lifecycle

    chosen = tuple(services or ())
    lifecycle.start(ctx.obj.session(chosen, by_name=True), chosen)


def stop(ctx: typer.Context, services: Services = None, timeout: Timeout = None) -> None:
    """Stop services."""
    from ..deploy import lifecycle

    chosen = tuple(services or ())
    lifecycle.stop(ctx.obj.session(chosen, by_name=True), chosen, timeout)


def restart(ctx: typer.Context, services: Services = None, timeout: Timeout = None) -> None:
    """Restart service containers."""
    from ..deploy import lifecycle

    chosen = tuple(services or ())
    lifecycle.restart(ctx.obj.session(chosen, by_name=True), chosen, timeout)


def kill(ctx: typer.Context, services: Services = None,
         signal: Annotated[str, typer.Option("-s", "--signal", help="Signal to send")] = "SIGKILL") -> None:
    """Force stop service containers."""
    from ..deploy import lifecycle

    chosen = tuple(services or ())
    lifecycle.kill(ctx.obj.session(chosen, by_name=True), chosen, signal)


def rm(ctx: typer.Context, services: Services = None,
       force: Annotated[bool, typer.Option("-f", "--force", help="Don't ask")] = False,
       stop_first: Annotated[bool, typer.Option("-s", "--stop", help="Stop the containers first")] = False,
       volumes: Annotated[bool, typer.Option("-v", "--volumes", help="Remove anonymous volumes too")] = False) -> None:
    """Remove stopped service containers."""
    from ..deploy import lifecycle

    chosen = tuple(services or ())
    session = ctx.obj.session(chosen, by_name=True)
    if stop_first:
        lifecycle.stop(session, chosen)
    stopped = lifecycle.stopped(session, chosen)
    if not stopped:
        session.progress.message("No stopped containers")
        return
    if not force:
        session.progress.message("Going to remove " + ", ".join(c.name for c in stopped))
        if not typer.confirm("Are you sure?", default=False):
            raise typer.Exit(1)
    lifecycle.remove(session, stopped, volumes=volumes)


def pause(ctx: typer.Context, services: Services = None) -> None:
    """Pause services (freezer cgroup)."""
    from ..deploy import lifecycle

    chosen = tuple(services or ())
    lifecycle.pause(ctx.obj.session(chosen, by_name=True), chosen)


def unpause(ctx: typer.Context, services: Services = None) -> None:
    """Unpause services."""
    from ..deploy import lifecycle

    chosen = tuple(services or ())
    lifecycle.unpause(ctx.obj.session(chosen, by_name=True), chosen)


def wait(ctx: typer.Context, services: Annotated[list[str], typer.Argument(help="Services")],
         down_project: Annotated[bool, typer.Option("--down-project", help="Remove the project when one exits")] = False) -> None:
    """Block until the first service container stops; print its exit code."""
    from ..deploy import lifecycle

    session = ctx.obj.session(tuple(services), by_name=True)
    done = lifecycle.wait(session, tuple(services))
    print(done.exit_code)
    if down_project:
        lifecycle.down(session)
    raise typer.Exit(int(done.exit_code or 0))


def exec_(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service")],
    command: Annotated[list[str], typer.Argument(help="Command and arguments")],
    detach: Annotated[bool, typer.Option("-d", "--detach", help="Run in the background")] = False,
    no_tty: Annotated[bool, typer.Option("-T", "--no-TTY", "--no-tty", help="Don't allocate a terminal")] = False,
    interactive: Annotated[bool, typer.Option("-i", "--interactive/--no-interactive",
                                              help="Keep stdin open (the default)")] = True,
    tty_flag: Annotated[bool, typer.Option("-t", "--tty", help="Allocate a terminal (the default on one)")] = False,
    env: Annotated[list[str] | None, typer.Option("-e", "--env", help="KEY=VAL")] = None,
    user: Annotated[str | None, typer.Option("-u", "--user", help="Run as this user")] = None,
    workdir: Annotated[str | None, typer.Option("-w", "--workdir", help="Working directory")] = None,
    index: Annotated[int, typer.Option("--index", help="Which replica")] = 1,
    privileged: Annotated[bool, typer.Option("--privileged", help="Every capability")] = False,
) -> None:
    """Execute a command in a running container."""
    import sys

    from ..deploy.oneoff import ExecRequest, exec_

    opts: GlobalOptions = ctx.obj
    variables = {}
    for item in env or []:
        key, sep, value = item.partition("=")
        variables[key] = value if sep else (opts.environ.get(key) or "")
    tty = not no_tty and (tty_flag or sys.stdin.isatty()) and sys.stdout.isatty()
    code = exec_(opts.session((service,), by_name=True), ExecRequest(
        service=service, command=tuple(command), index=index, env=variables, user=user, workdir=workdir,
        tty=tty, interactive=interactive and not detach, privileged=privileged, detach=detach))
    raise typer.Exit(code)
