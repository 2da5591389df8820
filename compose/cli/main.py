"""The ``pycompose`` command: global options, commands, exit codes."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer

from engine.errors import EngineError

from .. import __version__
from ..errors import ComposeError
from . import (
    config_cmd,
    image_cmd,
    lifecycle_cmd,
    logs_cmd,
    network_cmd,
    port_cmd,
    ps_cmd,
    up_cmd,
    volume_cmd,
)
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


config_cmd.register(app)
image_cmd.register(app)
network_cmd.register(app)
port_cmd.register(app)
up_cmd.register(app)
ps_cmd.register(app)
logs_cmd.register(app)
lifecycle_cmd.register(app)
volume_cmd.register(app)


def run(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry point."""
    try:
        app(args=argv, prog_name="pycompose")
    except (ComposeError, EngineError) as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(0)


if __name__ == "__main__":
    run()
