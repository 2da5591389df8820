"""``pycompose pull`` and ``push``: service images from and to their registries.

A service without ``image:`` has nothing to pull or push; ``pull`` follows
each service's ``pull_policy`` the way Compose's ``pull`` does (``never``
and ``build`` skip, ``missing`` skips an image already here) and only warns
when an image that can be built fails to pull (``deploy.imaging``).
"""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("pull")(pull)
    app.command("push")(push)


def pull(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services (default: all)")] = None,
    ignore_pull_failures: Annotated[bool, typer.Option(
        "--ignore-pull-failures", help="Pull what it can and ignore images with pull failures")] = False,
    ignore_buildable: Annotated[bool, typer.Option(
        "--ignore-buildable", help="Ignore images that can be built")] = False,
    include_deps: Annotated[bool, typer.Option(
        "--include-deps", help="Also pull services declared as dependencies")] = False,
    policy: Annotated[str | None, typer.Option("--policy", help='Apply pull policy ("missing"|"always")')] = None,
    parallel: Annotated[bool, typer.Option("--parallel/--no-parallel", hidden=True,
                                           help="DEPRECATED pull multiple images in parallel")] = True,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Pull without printing progress information")] = False,
) -> None:
    """Pull service images."""
    from ..deploy.imaging import pull_images
    from ..errors import UsageError

    if policy not in (None, "", "missing", "always"):
        raise UsageError(f'invalid --policy "{policy}": missing or always')
    chosen = tuple(services or ())
    session = ctx.obj.session(chosen, quiet=quiet, title="Pulling")
    if ctx.obj.dry_run:
        from ..deploy.dryrun import images

        images(session, tuple(sorted(session.project.select(chosen))) if include_deps and chosen else chosen, "pull")
        return
    pull_images(session, chosen, ignore_pull_failures=ignore_pull_failures, ignore_buildable=ignore_buildable,
                include_deps=include_deps, policy=policy or None)


def push(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services (default: all)")] = None,
    ignore_push_failures: Annotated[bool, typer.Option(
        "--ignore-push-failures", help="Push what it can and ignore images with push failures")] = False,
    include_deps: Annotated[bool, typer.Option(
        "--include-deps", help="Also push images of services declared as dependencies")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Push without printing progress information")] = False,
) -> None:
    """Push service images to their registries."""
    from ..deploy.imaging import push_images

    chosen = tuple(services or ())
    session = ctx.obj.session(chosen, quiet=quiet, title="Pushing")
    if include_deps and chosen:
        chosen = tuple(sorted(session.project.select(chosen)))
    if ctx.obj.dry_run:
        from ..deploy.dryrun import images

        images(session, chosen, "push")
        return
    push_images(session, chosen, ignore_push_failures=ignore_push_failures)
