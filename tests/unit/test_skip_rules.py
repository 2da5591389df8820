"""The rule that a root run may not skip tests that need root (tests/conftest.py)."""

from tests.conftest import unexpected_skips

SKIPS = [
    ("tests/integration/test_runtime.py::test_pid_namespace", "containers need root"),
    ("tests/integration/test_cgroups.py::test_cpu", "this cgroup setup has no cpu controller"),
    ("tests/integration/test_registry.py::test_pull", "docker-registry is not installed (apt-get install -y docker-registry)"),
]


def test_as_root_in_ci_only_host_differences_may_be_skipped():
    assert unexpected_skips(SKIPS, root=True, ci=True) == [SKIPS[0], SKIPS[2]]


def test_as_root_outside_ci_a_missing_tool_may_be_skipped():
    assert unexpected_skips(SKIPS, root=True, ci=False) == [SKIPS[0]]


def test_without_root_anything_may_be_skipped():
    assert unexpected_skips(SKIPS, root=False, ci=True) == []
