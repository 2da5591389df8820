"""pycompose next to what Docker Compose v2.40.3 printed for the same projects (tests/fixtures/compose_recorded).

The projects are run again with pycompose in the same states. What must be the same is compared literally
(names, states, status words, exit codes, health, commands, ports, the labels Compose sets, the order and
attributes of events); what cannot be (ids, times, durations, sizes) is compared by its shape. The few
differences left are named where they are skipped, and listed in README's deliberate differences.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.test_commands import Cli, cli  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "compose_recorded"
DURATION = r"(Less than a second|1 second|\d+ seconds|About a minute|\d+ minutes)"
SHAPES = {
    "ID": r"[0-9a-f]{12}",
    "CreatedAt": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \w+",
    "RunningFor": DURATION + " ago",
}
SAME = ("Command", "ExitCode", "Health", "Image", "LocalVolumes", "Mounts", "Name", "Names", "Networks", "Ports",
        "Project", "Publishers", "Service", "Size", "State")
# the labels whose values are the same in both (the others: paths, hash, version and image checked below)
SAME_LABELS = ("com.docker.compose.project", "com.docker.compose.service", "com.docker.compose.container-number",
               "com.docker.compose.depends_on", "com.docker.compose.oneoff", "tier")


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


def rows(text: str) -> dict[str, dict]:
    return {r["Name"]: r for r in (json.loads(line) for line in text.splitlines() if line.strip())}


def durations_out(text: str) -> str:
    return re.sub(DURATION, "<duration>", text)


def labels_of(row: dict) -> dict[str, str]:
    return dict(item.split("=", 1) for item in row["Labels"].split(","))


def assert_like(ours: dict, theirs: dict, folder: Path) -> None:
    """One ``ps --format json`` row of ours against the recorded one of the same container in the same state."""
    assert list(ours) == list(theirs)
    assert {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in theirs.items()}
    assert {k: ours[k] for k in SAME} == {k: theirs[k] for k in SAME}
    assert durations_out(ours["Status"]) == durations_out(theirs["Status"]), (ours["Status"], theirs["Status"])
    for key, shape in SHAPES.items():
        assert re.fullmatch(shape, ours[key]) and re.fullmatch(shape, theirs[key]), (key, ours[key], theirs[key])
    mine, docker = labels_of(ours), labels_of(theirs)
    assert sorted(mine) == sorted(docker)
    assert {k: mine[k] for k in SAME_LABELS if k in docker} == {k: docker[k] for k in SAME_LABELS if k in docker}
    assert mine["com.docker.compose.project.working_dir"] == str(folder)
    assert mine["com.docker.compose.project.config_files"] == str(folder / "compose.yaml")
    assert re.fullmatch(r"[0-9a-f]{64}", mine["com.docker.compose.config-hash"])
    assert docker["com.docker.compose.version"] == "2.40.3"  # ours: pycompose's version (README)
    assert docker["com.docker.compose.image"].startswith("sha256:")  # ours: the image's name (README)


def table_cells(text: str, names: list[str]) -> list[list[str]]:
    """The table's header and the rows of ``names``, split into cells, durations left out."""
    lines = text.splitlines()
    keep = [lines[0]] + [line for line in lines[1:] if line.split()[0] in names]
    return [[durations_out(cell) for cell in re.split(r"\s{2,}", line.rstrip())] for line in keep]


def settle(cli: Cli, want: dict[str, str]) -> tuple[dict[str, dict], str]:  # noqa: F811
    """``ps -a --format json`` and ``ls --format json`` at a moment the containers are in the ``want``ed states
    (the restarting one is up between two restarts now and then, as Docker's is)."""
    for _ in range(60):
        got = rows(cli("ps", "-a", "--format", "json", check=True).stdout)
        listed = cli("ls", "--format", "json", check=True).stdout
        again = rows(cli("ps", "-a", "--format", "json", "again", check=True).stdout)["proj-again-1"]
        if all(got[f"proj-{s}-1"]["State"] == state for s, state in want.items()) and \
                got["proj-healthy-1"]["Health"] == "healthy" and again["State"] == "restarting":
            return got, listed
        time.sleep(0.3)
    raise AssertionError(f"never in the recorded states: {got}")


def until_restarting(read: Callable[[], str]) -> str:
    """What ``read`` prints at a moment the restarting container is between two restarts."""
    for _ in range(60):
        text = read()
        if "estarting" in text:
            return text
        time.sleep(0.3)
    raise AssertionError(f"never restarting: {text}")


def test_ps_ls_images_as_recorded(cli: Cli) -> None:  # noqa: F811
    cli.write(recorded("states.compose.yaml"))
    cli("up", "-d", "up", "fail", "paused", "healthy", "starting", "web", "again", check=True)
    cli("create", "made", check=True)
    cli("pause", "paused", check=True)
    want = {"up": "running", "fail": "exited", "paused": "paused", "healthy": "running", "starting": "running",
            "web": "running", "again": "restarting", "made": "created"}
    ours, listed = settle(cli, want)
    theirs = rows(recorded("ps-a.jsonl"))  # the first run: all but made
    assert sorted(ours) == sorted([*theirs, "proj-made-1"])
    for name, row in theirs.items():
        assert_like(ours[name], row, cli.dir)
    # ls counts what runs (created and exited containers only with -a)
    assert json.loads(listed) == [{**json.loads(recorded("ls.json"))[0], "ConfigFiles": str(cli.dir / "compose.yaml")}]
    # the tables: same header, same cells (durations aside)
    names = list(theirs)
    for args, fixture in ((("ps", "-a"), "ps-a.txt"), (("ps",), "ps.txt")):
        table = until_restarting(lambda args=args: cli(*args, check=True).stdout)
        assert table_cells(table, names) == table_cells(recorded(fixture), names)
    # images: the same keys and types, a row per container, the same names
    images = json.loads(cli("images", "--format", "json", check=True).stdout)
    docker_images = json.loads(recorded("images.json"))
    assert {tuple(i) for i in images} == {tuple(i) for i in docker_images}
    assert {k: type(v) for k, v in images[0].items()} == {k: type(v) for k, v in docker_images[0].items()}
    assert sorted(i["ContainerName"] for i in images) == sorted([*(i["ContainerName"] for i in docker_images),
                                                                 "proj-made-1"])
    for image in images:
        assert (image["Repository"], image["Tag"], image["Platform"]) == ("busybox", "latest", "linux/amd64")
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", image["ID"]) and image["Size"] > 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", image["LastTagTime"])

    # the second run: a created container, and one killed (no ports any more)
    cli("kill", "-s", "KILL", "web", check=True)
    ours = rows(cli("ps", "-a", "--format", "json", "made", "web", check=True).stdout)
    for name, row in rows(recorded("ps-created-killed.jsonl")).items():
        assert_like(ours[name], row, cli.dir)
    listed = until_restarting(lambda: cli("ls", "-a", "--format", "json", check=True).stdout)
    assert json.loads(listed) == [{**json.loads(recorded("ls-a.json"))[0],
                                   "ConfigFiles": str(cli.dir / "compose.yaml")}]
    second = recorded("ps-a-second-run.txt")
    assert table_cells(cli("ps", "-a", check=True).stdout, ["proj-made-1", "proj-web-1"]) == \
        table_cells(second, ["proj-made-1", "proj-web-1"])


def test_events_json_as_recorded(cli: Cli) -> None:  # noqa: F811
    cli.write(recorded("events.compose.yaml"))
    watcher = subprocess.Popen([sys.executable, "-m", "compose.cli.main", "events", "--json"], cwd=cli.dir,
                               env=cli.env, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        cli("up", "-d", "db", check=True)
        time.sleep(2.5)
        cli("stop", "db", check=True)
        cli("start", "db", check=True)
        time.sleep(2.5)
        for step in (("pause", "db"), ("unpause", "db"), ("kill", "db"), ("rm", "-f", "db"), ("up", "-d", "job")):
            cli(*step, check=True)
        time.sleep(1)
        cli("down", check=True)
        time.sleep(1)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(10)
    ours = [json.loads(line) for line in out.splitlines()]
    theirs = [json.loads(line) for line in recorded("events.jsonl").splitlines()]
    assert [(e["service"], e["action"]) for e in ours] == [(e["service"], e["action"]) for e in theirs]
    assert [list(e) for e in ours] == [list(e) for e in theirs]
    assert [e["attributes"] for e in ours] == [e["attributes"] for e in theirs]  # image, name, signal, exitCode
    for e in ours + theirs:
        assert e["type"] == "container" and re.fullmatch(r"[0-9a-f]{64}", e["id"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z", e["time"]), e["time"]
    # Docker also tells each healthcheck run as exec_create/exec_start/exec_die; ours runs checks without an
    # exec and tells only health_status (README)
    assert {json.loads(line)["action"] for line in recorded("events-healthcheck-exec.jsonl").splitlines()} == \
        {"exec_create: true ", "exec_start: true ", "exec_die"}


def recorded_errors() -> list[tuple[str, str, int]]:
    """(args, output, exit code) of each command in errors.txt."""
    out = []
    for block in recorded("errors.txt").split("== docker compose ")[1:]:
        head, *lines = block.splitlines()
        *text, rc = lines
        out.append((head, "\n".join(text), int(rc.removeprefix("rc="))))
    return out


def test_errors_and_version_as_recorded(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    cli.write(recorded("states.compose.yaml"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    checked = []
    for head, text, code in recorded_errors():
        in_project = head.endswith("(in the project folder)")
        args = head.split("(")[0].split() if in_project else head.split()
        r = subprocess.run([sys.executable, "-m", "compose.cli.main", *args], cwd=cli.dir if in_project else elsewhere,
                           env=cli.env, capture_output=True, text=True, timeout=120)
        mine = (r.stdout + r.stderr).strip()
        assert r.returncode == code, (head, r.returncode, mine)
        if args == ["nosuchcmd"]:
            assert "No such command 'nosuchcmd'" in mine  # Docker: unknown docker command: "compose nosuchcmd"
        elif args == ["ps", "nosuchsvc"]:
            assert mine.startswith(text)  # ours adds where it looked
        elif args == ["version", "--short"]:
            assert re.fullmatch(r"\d+\.\d+\.\d+", mine) and re.fullmatch(r"\d+\.\d+\.\d+", text)
        elif "level=warning" in text:
            assert re.sub(r'time="[^"]+"', "", mine) == re.sub(r'time="[^"]+"', "", text)
        else:
            assert mine == text, head
        checked.append(head)
    assert len(checked) == 11
    version = cli("version", check=True).stdout.strip()
    assert re.fullmatch(r"\S+ version v\d+\.\d+\.\d+", version)
    assert re.fullmatch(r"\S+ (\S+ )?version v\d+\.\d+\.\d+", recorded("version.txt").strip())
    assert list(json.loads(cli("version", "--format", "json", check=True).stdout)) == ["version"]


def test_published_ports_as_recorded(cli: Cli) -> None:  # noqa: F811
    cli.write(recorded("ports.compose.yaml"))
    cli("up", "-d", check=True)
    ours = json.loads(cli("ps", "--format", "json", check=True).stdout)
    theirs = json.loads(recorded("ps-ports.json"))
    # Docker publishes on IPv6 too ("::", "[::]:18612->8000/tcp"); pycompose has no IPv6 yet (README)
    assert ours["Publishers"] == [p for p in theirs["Publishers"] if p["URL"] != "::"]
    assert ours["Ports"] == ", ".join(p for p in theirs["Ports"].split(", ") if not p.startswith("[::]"))
    port = cli("port", "open", "8000", check=True).stdout + \
        cli("port", "--protocol", "udp", "open", "9000", check=True).stdout
    assert port == recorded("port.txt")


def test_events_text_as_recorded(cli: Cli) -> None:  # noqa: F811
    cli.write(recorded("events.compose.yaml"))
    watcher = subprocess.Popen([sys.executable, "-m", "compose.cli.main", "events"], cwd=cli.dir, env=cli.env,
                               stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        cli("up", "-d", "job", check=True)
        time.sleep(1)
        cli("down", check=True)
        time.sleep(1)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(10)
    line = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}) container (\w+) ([0-9a-f]{64}) \((.*)\)")

    def parsed(text: str) -> list[tuple[str, set[str]]]:
        blocks = text.split("\n\n")
        assert blocks[-1] == ""  # each event, then an empty line
        matches = [line.fullmatch(b) for b in blocks[:-1]]
        assert all(matches), blocks
        # Go's attributes come in a random order, ours sorted
        return [(m[2], set(m[4].split(", "))) for m in matches if m]

    assert parsed(out) == parsed(recorded("events.txt"))
