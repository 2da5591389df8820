"""Compose's commands and flags, end to end with real containers, as a user types them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tests.integration.busybox import rootfs_tar, settled_leftovers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


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

    def __call__(self, *args, input=None, text=True, check=False, timeout=120, env=None):
        r = subprocess.run([sys.executable, "-m", "compose.cli.main", *args], cwd=self.dir, env={**self.env, **(env or {})},
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


SLEEPERS = """\
    services:
      web:
        image: busybox:latest
        command: ["sh", "-c", "echo web up; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"]
        depends_on: [db]
      db:
        image: busybox:latest
        command: ["sleep", "3600"]
    """


def names(out):
    return [line.split()[0] for line in out.splitlines()[1:]]


def test_ps_variants_and_lifecycle(cli):
    cli.write(SLEEPERS)
    cli("up", "-d", check=True)
    assert names(cli("ps", check=True).stdout) == ["proj-db-1", "proj-web-1"]
    assert cli("ps", "--services", check=True).stdout.split() == ["db", "web"]
    assert len(cli("ps", "-q", check=True).stdout.split()) == 2
    rows = [json.loads(line) for line in cli("ps", "--format", "json", check=True).stdout.splitlines()]
    assert {r["Service"]: r["State"] for r in rows} == {"db": "running", "web": "running"}

    stop = cli("stop", "web", check=True)
    assert " Container proj-web-1  Stopped" in stop.stderr.splitlines()
    assert names(cli("ps", check=True).stdout) == ["proj-db-1"]
    assert "Exited (0)" in cli("ps", "-a", check=True).stdout
    assert names(cli("ps", "--status", "exited", check=True).stdout) == ["proj-web-1"]
    assert "bye" in cli("logs", "web", check=True).stdout

    cli("start", "web", check=True)
    cli("pause", "db", check=True)
    assert "(Paused)" in cli("ps", check=True).stdout
    cli("unpause", "db", check=True)
    t = time.monotonic()
    cli("restart", "db", check=True)
    assert time.monotonic() - t < 5  # sleep as PID 1 ignores SIGTERM: no grace period to wait out
    cli("kill", "-s", "SIGUSR1", "web", check=True)  # PID 1 has no handler for it: ignored, as in Docker
    time.sleep(0.3)
    assert names(cli("ps", check=True).stdout) == ["proj-db-1", "proj-web-1"]
    cli("kill", "web", check=True)
    time.sleep(0.3)
    assert "Exited (137)" in cli("ps", "-a", check=True).stdout  # 128 + SIGKILL

    r = cli("rm", "-f", check=True)
    assert names(cli("ps", "-a", check=True).stdout) == ["proj-db-1"] and r.returncode == 0
    r = cli("rm", "-s", "-f", "db", check=True)
    assert names(cli("ps", "-a", check=True).stdout) == []


def test_logs_flags(cli):
    cli.write("""\
        services:
          talker:
            image: busybox:latest
            command: ["sh", "-c", "for i in 1 2 3 4 5; do echo line$$i; done; sleep 3600"]
        """)
    cli("up", "-d", check=True)
    time.sleep(0.5)
    out = cli("logs", "--no-color", check=True).stdout.splitlines()
    assert out[0] == "talker-1  | line1" and len(out) == 5  # Compose's prefix: the name without the project
    assert cli("logs", "--tail", "2", "--no-log-prefix", check=True).stdout.split() == ["line4", "line5"]
    stamped = cli("logs", "-t", "--tail", "1", "--no-log-prefix", check=True).stdout
    assert stamped.split()[0].endswith("Z") and stamped.split()[1] == "line5"
    assert cli("logs", "--since", "1h", "--tail", "1", "--no-log-prefix", check=True).stdout.split() == ["line5"]
    assert cli("logs", "--until", "1h", check=True).stdout == ""


def test_scale_orphans_and_no_deps(cli):
    cli.write(SLEEPERS)
    cli("up", "-d", "--scale", "web=3", check=True)
    assert names(cli("ps", check=True).stdout) == ["proj-db-1", "proj-web-1", "proj-web-2", "proj-web-3"]
    cli("up", "-d", "--scale", "web=1", check=True)
    assert names(cli("ps", check=True).stdout) == ["proj-db-1", "proj-web-1"]

    cli.write(SLEEPERS.replace("      web:", "      front:").replace("depends_on: [db]", "depends_on: [db]"))
    r = cli("up", "-d", check=True)
    assert "Found orphan containers (proj-web-1)" in r.stderr
    cli("up", "-d", "--remove-orphans", check=True)
    assert names(cli("ps", check=True).stdout) == ["proj-db-1", "proj-front-1"]
    cli("down", check=True)
    cli("up", "-d", "--no-deps", "front", check=True)
    assert names(cli("ps", check=True).stdout) == ["proj-front-1"]


def test_depends_on_conditions(cli):
    cli.write("""\
        services:
          migrate:
            image: busybox:latest
            command: ["sh", "-c", "sleep 0.3; echo migrated"]
          app:
            image: busybox:latest
            command: ["sleep", "3600"]
            depends_on:
              migrate: {condition: service_completed_successfully}
              optional: {condition: service_started, required: false}
        """)
    r = cli("up", "-d", check=True)
    assert " Container proj-migrate-1  Exited" in r.stderr.splitlines()
    cli("down", check=True)
    cli.write("""\
        services:
          broken:
            image: busybox:latest
            command: ["sleep", "3600"]
            healthcheck: {test: ["CMD", "false"], interval: 0.1s, retries: 1}
          app:
            image: busybox:latest
            command: ["sleep", "3600"]
            depends_on: {broken: {condition: service_healthy}}
        """)
    r = cli("up", "-d")
    assert r.returncode == 1 and "dependency failed to start: container proj-broken-1 is unhealthy" in r.stderr
    assert "proj-app-1" not in cli("ps", "-a", check=True).stdout


def test_wait_flag_exit_codes_and_attach(cli):
    cli.write("""\
        services:
          job:
            image: busybox:latest
            command: ["sh", "-c", "echo working; sleep 0.3; exit 4"]
          keeper:
            image: busybox:latest
            command: ["sleep", "3600"]
        """)
    r = cli("up", "--exit-code-from", "job", "job")
    assert r.returncode == 4 and "job-1  | working" in r.stdout.splitlines()
    cli("down", check=True)
    r = cli("up", "--abort-on-container-exit")
    assert "job-1 exited with code 4" in r.stdout.splitlines() and r.returncode == 4
    assert "Aborting on container exit..." in r.stderr.splitlines()
    assert " Container proj-keeper-1  Stopped" in r.stderr.splitlines()  # stopped when the job exited


def test_up_wait_returns_once_healthy_and_fails_on_unhealthy(cli):
    cli.write("""\
        services:
          slow:
            image: busybox:latest
            command: ["sh", "-c", "sleep 1; touch /ready; exec sleep 3600"]
            healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 0.2s, retries: 50}
          sick:
            image: busybox:latest
            command: ["sleep", "3600"]
            healthcheck: {test: ["CMD", "false"], interval: 0.1s, retries: 2}
        """)
    started = time.monotonic()
    r = cli("up", "-d", "--wait", "slow", check=True)
    assert time.monotonic() - started >= 1.0  # it waited for the healthcheck, not just the start
    assert "(healthy)" in next(line for line in cli("ps", check=True).stdout.splitlines() if "proj-slow-1" in line)
    r = cli("up", "-d", "--wait", "sick")
    assert r.returncode == 1 and "container proj-sick-1 is unhealthy" in r.stderr


def test_create_no_start_top_images_ls_and_wait(cli):
    cli.write(SLEEPERS)
    cli("create", check=True)
    assert names(cli("ps", "-a", check=True).stdout) == ["proj-db-1", "proj-web-1"]
    assert names(cli("ps", check=True).stdout) == []
    cli("start", check=True)
    top = cli("top", "db", check=True).stdout.splitlines()
    assert top[0].split() == ["SERVICE", "#", "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert top[1].split()[:3] == ["db", "1", "root"] and top[1].endswith("sleep 3600")
    images = cli("images", check=True).stdout
    assert "busybox" in images and "proj-db-1" in images
    assert "proj" in cli("ls", check=True).stdout.split()
    box = {}
    waiter = threading.Thread(target=lambda: box.setdefault("r", cli("wait", "db")))
    waiter.start()
    time.sleep(0.5)
    cli("kill", "db", check=True)
    waiter.join(30)
    assert box["r"].stdout.strip() == "137" and box["r"].returncode == 137


def test_two_ups_at_once_make_no_duplicates(cli):
    cli.write(SLEEPERS)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cli("up", "-d"))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert names(cli("ps", "-a", check=True).stdout) == ["proj-db-1", "proj-web-1"]


def test_errors_name_the_service_and_change_nothing(cli):
    cli.write("""\
        services:
          ok:
            image: busybox:latest
            command: ["sleep", "3600"]
          missing:
            image: nothere:1.0
        """)
    r = cli("up", "-d")
    assert r.returncode == 1 and "service missing: image nothere:1.0 not found locally" in r.stderr
    assert names(cli("ps", "-a", check=True).stdout) == []
    cli.write("""\
        services:
          bad:
            image: busybox:latest
            command: ["no-such-binary"]
        """)
    r = cli("up", "-d")
    assert r.returncode == 1
    assert 'service bad: container proj-bad-1: exec: "no-such-binary": executable file not found' in r.stderr
    cli.write("""\
        services:
          nomount:
            image: busybox:latest
            volumes: [{type: bind, source: ./absent, target: /x}]
        """)
    r = cli("up", "-d")
    assert r.returncode == 1 and "the mount source" in r.stderr and "absent does not exist" in r.stderr


def test_run_one_off(cli):
    cli.write("""\
        services:
          app:
            image: busybox:latest
            command: ["sleep", "3600"]
            environment: {GREETING: hi}
            depends_on: [db]
          db:
            image: busybox:latest
            command: ["sleep", "3600"]
        """)
    r = cli("run", "--rm", "-e", "EXTRA=1", "-w", "/tmp", "app", "sh", "-c",
            "echo $GREETING $EXTRA $(pwd); nslookup db >/dev/null && echo db-resolves; exit 5")
    assert r.returncode == 5 and r.stdout.split() == ["hi", "1", "/tmp", "db-resolves"]
    assert names(cli("ps", "-a", check=True).stdout) == ["proj-db-1"]  # its dependency was started; it was removed
    cid = cli("run", "-d", "--name", "oneoff", "app", "sleep", "30", check=True).stdout.strip()
    assert len(cid) == 64 and "oneoff" not in cli("ps", check=True).stdout  # one-off ones: only with -a, as Compose
    assert "oneoff" in cli("ps", "-a", check=True).stdout
    r = cli("run", "--rm", "--entrypoint", "echo", "app", "from", "entrypoint", check=True)
    assert r.stdout == "from entrypoint\n"


def test_cp_both_ways_and_stats(cli, tmp_path):
    cli.write(SLEEPERS)
    cli("up", "-d", check=True)
    src = tmp_path / "h.txt"
    src.write_text("hello\n")
    cli("cp", str(src), "db:/tmp/copied.txt", check=True)
    assert cli("exec", "-T", "db", "cat", "/tmp/copied.txt", check=True).stdout == "hello\n"
    out = tmp_path / "passwd"
    cli("cp", "db:/etc/passwd", str(out), check=True)
    assert out.read_text().startswith("root:x:0:0")
    cli("exec", "-T", "db", "sh", "-c", "mkdir /tmp/tree; ln -s /etc /tmp/tree/link; echo inside > /tmp/tree/f",
        check=True)
    cli("cp", "db:/tmp/tree", str(tmp_path / "tree"), check=True)
    assert os.readlink(tmp_path / "tree" / "link") == "/etc"  # copied as a link, never followed
    assert (tmp_path / "tree" / "f").read_text() == "inside\n"
    r = cli("cp", "db:/dev/null", str(tmp_path / "dev"))
    assert r.returncode == 1 and "special file" in r.stderr and not (tmp_path / "dev").exists()
    cli("stop", "db", check=True)
    cli("cp", "db:/tmp/copied.txt", str(tmp_path / "again.txt"), check=True)  # a stopped container too
    assert (tmp_path / "again.txt").read_text() == "hello\n"
    stats = cli("stats", "--no-stream", check=True).stdout.splitlines()
    assert stats[0].split()[:3] == ["CONTAINER", "ID", "NAME"] and "proj-web-1" in stats[1]


def test_build_and_up_build(cli):
    app = cli.dir / "app"
    app.mkdir()
    (app / "Dockerfile").write_text("FROM busybox:latest\nARG GREETING=hello\nCOPY message.txt /message.txt\n"
                                    "RUN echo \"$GREETING\" > /greeting\nCMD [\"sh\", \"-c\", \"cat /greeting /message.txt; sleep 3600\"]\n")
    (app / "message.txt").write_text("v1\n")
    cli.write("""\
        services:
          app:
            build:
              context: ./app
              args: {GREETING: bonjour}
        """)
    r = cli("up", "-d", check=True)  # the image is missing: built first
    assert " Image proj-app  Built" in r.stderr.splitlines()
    time.sleep(0.5)
    assert cli("logs", "--no-log-prefix", check=True).stdout.split() == ["bonjour", "v1"]
    (app / "message.txt").write_text("v2\n")
    r = cli("up", "-d", "--build", check=True)
    assert " Container proj-app-1  Recreate" in r.stderr.splitlines()
    time.sleep(0.5)
    assert cli("logs", "--no-log-prefix", check=True).stdout.split() == ["bonjour", "v2"]
    r = cli("up", "-d", "--build", check=True)  # nothing changed: cached build, container kept
    assert " Container proj-app-1  Running" in r.stderr.splitlines()
    (app / "Dockerfile").write_text("FROM busybox:latest\nRUN exit 3\n")
    r = cli("build")
    assert r.returncode == 1 and "service app: build failed: Dockerfile:2: RUN:" in r.stderr
    assert "returned a non-zero code: 3" in r.stderr


def test_volumes_copy_up_volumes_from_and_restart_dependents(cli):
    cli.write("""\
        services:
          db:
            image: busybox:latest
            command: ["sleep", "3600"]
            volumes: ["data:/etc", "/cache"]
            environment: {VERSION: "1"}
          sidecar:
            image: busybox:latest
            command: ["sleep", "3600"]
            volumes_from: ["db:ro"]
            depends_on: {db: {condition: service_started, restart: true}}
        volumes:
          data:
        """)
    cli("up", "-d", check=True)
    # a new named volume mounted where the image has files gets those files
    assert cli("exec", "-T", "db", "cat", "/etc/passwd", check=True).stdout.startswith("root:x:0:0")
    cli("exec", "-T", "db", "sh", "-c", "echo shared > /etc/marker; echo anon > /cache/a", check=True)
    side = cli("exec", "-T", "sidecar", "sh", "-c", "cat /etc/marker /cache/a; touch /etc/x 2>/dev/null || echo ro")
    assert side.stdout.split() == ["shared", "anon", "ro"]
    cli.write((cli.dir / "compose.yaml").read_text().replace('VERSION: "1"', 'VERSION: "2"'))
    lines = cli("up", "-d", check=True).stderr.splitlines()
    assert " Container proj-db-1  Recreate" in lines and " Container proj-sidecar-1  Restarted" in lines


def test_run_is_interactive_on_a_terminal(cli):
    import pty
    import select

    cli.write("""\
        services:
          app:
            image: busybox:latest
        """)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "compose.cli.main", "run", "--rm", "app", "sh"], cwd=cli.dir,
                            env=cli.env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 30
    sent = False
    while proc.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
        if not sent and (b"#" in out or time.monotonic() > deadline - 25):
            os.write(master, b"echo inside-$((6*7)); tty; exit 7\n")
            sent = True
    proc.wait(10)
    os.close(master)
    text = out.decode(errors="replace")
    assert proc.returncode == 7, text
    assert "inside-42" in text and "/dev/pts/0" in text
    assert names(cli("ps", "-a", check=True).stdout) == []  # --rm
