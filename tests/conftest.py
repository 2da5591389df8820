"""Session-wide rules for the test run.

As root, the tests that need root must run: a skip that is not one of the
host's legitimate differences (a cgroup controller this kernel lacks) fails
the run, so a wrong skip condition cannot pass silently. In CI (``CI=true``)
a skip for a missing tool (docker-registry, nft) fails the run too, since
``.ci/run`` installs them all.
"""

from __future__ import annotations

import os

import pytest

HOST_DIFFERENCES = ("this cgroup setup has no ", "this setup has the memory and pids controllers")
MISSING_TOOLS = ("is not installed", "did not start", "is not free here")

_skipped: list[tuple[str, str]] = []


def pytest_configure(config: pytest.Config) -> None:
    """A command a test runs without naming a state root must not reach the host's default one
    (/var/lib/pycompose): it gets a root of the run's own, under the test run's temporary folder."""
    if "PYCOMPOSE_ROOT" not in os.environ:
        import tempfile

        os.environ["PYCOMPOSE_ROOT"] = tempfile.mkdtemp(prefix="pycompose-tests-root-")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        _skipped.append((report.nodeid, reason.removeprefix("Skipped: ")))


def unexpected_skips(skipped: list[tuple[str, str]], *, root: bool, ci: bool) -> list[tuple[str, str]]:
    if not root:
        return []
    allowed = HOST_DIFFERENCES + (() if ci else MISSING_TOOLS)
    return [(node, reason) for node, reason in skipped if not any(a in reason for a in allowed)]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    bad = unexpected_skips(_skipped, root=os.geteuid() == 0, ci=os.environ.get("CI") == "true")
    if bad:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["tests skipped while running as root (they must run here):"]
        lines += [f"  {node}: {reason}" for node, reason in bad]
        if reporter is not None:
            reporter.write_line("\n" + "\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
