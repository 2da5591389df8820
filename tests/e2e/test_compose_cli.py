"""The commands and flags of Docker Compose v2.40 that scripts use, end to end on real containers.

Expected shapes and values are Compose's at v2.40.3 (49b1c1e9): cmd/formatter/container.go and
pkg/compose/ps.go (ps JSON), cmd/compose/events.go (events JSON), cmd/compose/images.go, volumes.go,
attach.go, scale.go, export.go, commit.go, config.go; pkg/e2e/ps_test.go for the ports.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time

import pytest

from tests.e2e.test_commands import Cli, cli, names  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

APP = """\
    services:
      web:
        image: busybox:latest
        command: ["sh", "-c", "echo web up; trap 'exit 0' TERM; while true; do sleep 0.1; done"]
        ports: ["127.0.0.1:18601:8000"]
        expose: ["80", "443"]
        labels: {tier: front}
        depends_on:
          db: {condition: service_healthy}
      db:
        image: busybox:latest
        command: ["sh", "-c", "touch /ready; trap 'exit 0' TERM; while true; do sleep 0.1; done"]
        healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 0.2s, retries: 50}
        volumes: [data:/data]
    volumes:
      data:
    """


def test_ps_json_fields_and_values(cli: Cli) -> None:  # noqa: F811
    cli.write(APP)
    cli("up", "-d", check=True)
    rows = [json.loads(line) for line in cli("ps", "--format", "json", check=True).stdout.splitlines()]
    assert [r["Name"] for r in rows] == ["proj-db-1", "proj-web-1"]
    db, web = rows
    assert list(db) == ["Command", "CreatedAt", "ExitCode", "Health", "ID", "Image", "Labels", "LocalVolumes",
                        "Mounts", "Name", "Names", "Networks", "Ports", "Project", "Publishers", "RunningFor",
                        "Service", "Size", "State", "Status"]
    assert re.fullmatch(r"[0-9a-f]{12}", db["ID"]) and db["Image"] == "busybox:latest"
    assert (db["State"], db["Health"], db["ExitCode"], db["Size"]) == ("running", "healthy", 0, "0B")
    assert re.fullmatch(r"Up (Less than a second|\d+ seconds?) \(healthy\)", db["Status"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \w+", db["CreatedAt"])
    assert re.fullmatch(r"(Less than a second|\d+ seconds?) ago", db["RunningFor"])
    assert (db["Mounts"], db["LocalVolumes"], db["Networks"]) == ("proj_data", "1", "proj_default")
    # an argument with a space in single quotes, as Docker's container list joins it (recorded)
    assert db["Command"] == '"sh -c \'touch /ready…"' and db["Project"] == "proj" and db["Names"] == "proj-db-1"
    # published and exposed ports, as pkg/e2e/ps_test.go expects them
    assert web["Publishers"] == [
        {"URL": "", "TargetPort": 80, "PublishedPort": 0, "Protocol": "tcp"},
        {"URL": "", "TargetPort": 443, "PublishedPort": 0, "Protocol": "tcp"},
        {"URL": "127.0.0.1", "TargetPort": 8000, "PublishedPort": 18601, "Protocol": "tcp"}]
    assert web["Ports"] == "80/tcp, 443/tcp, 127.0.0.1:18601->8000/tcp"
    assert "tier=front" in web["Labels"].split(",") and web["Health"] == ""
    # Go templates, table, quiet, no-trunc
    assert cli("ps", "--format", '{{.Service}} {{.Label "tier"}}', check=True).stdout == "db \nweb front\n"
    table = cli("ps", "--format", "table {{.Name}}\t{{.State}}", check=True).stdout.splitlines()
    assert table == ["NAME         STATE", "proj-db-1    running", "proj-web-1   running"]
    ids = cli("ps", "-q", check=True).stdout.split()
    assert [len(i) for i in ids] == [64, 64]
    assert cli("ps", "--no-trunc", "--format", "{{.ID}}", check=True).stdout.split() == ids
    bad = cli("ps", "--format", "{{.Nope}}")
    assert bad.returncode == 1 and "can't evaluate field Nope" in bad.stderr
    cli("stop", "db", check=True)
    stopped = json.loads(cli("ps", "-a", "--format", "json", "db", check=True).stdout)
    assert (stopped["State"], stopped["ExitCode"], stopped["Health"]) == ("exited", 0, "")
    assert re.fullmatch(r"Exited \(0\) (Less than a second|\d+ seconds?) ago", stopped["Status"])


def test_events_json_from_a_stop_start_and_down(cli: Cli) -> None:  # noqa: F811
    cli.write(APP)
    cli("up", "-d", "--wait", "db", check=True)  # healthy before the watcher starts: its events are ours
    watcher = subprocess.Popen([sys.executable, "-m", "compose.cli.main", "events", "--json", "db"], cwd=cli.dir,
                               env=cli.env, stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    cli("stop", "db", check=True)
    cli("start", "db", check=True)
    time.sleep(1.5)  # long enough for its healthcheck to pass
    cli("pause", "db", check=True)
    cli("unpause", "db", check=True)
    cli("down", check=True)
    time.sleep(1)
    watcher.terminate()
    out, _ = watcher.communicate(10)
    events = [json.loads(line) for line in out.splitlines()]
    assert {tuple(e) for e in events} == {("action", "attributes", "id", "service", "time", "type")}
    assert {(e["type"], e["service"]) for e in events} == {("container", "db")}
    actions = [e["action"] for e in events]
    assert actions == ["kill", "die", "stop", "start", "health_status: healthy", "pause", "unpause", "kill",
                       "die", "stop", "destroy"], actions
    die = events[1]
    assert die["attributes"] == {"exitCode": "0", "image": "busybox:latest", "name": "proj-db-1"}
    assert events[0]["attributes"]["signal"] == "15"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", die["time"])
    assert len({e["id"] for e in events}) == 1 and len(events[0]["id"]) == 64


def test_events_text_and_since_until(cli: Cli) -> None:  # noqa: F811
    cli.write(APP)
    cli("up", "-d", "db", check=True)
    cli("stop", "db", check=True)
    time.sleep(2)  # --until 1s: up to a second ago
    out = cli("events", "--since", "10m", "--until", "1s", check=True, timeout=30).stdout
    lines = out.split("\n\n")
    assert lines[-1] == ""  # each event is followed by an empty line, as Compose prints them
    first = lines[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} container create [0-9a-f]{64} "
                        r"\(image=busybox:latest, name=proj-db-1\)", first), first
    assert [line.split()[3] for line in lines[:-1]] == ["create", "start", "die"]


def test_attach_follows_new_output_and_returns_the_exit_code(cli: Cli) -> None:  # noqa: F811
    cli.write("""\
        services:
          counter:
            image: busybox:latest
            command: ["sh", "-c", "echo old; sleep 2; echo new; exit 3"]
        """)
    cli("up", "-d", check=True)
    time.sleep(0.5)
    r = cli("attach", "counter")
    assert r.returncode == 3 and r.stdout == "new\n"
    r = cli("attach", "counter")
    assert r.returncode == 1 and "You cannot attach to a stopped container" in r.stderr


def test_scale_volumes_images(cli: Cli) -> None:  # noqa: F811
    cli.write(APP.replace('ports: ["127.0.0.1:18601:8000"]', "ports: []"))
    cli("up", "-d", check=True)
    r = cli("scale", "web=3", check=True)
    assert names(cli("ps", check=True).stdout) == ["proj-db-1", "proj-web-1", "proj-web-2", "proj-web-3"]
    assert " Container proj-web-3  Started" in r.stderr.splitlines()
    cli("scale", "web=1", check=True)
    assert names(cli("ps", check=True).stdout) == ["proj-db-1", "proj-web-1"]
    assert cli("scale", "web").returncode == 1
    assert cli("volumes", check=True).stdout == "DRIVER    VOLUME NAME\nlocal     proj_data\n"
    assert cli("volumes", "-q", "web", check=True).stdout == ""
    assert cli("volumes", "--format", "{{.Name}} {{.Scope}}", "db", check=True).stdout == "proj_data local\n"
    ids = cli("images", "-q", check=True).stdout.split()
    assert len(ids) == 1 and re.fullmatch(r"[0-9a-f]{64}", ids[0])  # one image, once, without sha256:
    table = cli("images", check=True).stdout.splitlines()
    assert table[0].split() == ["CONTAINER", "REPOSITORY", "TAG", "PLATFORM", "IMAGE", "ID", "SIZE", "CREATED"]
    assert table[1].split()[:4] == ["proj-db-1", "busybox", "latest", "linux/amd64"]
    listed = json.loads(cli("images", "--format", "json", check=True).stdout)
    assert [(i["ContainerName"], i["Repository"], i["Tag"]) for i in listed] == [
        ("proj-db-1", "busybox", "latest"), ("proj-web-1", "busybox", "latest")]
    assert listed[0]["ID"] == "sha256:" + ids[0]
    assert cli("images", "--format", "{{.ContainerName}}:{{.Tag}}", check=True).stdout == \
        "proj-db-1:latest\nproj-web-1:latest\n"


def test_export_and_commit(cli: Cli, tmp_path) -> None:  # noqa: F811
    cli.write("""\
        services:
          box:
            image: busybox:latest
            command: ["sh", "-c", "echo made > /made.txt; rm /etc/group; sleep 3600"]
            volumes: [data:/data]
        volumes:
          data:
        """)
    cli("up", "-d", check=True)
    time.sleep(0.5)
    cli("exec", "-T", "box", "sh", "-c", "echo in-volume > /data/v", check=True)
    out = tmp_path / "box.tar"
    r = cli("export", "-o", str(out), "box", check=True)
    assert " proj-box-1 export proj-box-1 to " + str(out) + " Exported" in r.stderr.splitlines()
    with tarfile.open(out) as tar:
        members = set(tar.getnames())
        assert tar.extractfile("made.txt").read() == b"made\n"
    assert "etc/passwd" in members and "etc/group" not in members  # the container's view: its deletions too
    assert not any(m.startswith("data/") for m in members)  # volumes are not part of it
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    piped = cli("export", "box", text=False, check=True).stdout
    assert "made.txt" in tarfile.open(fileobj=io.BytesIO(piped)).getnames()
    r = cli("commit", "-m", "snapshot", "-a", "me", "-c", "ENV COMMITTED=yes", "box", "snap:1", check=True)
    assert "Committed as sha256:" in r.stderr
    shown = cli("image", "ls", check=True).stdout
    assert "snap" in shown
    cli.write("""\
        services:
          again:
            image: snap:1
            command: ["sh", "-c", "cat /made.txt; echo $$COMMITTED"]
        """)
    r = cli("run", "--rm", "-T", "again", check=True)
    assert r.stdout.split() == ["made", "yes"]


def test_config_hash_matches_the_label_and_environment(cli: Cli) -> None:  # noqa: F811
    cli.write(APP)
    (cli.dir / ".env").write_text("FROM_DOTENV=1\n")
    hashes = dict(line.split() for line in cli("config", "--hash", "*", check=True).stdout.splitlines())
    assert sorted(hashes) == ["db", "web"]
    cli("up", "-d", check=True)
    label = cli("ps", "--format", '{{.Service}} {{.Label "com.docker.compose.config-hash"}}', check=True).stdout
    assert dict(line.split() for line in label.splitlines()) == hashes
    assert cli("config", "--hash", "web", check=True).stdout == f"web {hashes['web']}\n"
    env = cli("config", "--environment", check=True).stdout.splitlines()
    assert "FROM_DOTENV=1" in env and env == sorted(env)


def test_dry_run_changes_nothing(cli: Cli) -> None:  # noqa: F811
    cli.write(APP)
    r = cli("--dry-run", "up", "-d", check=True)
    lines = r.stderr.splitlines()
    assert " DRY-RUN MODE -  Network proj_default  Created" in lines
    assert " DRY-RUN MODE -  Volume proj_data  Created" in lines
    assert " DRY-RUN MODE -  Container proj-web-1  Started" in lines
    assert names(cli("ps", "-a", check=True).stdout) == [] and "proj_data" not in cli("volume", "ls").stdout
    r = cli("up", "--dry-run", check=True)  # attached: Compose's last line
    assert r.stdout.splitlines()[-1] == "end of 'compose up' output, interactive run is not supported in dry-run mode"
    cli("up", "-d", check=True)
    r = cli("down", "-v", "--dry-run", check=True)
    assert " DRY-RUN MODE -  Container proj-db-1  Removed" in r.stderr.splitlines()
    assert " DRY-RUN MODE -  Volume proj_data  Removed" in r.stderr.splitlines()
    cli("--dry-run", "stop", check=True)
    cli("--dry-run", "kill", check=True)
    cli("--dry-run", "rm", "-f", "-s", check=True)
    assert names(cli("ps", check=True).stdout) == ["proj-db-1", "proj-web-1"]
    cli.write(APP.replace("web up", "web changed"))
    r = cli("--dry-run", "up", "-d", check=True)
    assert " DRY-RUN MODE -  Container proj-web-1  Recreated" in r.stderr.splitlines()
    assert " DRY-RUN MODE -  Container proj-db-1  Running" in r.stderr.splitlines()


def test_progress_and_status_variables(cli: Cli) -> None:  # noqa: F811
    cli.write(APP)
    r = cli("up", "-d", env={"COMPOSE_STATUS_STDOUT": "1"}, check=True)
    assert " Container proj-db-1  Healthy" in r.stdout.splitlines() and r.stderr == ""
    r = cli("restart", "web", env={"COMPOSE_PROGRESS": "json"}, check=True)
    assert [json.loads(line) for line in r.stderr.splitlines()] == [
        {"id": "Container proj-web-1", "status": "Restarting"}, {"id": "Container proj-web-1", "status": "Started"}]
    assert cli("stop", env={"COMPOSE_PROGRESS": "quiet"}, check=True).stderr == ""
    r = cli("--parallel", "1", "start", check=True)
    assert r.stderr.splitlines()[-1] == " Container proj-web-1  Started"
    assert cli("ps", env={"COMPOSE_PARALLEL_LIMIT": "x"}).returncode == 1


def test_up_attach_flags_and_failure_abort(cli: Cli) -> None:  # noqa: F811
    cli.write("""\
        services:
          ok:
            image: busybox:latest
            command: ["sh", "-c", "echo ok says hi; sleep 2; echo ok done"]
          bad:
            image: busybox:latest
            command: ["sh", "-c", "echo bad says hi; sleep 0.5; exit 7"]
          quiet:
            image: busybox:latest
            command: ["sh", "-c", "echo quiet says hi; sleep 30"]
            attach: false
        """)
    r = cli("up", "--abort-on-container-failure", "--no-log-prefix", "--no-attach", "ok")
    assert r.returncode == 7
    out = r.stdout.splitlines()
    assert out[0] == "Attaching to bad-1"  # ok is --no-attach'ed, quiet has attach: false
    assert "bad says hi" in out and "bad-1 exited with code 7" in out and "ok says hi" not in out
    assert "Aborting on container exit..." in r.stderr.splitlines()
    cli("down", "-t", "0", check=True)
    r = cli("up", "--attach", "quiet", "--timestamps", "--abort-on-container-exit", "-t", "0")
    stamped = [line for line in r.stdout.splitlines() if "quiet says hi" in line]
    assert re.fullmatch(r"quiet-1  \| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z quiet says hi", stamped[0])
    assert r.returncode == 0  # ok exited first, with 0


def test_restart_dependents_unless_no_deps_and_logs_follow_prints_exits(cli: Cli) -> None:  # noqa: F811
    cli.write("""\
        services:
          db:
            image: busybox:latest
            command: ["sleep", "3600"]
          app:
            image: busybox:latest
            command: ["sh", "-c", "echo tick; sleep 3; exit 2"]
            depends_on: {db: {condition: service_started, restart: true}}
        """)
    cli("up", "-d", check=True)
    r = cli("restart", "db", check=True)
    assert " Container proj-app-1  Restarting" in r.stderr.splitlines()
    r = cli("restart", "--no-deps", "db", check=True)
    assert "proj-app-1" not in r.stderr
    cli("restart", "--no-deps", "app", check=True)  # running for 3 s: logs -f sees it end
    r = cli("logs", "-f", "app", check=True, timeout=60)
    assert r.stdout.splitlines()[-1] == "app-1 exited with code 2"
