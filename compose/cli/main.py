"""The ``pycompose`` command: global options, commands, exit codes."""

from __future__ import annotations

import errno
import sys
from typing import Annotated, NoReturn

import typer

from engine.errors import EngineError

from .. import __version__
from ..errors import ComposeError
from .context import GlobalOptions

app = typer.Typer(
    name="pycompose",
    help="Define and run multi-container applications, Compose-style, on pycompose's own runtime.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"pycompose version v{__version__}")
        raise typer.Exit(0)


@app.callback()
def global_options(
    ctx: typer.Context,
    file: Annotated[list[str] | None, typer.Option(
        "-f", "--file", help="Compose configuration files (repeatable; - for stdin)")] = None,
    project_name: Annotated[str | None, typer.Option("-p", "--project-name", help="Project name")] = None,
    project_directory: Annotated[str | None, typer.Option(
        "--project-directory", help="Specify an alternate working directory (default: the path of the, first "
                                    "specified, Compose file)")] = None,
    env_file: Annotated[list[str] | None, typer.Option(
        "--env-file", help="Specify an alternate environment file (repeatable)")] = None,
    profile: Annotated[list[str] | None, typer.Option("--profile", help="Specify a profile to enable")] = None,
    ansi: Annotated[str | None, typer.Option(
        "--ansi", help='Control when to print ANSI control characters ("never"|"always"|"auto") (default "auto")',
        show_default=False)] = None,
    progress: Annotated[str | None, typer.Option(
        "--progress", help="Set type of progress output (auto, tty, plain, json, quiet)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Execute command in dry run mode")] = False,
    parallel: Annotated[int | None, typer.Option(
        "--parallel", help="Control max parallelism, -1 for unlimited (default -1)", show_default=False)] = None,
    compatibility: Annotated[bool, typer.Option(
        "--compatibility", help="Run compose in backward compatibility mode")] = False,
    all_resources: Annotated[bool, typer.Option(
        "--all-resources", help="Include all resources, even those not used by services")] = False,
    no_ansi: Annotated[bool, typer.Option("--no-ansi", hidden=True)] = False,
    verbose: Annotated[bool, typer.Option("--verbose", hidden=True)] = False,
    workdir: Annotated[str | None, typer.Option("--workdir", hidden=True)] = None,
    version: Annotated[bool, typer.Option("-v", "--version", hidden=True, is_eager=True, callback=_version)] = False,
) -> None:
    from ..errors import UsageError

    if no_ansi:
        if ansi is not None:
            raise UsageError('cannot specify DEPRECATED "--no-ansi" and "--ansi". Please use only "--ansi"')
        ansi = "never"
        print("option '--no-ansi' is DEPRECATED ! Please use '--ansi' instead.", file=sys.stderr)
    if workdir:
        if project_directory:
            raise UsageError('cannot specify DEPRECATED "--workdir" and "--project-directory". Please use only '
                             '"--project-directory" instead')
        project_directory = workdir
        print("option '--workdir' is DEPRECATED at root level! Please use '--project-directory' instead.",
              file=sys.stderr)
    ctx.obj = GlobalOptions(
        files=tuple(file or ()), project_name=project_name, project_directory=project_directory,
        env_files=tuple(env_file or ()), profiles=tuple(profile or ()), ansi=ansi, progress=progress,
        dry_run=dry_run, parallel=parallel, compatibility=compatibility,
        all_resources=all_resources,
    )


@app.command()
def version(
    short: Annotated[bool, typer.Option("--short", help="Shows only Compose's version number")] = False,
    fmt: Annotated[str, typer.Option("-f", "--format", help="Format the output. Values: [pretty | json]",
                                     show_default=False)] = "pretty",
) -> None:
    """Show the pycompose version information."""
    if short:
        print(__version__)
    elif fmt == "json":
        print(f'{{"version":"v{__version__}"}}')
    else:
        print(f"pycompose version v{__version__}")


# Each command's module, imported only when that command runs: building every command's
# options costs typer ~2 ms a command at every start-up.
COMMANDS = {
    "config": "config_cmd", "image": "image_cmd", "network": "network_cmd", "port": "port_cmd",
    "up": "up_cmd", "create": "up_cmd", "down": "up_cmd", "scale": "up_cmd",
    "ps": "ps_cmd", "ls": "ps_cmd", "top": "ps_cmd", "images": "ps_cmd", "volumes": "ps_cmd", "logs": "logs_cmd",
    "start": "lifecycle_cmd", "stop": "lifecycle_cmd", "restart": "lifecycle_cmd", "kill": "lifecycle_cmd",
    "rm": "lifecycle_cmd", "pause": "lifecycle_cmd", "unpause": "lifecycle_cmd", "wait": "lifecycle_cmd",
    "exec": "lifecycle_cmd", "volume": "volume_cmd", "build": "build_cmd", "run": "run_cmd",
    "cp": "cp_stats_cmd", "stats": "cp_stats_cmd", "pull": "pull_cmd", "push": "pull_cmd",
    "convert": "convert_cmd", "login": "login_cmd", "logout": "login_cmd",
    "attach": "attach_cmd", "events": "events_cmd", "export": "container_cmd", "commit": "container_cmd",
    "watch": "watch_cmd",
}
EXTRA = {"image_cmd": ("build_cmd",)}  # modules that add commands to another one's group
# Docker Compose commands pycompose refuses, with the reason.
REFUSED = {
    "publish": "pycompose cannot publish a project as an OCI artifact: it has no OCI artifact support",
    "bridge": "pycompose has no Compose Bridge; its own converter is a separate command",
    "alpha": "pycompose has no experimental (alpha) commands",
}
_VALUED = {"-f", "--file", "-p", "--project-name", "--project-directory", "--env-file", "--profile",
           "--ansi", "--progress", "--parallel", "--workdir"}
# Options of run and exec that take a value: they end at the service, so --dry-run is looked for only
# before it.
_RUN_VALUED = {"-e", "--env", "-l", "--label", "--name", "-u", "--user", "-w", "--workdir", "--entrypoint", "-p",
               "--publish", "-v", "--volume", "--cap-add", "--cap-drop", "--env-from-file", "--pull", "--index",
               "--detach-keys"}
# Boolean options that are on unless turned off: `--orphans=false` is `--no-orphans`.
_DEFAULT_TRUE = {"--orphans", "--sig-proxy", "--pause", "--interactive", "--tty"}


def command_index(argv: list[str]) -> int | None:
    """Where the subcommand is in ``argv`` (after the global options), if there is one."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _VALUED:
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return i
    return None


def command_of(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (after the global options), if any."""
    i = command_index(argv)
    return None if i is None else argv[i]


def normalize(argv: list[str]) -> list[str]:
    """``--dry-run`` after the command moved before it (Compose's flag holds for every command), and
    ``--flag=true|false`` of flags on by default turned into ``--flag``/``--no-flag``."""
    i = command_index(argv)
    if i is None:
        return argv
    head, out, lifted = argv[:i + 1], [], False
    stop = argv[i] in ("run", "exec", "attach")
    j = i + 1
    while j < len(argv):
        arg = argv[j]
        if arg == "--":
            out += argv[j:]
            break
        if arg == "--dry-run":
            lifted = True
            j += 1
            continue
        name, eq, value = arg.partition("=")
        if eq and name in _DEFAULT_TRUE and value.lower() in ("true", "false", "1", "0"):
            arg = name if value.lower() in ("true", "1") else "--no-" + name[2:]
        out.append(arg)
        if stop and not arg.startswith("-"):
            out += argv[j + 1:]
            break
        if stop and arg in _RUN_VALUED and j + 1 < len(argv):
            out.append(argv[j + 1])
            j += 1
        j += 1
    if lifted and "--dry-run" not in argv[:i]:
        head = [*argv[:i], "--dry-run", argv[i]]
    return head + out


def register(argv: list[str]) -> None:
    """Add the command ``argv`` runs to the app (every command when it names none, e.g. for --help)."""
    import importlib

    name = command_of(argv)
    if name is None:  # `pycompose --help`: list every command
        wanted = sorted(set(COMMANDS.values()))
    else:  # one command's module (none for `version`, defined here, or for a typo, which click reports)
        wanted = [COMMANDS[name]] if name in COMMANDS else []
    for module in [m for w in wanted for m in (w, *EXTRA.get(w, ()))]:
        try:
            mod = importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{module}":
                continue  # a command not written yet
            raise
        mod.register(app)


def docker_defaults(command: object) -> None:
    """Defaults in help as Docker prints them (``(default "policy")``), in place of typer's ``[default: x]``
    (which it escapes as ``\\[default: x]`` when rich is installed)."""
    import click

    if isinstance(command, click.Group):
        for sub in command.commands.values():
            docker_defaults(sub)
    if isinstance(command, click.Command):
        plain_help = command.get_help
        # typer escapes the brackets of "[required]" for rich's markup even when markup is off
        command.get_help = lambda ctx: plain_help(ctx).replace("\\[", "[")  # type: ignore[method-assign]
    for param in getattr(command, "params", ()):
        if not isinstance(param, click.Option) or param.show_default is False:
            continue
        param.show_default = False
        default = param.default
        if param.hidden or default in (None, False, "", (), []) or callable(default) or param.is_bool_flag and \
                not param.secondary_opts:
            continue
        shown = f'"{default}"' if isinstance(default, str) else str(default).lower()
        param.help = f"{param.help or ''} (default {shown})".strip()


def invoke(args: list[str]) -> int:
    """Run the command line; its exit code. Usage errors exit 1, as Docker Compose's do."""
    import click

    name = command_of(args)
    if name in REFUSED and "-h" not in args and "--help" not in args:
        print(REFUSED[name], file=sys.stderr)
        return 1
    args = normalize(args)
    register(args)
    command = typer.main.get_command(app)
    docker_defaults(command)
    try:
        try:
            code = command.main(args=args, prog_name="pycompose", standalone_mode=False)
        finally:
            progress = sys.modules.get("compose.deploy.progress")  # only if a command drew progress
            if progress is not None:
                progress.close_all()
    except click.exceptions.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "", file=sys.stdout)
        return 0
    except click.NoSuchOption as exc:
        # cobra's words, as recorded from Docker Compose v2.40.3: the line alone, exit 1
        name = exc.option_name
        if name.startswith("--"):
            print(f"unknown flag: {name}", file=sys.stderr)
        else:
            group = next((a for a in args if a[:1] == "-" and a[1:2] != "-" and name[1:] in a[1:]), name)  # -zd
            print(f"unknown shorthand flag: {name[1:2]!r} in {group}", file=sys.stderr)
        return 1
    except click.ClickException as exc:
        exc.show()
        return 1
    except click.exceptions.Abort:
        print("Aborted!", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


def run(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else argv
    try:
        sys.exit(invoke(args))
    except (ComposeError, EngineError) as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:
        if exc.errno not in _SPACE:
            _internal_error(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"pycompose: {exc.strerror}{where}: free some space under the state root and try again",
              file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line, not a traceback
        _internal_error(exc)


_SPACE = (errno.ENOSPC, errno.EDQUOT)  # a full disk or quota: said as such, in one line


def _internal_error(exc: Exception) -> NoReturn:
    """A bug of ours: one line, not a traceback (``PYCOMPOSE_DEBUG=1`` shows it)."""
    import os

    if os.environ.get("PYCOMPOSE_DEBUG"):
        raise exc
    print(f"pycompose: internal error: {type(exc).__name__}: {exc} (PYCOMPOSE_DEBUG=1 shows where)",
          file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    run()
