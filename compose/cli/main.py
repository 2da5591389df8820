"""The ``pycompose`` command: global options, commands, exit codes."""

from __future__ import annotations

import errno
import sys
from typing import Annotated, NoReturn

import typer

from engine.errors import EngineError

from .. import __version__
from ..errors import ComposeError
from .context import Ansi, GlobalOptions, Progress

app = typer.Typer(
    name="pycompose",
    help="Define and run multi-container applications, Compose-style, on pycompose's own runtime.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def global_options(
    ctx: typer.Context,
    file: Annotated[list[str] | None, typer.Option(
        "-f", "--file", help="Compose configuration files (repeatable; - for stdin)")] = None,
    project_name: Annotated[str | None, typer.Option("-p", "--project-name", help="Project name")] = None,
    project_directory: Annotated[str | None, typer.Option(
        "--project-directory", help="Alternate working directory (default: the first file's folder)")] = None,
    env_file: Annotated[list[str] | None, typer.Option(
        "--env-file", help="Alternate environment files (repeatable)")] = None,
    profile: Annotated[list[str] | None, typer.Option(
        "--profile", help="Profiles to enable (repeatable)")] = None,
    ansi: Annotated[Ansi, typer.Option("--ansi", help="Control characters: never, always, auto")] = Ansi.auto,
    progress: Annotated[Progress, typer.Option(
        "--progress", help="Progress output: auto, tty, plain, json, quiet")] = Progress.auto,
) -> None:
    ctx.obj = GlobalOptions(
        files=tuple(file or ()), project_name=project_name, project_directory=project_directory,
        env_files=tuple(env_file or ()), profiles=tuple(profile or ()), ansi=ansi, progress=progress,
    )


@app.command()
def version(
    short: Annotated[bool, typer.Option("--short", help="Show only the version number")] = False,
    fmt: Annotated[str, typer.Option("-f", "--format", help="Format: pretty or json")] = "pretty",
) -> None:
    """Show the pycompose version."""
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
    "up": "up_cmd", "create": "up_cmd", "down": "up_cmd",
    "ps": "ps_cmd", "ls": "ps_cmd", "top": "ps_cmd", "images": "ps_cmd", "logs": "logs_cmd",
    "start": "lifecycle_cmd", "stop": "lifecycle_cmd", "restart": "lifecycle_cmd", "kill": "lifecycle_cmd",
    "rm": "lifecycle_cmd", "pause": "lifecycle_cmd", "unpause": "lifecycle_cmd", "wait": "lifecycle_cmd",
    "exec": "lifecycle_cmd", "volume": "volume_cmd", "build": "build_cmd", "run": "run_cmd",
    "cp": "cp_stats_cmd", "stats": "cp_stats_cmd", "pull": "pull_cmd", "push": "pull_cmd",
    "convert": "convert_cmd", "login": "login_cmd", "logout": "login_cmd",
}
EXTRA = {"image_cmd": ("build_cmd",)}  # modules that add commands to another one's group
_VALUED = {"-f", "--file", "-p", "--project-name", "--project-directory", "--env-file", "--profile",
           "--ansi", "--progress"}


def command_of(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (after the global options), if any."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _VALUED:
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return arg
    return None


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


def run(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else argv
    try:
        register(args)
        app(args=args, prog_name="pycompose")
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
    sys.exit(0)


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
