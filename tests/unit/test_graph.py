import pytest

from compose.config.graph import DependencyGraph
from compose.errors import GraphError

STACK = """\
services:
  proxy: {image: x, depends_on: [web, api]}
  web: {image: x, depends_on: {api: {condition: service_healthy}}}
  api: {image: x, depends_on: [db, cache], volumes_from: [data]}
  db: {image: x}
  cache: {image: x, network_mode: "service:db"}
  data: {image: x}
  worker: {image: x, links: ["db:database"], ipc: "service:cache", pid: "service:db"}
  lonely: {image: x}
"""


@pytest.fixture
def graph(proj):
    proj.write({"compose.yaml": STACK})
    return DependencyGraph(proj.load().project)


def test_start_levels_put_dependencies_first(graph):
    assert graph.start_levels() == [
        ["data", "db", "lonely"], ["cache"], ["api", "worker"], ["web"], ["proxy"],
    ]


def test_stop_levels_are_the_reverse(graph):
    assert graph.stop_levels() == [["lonely", "proxy", "worker"], ["web"], ["api"], ["cache", "data"], ["db"]]


def test_chosen_services_bring_their_dependencies(graph):
    assert graph.start_levels(["web"]) == [["data", "db"], ["cache"], ["api"], ["web"]]
    assert graph.start_levels(["web"], with_deps=False) == [["web"]]
    assert graph.dependents("db") == {"cache", "api", "web", "proxy", "worker"}


def test_unknown_chosen_service(graph):
    with pytest.raises(GraphError, match="no such service: ghost"):
        graph.select(["ghost", "web"])


def test_optional_dependency_on_a_missing_service_is_ignored(proj):
    proj.write({"compose.yaml": "services:\n  a:\n    image: x\n    depends_on:\n      b: {condition: service_started, required: false}\n"})
    assert DependencyGraph(proj.load().project).start_levels() == [["a"]]


def test_longer_cycle_printed_in_order(proj):
    from compose.errors import ConfigError

    proj.write({"compose.yaml": "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, links: [c]}\n  c: {image: x, volumes_from: [a]}\n"})
    with pytest.raises(ConfigError, match="dependency cycle between services: a -> b -> c -> a"):
        proj.load()
