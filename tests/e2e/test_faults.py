"""Crashes, kills and a full disk, end to end with real containers: what is left must be whole or nothing.

- ``up`` and ``down`` are killed (SIGKILL, through the ``PYCOMPOSE_TEST_KILL_AT`` hook of
  ``engine.faults``) at every named point; the next ``up`` and ``down -v`` must then leave nothing;
- a ``down`` killed while a stop was under way: the next ``up`` sees the stop and starts the container
  again once it ended;
- a supervisor killed: the next command's supervisor adopts its containers (output, restart policy);
- netd killed: the next command brings DNS back;
- a full state root (a small tmpfs): every command fails with one line and recovers once space is freed;
- the supervisor's socket cannot be reached from a ``network_mode: host`` container.

The numbers (kill points tried, leaks found) are printed: ``pytest -s`` shows them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

from engine.faults import POINTS
from engine.net import netd
from engine.net.networks import Networks
from engine.runtime.logs import parse_timestamp
from engine.state import Root
from tests.e2e.test_commands import Cli
from tests.integration.busybox import settled_leftovers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

STACK = """\
    services:
      web:
        image: busybox:latest
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
        depends_on: [db]
        ports: ["127.0.0.1::80"]
      db:
        image: busybox:latest
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
        volumes: [data:/data, /cache]
    volumes:
      data:
    """
UP_POINTS = [p for p in POINTS if not p.startswith(("remove.", "down.", "stop."))]
DOWN_POINTS = [p for p in POINTS if p not in UP_POINTS]


def state_leftovers(root: str) -> list[str]:
    """What a project that is down may not leave in its state root: records, allocations, volumes, bridges,
    files under run/ and locks of its own, daemons."""
    found = []
    for sub in ("containers", "networks", "volumes"):
        with contextlib.suppress(FileNotFoundError):
            found += [f"{sub}/{n}" for n in os.listdir(os.path.join(root, sub))]
    with contextlib.suppress(FileNotFoundError):
        found += [f"run/{n}" for n in os.listdir(os.path.join(root, "run")) if n not in ("empty", "sockets")]
        found += [f"run/sockets/{n}" for n in os.listdir(os.path.join(root, "run", "sockets"))]
    with contextlib.suppress(FileNotFoundError):
        found += [f"locks/{n}" for n in os.listdir(os.path.join(root, "locks"))
                  if n.startswith(("project-", "container-"))]
    bridge = Networks(Root(root)).bridge_name("proj_default")
    if os.path.exists(f"/sys/class/net/{bridge}"):
        found.append(f"bridge {bridge}")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
            if b"engine.net.netd" in argv and root.encode() in argv:
                found.append(f"netd {pid}")
    return found


def settled_state_leftovers(root: str, wait: float = 5.0) -> list[str]:
    """state_leftovers() once the daemons (which exit when idle) had time to go."""
    deadline = time.monotonic() + wait
    while (found := state_leftovers(root)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def killed_at(cli: Cli, point: str, *args: str) -> subprocess.CompletedProcess:
    env = cli.env
    cli.env = {**env, "PYCOMPOSE_TEST_KILL_AT": point}
    try:
        return cli(*args)
    finally:
        cli.env = env


def test_kill_at_every_point_leaves_nothing_after_up_and_down(cli):
    """Each kill point of ``up`` (then each of ``down``, after a whole ``up``): the process dies there,
    and the next ``up`` then ``down -v`` leave nothing behind."""
    cli.write(STACK)
    leaks: dict[str, list[str]] = {}
    for point in UP_POINTS + DOWN_POINTS:
        if point in DOWN_POINTS:
            cli("up", "-d", check=True)
            r = killed_at(cli, point, "down", "-v", "-t", "1")
        else:
            r = killed_at(cli, point, "up", "-d")
        assert r.returncode == -signal.SIGKILL, f"{point} was never reached: {r.returncode} {r.stderr}"
        up = cli("up", "-d")
        assert up.returncode == 0, f"after a kill at {point}: {up.stderr}"
        assert "Traceback" not in up.stderr
        running = [json.loads(line)["State"] for line in cli("ps", "--format", "json", check=True).stdout.splitlines()]
        assert running == ["running", "running"], f"after a kill at {point}: {running}"
        cli("down", "-v", "-t", "1", check=True)
        left = settled_state_leftovers(cli.root) + settled_leftovers(cli.root, Root(cli.root).cgroup_name)
        if left:
            leaks[point] = left
    print(f"\nkill points tried: {len(UP_POINTS + DOWN_POINTS)}; leaks found: {len(leaks)}")
    assert leaks == {}


def test_a_stop_asked_by_a_killed_down_is_seen_by_the_next_up(cli):
    """``down`` asks the supervisor to stop a container that takes a second to go, and is killed: the next
    ``up`` must not count that container as running, but wait for it to end and start it again."""
    cli.write("""\
        services:
          slow:
            image: busybox:latest
            command: ["sh", "-c", "trap 'sleep 1; exit 0' TERM; while true; do sleep 0.1; done"]
        """)
    cli("up", "-d", check=True)
    assert killed_at(cli, "stop.sent", "down").returncode == -signal.SIGKILL
    cli("up", "-d", check=True)
    time.sleep(1.5)  # past the stop that was under way
    state = json.loads(cli("ps", "--format", "json", check=True).stdout)
    assert state["State"] == "running", state


def supervisor_pid(cli: Cli) -> int:
    with open(os.path.join(cli.root, "run", "supervisor-proj.json")) as fh:
        return int(json.load(fh)["pid"])


def test_a_new_supervisor_adopts_the_containers_of_one_killed(cli):
    """kill -9 of the supervisor: the container goes on, its output waits in its FIFO (none is lost), the
    next command's supervisor adopts it, and its restart policy works as before. (It runs for 6 s, well
    past its adoption: what is in a FIFO when the last process holding it ends is gone.)"""
    cli.write("""\
        services:
          counter:
            image: busybox:latest
            restart: always
            command: ["sh", "-c", "echo start; i=0; while [ $$i -lt 60 ]; do echo n$$i; i=$$((i+1)); sleep 0.1; done"]
            healthcheck: {test: ["CMD", "true"], interval: 200ms}
        """)
    cli("up", "-d", "--wait", check=True)  # healthy
    old = supervisor_pid(cli)
    os.kill(old, signal.SIGKILL)
    time.sleep(1.0)  # it goes on writing, into its FIFO, with no one to read it
    assert cli("ps", check=True).returncode == 0  # any command: a new supervisor adopts the container
    adopted = time.time()
    assert supervisor_pid(cli) != old
    time.sleep(0.6)
    cid = os.listdir(os.path.join(cli.root, "containers"))[0]
    with open(os.path.join(cli.root, "containers", cid, "state.json")) as fh:
        health = json.load(fh)["health"]
    assert health["status"] == "healthy" and parse_timestamp(health["log"][-1]["start"]) > adopted  # probed on
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        lines = cli("logs", "--no-log-prefix", check=True).stdout.split()
        if lines.count("start") >= 2:
            break
        time.sleep(0.2)
    first = lines[:lines.index("start", 1)]
    assert first == ["start"] + [f"n{i}" for i in range(60)]  # every line, across the supervisor's death
    assert lines.count("start") >= 2  # restarted by the new supervisor (restart: always)
    state = json.loads(cli("ps", "--format", "json", check=True).stdout)
    assert state["State"] in ("running", "restarting")


def test_dns_is_back_right_after_the_next_command_once_netd_was_killed(cli):
    """netd killed: the next command (any that touches the project) starts it again before it returns."""
    cli.write(STACK)
    cli("up", "-d", check=True)
    with open(os.path.join(cli.root, "run", "netd.json")) as fh:
        os.kill(json.load(fh)["pid"], signal.SIGKILL)
    time.sleep(0.3)
    assert not netd.running(Root(cli.root))
    cli("ps", check=True)
    assert netd.running(Root(cli.root))  # serving when ps returned
    started = time.monotonic()
    answer = cli("exec", "web", "nslookup", "db")  # the first try answers
    assert answer.returncode == 0 and "Address" in answer.stdout.split("db")[-1], answer.stdout + answer.stderr
    assert time.monotonic() - started < 3.0  # python's start-up and the exec; no retries, no timeout


def test_the_supervisor_socket_is_out_of_reach_of_a_host_network_container(tmp_path):
    """Project a's supervisor listens on a file in a root-only folder, no abstract name: a
    ``network_mode: host`` container of project b, running as root, sees no name to connect to."""
    a = Cli(tmp_path)
    b_dir = tmp_path / "b"
    b_dir.mkdir()
    try:
        a.write("services:\n  s:\n    image: busybox:latest\n    command: [sleep, '300']\n")
        a("up", "-d", check=True)
        folder = os.path.join(a.root, "run", "sockets")
        st = os.stat(folder)
        assert (st.st_mode & 0o777, st.st_uid) == (0o700, 0)
        assert os.listdir(folder) == ["proj.sock"]
        # the abstract name a's supervisor had before (other roots' supervisors of older versions may
        # still use theirs on a shared machine)
        old_name = "@pycompose-" + hashlib.sha256(f"{a.root}\0proj".encode()).hexdigest()[:24]
        (b_dir / "compose.yaml").write_text(
            "services:\n  probe:\n    image: busybox:latest\n    network_mode: host\n    user: root\n"
            f"    command: [sh, -c, 'grep -c {old_name} /proc/net/unix; ls {folder} 2>/dev/null || echo unreachable']\n")
        run = a("-p", "b", "-f", str(b_dir / "compose.yaml"), "run", "--rm", "probe")
        out = run.stdout.split()
        assert out == ["0", "unreachable"], run.stdout + run.stderr  # no abstract name; no path
        with open("/proc/net/unix") as fh:  # the host's view: a's socket is the file, and has no abstract name
            table = fh.read()
        assert os.path.join(folder, "proj.sock") in table and old_name not in table
    finally:
        a("down", "-t", "0")
        assert settled_leftovers(a.root, Root(a.root).cgroup_name) == []


@pytest.fixture
def small_root(tmp_path):
    """A state root on a 24 MiB tmpfs of the test's own, with the busybox image in it."""
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "pycompose-test", str(root)], check=True)
    try:
        c = Cli(tmp_path)
        yield c
        c("down", "-v", "-t", "0")
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)
    assert settled_leftovers(c.root, Root(c.root).cgroup_name) == []


def fill(path: str) -> None:
    with open(path, "wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * (1 << 16))
            fh.flush()


def test_a_full_state_root_gives_one_line_errors_and_recovers(small_root):
    c = small_root
    c.write("""\
        services:
          talker:
            image: busybox:latest
            command: ["sh", "-c", "i=0; while true; do echo t$$i; i=$$((i+1)); sleep 0.02; done"]
        """)
    c("up", "-d", check=True)
    time.sleep(0.3)
    sup = supervisor_pid(c)
    filler = os.path.join(c.root, "filler")
    fill(filler)
    c.write("""\
        services:
          talker:
            image: busybox:latest
            command: ["sh", "-c", "i=0; while true; do echo t$$i; i=$$((i+1)); sleep 0.02; done"]
          other:
            image: busybox:latest
            command: [sleep, "300"]
            volumes: [/cache]
        """)
    failures = 0
    for args in (("up", "-d"), ("create", "other"), ("run", "--rm", "other", "true"), ("volume", "create", "v")):
        r = c(*args)
        assert "Traceback" not in r.stderr, r.stderr
        if r.returncode:
            failures += 1
            errors = [line for line in r.stderr.splitlines() if not line.startswith(" ")]
            assert len(errors) == 1, r.stderr
    assert failures >= 3
    time.sleep(1.0)  # the talker's output meanwhile: dropped and counted, the supervisor lives on
    os.kill(sup, 0)
    os.unlink(filler)
    time.sleep(0.5)
    logs = c("logs", "--no-log-prefix", "talker", check=True).stdout
    assert "lines of output were not logged: No space left on device" in logs
    c("up", "-d", check=True)  # recovers
    states = [json.loads(line)["State"] for line in c("ps", "--format", "json", check=True).stdout.splitlines()]
    assert states == ["running", "running"]
    c("down", "-v", "-t", "0", check=True)
    assert settled_state_leftovers(c.root) == []
