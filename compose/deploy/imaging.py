"""A project's images: found locally, pulled from a registry, or built from a Dockerfile.

``up``, ``run``, ``pull`` and ``build`` decide what each service's image is
here; the engine's store, registry client and builder do the work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from ..config.model import Project, Service
from ..errors import UpError
from .progress import Progress

if TYPE_CHECKING:
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
    def __init__(self, project: Project, images: ImageStore, runtime: Runtime, progress: Progress) -> None:
        self.project = project
        self.images = images
        self.rt = runtime
        self.progress = progress

    def has(self, svc: Service) -> bool:
        from engine.errors import NotFound

        try:
            self.images.get(svc.image_name(self.project.name))
            return True
        except NotFound:
            return False

    def pull(self, services: Iterable[Service], policy: str | None) -> None:
        """Pull the service images that ``policy`` (``up --pull``) and their ``pull_policy`` call for.

        A pull that fails is an error, except for a service that can be built:
        then it is a warning, and ``up`` builds the image instead.
        """
        from engine.errors import EngineError
        from engine.images import registry

        pulled: set[str] = set()
        for svc in services:
            wanted = effective_pull_policy(policy, svc.pull_policy)
            if not svc.image or svc.image in pulled or wanted in ("never", "build") or (
                    wanted == "missing" and self.has(svc)):
                continue
            pulled.add(svc.image)
            self.progress.event("Image", svc.image, "Pulling")
            try:
                registry.pull(self.images, svc.image, progress=lambda i, s: self.progress.message(f"   {i} {s}"))
            except EngineError as exc:
                self.progress.event("Image", svc.image, "Warning" if svc.build else "Error")
                if svc.build is not None:
                    self.progress.message(f"WARN[0000] service {svc.name}: {exc}; building it instead")
                    continue
                if wanted == "always":
                    raise UpError(f"service {svc.name}: {exc}") from None
                reason = registry.HUB_REFUSED if isinstance(exc, registry.NoRegistry) else f"pulling it failed: {exc}"
                raise UpError(f"service {svc.name}: image {svc.image} not found locally, and {reason}") from None
            self.progress.event("Image", svc.image, "Pulled")

    def build(self, svc: Service, *, no_cache: bool = False, quiet: bool = False) -> Image:
        """Build the service's image from its ``build`` section, tagged as ``up`` will look for it."""
        from engine.builder import build
        from engine.errors import EngineError

        assert svc.build is not None
        b = svc.build
        ref = svc.image_name(self.project.name)
        self.progress.event("Image", ref, "Building")
        try:
            image = build(self.images, self.rt, b.context, dockerfile=b.dockerfile or "Dockerfile",
                          dockerfile_inline=b.dockerfile_inline, tag=ref, args=dict(b.args), target=b.target,
                          labels=dict(b.labels), no_cache=no_cache or b.no_cache,
                          progress=(lambda line: None) if quiet else self.progress.message)
            for extra in b.tags:
                self.images.tag(ref, extra)
        except EngineError as exc:
            raise UpError(f"service {svc.name}: build failed: {exc}") from None
        self.progress.event("Image", ref, "Built")
        return image

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


def _skip_reason(session: Session, svc: Service, ignore_buildable: bool, pulling: dict[str, str]) -> str:
    """Why ``pull`` leaves ``svc`` alone (Compose's wording), or "" to pull it."""
    if not svc.image:
        return "- No image to be pulled"
    if svc.pull_policy in ("never", "build"):
        return f"- pull_policy: {svc.pull_policy}"
    if svc.pull_policy in _MISSING and _present(session, svc.image):
        return "- Image is already present locally"
    if svc.build is not None and ignore_buildable:
        return "- Image can be built"
    if svc.image in pulling:
        return f"- Image is already being pulled by {pulling[svc.image]}"
    return ""


def pull_images(session: Session, services: Iterable[str] = (), *, ignore_pull_failures: bool = False,
                ignore_buildable: bool = False) -> None:
    """``pull``: each service's image, following its ``pull_policy`` as Compose's ``pull`` does.

    A service that can be built only gets a warning when its pull fails.
    """
    from engine.errors import EngineError
    from engine.images import registry

    project, progress = session.project, session.progress
    must_build: list[str] = []
    failed: EngineError | None = None
    pulling: dict[str, str] = {}
    for name in sorted(services or project.services):
        svc = project.services[name]
        skip = _skip_reason(session, svc, ignore_buildable, pulling)
        if skip:
            progress.event("Service", name, "Skipped", skip)
            continue
        assert svc.image is not None  # _skip_reason skips services without one
        pulling[svc.image] = name
        progress.event("Image", svc.image, "Pulling")
        try:
            registry.pull(session.images, svc.image, progress=_layer_lines(progress))
        except EngineError as exc:
            if svc.build is not None:
                progress.event("Image", svc.image, "Warning", str(exc))
                must_build.append(name)
                continue
            progress.event("Image", svc.image, "Error", str(exc) if ignore_pull_failures else "")
            if not ignore_pull_failures:
                failed = exc
                break
            continue
        progress.event("Image", svc.image, "Pulled")
    if must_build:
        progress.message("WARNING: Some service image(s) must be built from source by running:\n"
                         f"    pycompose build {' '.join(must_build)}")
    if failed is not None:
        raise failed


def push_images(session: Session, services: Iterable[str] = (), *, ignore_push_failures: bool = False) -> None:
    """``push``: each service's named image to its registry, once per image."""
    from engine.errors import EngineError
    from engine.images import registry

    project, progress = session.project, session.progress
    pushed: set[str] = set()
    for name in sorted(services or project.services):
        image = project.services[name].image
        if not image or image in pushed:
            continue
        pushed.add(image)
        progress.event("Image", image, "Pushing")
        try:
            registry.push(session.images, image, progress=_layer_lines(progress))
        except EngineError as exc:
            progress.event("Image", image, "Error", str(exc) if ignore_push_failures else "")
            if not ignore_push_failures:
                raise
            continue
        progress.event("Image", image, "Pushed")


def _layer_lines(progress: Progress) -> Callable[[str, str], None]:
    """The per-layer progress callback: ``   a1b2c3d4e5f6 Pull complete`` lines."""
    return lambda layer, status: progress.message(f"   {layer} {status}")


def build_services(session: Session, services: Iterable[str] = (), *, no_cache: bool = False, quiet: bool = False,
                   extra_args: Mapping[str, str | None] | None = None) -> None:
    """``build``: the images of the services that have a ``build`` section."""
    import dataclasses

    project = session.project
    imaging = Imaging(project, session.images, session.rt, session.progress)
    for name in sorted(services or project.services):
        svc = project.services[name]
        if svc.build is None:
            continue
        if extra_args:
            svc = dataclasses.replace(svc, build=dataclasses.replace(svc.build, args={**svc.build.args, **extra_args}))
        imaging.build(svc, no_cache=no_cache, quiet=quiet)
