"""The whole job, as a user runs it: `pycompose up -d` on a frontend + backend + db stack.

The frontend's published port serves a page the backend fetched from the db
by service name; the db keeps its data in a named volume across down/up and
loses it with down -v; after down nothing of the project is left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from engine.net.ports import ephemeral
from tests.integration.busybox import rootfs_tar, settled_leftovers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")
SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "samples", "stack")


@pytest.fixture
def env(tmp_path):
    root = tmp_path / "root"
    environ = {**os.environ, "PYCOMPOSE_ROOT": str(root), "PYCOMPOSE_DNS_UPSTREAMS": "none",
               "PYCOMPOSE_NO_CACHE": "1", "PYCOMPOSE_SUPERVISOR_IDLE": "0.2", "PYCOMPOSE_NETD_IDLE": "0.2",
               "FRONTEND_PORT": str(ephemeral("tcp", "127.0.0.1"))}
    project = tmp_path / "demo"
    shutil.copytree(SAMPLE, project)
    r = subprocess.run([sys.executable, "-m", "compose.cli.main", "image", "import", "-", "busybox:latest"],
                       input=rootfs_tar(), env=environ, capture_output=True)
    assert r.returncode == 0, r.stderr
    yield environ, project
    subprocess.run([sys.executable, "-m", "compose.cli.main", "down", "-v", "-t", "0"], cwd=project, env=environ,
                   capture_output=True)


def pc(environ, project, *args, check=True):
    r = subprocess.run([sys.executable, "-m", "compose.cli.main", *args], cwd=project, env=environ,
                       capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, f"{args}: {r.stderr}"
    return r


def page(port):
    deadline = time.monotonic() + 10
    while True:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/cgi-bin/page", timeout=3).read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_frontend_backend_db_stack(env):
    environ, project = env
    port = environ["FRONTEND_PORT"]
    r = pc(environ, project, "up", "-d")
    for line in (" Network demo_default  Created", " Volume demo_dbdata  Created", " Container demo-db-1  Healthy",
                 " Container demo-frontend-1  Started"):
        assert line in r.stderr.splitlines()
    assert page(port) == "hello from db\n"
    ps = pc(environ, project, "ps").stdout
    assert "demo-db-1" in ps and "(healthy)" in ps and f"127.0.0.1:{port}->80/tcp" not in ps  # published on all
    assert f"0.0.0.0:{port}->80/tcp" in ps

    again = pc(environ, project, "up", "-d").stderr.splitlines()
    assert " Container demo-frontend-1  Running" in again and not any("Recreate" in line for line in again)

    assert pc(environ, project, "exec", "-T", "db", "sh", "-c", "echo changed > /data/record; exit 3",
              check=False).returncode == 3
    pc(environ, project, "down")
    pc(environ, project, "up", "-d")
    assert page(port) == "changed\n"  # the named volume outlived down

    pc(environ, project, "down", "-v")
    pc(environ, project, "up", "-d")
    assert page(port) == "hello from db\n"  # down -v took it

    pc(environ, project, "down", "-v")
    root = environ["PYCOMPOSE_ROOT"]
    assert os.listdir(os.path.join(root, "containers")) == []
    assert not [v for v in os.listdir(os.path.join(root, "volumes")) if not v.startswith(".")]
    assert [n for n in os.listdir(os.path.join(root, "networks"))] == []
    from engine.net.networks import Networks
    from engine.state import Root

    r = Root(root)
    assert Networks(r).bridge_name("demo_default") not in os.listdir("/sys/class/net")  # this root's bridge
    assert settled_leftovers(root, r.cgroup_name) == []


def test_changed_service_is_recreated_and_others_left_alone(env):
    environ, project = env
    pc(environ, project, "up", "-d")
    compose = project / "compose.yaml"
    compose.write_text(compose.read_text().replace('"-p", "80", "-h", "/www"]\n    volumes: ["./backend',
                                                   '"-p", "80", "-h", "/www", "-v"]\n    volumes: ["./backend'))
    lines = pc(environ, project, "up", "-d").stderr.splitlines()
    assert " Container demo-backend-1  Recreate" in lines
    assert " Container demo-db-1  Running" in lines and " Container demo-frontend-1  Running" in lines


def test_occupied_port_fails_before_anything_starts(env):
    import socket

    environ, project = env
    with socket.socket() as s:
        s.bind(("0.0.0.0", int(environ["FRONTEND_PORT"])))
        s.listen()
        r = pc(environ, project, "up", "-d", check=False)
    assert r.returncode == 1
    assert f"service frontend: port 0.0.0.0:{environ['FRONTEND_PORT']}/tcp is already in use" in r.stderr
    assert os.listdir(os.path.join(environ["PYCOMPOSE_ROOT"], "containers")) == []
