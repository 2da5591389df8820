"""``pycompose pull`` and ``push``: service images from and to their registries.

Thin loops over the project's services around ``engine.images.registry``
(imported inside the commands). A service without ``image:`` has nothing to
pull or push; ``pull`` follows each service's ``pull_policy`` the way
Compose's ``pull`` does (``never`` and ``build`` skip, ``missing`` skips an
image already here) and only warns when an image that can be built fails
to pull. Engine errors reach ``main.run``, which prints them and exits 1.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .context import GlobalOptions, Progress

if TYPE_CHECKING:
    from ..config.model import Service

_MISSING = ("missing", "if_not_present")


def register(app: typer.Typer) -> None:
    app.command("pull")(pull)
    app.command("push")(push)


def _orchestrator(ctx: typer.Context, services: list[str] | None, quiet: bool) -> Any:
    from .up_cmd import orchestrator

    opts: GlobalOptions = ctx.obj
    if quiet:
        opts = dataclasses.replace(opts, progress=Progress.quiet)
    return orchestrator(opts, tuple(services or ()))


def _layers(orch: Any) -> Any:
    """The per-layer progress callback: ``   a1b2c3d4e5f6 Pull complete`` lines."""
    return lambda layer, status: orch.progress.message(f"   {layer} {status}")


def pull(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services (default: all)")] = None,
    ignore_pull_failures: Annotated[bool, typer.Option(
        "--ignore-pull-failures", help="Pull what it can and ignore images with pull failures")] = False,
    ignore_buildable: Annotated[bool, typer.Option(
        "--ignore-buildable", help="Ignore images that can be built")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Pull without printing progress information")] = False,
) -> None:
    """Pull service images."""
    from engine.errors import EngineError
    from engine.images import registry

    orch = _orchestrator(ctx, services, quiet)
    must_build: list[str] = []
    failed: EngineError | None = None
    pulling: dict[str, str] = {}
    for name in sorted(services or orch.project.services):
        svc: Service = orch.project.services[name]
        skip = _skip_reason(orch, svc, ignore_buildable, pulling)
        if skip:
            orch.progress.event("Service", name, "Skipped", skip)
            continue
        assert svc.image is not None  # _skip_reason skips services without one
        pulling[svc.image] = name
        orch.progress.event("Image", svc.image, "Pulling")
        try:
            registry.pull(orch.images, svc.image, progress=_layers(orch))
        except EngineError as exc:
            if svc.build is not None:
                orch.progress.event("Image", svc.image, "Warning", str(exc))
                must_build.append(name)
                continue
            orch.progress.event("Image", svc.image, "Error", str(exc) if ignore_pull_failures else "")
            if not ignore_pull_failures:
                failed = exc
                break
            continue
        orch.progress.event("Image", svc.image, "Pulled")
    if must_build:
        orch.progress.message("WARNING: Some service image(s) must be built from source by running:\n"
                              f"    pycompose build {' '.join(must_build)}")
    if failed is not None:
        raise failed


def _skip_reason(orch: Any, svc: Service, ignore_buildable: bool, pulling: dict[str, str]) -> str:
    """Why ``pull`` leaves ``svc`` alone (Compose's wording), or "" to pull it."""
    if not svc.image:
        return "- No image to be pulled"
    if svc.pull_policy in ("never", "build"):
        return f"- pull_policy: {svc.pull_policy}"
    if svc.pull_policy in _MISSING and _present(orch, svc.image):
        return "- Image is already present locally"
    if svc.build is not None and ignore_buildable:
        return "- Image can be built"
    if svc.image in pulling:
        return f"- Image is already being pulled by {pulling[svc.image]}"
    return ""


def _present(orch: Any, image: str) -> bool:
    from engine.errors import EngineError

    try:
        orch.images.get(image)
        return True
    except EngineError:  # not here, or a reference the store cannot name (a digest)
        return False


def push(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services (default: all)")] = None,
    ignore_push_failures: Annotated[bool, typer.Option(
        "--ignore-push-failures", help="Push what it can and ignore images with push failures")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Push without printing progress information")] = False,
) -> None:
    """Push service images to their registries."""
    from engine.errors import EngineError
    from engine.images import registry

    orch = _orchestrator(ctx, services, quiet)
    pushed: set[str] = set()
    for name in sorted(services or orch.project.services):
        image = orch.project.services[name].image
        if not image or image in pushed:
            continue
        pushed.add(image)
        orch.progress.event("Image", image, "Pushing")
        try:
            registry.push(orch.images, image, progress=_layers(orch))
        except EngineError as exc:
            orch.progress.event("Image", image, "Error", str(exc) if ignore_push_failures else "")
            if not ignore_push_failures:
                raise
            continue
        orch.progress.event("Image", image, "Pushed")
