"""``pycompose image build``: build one image from a Dockerfile, like ``docker build``.

This is the low-level command on the ``image`` sub-app; ``pycompose build``
(the Compose command) builds a project's services. It is a thin call into
``engine.builder.build``, imported inside the command so other commands do not
pay for it. Progress goes to stderr and the image ID to stdout, so
``id=$(pycompose image build -q .)`` style scripting works; errors reach
``main.run``, which prints them and exits 1.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer


def compose_build(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use cache when building the image")] = False,
    pull: Annotated[bool, typer.Option("--pull", help="Always attempt to pull a newer version of the image")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Don't print anything to STDOUT")] = False,
    build_arg: Annotated[list[str] | None, typer.Option("--build-arg", help="Set build-time variables")] = None,
    with_dependencies: Annotated[bool, typer.Option(
        "--with-dependencies", help="Also build dependencies (transitively)")] = False,
    push: Annotated[bool, typer.Option("--push", help="Push service images")] = False,
    memory: Annotated[str | None, typer.Option(
        "-m", "--memory", help="Set memory limit for the build container")] = None,
    print_: Annotated[bool, typer.Option(
        "--print", help="Print equivalent bake file (the effective build definition as JSON)")] = False,
    builder: Annotated[str | None, typer.Option("--builder", help="Set builder to use (not supported)")] = None,
    check: Annotated[bool, typer.Option("--check", help="Check build configuration (not supported)")] = False,
    provenance: Annotated[str | None, typer.Option(
        "--provenance", help="Add a provenance attestation (not supported)")] = None,
    sbom: Annotated[str | None, typer.Option("--sbom", help="Add a SBOM attestation (not supported)")] = None,
    ssh: Annotated[str | None, typer.Option(
        "--ssh", help="Set SSH authentications used when building service images (not supported)")] = None,
) -> None:
    """Build or rebuild services."""
    from ..config.units import parse_size
    from ..deploy.imaging import BuildRequest, build_services
    from ..errors import UsageError

    for flag, given, why in (
            ("--builder", builder is not None, "pycompose builds with its own builder, not a buildx builder"),
            ("--check", check, "pycompose has no build checks (BuildKit's lint rules)"),
            ("--provenance", provenance is not None, "pycompose writes no attestations"),
            ("--sbom", sbom is not None, "pycompose writes no attestations"),
            ("--ssh", ssh is not None, "RUN steps get no SSH agent here (build.ssh is refused too)")):
        if given:
            raise UsageError(f"{flag} is not supported: {why}")

    chosen = tuple(services or ())
    limit = None
    if memory is not None:
        try:
            limit = parse_size(memory)
        except ValueError as exc:
            raise UsageError(f"--memory: {exc}") from None
    request = BuildRequest(services=chosen, no_cache=no_cache, pull=pull, quiet=quiet,
                           extra_args=_pairs(build_arg, "--build-arg", from_env=True),
                           with_dependencies=with_dependencies, memory=limit, push=push, print_only=print_)
    session = ctx.obj.session(chosen, quiet=quiet, title="Building")
    if ctx.obj.dry_run and not print_:  # nothing is built: what would be is reported
        from ..deploy.dryrun import images

        images(session, tuple(sorted(session.project.select(chosen or None, with_deps=True))) if with_dependencies
               else chosen, "build")
        return
    printed = build_services(session, request)
    if printed is not None:
        print(printed)


def register(app: typer.Typer) -> None:
    """Add ``build`` to the ``image`` sub-app (created in ``image_cmd``); calling it twice is harmless.

    ``main`` calls this whenever ``image`` runs (its ``EXTRA`` table) and for
    ``pycompose build``, whose Compose command is to be added here too.
    """
    from .image_cmd import image_app

    if not any(info.callback is compose_build for info in app.registered_commands):
        app.command("build")(compose_build)
    if not any(info.callback is image_build for info in image_app.registered_commands):
        image_app.command("build")(image_build)


def _pairs(values: list[str] | None, option: str, *, from_env: bool) -> dict[str, str | None]:
    """``KEY=VALUE`` options; a bare ``KEY`` takes its value from the environment when ``from_env``."""
    out: dict[str, str | None] = {}
    for item in values or ():
        key, eq, value = item.partition("=")
        if not key or (not eq and not from_env):
            raise typer.BadParameter(f'"{item}" is not KEY=VALUE', param_hint=option)
        out[key] = value if eq else os.environ.get(key)
    return out


def image_build(
    context: Annotated[str, typer.Argument(help="The build context: a directory")],
    tag: Annotated[list[str] | None, typer.Option(
        "-t", "--tag", help="NAME[:TAG] to give the image (repeatable)")] = None,
    file: Annotated[str | None, typer.Option(
        "-f", "--file", help="The Dockerfile (default: CONTEXT/Dockerfile; - reads it from stdin)")] = None,
    build_arg: Annotated[list[str] | None, typer.Option(
        "--build-arg", help="KEY=VALUE for an ARG, or KEY to take it from the environment (repeatable)")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Build this stage and stop")] = None,
    label: Annotated[list[str] | None, typer.Option(
        "--label", help="KEY=VALUE label for the image (repeatable)")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every step, ignoring the build cache")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the image ID")] = False,
) -> None:
    """Build an image from a Dockerfile, with pycompose's own runtime (base images must be local)."""
    from engine.builder import build
    from engine.images import ImageStore
    from engine.state import Root

    args = _pairs(build_arg, "--build-arg", from_env=True)
    labels = {k: v or "" for k, v in _pairs(label, "--label", from_env=False).items()}
    inline = None
    dockerfile = "Dockerfile"
    if file == "-":
        if sys.stdin.isatty():
            raise typer.BadParameter("refusing to read a Dockerfile from a terminal", param_hint="-f")
        inline = sys.stdin.read()
    elif file:
        dockerfile = os.path.abspath(file)  # like docker build: relative to the current directory
    root = Root.from_env()
    store = ImageStore(root)
    tags = list(tag or ())

    def progress(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    image = build(store, None, context, dockerfile=dockerfile, dockerfile_inline=inline,
                  tag=tags[0] if tags else None, args=args, target=target, labels=labels,
                  no_cache=no_cache, progress=progress)
    for extra in tags[1:]:
        store.tag(image.id, extra)
    print(image.id)
