"""``pycompose config``: the resolved, normalized project, as ``docker compose config`` prints it.

Also its lists (``--services``...), each service's config hash (``--hash``),
the variables the files use (``--variables``) and the environment used for
interpolation (``--environment``), as Compose v2.40.3 prints them
(cmd/compose/config.go, 49b1c1e9).
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UsageError
from .context import GlobalOptions

if TYPE_CHECKING:
    from ..config.model import Project
    from ..config.options import Loaded

# This module's version, part of the name of the views it keeps in the model cache (the cache's own
# key covers compose/config's code).
_CODE = f"{os.path.getsize(__file__)}:{os.stat(__file__).st_mtime_ns}"


def register(app: typer.Typer) -> None:
    app.command("config")(config)


def config(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services to show (default: all)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Format the output. Values: [yaml | json]",
                                     show_default=False)] = "",
    resolve_image_digests: Annotated[bool, typer.Option("--resolve-image-digests", help="Pin image tags to digests "
                                                        "(of the images here)")] = False,
    lock_image_digests: Annotated[bool, typer.Option("--lock-image-digests", help="Produces an override file with "
                                                     "image digests")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only validate the configuration, don't print "
                                        "anything")] = False,
    no_interpolate: Annotated[bool, typer.Option("--no-interpolate", help="Don't interpolate environment "
                                                 "variables")] = False,
    no_normalize: Annotated[bool, typer.Option("--no-normalize", help="Don't normalize compose model")] = False,
    no_path_resolution: Annotated[bool, typer.Option("--no-path-resolution", help="Don't resolve file "
                                                     "paths")] = False,
    no_consistency: Annotated[bool, typer.Option("--no-consistency", help="Don't check model consistency - warning: "
                                                 "may produce invalid Compose output")] = False,
    no_env_resolution: Annotated[bool, typer.Option("--no-env-resolution", help="Don't resolve service env "
                                                    "files")] = False,
    list_services: Annotated[bool, typer.Option("--services", help="Print the service names, one per line.")] = False,
    list_volumes: Annotated[bool, typer.Option("--volumes", help="Print the volume names, one per line.")] = False,
    list_networks: Annotated[bool, typer.Option("--networks", help="Print the network names, one per line.")] = False,
    list_models: Annotated[bool, typer.Option("--models", help="Print the model names, one per line.")] = False,
    list_profiles: Annotated[bool, typer.Option("--profiles", help="Print the profile names, one per line.")] = False,
    list_images: Annotated[bool, typer.Option("--images", help="Print the image names, one per line.")] = False,
    hash_: Annotated[str | None, typer.Option("--hash", help="Print the service config hash, one per line.")] = None,
    variables: Annotated[bool, typer.Option("--variables", help="Print model variables and default values.")] = False,
    environment: Annotated[bool, typer.Option("--environment", help="Print environment used for "
                                              "interpolation.")] = False,
    output: Annotated[str | None, typer.Option("-o", "--output", help="Save to file (default to stdout)")] = None,
) -> None:
    """Parse, resolve and render compose file in canonical format."""
    opts: GlobalOptions = ctx.obj
    if fmt not in ("", "yaml", "json"):
        raise UsageError(f'unsupported format "{fmt}" (yaml or json)')
    wanted = tuple(services or ())
    if variables:
        _variables(opts, wanted, fmt)
        return
    from ..config import api
    from .context import warn

    options = replace(opts.load_options(services=wanted, interpolate=not no_interpolate),
                      consistency=not no_consistency, env_resolution=not no_env_resolution)
    stdin = sys.stdin.read() if "-" in opts.files else None

    def make(loaded: Loaded) -> str:
        project = loaded.project
        if wanted:
            unknown = [s for s in wanted if s not in project.services]
            if unknown:
                raise UsageError("no such service: " + ", ".join(unknown))
            keep = project.select(wanted)
            project = replace(project, services={k: v for k, v in project.services.items() if k in keep})
        if quiet:
            return ""
        if hash_ is not None:
            return _hashes(project, hash_)
        if environment:
            env = api.environment(opts.load_options(services=wanted), opts.environ, project.working_dir,
                                  project.name)
            return "".join(f"{line}\n" for line in sorted(f"{k}={v}" for k, v in env.items()))
        return _render(project, fmt or "yaml", list_services, list_volumes, list_networks, list_models,
                       list_profiles, list_images, escape=not no_interpolate, env_files=no_env_resolution,
                       digests=resolve_image_digests or lock_image_digests, images_only=lock_image_digests,
                       relative=no_path_resolution, normalized=not no_normalize)

    if hash_ is None and not environment and not resolve_image_digests and not lock_image_digests:
        # the text depends on the project and these flags only: kept with the cached project, so an
        # unchanged project's config is printed without loading the model (see config.api.view)
        name = repr(("config", _CODE, quiet, fmt, list_services, list_volumes, list_networks, list_models,
                     list_profiles, list_images, no_interpolate, no_env_resolution, no_path_resolution,
                     no_normalize, wanted))
        text = api.view(options, opts.environ, stdin, name, make, warn)
    else:  # the config hash (orchestration's code), .env files, the image store: read each time
        loaded = api.load(options, opts.environ, stdin)
        for warning in loaded.warnings:
            warn(warning)
        text = make(loaded)
    if quiet:
        return
    if output:
        _write_atomically(output, text)
    else:
        sys.stdout.write(text)


def _hashes(project: Project, which: str) -> str:
    from ..deploy.translate import config_hash

    names = sorted(project.services) if which == "*" else sorted(n for n in which.split(",") if n)
    out = []
    for name in names:
        if name not in project.services:
            raise UsageError(f'no such service: "{name}"')
        out.append(f"{name} {config_hash(project.services[name])}\n")
    return "".join(out)


def _variables(opts: GlobalOptions, services: tuple[str, ...], fmt: str) -> None:
    """The variables of the compose files, from their text (before interpolation)."""
    import json

    from ..config.api import variables
    from .tables import simple_table

    stdin = sys.stdin.read() if "-" in opts.files else None
    found = variables(opts.load_options(services=services, interpolate=False), opts.environ, stdin)
    found = dict(sorted(found.items()))
    if fmt == "json":
        data = {k: {"Name": v.name, "DefaultValue": v.default_value, "PresenceValue": v.presence_value,
                    "Required": v.required} for k, v in found.items()}
        sys.stdout.write(json.dumps(data, indent=4, ensure_ascii=False) + "\n\n")
    elif fmt == "yaml":  # as Go's yaml.v3 writes a map of structs: 4 spaces, lower-cased field names
        sys.stdout.write("".join(
            f"{k}:\n    name: {_yaml_str(v.name)}\n    defaultvalue: {_yaml_str(v.default_value)}\n"
            f"    presencevalue: {_yaml_str(v.presence_value)}\n    required: {'true' if v.required else 'false'}\n"
            for k, v in found.items()) or "{}\n")
    else:
        rows = [(v.name, "true" if v.required else "false", v.default_value, v.presence_value)
                for v in found.values()]
        sys.stdout.write(simple_table(("NAME", "REQUIRED", "DEFAULT VALUE", "ALTERNATE VALUE"), rows))


def _yaml_str(text: str) -> str:
    """A string as yaml.v3 writes it: plain unless it would read back as something else."""
    import json
    import re

    if text == "" or re.fullmatch(r"[-+]?(\.?\d[\d_.eE+-]*|\.inf|\.nan)|true|false|yes|no|on|off|null|~", text, re.I) \
            or text[0] in "!&*-?[]{}|>'\"%@`#,: " or ": " in text or " #" in text or text != text.strip():
        return json.dumps(text, ensure_ascii=False)
    return text


def _render(project: Project, fmt: str, services: bool, volumes: bool, networks: bool, models: bool, profiles: bool,
            images: bool, *, escape: bool, env_files: bool, digests: bool, images_only: bool, relative: bool = False,
            normalized: bool = True) -> str:
    if services:
        return "".join(f"{name}\n" for level in project.levels() for name in level)
    if volumes:
        return "".join(f"{name}\n" for name in project.volumes)
    if networks:
        return "".join(f"{name}\n" for name in project.networks)
    if models:
        return "".join(f"{name}\n" for name in project.models)
    if profiles:
        return "".join(f"{name}\n" for name in project.all_profiles())
    if images:
        return "".join(f"{s.image_name(project.name)}\n" for s in project.services.values())
    from ..config.render import project_dict, to_json, to_yaml

    data = project_dict(project, as_json=fmt == "json", escape=escape, env_files=env_files)
    if relative or not normalized:
        from ..config.unresolved import relative_paths, unnormalized

        data = relative_paths(data, project) if relative else data
        data = data if normalized else unnormalized(data, project)
    if digests:
        from ..deploy.imaging import pinned

        for name, svc in project.services.items():
            if svc.image:
                data["services"][name]["image"] = pinned(svc.image)
    if images_only:
        data = {"services": {name: {"image": s["image"]} for name, s in data["services"].items() if "image" in s}}
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
