"""A project known only by its name: rebuilt from the labels of what the engine holds.

``-p NAME ps|logs|exec|stop|down…`` work from any folder, as with Docker
Compose. When the project's recorded compose files still exist, the caller
loads them; otherwise the project is made from its containers' labels:
services, their numbers, their images, and their ``depends_on`` (so stop and
start keep dependency order).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..config.model import Dependency, Project, Service
from . import labels
from .progress import Progress
from .session import Engine, Session

if TYPE_CHECKING:
    from engine.runtime.containers import Container


def _depends_on(text: str) -> dict[str, Dependency]:
    out = {}
    for item in filter(None, text.split(",")):
        name, _, rest = item.partition(":")
        condition, _, restart = rest.partition(":")
        out[name] = Dependency(condition=condition or "service_started", restart=restart == "true")
    return out


def _levels(services: dict[str, Service]) -> tuple[tuple[str, ...], ...]:
    """Start levels from the recorded dependencies (what depends on nothing first)."""
    left = dict(services)
    done: set[str] = set()
    levels = []
    while left:
        ready = sorted(n for n, s in left.items() if all(d in done or d not in services for d in s.depends_on))
        if not ready:  # a cycle cannot be recorded by up; be safe anyway
            ready = sorted(left)
        levels.append(tuple(ready))
        done.update(ready)
        for n in ready:
            del left[n]
    return tuple(levels)


def recorded_files(containers: list[Container], name: str) -> tuple[str, tuple[str, ...]] | None:
    """(working dir, config files) the project's containers were made from, if any of them says so."""
    for c in containers:
        tags = c.spec.labels
        if tags.get(labels.PROJECT) == name and tags.get(labels.CONFIG_FILES):
            return tags.get(labels.WORKING_DIR, ""), tuple(tags[labels.CONFIG_FILES].split(","))
    return None


def project_from_labels(containers: list[Container], name: str) -> Project:
    """The project ``name`` as its containers describe it (no networks or volumes: those are found by label)."""
    services: dict[str, Service] = {}
    working_dir = ""
    for c in containers:
        tags = c.spec.labels
        if tags.get(labels.PROJECT) != name or tags.get(labels.ONEOFF) == "True":
            continue
        service = tags.get(labels.SERVICE, "")
        working_dir = working_dir or tags.get(labels.WORKING_DIR, "")
        if service and service not in services:
            services[service] = Service(name=service, image=tags.get(labels.IMAGE) or None,
                                        depends_on=_depends_on(tags.get(labels.DEPENDS_ON, "")))
    requires: dict[str, frozenset[str]] = {}
    for n in services:
        seen: set[str] = set()
        todo = [d for d in services[n].depends_on if d in services]
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo += [x for x in services[d].depends_on if x in services]
        requires[n] = frozenset(seen)
    return Project(name=name, working_dir=working_dir, config_files=(), services=services,
                   start_order=_levels(services), requires=requires)


def open_by_name(name: str, progress: Progress, load: Callable[[str, tuple[str, ...]], Project],
                 environment: Callable[[], Mapping[str, str]]) -> Session:
    """A session on the project ``name`` with no compose file at hand: from the files its containers were made
    from, if they are all still there (``load(working_dir, files)``), else from the labels alone."""
    engine = Engine.open()
    containers = engine.rt.list()
    recorded = recorded_files(containers, name)
    if recorded is not None and all(os.path.isfile(f) for f in recorded[1]):
        project = load(*recorded)
    else:
        project = project_from_labels(containers, name)
    return Session(project, progress=progress, engine=engine, environment=environment)
