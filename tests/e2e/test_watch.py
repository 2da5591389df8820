"""``watch`` and ``up --watch`` on real containers: every action, patterns, bursts, saves by rename,
containers stopped or replaced meanwhile, and Ctrl-C."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_commands import Cli, cli  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A root filesystem holding one static binary and nothing else (no shell, tar or rm)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (apt-get install gcc libc6-dev)")
    out = tmp_path_factory.mktemp("probe") / "probe"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(HERE / "watchprobe.c")], check=True, timeout=120)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(out), arcname="probe")
    return buf.getvalue()


class Watching:
    """A ``watch`` (or ``up --watch``) running in the background, its output collected line by line."""

    def __init__(self, cli: Cli, *args: str) -> None:  # noqa: F811
        self.cli = cli
        self.proc = subprocess.Popen([sys.executable, "-m", "compose.cli.main", *args], cwd=cli.dir, env=cli.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [threading.Thread(target=self._read, args=(s, into), daemon=True)
                        for s, into in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self.readers:
            t.start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 60, count: int = 1) -> list[str]:
        """The output lines matching ``pattern`` once there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in list(self.out) if re.search(pattern, line)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline or self.proc.poll() is not None:
                time.sleep(0.2)
                raise AssertionError(f"no {count} x {pattern!r} in:\n" + "\n".join(self.out) + "\n--- stderr\n"
                                     + "\n".join(self.err))
            time.sleep(0.02)

    def interrupt(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=timeout)
        for t in self.readers:
            t.join(timeout=10)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def watching(cli: Cli) -> Iterator[list[Watching]]:  # noqa: F811
    started: list[Watching] = []
    yield started
    for w in started:
        w.close()


def start(cli: Cli, started: list[Watching], *args: str) -> Watching:  # noqa: F811
    w = Watching(cli, *args)
    started.append(w)
    w.wait_for("^Watch enabled$", timeout=120)
    return w


def show(cli: Cli, service: str, *paths: str) -> list[str]:  # noqa: F811
    """What the probe image sees at ``paths`` (its own ``show``: owner, mode, content)."""
    return cli("exec", "-T", service, "/probe", "show", *paths).stdout.splitlines()


def until(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


PROBE = """\
    services:
      web:
        image: probe:latest
        user: "1000:1000"
        develop:
          watch:
            - path: ./src
              action: sync
              target: /srv/app
              ignore: ["*.log", "build/"]
            - path: ./conf
              action: sync
              target: /srv/conf
              include: ["*.conf"]
    """


def test_sync_into_an_image_with_no_shell(cli: Cli, watching: list[Watching], probe: bytes) -> None:  # noqa: F811
    assert cli("image", "import", "-", "probe:latest", "--change", 'CMD ["/probe"]', input=probe,
               text=False).returncode == 0
    cli.write(PROBE)
    write(cli.dir / "src" / "keep.txt", "kept\n")
    (cli.dir / "conf").mkdir()
    w = start(cli, watching, "watch")
    assert "probe started" not in w.out  # watch shows what the containers print from now on

    write(cli.dir / "src" / "index.html", "<h1>one</h1>\n")
    os.chmod(cli.dir / "src" / "index.html", 0o640)
    w.wait_for(r"^web: synced 1 file \(\d+ ms\)$")
    assert show(cli, "web", "/srv/app/index.html") == ["/srv/app/index.html 1000:1000 640 <h1>one</h1>"]

    new = cli.dir / "src" / "new" / "deep"
    new.mkdir(parents=True)
    write(new / "x.txt", "deep\n")
    write(cli.dir / "src" / "debug.log", "ignored\n")
    write(cli.dir / "src" / "build" / "out.bin", "ignored\n")
    write(cli.dir / "conf" / "app.conf", "a=1\n")
    write(cli.dir / "conf" / "notes.txt", "not included\n")
    assert until(lambda: show(cli, "web", "/srv/app/new/deep/x.txt")[0].endswith(" deep"))
    assert until(lambda: show(cli, "web", "/srv/conf/app.conf")[0].endswith(" a=1"))
    time.sleep(0.5)
    assert show(cli, "web", "/srv/app/new", "/srv/app/new/deep/x.txt", "/srv/app/debug.log", "/srv/app/build",
                "/srv/conf/app.conf", "/srv/conf/notes.txt") == [
        "/srv/app/new 1000:1000 755 dir", "/srv/app/new/deep/x.txt 1000:1000 644 deep",
        "/srv/app/debug.log missing", "/srv/app/build missing", "/srv/conf/app.conf 1000:1000 644 a=1",
        "/srv/conf/notes.txt missing"]

    (cli.dir / "src" / "index.html").unlink()
    shutil.rmtree(cli.dir / "src" / "new")
    assert until(lambda: show(cli, "web", "/srv/app/index.html", "/srv/app/new") == [
        "/srv/app/index.html missing", "/srv/app/new missing"])
    w.wait_for(r"^web: removed \d+ files? \(\d+ ms\)$")
    assert w.interrupt() == 0
    assert w.out[-1] == "Watch disabled"
    assert not any("Traceback" in line for line in w.err)


BUSYBOX = """\
    services:
      web:
        image: busybox:latest
        command: ["sh", "-c", "echo started $$(cat /etc/app/mode 2>/dev/null); while true; do sleep 0.1; done"]
        develop:
          watch:
            - path: ./conf
              action: sync+restart
              target: /etc/app
            - path: ./hooks
              action: sync+exec
              target: /hooks
              exec:
                command: ["sh", "-c", "echo ran as $$(id -u) in $$PWD with $$GREETING; ls /hooks; exit 3"]
                user: "1000"
                working_dir: /hooks
                environment: {GREETING: hello}
    """


def test_sync_restart_and_sync_exec(cli: Cli, watching: list[Watching]) -> None:  # noqa: F811
    cli.write(BUSYBOX)
    (cli.dir / "conf").mkdir()
    (cli.dir / "hooks").mkdir()
    w = start(cli, watching, "watch")

    write(cli.dir / "conf" / "mode", "debug\n")
    w.wait_for(r"^web: restarted \(")
    assert w.wait_for(r"^web-1  \| started debug$")
    assert sum(1 for line in w.out if re.match(r"^web: synced 1 file \(", line)) == 1

    write(cli.dir / "hooks" / "a.sh", "echo a\n")
    w.wait_for(r"^web: exec sh -c .*: exit code 3 \(")
    assert "web-1  | ran as 1000 in /hooks with hello" in w.out
    assert "web-1  | a.sh" in w.out
    assert w.interrupt() == 0


def test_a_burst_is_one_sync_and_one_restart_and_a_save_by_rename_is_one_file(
        cli: Cli, watching: list[Watching]) -> None:  # noqa: F811
    cli.write(BUSYBOX)
    (cli.dir / "conf").mkdir()
    (cli.dir / "hooks").mkdir()
    w = start(cli, watching, "watch")

    for i in range(2000):  # as a `git checkout` writes them
        write(cli.dir / "conf" / f"d{i // 100}" / f"f{i}.txt", f"{i}\n")
    w.wait_for(r"^web: restarted \(", timeout=120)
    time.sleep(2)
    syncs = [line for line in w.out if line.startswith("web: synced")]
    assert len(syncs) == 1 and syncs[0].startswith("web: synced 2000 files (")
    assert sum(1 for line in w.out if line.startswith("web: restarted")) == 1
    out = cli("exec", "web", "sh", "-c", "find /etc/app -type f | wc -l; cat /etc/app/d19/f1999.txt").stdout
    assert out.split() == ["2000", "1999"]

    # an editor's save: the new content written beside the file, then renamed over it
    before = len(w.out)
    temp = cli.dir / "conf" / ".mode.swp"
    temp.write_text("saved\n")
    os.rename(temp, cli.dir / "conf" / "mode")
    w.wait_for(r"^web: restarted \(", count=2)
    assert [line for line in w.out[before:] if line.startswith("web: synced")][0].startswith("web: synced 1 file (")
    assert cli("exec", "web", "sh", "-c", "cat /etc/app/mode; ls -a /etc/app | grep -c swp").stdout.split() == [
        "saved", "0"]
    assert w.interrupt() == 0


REBUILD = """\
    services:
      api:
        build: ./api
        develop:
          watch:
            - path: ./api
              action: rebuild
      web:
        image: busybox:latest
        command: ["sleep", "3600"]
        depends_on: [api]
    """


def _rows(cli: Cli, *args: str) -> list[dict[str, str]]:  # noqa: F811
    return [json.loads(line) for line in cli("ps", "--format", "json", *args, check=True).stdout.splitlines()]


def _image_id(cli: Cli, ref: str) -> str:  # noqa: F811
    return str(json.loads(cli("image", "inspect", ref, check=True).stdout)[0]["Id"])


def _ids(cli: Cli) -> dict[str, str]:  # noqa: F811
    return {r["Service"]: r["ID"] for r in _rows(cli)}


def test_rebuild_recreates_only_that_service(cli: Cli, watching: list[Watching]) -> None:  # noqa: F811
    cli.write(REBUILD)
    write(cli.dir / "api" / "Dockerfile", 'FROM busybox:latest\nCOPY version /version\nCMD ["sleep", "3600"]\n')
    write(cli.dir / "api" / "version", "v1\n")
    write(cli.dir / "api" / ".dockerignore", "*.md\n")
    w = start(cli, watching, "watch", "--quiet")
    before = _ids(cli)
    old = _image_id(cli, "proj-api")

    write(cli.dir / "api" / "NOTES.md", "ignored by .dockerignore\n")
    write(cli.dir / "api" / "version", "v2\n")
    w.wait_for(r"^api: recreated \(\d")
    assert w.out.count("api: rebuilding…") == 1
    after = _ids(cli)
    assert after["web"] == before["web"] and after["api"] != before["api"]
    assert cli("exec", "api", "cat", "/version").stdout == "v2\n"
    assert cli("image", "inspect", old).returncode == 1  # the image it replaced is gone: --prune is the default

    write(cli.dir / "api" / "Dockerfile", 'FROM busybox:latest\nRUN exit 7\n')
    line = w.wait_for(r"^api: rebuild failed")[0]
    assert "the running container is kept" in line and "exit 7" in line
    assert _ids(cli) == after
    assert w.interrupt() == 0
    assert set(_ids(cli)) == {"api", "web"}


def test_no_prune_keeps_the_replaced_image_and_a_change_during_a_rebuild_is_not_lost(
        cli: Cli, watching: list[Watching]) -> None:  # noqa: F811
    cli.write(REBUILD)
    write(cli.dir / "api" / "Dockerfile", 'FROM busybox:latest\nCOPY version /version\nRUN sleep 2\n'
                                           'CMD ["sleep", "3600"]\n')
    write(cli.dir / "api" / "version", "v1\n")
    cli("up", "-d", "--build", check=True)
    old = _image_id(cli, "proj-api")
    w = start(cli, watching, "watch", "--no-up", "--no-prune", "--quiet")
    assert not any("Started" in line for line in w.err)  # --no-up: nothing brought up

    write(cli.dir / "api" / "version", "v2\n")
    w.wait_for("^api: rebuilding…$")
    write(cli.dir / "api" / "version", "v3\n")  # while the RUN step sleeps
    w.wait_for(r"^api: recreated \(", count=2, timeout=120)
    assert cli("exec", "api", "cat", "/version").stdout == "v3\n"
    assert cli("image", "inspect", old).returncode == 0  # the image it replaced is kept
    assert w.interrupt() == 0


def test_files_changed_while_stopped_or_before_a_recreate_are_synced_when_it_runs(
        cli: Cli, watching: list[Watching]) -> None:  # noqa: F811
    cli.write("""\
        services:
          web:
            image: busybox:latest
            command: ["sleep", "3600"]
            volumes: [data:/app/data]
            develop:
              watch:
                - path: ./src
                  action: sync
                  target: /app
        volumes:
          data:
        """)
    write(cli.dir / "src" / "a.txt", "one\n")
    w = start(cli, watching, "watch")
    write(cli.dir / "src" / "a.txt", "two\n")
    w.wait_for(r"^web: synced 1 file")
    write(cli.dir / "src" / "data" / "v.txt", "in the volume\n")  # /app/data is the volume, as the container sees it
    volume = Path(cli.root) / "volumes" / "proj_data" / "_data" / "v.txt"
    assert until(lambda: volume.exists() and volume.read_text() == "in the volume\n")

    cli("stop", "-t", "0", "web", check=True)
    write(cli.dir / "src" / "a.txt", "three\n")
    write(cli.dir / "src" / "b.txt", "new\n")
    time.sleep(1)
    cli("start", "web", check=True)
    assert until(lambda: cli("exec", "web", "cat", "/app/a.txt", "/app/b.txt").stdout == "three\nnew\n")

    cli("up", "-d", "--force-recreate", "web", check=True)  # a new container: the image's files
    assert until(lambda: cli("exec", "web", "cat", "/app/a.txt", "/app/b.txt").stdout == "three\nnew\n")
    assert w.interrupt() == 0


def _ours(root: str) -> list[str]:
    """Processes other than supervisors and netd that run on the test's state root."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"PYCOMPOSE_ROOT={root}".encode() in environ and "compose.cli.main" in cmdline:
            found.append(f"{pid} {cmdline}")
    return found


def test_ctrl_c_leaves_the_stack_running_and_nothing_else(cli: Cli, watching: list[Watching]) -> None:  # noqa: F811
    cli.write(BUSYBOX)
    (cli.dir / "conf").mkdir()
    (cli.dir / "hooks").mkdir()
    w = start(cli, watching, "watch")
    for i in range(300):
        write(cli.dir / "conf" / f"f{i}", "x\n")
    w.wait_for(r"^web: restarted")
    assert w.interrupt() == 0
    assert w.out[-1] == "Watch disabled" and not any("Traceback" in line for line in w.err)
    assert [(r["Name"], r["State"]) for r in _rows(cli)] == [("proj-web-1", "running")]
    assert _ours(cli.root) == []
    leftovers = cli("exec", "web", "sh", "-c", "find / -xdev -name '*pycompose-sync*' | wc -l").stdout
    assert leftovers.strip() == "0"


def test_up_watch_syncs_beside_the_logs_and_ctrl_c_stops_the_stack(
        cli: Cli, watching: list[Watching]) -> None:  # noqa: F811
    cli.write(BUSYBOX)
    (cli.dir / "conf").mkdir()
    (cli.dir / "hooks").mkdir()
    refused = cli("up", "-d", "--watch")
    assert refused.returncode == 1 and "--detach cannot be combined with" in refused.stderr
    w = start(cli, watching, "up", "--watch")
    w.wait_for(r"^web-1  \| started$")  # attached up shows the output from the start
    write(cli.dir / "conf" / "mode", "live\n")
    w.wait_for(r"^web-1  \| started live$")
    assert w.interrupt() == 0
    assert "Gracefully stopping... (press Ctrl+C again to force)" in w.err
    assert [(r["Name"], r["State"]) for r in _rows(cli, "-a")] == [("proj-web-1", "exited")]


def test_watch_refuses_a_project_without_watch_rules(cli: Cli) -> None:  # noqa: F811
    cli.write("""\
        services:
          web:
            image: busybox:latest
            command: ["sleep", "3600"]
        """)
    r = cli("watch", "--no-up")
    assert (r.returncode, r.stderr) == (1, "none of the selected services is configured for watch, consider "
                                           "setting a 'develop' section\n")
