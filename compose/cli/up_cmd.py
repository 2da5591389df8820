"""``pycompose up``, ``create``, ``down`` and ``scale``."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from .context import GlobalOptions, truthy


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("create")(create)
    app.command("down")(down)
    app.command("scale")(scale)


def _scale(values: list[str] | None) -> dict[str, int]:
    out = {}
    for item in values or []:
        name, sep, count = item.partition("=")
        if not sep or not count.isdigit():
            raise UsageError(f'--scale wants SERVICE=NUM, not "{item}"')
        out[name] = int(count)
    return out


Services = Annotated[list[str] | None, typer.Argument(help="Services (and what they depend on)")]
Build = Annotated[bool, typer.Option("--build", help="Build images before starting containers")]
NoBuild = Annotated[bool, typer.Option("--no-build", help="Don't build an image, even if it's policy")]
ForceRecreate = Annotated[bool, typer.Option(
    "--force-recreate", help="Recreate containers even if their configuration and image haven't changed")]
NoRecreate = Annotated[bool, typer.Option(
    "--no-recreate", help="If containers already exist, don't recreate them. Incompatible with --force-recreate.")]
RemoveOrphans = Annotated[bool, typer.Option(
    "--remove-orphans", help="Remove containers for services not defined in the Compose file")]
Scale = Annotated[list[str] | None, typer.Option(
    "--scale", help="Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.")]
Pull = Annotated[str, typer.Option(
    "--pull", help='Pull image before running ("always"|"missing"|"never") (default "policy")', show_default=False)]
QuietPull = Annotated[bool, typer.Option("--quiet-pull", help="Pull without printing progress information")]
Yes = Annotated[bool, typer.Option("-y", "--yes", help='Assume "yes" as answer to all prompts and run '
                                                       "non-interactively")]


def _orphan_flags(opts: GlobalOptions, remove_orphans: bool, given: bool) -> tuple[bool, bool]:
    """(remove, ignore) from --remove-orphans, COMPOSE_REMOVE_ORPHANS and COMPOSE_IGNORE_ORPHANS."""
    remove = remove_orphans if given else truthy(opts.environ.get("COMPOSE_REMOVE_ORPHANS"))
    ignore = truthy(opts.environ.get("COMPOSE_IGNORE_ORPHANS"))
    if ignore and remove:
        raise UsageError("cannot combine COMPOSE_IGNORE_ORPHANS and --remove-orphans")
    return remove, ignore


def up(
    ctx: typer.Context,
    services: Services = None,
    detach: Annotated[bool, typer.Option("-d", "--detach", help="Detached mode: Run containers in the background")] = False,
    build: Build = False,
    no_build: NoBuild = False,
    pull: Pull = "policy",
    remove_orphans: RemoveOrphans = False,
    scale: Scale = None,
    no_color: Annotated[bool, typer.Option("--no-color", help="Produce monochrome output")] = False,
    no_log_prefix: Annotated[bool, typer.Option("--no-log-prefix", help="Don't print prefix in logs")] = False,
    force_recreate: ForceRecreate = False,
    no_recreate: NoRecreate = False,
    no_start: Annotated[bool, typer.Option("--no-start", help="Don't start the services after creating them")] = False,
    abort_on_container_exit: Annotated[bool, typer.Option(
        "--abort-on-container-exit", help="Stops all containers if any container was stopped. Incompatible with -d")] = False,
    abort_on_container_failure: Annotated[bool, typer.Option(
        "--abort-on-container-failure",
        help="Stops all containers if any container exited with failure. Incompatible with -d")] = False,
    exit_code_from: Annotated[str | None, typer.Option(
        "--exit-code-from", help="Return the exit code of the selected service container. Implies "
                                 "--abort-on-container-exit")] = None,
    timeout: Annotated[float | None, typer.Option(
        "-t", "--timeout", help="Use this timeout in seconds for container shutdown when attached or when containers "
                                "are already running")] = None,
    timestamps: Annotated[bool, typer.Option("--timestamps", help="Show timestamps")] = False,
    no_deps: Annotated[bool, typer.Option("--no-deps", help="Don't start linked services")] = False,
    always_recreate_deps: Annotated[bool, typer.Option(
        "--always-recreate-deps", help="Recreate dependent containers. Incompatible with --no-recreate.")] = False,
    renew_anon_volumes: Annotated[bool, typer.Option(
        "-V", "--renew-anon-volumes",
        help="Recreate anonymous volumes instead of retrieving data from the previous containers")] = False,
    quiet_pull: QuietPull = False,
    quiet_build: Annotated[bool, typer.Option("--quiet-build", help="Suppress the build output")] = False,
    attach: Annotated[list[str] | None, typer.Option(
        "--attach", help="Restrict attaching to the specified services. Incompatible with --attach-dependencies.")] = None,
    no_attach: Annotated[list[str] | None, typer.Option(
        "--no-attach", help="Do not attach (stream logs) to the specified services")] = None,
    attach_dependencies: Annotated[bool, typer.Option(
        "--attach-dependencies", help="Automatically attach to log output of dependent services")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for services to be running|healthy. Implies detached "
                                                      "mode.")] = False,
    wait_timeout: Annotated[float | None, typer.Option(
        "--wait-timeout", help="Maximum duration in seconds to wait for the project to be running|healthy")] = None,
    watch: Annotated[bool, typer.Option("-w", "--watch", help="Watch source code and rebuild/refresh containers "
                                                              "when files are updated.")] = False,
    menu: Annotated[bool, typer.Option("--menu", help="Enable interactive shortcuts when running attached (none is "
                                                      "supported: no menu is drawn)")] = False,
    yes: Yes = False,
) -> None:
    """Create and start containers."""
    opts: GlobalOptions = ctx.obj
    params = ctx.get_parameter_source  # whether an option was given on the command line
    if exit_code_from and not abort_on_container_failure:
        abort_on_container_exit = True
    if abort_on_container_exit and abort_on_container_failure:
        raise UsageError("--abort-on-container-failure cannot be combined with --abort-on-container-exit")
    if wait:
        if attach_dependencies or abort_on_container_exit or attach:
            raise UsageError("--wait cannot be combined with --abort-on-container-exit, --attach or "
                             "--attach-dependencies")
        detach = True
    if build and no_build:
        raise UsageError("--build and --no-build are incompatible")
    if detach and (attach_dependencies or abort_on_container_exit or abort_on_container_failure or attach):
        raise UsageError("--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure, "
                         "--attach, --attach-dependencies or --watch")
    if watch and detach:
        raise UsageError(f"--{'wait' if wait else 'detach'} cannot be combined with --abort-on-container-exit, "
                         "--abort-on-container-failure, --attach, --attach-dependencies or --watch")
    if watch and no_build:
        raise UsageError("--no-build and --watch are incompatible")
    if watch and (abort_on_container_exit or abort_on_container_failure):
        raise UsageError("--abort-on-container-exit, --abort-on-container-failure and --exit-code-from cannot be "
                         "combined with --watch")
    if watch and (attach or no_attach or attach_dependencies or no_log_prefix or timestamps):
        raise UsageError("--attach, --no-attach, --attach-dependencies, --no-log-prefix and --timestamps cannot be "
                         "combined with --watch: up --watch shows every service's output, prefixed")
    if renew_anon_volumes and no_recreate:
        raise UsageError("--no-recreate and --renew-anon-volumes are incompatible")
    if force_recreate and no_recreate:
        raise UsageError("--force-recreate and --no-recreate are incompatible")
    if always_recreate_deps and no_recreate:
        raise UsageError("--always-recreate-deps and --no-recreate are incompatible")
    remove, ignore = _orphan_flags(opts, remove_orphans,
                                   params("remove_orphans") == click_commandline())
    if attach and attach_dependencies:
        raise UsageError("cannot combine --attach and --attach-dependencies")
    if menu and not detach:
        from .context import warn

        warn("--menu: pycompose draws no navigation menu (use up --watch for Compose's watch toggle)")
    from ..deploy.converge import UpOptions

    chosen = tuple(services or ())
    session = opts.session(chosen)
    if not session.project.services:
        raise UsageError("no service selected")
    if exit_code_from and exit_code_from not in session.project.services:
        raise UsageError(f"no such service: {exit_code_from}")
    up_opts = UpOptions(services=chosen, no_deps=no_deps, force_recreate=force_recreate, no_recreate=no_recreate,
                        remove_orphans=remove, ignore_orphans=ignore, no_start=no_start or not (detach or watch),
                        scale=_scale(scale), timeout=timeout, wait=wait, wait_timeout=wait_timeout, build=build,
                        no_build=no_build, pull=pull, renew_anon_volumes=renew_anon_volumes,
                        always_recreate_deps=always_recreate_deps, all_resources=opts.all_resources,
                        quiet_pull=quiet_pull)
    if opts.dry_run:
        from ..deploy.dryrun import up as plan_up

        plan_up(session, up_opts, start=not no_start)
        if not detach and not no_start:
            session.progress.close()
            print("end of 'compose up' output, interactive run is not supported in dry-run mode")
        return
    from ..deploy.converge import up as converge

    converge(session, up_opts)
    if detach or no_start:
        return
    session.progress.close()
    if watch:
        from ..deploy.watch.commands import up_watching

        raise typer.Exit(up_watching(session, chosen, timeout))
    from ..deploy.attach import Attached, AttachOptions, attach_set

    project = session.project
    started = tuple(sorted(project.select(chosen or None, with_deps=not no_deps)))
    shown = attach_set(session, chosen, attach=tuple(attach or ()), no_attach=tuple(no_attach or ()),
                       dependencies=attach_dependencies, no_deps=no_deps)
    cascade = "stop" if abort_on_container_exit else "fail" if abort_on_container_failure else "ignore"
    code = Attached(session, AttachOptions(
        services=chosen, start=started, attach_to=shown, cascade=cascade, exit_code_from=exit_code_from,
        timeout=timeout, color=not no_color and opts.log_color(), prefix=not no_log_prefix,
        timestamps=timestamps)).run()
    raise typer.Exit(code)


def click_commandline() -> object:
    from click.core import ParameterSource

    return ParameterSource.COMMANDLINE


def create(
    ctx: typer.Context,
    services: Services = None,
    build: Build = False,
    no_build: NoBuild = False,
    force_recreate: ForceRecreate = False,
    no_recreate: NoRecreate = False,
    pull: Pull = "policy",
    quiet_pull: QuietPull = False,
    remove_orphans: RemoveOrphans = False,
    scale: Scale = None,
    yes: Yes = False,
) -> None:
    """Creates containers for a service."""
    from ..deploy.converge import UpOptions
    from ..deploy.converge import up as converge

    opts: GlobalOptions = ctx.obj
    if build and no_build:
        raise UsageError("--build and --no-build are incompatible")
    if force_recreate and no_recreate:
        raise UsageError("--force-recreate and --no-recreate are incompatible")
    remove, ignore = _orphan_flags(opts, remove_orphans,
                                   ctx.get_parameter_source("remove_orphans") == click_commandline())
    chosen = tuple(services or ())
    session = opts.session(chosen, title="Creating")
    up_opts = UpOptions(services=chosen, no_start=True, force_recreate=force_recreate, no_recreate=no_recreate,
                        remove_orphans=remove, ignore_orphans=ignore, scale=_scale(scale), build=build,
                        no_build=no_build, pull=pull, all_resources=opts.all_resources, quiet_pull=quiet_pull)
    if opts.dry_run:
        from ..deploy.dryrun import up as plan_up

        plan_up(session, up_opts, start=False)
        return
    converge(session, up_opts)


def down(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services")] = None,
    volumes: Annotated[bool, typer.Option(
        "-v", "--volumes", help="Remove named volumes declared in the \"volumes\" section of the Compose file and "
                                "anonymous volumes attached to containers")] = False,
    remove_orphans: RemoveOrphans = False,
    timeout: Annotated[float | None, typer.Option("-t", "--timeout", help="Specify a shutdown timeout in seconds")] = None,
    rmi: Annotated[str | None, typer.Option(
        "--rmi", help='Remove images used by services. "local" remove only images that don\'t have a custom tag '
                      '("local"|"all")')] = None,
) -> None:
    """Stop and remove containers, networks."""
    from ..deploy.imaging import remove_images
    from ..deploy.lifecycle import down as take_down

    opts: GlobalOptions = ctx.obj
    if rmi not in (None, "local", "all"):
        raise UsageError(f'invalid value for --rmi: "{rmi}" (use "local" or "all")')
    remove, _ = (remove_orphans, False) if ctx.get_parameter_source("remove_orphans") == click_commandline() \
        else (truthy(opts.environ.get("COMPOSE_REMOVE_ORPHANS")), False)
    chosen = tuple(services or ())
    session = opts.session(chosen, by_name=True)
    if opts.dry_run:
        from ..deploy.dryrun import down as plan_down

        plan_down(session, chosen, volumes=volumes, remove_orphans=remove, rmi=rmi)
        return
    take_down(session, chosen, volumes=volumes, remove_orphans=remove, timeout=timeout)
    if rmi:
        remove_images(session, local_only=rmi == "local")


def scale(
    ctx: typer.Context,
    pairs: Annotated[list[str], typer.Argument(help="SERVICE=REPLICAS", metavar="SERVICE=REPLICAS...")],
    no_deps: Annotated[bool, typer.Option("--no-deps", help="Don't start linked services")] = False,
) -> None:
    """Scale services."""
    from ..deploy.converge import UpOptions
    from ..deploy.converge import up as converge

    opts: GlobalOptions = ctx.obj
    wanted: dict[str, int] = {}
    for item in pairs:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise UsageError(f"invalid scale specifier: {item}")
        try:
            wanted[name] = int(value)
        except ValueError:
            raise UsageError(f"invalid scale specifier: can't parse replica value as int: {item}") from None
    chosen = tuple(sorted(wanted))
    session = opts.session(chosen)
    up_opts = UpOptions(services=chosen, no_deps=no_deps, scale=wanted, ignore_orphans=True)
    if opts.dry_run:
        from ..deploy.dryrun import up as plan_up

        plan_up(session, up_opts, start=True)
        return
    converge(session, up_opts)
