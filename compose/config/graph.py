"""The services' dependency graph: start order in parallel levels, stop order in reverse.

An edge ``web -> db`` means web needs db: ``depends_on``, into which
normalization folds what ``links``, ``volumes_from`` and ``service:db``
namespaces imply, as Compose does. networkx is
imported here only, so commands that need no ordering do not pay for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import GraphError
from .model import Project


class DependencyGraph:
    def __init__(self, project: Project) -> None:
        import networkx as nx

        self._nx = nx
        g: Any = nx.DiGraph()
        for name, svc in project.services.items():
            g.add_node(name)
            for dep in svc.depends_on:  # links, volumes_from and service:X are folded in
                if dep in project.services:
                    g.add_edge(name, dep)
        self.graph = g
        self._check_cycles()

    def _check_cycles(self) -> None:
        try:
            cycle = self._nx.find_cycle(self.graph)
        except self._nx.NetworkXNoCycle:
            return
        names = [edge[0] for edge in cycle] + [cycle[0][0]]
        if len(names) == 2 or names[0] == names[1]:
            raise GraphError(f'service "{names[0]}" depends on itself', names)
        raise GraphError("dependency cycle between services: " + " -> ".join(names), names)

    def dependencies(self, service: str) -> set[str]:
        """Everything ``service`` needs, directly or not."""
        return set(self._nx.descendants(self.graph, service))

    def dependents(self, service: str) -> set[str]:
        """Everything that needs ``service``, directly or not."""
        return set(self._nx.ancestors(self.graph, service))

    def select(self, services: Iterable[str] | None = None, *, with_deps: bool = True) -> set[str]:
        """The chosen services (all when None) plus, unless told not to, what they depend on."""
        if services is None:
            return set(self.graph.nodes)
        chosen = set(services)
        unknown = chosen - set(self.graph.nodes)
        if unknown:
            raise GraphError("no such service: " + ", ".join(sorted(unknown)))
        if with_deps:
            for s in list(chosen):
                chosen |= self.dependencies(s)
        return chosen

    def start_levels(self, services: Iterable[str] | None = None, *, with_deps: bool = True) -> list[list[str]]:
        """Levels of services that can start in parallel, dependencies first."""
        sub = self.graph.subgraph(self.select(services, with_deps=with_deps)).reverse(copy=True)
        return [sorted(level) for level in self._nx.topological_generations(sub)]

    def stop_levels(self, services: Iterable[str] | None = None) -> list[list[str]]:
        """Levels in the order services stop: dependents before what they depend on."""
        chosen = set(self.graph.nodes) if services is None else set(services)
        sub = self.graph.subgraph(chosen)
        return [sorted(level) for level in self._nx.topological_generations(sub)]
