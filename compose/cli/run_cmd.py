"""``pycompose run``: a one-off container for a service."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import UsageError
from .context import GlobalOptions


def register(app: typer.Typer) -> None:
    # options end at the service: `run web sh -c ...` passes -c to sh
    app.command("run", context_settings={"allow_interspersed_args": False})(run)


def _env(items: list[str] | None, files: list[str] | None, environ: dict[str, str]) -> dict[str, str | None]:
    """``--env-from-file`` files (in order), then ``-e`` values; a bare ``-e KEY`` takes the shell's value."""
    from ..config.dotenv import parse_dotenv
    from ..errors import ConfigError

    out: dict[str, str | None] = {}
    for path in files or []:
        try:
            with open(path, encoding="utf-8") as fh:
                out.update(parse_dotenv(fh.read(), filename=path, lookup=environ.get))
        except OSError as exc:
            raise UsageError(f"--env-from-file {path}: {exc.strerror}") from None
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    for item in items or []:
        key, sep, value = item.partition("=")
        out[key] = value if sep else environ.get(key)
    return out


def run(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service")],
    command: Annotated[list[str] | None, typer.Argument(help="Command and arguments")] = None,
    build: Annotated[bool, typer.Option("--build", help="Build image before starting container")] = False,
    cap_add: Annotated[list[str] | None, typer.Option("--cap-add", help="Add Linux capabilities")] = None,
    cap_drop: Annotated[list[str] | None, typer.Option("--cap-drop", help="Drop Linux capabilities")] = None,
    detach: Annotated[bool, typer.Option("-d", "--detach", help="Run container in background and print container "
                                         "ID")] = False,
    entrypoint: Annotated[str | None, typer.Option("--entrypoint", help="Override the entrypoint of the image")] = None,
    env: Annotated[list[str] | None, typer.Option("-e", "--env", help="Set environment variables")] = None,
    env_from_file: Annotated[list[str] | None, typer.Option("--env-from-file", help="Set environment variables "
                                                            "from file")] = None,
    interactive: Annotated[bool, typer.Option("-i", "--interactive/--no-interactive", help="Keep STDIN open even if "
                                              "not attached (default true)", show_default=False)] = True,
    label: Annotated[list[str] | None, typer.Option("-l", "--label", help="Add or override a label")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Assign a name to the container")] = None,
    no_tty: Annotated[bool, typer.Option("-T", "--no-TTY", "--no-tty", help="Disable pseudo-TTY allocation "
                                         "(default: auto-detected)")] = False,
    no_deps: Annotated[bool, typer.Option("--no-deps", help="Don't start linked services")] = False,
    publish: Annotated[list[str] | None, typer.Option("-p", "--publish", help="Publish a container's port(s) to "
                                                      "the host")] = None,
    pull: Annotated[str, typer.Option("--pull", help='Pull image before running ("always"|"missing"|"never") '
                                      '(default "policy")', show_default=False)] = "policy",
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Don't print anything to STDOUT")] = False,
    quiet_build: Annotated[bool, typer.Option("--quiet-build", help="Suppress progress output from the build "
                                              "process")] = False,
    quiet_pull: Annotated[bool, typer.Option("--quiet-pull", help="Pull without printing progress information")] = False,
    remove_orphans: Annotated[bool, typer.Option("--remove-orphans", help="Remove containers for services not "
                                                 "defined in the Compose file")] = False,
    rm: Annotated[bool, typer.Option("--rm", help="Automatically remove the container when it exits")] = False,
    service_ports: Annotated[bool, typer.Option("-P", "--service-ports", help="Run command with all service's ports "
                                                "enabled and mapped to the host")] = False,
    use_aliases: Annotated[bool, typer.Option("--use-aliases", help="Use the service's network useAliases in the "
                                              "network(s) the container connects to")] = False,
    user: Annotated[str | None, typer.Option("-u", "--user", help="Run as specified username or uid")] = None,
    volume: Annotated[list[str] | None, typer.Option("-v", "--volume", help="Bind mount a volume")] = None,
    workdir: Annotated[str | None, typer.Option("-w", "--workdir", help="Working directory inside the "
                                                "container")] = None,
    tty: Annotated[bool | None, typer.Option("-t", "--tty/--no-tty-flag", hidden=True)] = None,
) -> None:
    """Run a one-off command on a service."""
    import shlex

    from ..deploy.oneoff import RunRequest
    from ..deploy.oneoff import run as run_one_off
    from .context import truthy
    from .up_cmd import click_commandline

    opts: GlobalOptions = ctx.obj
    if publish and service_ports:
        raise UsageError("--service-ports and --publish are incompatible")
    if tty is not None and no_tty:
        raise UsageError("--tty and --no-TTY can't be used together")
    if tty is not None:
        no_tty = not tty
    given = ctx.get_parameter_source
    if tty is None and given("no_tty") != click_commandline() and given("interactive") != click_commandline() \
            and not sys.stdin.isatty():
        no_tty = True  # compose enables a terminal by default, but there is none to attach to
    if not remove_orphans and given("remove_orphans") != click_commandline():
        remove_orphans = truthy(opts.environ.get("COMPOSE_REMOVE_ORPHANS"))
    try:
        entry = tuple(shlex.split(entrypoint)) if entrypoint is not None else None
    except ValueError as exc:
        raise UsageError(f"--entrypoint: {exc}") from None
    labels: dict[str, str] = {}
    for item in label or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError("label must be set as KEY=VALUE")
        labels[key] = value
    use_tty = not no_tty and not detach and (bool(tty) or sys.stdin.isatty()) and sys.stdout.isatty()
    session = opts.session((service,), quiet=quiet)
    request = RunRequest(
        service=service, command=tuple(command or ()), entrypoint=entry, env=_env(env, env_from_file, opts.environ),
        user=user, workdir=workdir, publish=tuple(publish or ()), service_ports=service_ports,
        volumes=tuple(volume or ()), labels=labels, name=name, no_deps=no_deps, detach=detach, remove=rm,
        tty=use_tty, interactive=interactive, cap_add=tuple(cap_add or ()), cap_drop=tuple(cap_drop or ()),
        build=build, pull=pull, quiet_pull=quiet_pull, quiet_build=quiet_build, use_aliases=use_aliases,
        remove_orphans=remove_orphans)
    if opts.dry_run:
        from ..deploy.dryrun import run as plan_run

        plan_run(session, request)
        return
    # -q quiets the progress (above): Compose swaps os.Stdout for /dev/null, but the container's output and
    # -d's ID go through the docker CLI's streams, made before that, so they still reach stdout
    cid, code = run_one_off(session, request)
    if code is None:
        print(cid)
        return
    raise typer.Exit(code)
