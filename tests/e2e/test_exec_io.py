"""exec passes bytes exactly: stdin by default, stdout and stderr apart, Docker's exit codes; the service's
ulimits reach exec'd processes and healthcheck probes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.test_commands import Cli, cli  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

SERVICE = """\
    services:
      box:
        image: busybox:latest
        command: ["sleep", "3600"]
        stop_grace_period: 0s
        ulimits: {nofile: {soft: 1234, hard: 2345}}
        healthcheck:
          test: ["CMD-SHELL", "[ $(ulimit -n) = 1234 ]"]
          interval: 0.2s
          retries: 2
    """


def test_stdin_stdout_stderr_byte_exact_and_exit_codes(cli: Cli) -> None:  # noqa: F811
    cli.write(SERVICE)
    cli("up", "-d", "--wait", check=True)  # healthy: the probe saw the service's ulimit
    data = os.urandom(50 << 20)
    r = subprocess.run([sys.executable, "-m", "compose.cli.main", "exec", "-T", "box", "sh", "-c",
                        "cat; echo to-stderr >&2"], cwd=cli.dir, env=cli.env, input=data, capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == len(data) and r.stdout == data
    assert r.stderr == b"to-stderr\n"
    r = cli("exec", "-T", "box", "sh", "-c", "ulimit -n; ulimit -Hn")
    assert r.stdout == "1234\n2345\n"
    r = cli("exec", "-T", "box", "no-such-binary")
    assert r.returncode == 127 and 'exec: "no-such-binary": executable file not found in $PATH' in r.stderr
    r = cli("exec", "-T", "box", "/etc/passwd")
    assert r.returncode == 126 and "permission denied" in r.stderr
    r = cli("exec", "-i", "-T", "box", "cat", input="with -i as well\n")
    assert r.stdout == "with -i as well\n"


def test_swappiness_and_block_io_limits_reach_the_cgroup(cli: Cli, tmp_path) -> None:  # noqa: F811
    from engine.state import Root

    backing = tmp_path / "disk.img"
    backing.write_bytes(b"\0" * (4 << 20))
    loop = subprocess.run(["losetup", "--find", "--show", "--read-only", str(backing)], capture_output=True,
                          text=True, check=True).stdout.strip()
    try:
        rdev = os.stat(loop).st_rdev
        cli.write(f"""\
            services:
              box:
                image: busybox:latest
                command: ["sleep", "3600"]
                stop_grace_period: 0s
                mem_swappiness: 10
                blkio_config:
                  device_read_bps: [{{path: {loop}, rate: 1mb}}]
                  device_write_iops: [{{path: {loop}, rate: 120}}]
            """)
        cli("up", "-d", check=True)
        cid = cli("ps", "-q", check=True).stdout.strip()
        group = Root(cli.root).cgroup_name
        with open(f"/sys/fs/cgroup/memory/{group}/{cid}/memory.swappiness") as fh:
            assert fh.read().strip() == "10"
        with open(f"/sys/fs/cgroup/blkio/{group}/{cid}/blkio.throttle.read_bps_device") as fh:
            assert fh.read().strip() == f"{os.major(rdev)}:{os.minor(rdev)} 1048576"
        with open(f"/sys/fs/cgroup/blkio/{group}/{cid}/blkio.throttle.write_iops_device") as fh:
            assert fh.read().strip() == f"{os.major(rdev)}:{os.minor(rdev)} 120"
        cli("down", check=True)
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)
