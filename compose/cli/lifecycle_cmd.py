"""``start``, ``stop``, ``restart``, ``kill``, ``rm``, ``pause``, ``unpause``, ``wait``, ``exec``."""

from __future__ import annotations

import sys
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
Timeout = Annotated[float | None, typer.Option("-t", "--timeout", help="Specify a shutdown timeout in seconds")]


def start(ctx: typer.Context, services: Services = None) -> None:
    """Start services."""
    from ..deploy import lifecycle

    chosen = tuple(services or ())
    session = ctx.obj.session(chosen, by_name=True)
    lifecycle.check_startable(session, chosen)
    lifecycle.start(session, chosen)


def stop(ctx: typer.Context, services: Services = None, timeout: Timeout = None) -> None:
    """Stop services."""
    from ..deploy import lifecycle

    chosen = tuple(services or ())
    lifecycle.stop(ctx.obj.session(chosen, by_name=True, title="Stopping"), chosen, timeout)


def restart(ctx: typer.Context, services: Services = None, timeout: Timeout = None,
            no_deps: Annotated[bool, typer.Option("--no-deps", help="Don't restart dependent services")] = False) -> None:
    """Restart service containers."""
    from ..deploy import lifecycle

    chosen = tuple(services or ())
    lifecycle.restart(ctx.obj.session(chosen, by_name=True, title="Restarting"), chosen, timeout, no_deps=no_deps)


def kill(ctx: typer.Context, services: Services = None,
         signal: Annotated[str, typer.Option("-s", "--signal", help="SIGNAL to send to the container "
                                             "(default SIGKILL)", show_default=False)] = "SIGKILL",
         remove_orphans: Annotated[bool, typer.Option(
             "--remove-orphans", help="Remove containers for services not defined in the Compose file")] = False) -> None:
    """Force stop service containers."""
    from ..deploy import lifecycle
    from .context import truthy
    from .up_cmd import click_commandline

    opts: GlobalOptions = ctx.obj
    if ctx.get_parameter_source("remove_orphans") != click_commandline():
        remove_orphans = truthy(opts.environ.get("COMPOSE_REMOVE_ORPHANS"))
    chosen = tuple(services or ())
    if not lifecycle.kill(opts.session(chosen, by_name=True, title="Killing"), chosen, signal,
                          remove_orphans=remove_orphans):
        print("no container to kill", file=sys.stderr)  # Compose's words, and still a success


def rm(ctx: typer.Context, services: Services = None,
       force: Annotated[bool, typer.Option("-f", "--force", help="Don't ask to confirm removal")] = False,
       stop_first: Annotated[bool, typer.Option("-s", "--stop", help="Stop the containers, if required, before "
                                                "removing")] = False,
       volumes: Annotated[bool, typer.Option("-v", "--volumes", help="Remove any anonymous volumes attached to "
                                             "containers")] = False,
       all_: Annotated[bool, typer.Option("-a", "--all", hidden=True, help="Deprecated - no effect")] = False) -> None:
    """Removes stopped service containers."""
    from ..deploy import lifecycle

    chosen = tuple(services or ())
    session = ctx.obj.session(chosen, by_name=True, title="Removing")
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
    """Pause services."""
    from ..deploy import lifecycle

    chosen = tuple(services or ())
    lifecycle.pause(ctx.obj.session(chosen, by_name=True, title="Pausing"), chosen)


def unpause(ctx: typer.Context, services: Services = None) -> None:
    """Unpause services."""
    from ..deploy import lifecycle

    chosen = tuple(services or ())
    lifecycle.unpause(ctx.obj.session(chosen, by_name=True), chosen)


def wait(ctx: typer.Context, services: Annotated[list[str], typer.Argument(help="Services")],
         down_project: Annotated[bool, typer.Option("--down-project", help="Drops project when the first container "
                                                    "stops")] = False) -> None:
    """Block until containers of all (or specified) services stop."""
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
    detach: Annotated[bool, typer.Option("-d", "--detach", help="Detached mode: Run command in the background")] = False,
    no_tty: Annotated[bool, typer.Option("-T", "--no-tty", "--no-TTY", help="Disable pseudo-TTY allocation. By default "
                                         "'pycompose exec' allocates a TTY.")] = False,
    env: Annotated[list[str] | None, typer.Option("-e", "--env", help="Set environment variables")] = None,
    user: Annotated[str | None, typer.Option("-u", "--user", help="Run the command as this user")] = None,
    workdir: Annotated[str | None, typer.Option("-w", "--workdir", help="Path to workdir directory for this "
                                                "command")] = None,
    index: Annotated[int, typer.Option("--index", help="Index of the container if service has multiple replicas",
                                       show_default=False)] = 0,
    privileged: Annotated[bool, typer.Option("--privileged", help="Give extended privileges to the process")] = False,
    interactive: Annotated[bool, typer.Option("-i", "--interactive/--no-interactive", hidden=True,
                                              help="Keep stdin open (the default)")] = True,
    tty_flag: Annotated[bool, typer.Option("-t", "--tty", hidden=True,
                                           help="Allocate a terminal (the default on one)")] = False,
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
    session = opts.session((service,), by_name=True, one_container=True)
    if opts.dry_run:
        return
    code = exec_(session, ExecRequest(
        service=service, command=tuple(command), index=index or 1, env=variables, user=user, workdir=workdir,
        tty=tty, interactive=interactive and not detach, privileged=privileged, detach=detach))
    raise typer.Exit(code)
