"""A project's images: found locally, pulled from a registry, or built from a Dockerfile.

``up``, ``run``, ``pull`` and ``build`` decide what each service's image is
here; the engine's store, registry client and builder do the work.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..config.model import Project, Service
from ..errors import ComposeError
from .progress import Progress


class UpError(ComposeError):
    """A service could not be brought up; names the service and the cause."""


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
    def __init__(self, project: Project, images: Any, runtime: Any, progress: Progress) -> None:
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

    def build(self, svc: Service, *, no_cache: bool = False, quiet: bool = False) -> Any:
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

    def get(self, svc: Service) -> Any:
        from engine.errors import NotFound

        ref = svc.image_name(self.project.name)
        try:
            return self.images.get(ref)
        except NotFound:
            raise UpError(f"service {svc.name}: image {ref} not found locally; import or load it "
                          f"(pycompose image import/load){' or build it with --build' if svc.build else ''}") from None
