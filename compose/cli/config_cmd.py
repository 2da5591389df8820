"""``pycompose config``: the resolved, normalized project, as ``docker compose config`` prints it."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UsageError
from .context import GlobalOptions

if TYPE_CHECKING:
    from ..config.model import Project


def register(app: typer.Typer) -> None:
    app.command("config")(config)


def config(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services to show (default: all)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Output format: yaml or json")] = "yaml",
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only validate; print nothing")] = False,
    list_services: Annotated[bool, typer.Option("--services", help="Print the service names")] = False,
    list_volumes: Annotated[bool, typer.Option("--volumes", help="Print the volume names")] = False,
    list_networks: Annotated[bool, typer.Option("--networks", help="Print the network names")] = False,
    list_profiles: Annotated[bool, typer.Option("--profiles", help="Print the profile names")] = False,
    list_images: Annotated[bool, typer.Option("--images", help="Print the image names")] = False,
    no_interpolate: Annotated[bool, typer.Option("--no-interpolate", help="Do not interpolate variables")] = False,
    output: Annotated[str | None, typer.Option("-o", "--output", help="Write to this file instead of stdout")] = None,
) -> None:
    """Parse, resolve and render the compose file in canonical format."""
    opts: GlobalOptions = ctx.obj
    if fmt not in ("yaml", "json"):
        raise typer.BadParameter(f'unsupported format "{fmt}" (yaml or json)', param_hint="--format")
    wanted = tuple(services or ())
    project = opts.load(services=wanted, interpolate=not no_interpolate).project
    if wanted:
        from dataclasses import replace

        from ..errors import UsageError

        unknown = [s for s in wanted if s not in project.services]
        if unknown:
            raise UsageError("no such service: " + ", ".join(unknown))

        keep = project.select(wanted)
        project = replace(project, services={k: v for k, v in project.services.items() if k in keep})
    if quiet:
        return
    text = _render(project, fmt, list_services, list_volumes, list_networks, list_profiles, list_images,
                   escape=not no_interpolate)
    if output:
        _write_atomically(output, text)
    else:
        sys.stdout.write(text)


def _render(project: Project, fmt: str, services: bool, volumes: bool, networks: bool, profiles: bool,
            images: bool, *, escape: bool) -> str:
    if services:
        return "".join(f"{name}\n" for level in project.levels() for name in level)
    if volumes:
        return "".join(f"{name}\n" for name in project.volumes)
    if networks:
        return "".join(f"{name}\n" for name in project.networks)
    if profiles:
        return "".join(f"{name}\n" for name in project.all_profiles())
    if images:
        return "".join(f"{s.image_name(project.name)}\n" for s in project.services.values())
    from ..config.render import project_dict, to_json, to_yaml

    data = project_dict(project, as_json=fmt == "json", escape=escape)
    return to_json(data) if fmt == "json" else to_yaml(data)


def _write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".pycompose-")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
