"""The state of one conversion: the project, what was asked, the names taken, what was said."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config.model import Project, Service
from ..errors import Location, PathPart
from . import names
from .options import ConvertOptions, Diagnostic
from .sources import Sources

Obj = dict[str, Any]


@dataclass
class Context:
    project: Project
    options: ConvertOptions
    sources: Sources
    selected: list[str] = field(default_factory=list)  # compose service names, dependencies first
    registry: names.Registry = field(default_factory=names.Registry)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    objects: list[Obj] = field(default_factory=list)
    k8s_names: dict[str, str] = field(default_factory=dict)  # compose service -> its objects' name
    volume_users: dict[str, list[str]] = field(default_factory=dict)  # named volume -> services mounting it
    waiting: set[str] = field(default_factory=set)  # services whose pods wait for others (they read the API)

    def where(self, path: tuple[PathPart, ...]) -> Location | None:
        """Where ``path`` was written (the nearest recorded key), else the file the services are in."""
        found = self.project.location(path)
        if found is not None:
            return found
        # top-level keys (volumes, networks, secrets) have no recorded line: name the file services came from
        first = next(iter(self.project.locations.values()), None)
        if first is not None:
            return Location(first.file)
        return Location(self.project.config_files[0]) if self.project.config_files else None

    def warn(self, path: tuple[PathPart, ...], message: str) -> None:
        self.diagnostics.append(Diagnostic(path, message, self.where(path)))

    def refuse(self, path: tuple[PathPart, ...], message: str) -> None:
        self.diagnostics.append(Diagnostic(path, message, self.where(path), error=True))

    def emit(self, obj: Obj) -> Obj:
        self.objects.append(obj)
        return obj

    def meta(self, name: str, service: str | None = None) -> Obj:
        k8s = self.k8s_names[service] if service is not None else None
        return names.metadata(name, self.project.name, service, k8s, self.options.namespace)

    def service(self, name: str) -> Service:
        return self.project.services[name]

    def name_of(self, service: str) -> str:
        return self.k8s_names[service]

    def selector(self, service: str) -> dict[str, str]:
        return names.selector(self.project.name, self.name_of(service))
