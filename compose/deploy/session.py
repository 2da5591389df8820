"""A project as the engine holds it: the engine's handles, the project's containers, and its lock.

Every orchestration command works on a ``Session``: it reads the engine's
containers once (again after it changed them), finds the project's by their
Compose labels, and makes its changes under the project's lock, so two
commands on one project never interleave.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import UsageError
from . import labels
from .progress import Progress

if TYPE_CHECKING:  # the engine is imported when a session opens, not when this module loads
    from engine.images.store import ImageStore
    from engine.net.manage import NetworkManager
    from engine.runtime.containers import Container, Runtime
    from engine.state import Root
    from engine.volumes import Volumes

    from ..config.model import Project


def service_of(c: Container) -> str:
    return c.spec.labels.get(labels.SERVICE, "")


def number_of(c: Container) -> int:
    try:
        return int(c.spec.labels.get(labels.NUMBER, "0"))
    except ValueError:
        return 0


def short_name(c: Container) -> str:
    """The name Compose shows for a container: without ``<project>-`` unless it has a name of its own."""
    project = c.spec.labels.get(labels.PROJECT, "")
    service = c.spec.labels.get(labels.SERVICE, "")
    number = c.spec.labels.get(labels.NUMBER, "")
    for sep in ("-", "_"):
        if c.name == sep.join((project, service, number)):
            return c.name[len(project) + 1:]
    return c.name


@dataclass(frozen=True)
class Engine:
    """The engine's parts a session drives (tests pass fakes of them)."""

    root: Root
    rt: Runtime
    images: ImageStore
    nets: NetworkManager
    vols: Volumes

    @classmethod
    def open(cls, root: Root | None = None) -> Engine:
        from engine.images.store import ImageStore
        from engine.net.manage import NetworkManager
        from engine.runtime.containers import Runtime
        from engine.state import Root
        from engine.volumes import Volumes

        r = root or Root.from_env()
        r.ensure()
        nets = NetworkManager(r)
        nets.revive()  # DNS answers again at once if netd died
        return cls(root=r, rt=Runtime(r), images=ImageStore(r), nets=nets, vols=Volumes(r))


class Session:
    def __init__(self, project: Project, root: Root | None = None, progress: Progress | None = None, *,
                 engine: Engine | None = None,
                 environment: Callable[[], Mapping[str, str]] = lambda: dict(os.environ)) -> None:
        """``environment``: the project's variables (shell and .env), asked for only when a secret or
        config comes from one."""
        parts = engine or Engine.open(root)
        self.environment = environment
        self.project = project
        self.root: Root = parts.root
        self.rt: Runtime = parts.rt
        self.images: ImageStore = parts.images
        self.nets: NetworkManager = parts.nets
        self.vols: Volumes = parts.vols
        self.progress = progress or Progress("plain")
        self.parallel: int | None = None  # at most this many engine operations at once (None: no limit)
        self.separator = "-"  # in container names; "_" in compatibility mode (Compose v1's names)
        self.dry_run = False  # the engine changes nothing (dryrun.dry_engine): no waits, no hooks
        self._snapshot: list[Container] | None = None

    @property
    def _lock_path(self) -> str:
        return os.path.join(self.root.locks, f"project-{self.project.name}.lock")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The project's lock: held by every command that changes the project's containers."""
        from engine.state import locked

        with locked(self._lock_path):
            yield

    def drop_lock(self) -> None:
        """Remove the lock's file once the project has no container left (the caller holds the lock;
        a command waiting on the removed file takes a new one)."""
        from engine.state import unlink_lock

        self.changed()
        if not self.containers() and not self.containers(oneoff=True):
            unlink_lock(self._lock_path)

    # -- what exists --------------------------------------------------------

    def all_containers(self) -> list[Container]:
        """Every container of the engine (read once, again after this session changed any)."""
        if self._snapshot is None:
            self._snapshot = self.rt.list()
        return self._snapshot

    def changed(self) -> None:
        self._snapshot = None

    def containers(self, services: Iterable[str] | None = None, *, oneoff: bool = False) -> list[Container]:
        """This project's containers (of ``services``, if given), by service and number."""
        wanted = set(services) if services is not None else None
        out = [c for c in self.all_containers() if c.spec.labels.get(labels.PROJECT) == self.project.name
               and (c.spec.labels.get(labels.ONEOFF) == "True") == oneoff
               and (wanted is None or service_of(c) in wanted)]
        return sorted(out, key=lambda c: (service_of(c), number_of(c)))

    def of(self, service: str) -> list[Container]:
        return self.containers([service])

    def orphans(self) -> list[Container]:
        return [c for c in self.containers() if service_of(c) not in self.project.services]

    def container(self, service: str, index: int = 1) -> Container:
        """Container ``index`` of ``service``; a UsageError as Compose words it when there is none."""
        if service not in self.project.services:
            raise UsageError(f"no such service: {service}")
        found = [c for c in self.of(service) if number_of(c) == index]
        if not found:  # Compose's words
            raise UsageError(f'service "{service}" is not running' + (f" container #{index}" if index != 1 else ""))
        return found[0]

    def refresh(self, c: Container) -> Container:
        """The container's state now."""
        return self.rt.get(c.id)

    def workers(self, jobs: int) -> int:
        """Threads for ``jobs`` operations at once, within ``--parallel``/COMPOSE_PARALLEL_LIMIT."""
        return max(1, min(jobs, self.parallel) if self.parallel else jobs)

    def in_order(self, containers: Iterable[Container], *, reverse: bool = False) -> list[Container]:
        """``containers`` in dependency order (dependencies first), or stop order with ``reverse``."""
        order = {s: i for i, level in enumerate(self.project.levels(reverse=reverse)) for s in level}
        return sorted(containers, key=lambda c: (order.get(service_of(c), len(order)), c.name))
