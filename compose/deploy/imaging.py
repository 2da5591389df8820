"""A project's images: found locally, pulled from a registry, or built from a Dockerfile.

``up``, ``run``, ``pull`` and ``build`` decide what each service's image is
here; the engine's store, registry client and builder do the work.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config.model import Project, Service
from ..errors import ConfigError, UpError
from .progress import Progress
from .pullview import PullView

if TYPE_CHECKING:
    from engine.errors import EngineError
    from engine.images.model import Image
    from engine.images.store import ImageStore
    from engine.runtime.containers import Runtime

    from .session import Session


def effective_pull_policy(flag: str | None, service_policy: str | None) -> str:
    """always, missing, never or build: whether ``up`` pulls a service's image.

    As in Compose, ``--pull always`` or ``never`` overrides the service's
    ``pull_policy``, and the default (``missing``) leaves it in charge;
    ``if_not_present`` and time-based policies (``daily``, ``every_12h``...)
    count as ``missing``.
    """
    if flag in ("always", "never"):
        return flag
    if flag not in (None, "missing", "policy"):
        raise UpError(f'invalid --pull option "{flag}": always, missing or never')
    return service_policy if service_policy in ("always", "never", "build") else "missing"


class Imaging:
    def __init__(self, project: Project, images: ImageStore, runtime: Runtime, progress: Progress, *,
                 quiet_pull: bool = False) -> None:
        self.project = project
        self.images = images
        self.rt = runtime
        self.progress = progress
        self.quiet_pull = quiet_pull

    def has(self, svc: Service) -> bool:
        from engine.errors import NotFound

        try:
            self.images.get(svc.image_name(self.project.name))
            return True
        except NotFound:
            return False

    def pull(self, services: Iterable[Service], policy: str | None) -> None:
        """Pull, in parallel, the service images that ``policy`` (``up --pull``) and their ``pull_policy`` call for.

        A pull that fails is an error, except for a service that can be built:
        then it is a warning, and ``up`` builds the image instead.
        """
        jobs: dict[str, Service] = {}
        for svc in services:
            wanted = effective_pull_policy(policy, svc.pull_policy)
            if not svc.image or svc.image in {j.image for j in jobs.values()} or wanted in ("never", "build") or (
                    wanted == "missing" and self.has(svc)):
                continue
            jobs[svc.name] = svc
        if not jobs:
            return
        view = PullView(self.progress, quiet=self.quiet_pull)
        failures = pull_parallel(self.images, {name: svc.image or "" for name, svc in jobs.items()}, view,
                                 {name for name, svc in jobs.items() if svc.build is not None})
        view.close()
        for name, exc in failures.items():
            svc = jobs[name]
            if svc.build is not None:
                self.progress.message(f"WARN[0000] service {svc.name}: {exc}; building it instead")
                continue
            if effective_pull_policy(policy, svc.pull_policy) == "always":
                raise UpError(f"service {svc.name}: {exc}") from None
            raise UpError(f"service {svc.name}: image {svc.image} not found locally, and pulling it failed: "
                          f"{exc}") from None

    def build(self, services: list[Service], *, no_cache: bool = False, quiet: bool = False) -> dict[str, Image]:
        """Build the services' images from their ``build`` sections (in parallel where possible)."""
        from .building import build_all
        from .buildspec import build_spec

        specs = [build_spec(self.project, svc, no_cache=no_cache) for svc in services]
        return build_all(self.images, self.rt, self.progress, specs, quiet=quiet)

    def warn_stale(self, services: list[Service]) -> None:
        """Say which services run an image built from inputs that changed since (``up`` without --build)."""
        from .building import stale_warnings
        from .buildspec import build_spec

        specs = []
        for svc in services:
            try:
                specs.append(build_spec(self.project, svc))
            except (UpError, ConfigError):
                continue  # refused keys are reported when it is built
        for line in stale_warnings(self.images, specs):
            self.progress.message(line)

    def get(self, svc: Service) -> Image:
        from engine.errors import NotFound

        ref = svc.image_name(self.project.name)
        try:
            return self.images.get(ref)
        except NotFound:
            raise UpError(f"service {svc.name}: image {ref} not found locally; import or load it "
                          f"(pycompose image import/load){' or build it with --build' if svc.build else ''}") from None


def remove_images(session: Session, *, local_only: bool) -> None:
    """``down --rmi``: the services' images (with ``local_only``, only those without an ``image:`` name)."""
    from engine.errors import EngineError

    project = session.project
    for svc in project.services.values():
        if local_only and svc.image:
            continue
        ref = svc.image_name(project.name)
        try:
            for line in session.images.remove(ref):
                session.progress.event("Image", ref, "Removed", line)
        except EngineError:
            pass


_MISSING = ("missing", "if_not_present")


def _present(session: Session, image: str) -> bool:
    from engine.errors import EngineError

    try:
        session.images.get(image)
        return True
    except EngineError:  # not here, or a reference the store cannot name (a digest)
        return False


def _skip_reason(session: Session, svc: Service, ignore_buildable: bool, pulling: dict[str, str],
                 policy: str | None = None) -> str:
    """Why ``pull`` leaves ``svc`` alone (Compose's wording), or "" to pull it."""
    if not svc.image:
        return "- No image to be pulled"
    if policy is None and svc.pull_policy in ("never", "build"):
        return f"- pull_policy: {svc.pull_policy}"
    if (policy == "missing" or (policy is None and svc.pull_policy in _MISSING)) and _present(session, svc.image):
        return "- Image is already present locally"
    if svc.build is not None and ignore_buildable:
        return "- Image can be built"
    if svc.image in pulling:
        return f"- Image is already being pulled by {pulling[svc.image]}"
    return ""


def pull_images(session: Session, services: Iterable[str] = (), *, ignore_pull_failures: bool = False,
                ignore_buildable: bool = False, include_deps: bool = False, policy: str | None = None,
                quiet: bool = False) -> None:
    """``pull``: each service's image, in parallel, following ``--policy`` or else its ``pull_policy``.

    A service that can be built only gets a warning when its pull fails.
    """

    project, progress = session.project, session.progress
    if policy not in (None, "missing", "always"):
        raise UpError(f'invalid --policy "{policy}": missing or always')
    chosen = project.select(tuple(services) or None, with_deps=include_deps) if services else set(project.services)
    view = PullView(progress, quiet=quiet)
    jobs: dict[str, str] = {}
    pulling: dict[str, str] = {}
    for name in sorted(chosen):
        svc = project.services[name]
        skip = _skip_reason(session, svc, ignore_buildable, pulling, policy)
        if skip:
            view.service(name, "Skipped", skip)
            continue
        assert svc.image is not None  # _skip_reason skips services without one
        pulling[svc.image] = name
        jobs[name] = svc.image
    failures = pull_parallel(session.images, jobs, view, {n for n in jobs if project.services[n].build is not None})
    must_build = sorted(n for n in failures if project.services[n].build is not None)
    failed: EngineError | None = None
    for name in sorted(failures):
        if name not in must_build and not ignore_pull_failures and failed is None:
            failed = failures[name]
    view.close()
    if must_build:
        progress.message("WARNING: Some service image(s) must be built from source by running:\n"
                         f"    pycompose build {' '.join(must_build)}")
    if failed is not None:
        raise failed


def pull_parallel(images: ImageStore, jobs: Mapping[str, str], view: PullView,
                  buildable: Collection[str] = ()) -> dict[str, EngineError]:
    """Pull each service's image (service -> reference) at once; the failures by service.

    A failure is shown as an error, or as a warning for a service in ``buildable``.
    """
    from concurrent.futures import ThreadPoolExecutor

    from engine.errors import EngineError
    from engine.images import registry

    if not jobs:
        return {}
    context = registry.Context.from_env()  # one transport and token cache for the whole run
    failures: dict[str, EngineError] = {}

    def one(name: str, ref: str) -> None:
        view.service(name, "Pulling")
        try:
            registry.pull(images, ref, context=context, progress=lambda event: view.layer(name, event))
        except EngineError as exc:
            failures[name] = exc
            view.service(name, "Warning" if name in buildable else "Error", str(exc))
            return
        view.service(name, "Pulled")

    with ThreadPoolExecutor(max_workers=min(8, len(jobs)), thread_name_prefix="pull-image") as pool:
        for future in [pool.submit(one, name, ref) for name, ref in jobs.items()]:
            future.result()
    return failures


def push_images(session: Session, services: Iterable[str] = (), *, ignore_push_failures: bool = False,
                quiet: bool = False) -> None:
    """``push``: each service's named image to its registry, once per image."""
    import functools

    from engine.errors import EngineError
    from engine.images import registry
    from engine.images.push import push

    project = session.project
    view = PullView(session.progress, "Pushing", quiet=quiet)
    context = registry.Context.from_env()
    pushed: set[str] = set()
    try:
        for name in sorted(services or project.services):
            image = project.services[name].image
            if not image or image in pushed:
                continue
            pushed.add(image)
            view.service(name, "Pushing")
            try:
                push(session.images, image, context=context, progress=functools.partial(view.layer, name))
            except EngineError as exc:
                view.service(name, "Error", str(exc))
                if not ignore_push_failures:
                    raise
                continue
            view.service(name, "Pushed")
    finally:
        view.close()


@dataclass(frozen=True)
class BuildRequest:
    """``pycompose build``'s options."""

    services: tuple[str, ...] = ()
    no_cache: bool = False
    pull: bool = False
    quiet: bool = False
    extra_args: Mapping[str, str | None] = field(default_factory=dict)
    with_dependencies: bool = False
    memory: int | None = None
    push: bool = False
    print_only: bool = False


def build_services(session: Session, req: BuildRequest) -> str | None:
    """``build``: the images of the chosen services that have a ``build`` section (``--print``: their
    definitions as JSON, returned and not built)."""
    from .building import build_all
    from .buildspec import build_spec, print_json

    project = session.project
    for name in req.services:
        if name not in project.services:
            raise UpError(f"no such service: {name}")
    chosen = project.select(req.services or None, with_deps=req.with_dependencies)
    specs = [build_spec(project, project.services[name], no_cache=req.no_cache, pull=req.pull,
                        extra_args=req.extra_args, memory=req.memory)
             for name in sorted(chosen) if project.services[name].build is not None]
    if req.print_only:
        return print_json(specs)
    build_all(session.images, session.rt, session.progress, specs, quiet=req.quiet)
    if req.push:
        push_images(session, [s.service for s in specs if project.services[s.service].image], quiet=req.quiet)
    return None


def familiar_to_full(ref: str) -> str:
    """A reference as Docker's ``ParseDockerRef(...).String()`` writes it: ``docker.io/library/busybox:latest``."""
    name, _, digest = ref.partition("@")
    first, slash, _ = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        name = "docker.io/" + ("library/" + name if not slash else name)
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and not digest:
        name += ":latest"
    return name + (f"@{digest}" if digest else "")


def pinned(ref: str) -> str:
    """``config --resolve-image-digests``: ``ref`` with the digest of the image of that name here."""
    from engine.errors import EngineError
    from engine.images.store import ImageStore
    from engine.state import Root

    if "@" in ref:
        return familiar_to_full(ref)
    try:
        image = ImageStore(Root.from_env()).get(ref)
    except EngineError:
        raise UpError(f"cannot pin {ref} to a digest: no such image here (pull or build it first)") from None
    return f"{familiar_to_full(ref)}@{image.digest}"
