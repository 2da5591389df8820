"""What ``convert`` is asked for, and the diagnostics it gives back."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..errors import ConfigError, Location, PathPart, format_path


class PublishType(StrEnum):
    """How published ports (``ports: ["8080:80"]``) reach outside the cluster."""

    none = "none"  # not at all: ClusterIP only (kubectl port-forward reaches them)
    NodePort = "NodePort"
    LoadBalancer = "LoadBalancer"


# The image the wait initContainers run (MIT, github.com/groundnuty/k8s-wait-for): a shell
# script around kubectl that waits for pods to be Ready or a Job's pods to have Succeeded.
WAIT_IMAGE = "ghcr.io/groundnuty/k8s-wait-for:v2.0"
DEFAULT_CLAIM_SIZE = "1Gi"


@dataclass(frozen=True)
class ConvertOptions:
    services: tuple[str, ...] = ()  # the services asked for (their dependencies come along); () = all
    namespace: str | None = None
    publish: PublishType = PublishType.none
    wait_image: str = WAIT_IMAGE
    claim_size: str = DEFAULT_CLAIM_SIZE


@dataclass(frozen=True)
class Diagnostic:
    """A key that Kubernetes cannot express as written: refused (error) or approximated (warning)."""

    path: tuple[PathPart, ...]
    message: str
    location: Location | None = None
    error: bool = False

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location is not None else ""
        return f"{where}{format_path(self.path)}: {self.message}"

    def as_error(self) -> ConfigError:
        return ConfigError.at(self.location, self.path, self.message)
