"""What the end-to-end tests share: the CLI as a user runs it, on a state root of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.integration.busybox import rootfs_tar, settled_leftovers


class Cli:
    def __init__(self, tmp_path):
        self.root = str(tmp_path / "root")
        self.env = {**os.environ, "PYCOMPOSE_ROOT": self.root, "PYCOMPOSE_DNS_UPSTREAMS": "none",
                    "PYCOMPOSE_NO_CACHE": "1", "PYCOMPOSE_SUPERVISOR_IDLE": "0.2", "PYCOMPOSE_NETD_IDLE": "0.2"}
        self.dir = tmp_path / "proj"
        self.dir.mkdir()
        r = self("image", "import", "-", "busybox:latest", input=rootfs_tar(), text=False)
        assert r.returncode == 0, r.stderr

    def write(self, text):
        (self.dir / "compose.yaml").write_text(textwrap.dedent(text))

    def __call__(self, *args, input=None, text=True, check=False, timeout=120):
        r = subprocess.run([sys.executable, "-m", "compose.cli.main", *args], cwd=self.dir, env=self.env,
                           input=input, capture_output=True, text=text, timeout=timeout)
        if check:
            assert r.returncode == 0, f"{args}: {r.stderr}"
        return r


@pytest.fixture
def cli(tmp_path):
    c = Cli(tmp_path)
    yield c
    c("down", "-v", "-t", "0", "--remove-orphans")
    from engine.state import Root

    assert settled_leftovers(c.root, Root(c.root).cgroup_name) == []
