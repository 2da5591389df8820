"""Commands that need only a project name work from any folder with -p NAME, as with Docker Compose."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from tests.e2e.test_commands import SLEEPERS, Cli, cli, names  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def elsewhere(c: Cli, *args: str, check: bool = False, env: dict[str, str] | None = None):
    """``pycompose ARGS`` from a folder without any compose file."""
    import subprocess
    import sys

    folder = c.dir.parent / "elsewhere"
    folder.mkdir(exist_ok=True)
    r = subprocess.run([sys.executable, "-m", "compose.cli.main", *args], cwd=folder, env={**c.env, **(env or {})},
                       capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, f"{args}: {r.stderr}"
    return r


def test_ps_logs_exec_stop_down_by_name_with_the_files_gone(cli: Cli) -> None:  # noqa: F811
    cli.write(SLEEPERS)
    cli("up", "-d", check=True)
    shutil.move(str(cli.dir / "compose.yaml"), str(cli.dir.parent / "moved.yaml"))  # labels only from now on
    assert names(elsewhere(cli, "-p", "proj", "ps", check=True).stdout) == ["proj-db-1", "proj-web-1"]
    assert "web up" in elsewhere(cli, "-p", "proj", "logs", "web", check=True).stdout
    assert elsewhere(cli, "-p", "proj", "exec", "-T", "db", "echo", "hi", check=True).stdout == "hi\n"
    r = elsewhere(cli, "stop", check=True, env={"COMPOSE_PROJECT_NAME": "proj"})
    stopping = [line.split()[1] for line in r.stderr.splitlines() if line.endswith("Stopping")]
    assert stopping == ["proj-web-1", "proj-db-1"]  # dependents first, from the recorded depends_on
    r = elsewhere(cli, "-p", "proj", "down", check=True)
    assert " Network proj_default  Removed" in r.stderr.splitlines()
    assert os.listdir(os.path.join(cli.root, "containers")) == []


def test_by_name_with_the_files_still_there_uses_them(cli: Cli) -> None:  # noqa: F811
    cli.write(SLEEPERS.rstrip(" ") + "      extra:\n        image: busybox:latest\n        profiles: [later]\n")
    cli("up", "-d", check=True)
    assert elsewhere(cli, "-p", "proj", "ps", "--services", check=True).stdout.split() == ["db", "web"]
    assert elsewhere(cli, "-p", "proj", "--profile", "later", "stop", "extra").returncode == 0  # known from the file
    shutil.move(str(cli.dir / "compose.yaml"), str(cli.dir.parent / "moved.yaml"))
    r = elsewhere(cli, "-p", "proj", "stop", "extra")
    assert r.returncode == 1 and r.stderr.strip() == "no such service: extra"  # labels know only what ran
    shutil.move(str(cli.dir.parent / "moved.yaml"), str(cli.dir / "compose.yaml"))  # for the fixture's down


def test_down_of_an_unknown_project_warns_and_succeeds(cli: Cli) -> None:  # noqa: F811
    r = elsewhere(cli, "-p", "nothing-here", "down")
    assert r.returncode == 0
    # as recorded from Docker Compose v2.40.3 writing to a pipe (tests/fixtures/compose_recorded/errors.txt)
    assert re.fullmatch(r'time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=warning '
                        r'msg="Warning: No resource found to remove for project \\"nothing-here\\"."',
                        r.stderr.strip()), r.stderr
    r = elsewhere(cli, "ps")  # no name and no file: still the error it was
    assert r.returncode == 1 and r.stderr.startswith("no configuration file provided")


def test_an_unknown_project_or_service_in_composes_words(cli: Cli) -> None:  # noqa: F811
    # pkg/compose/containers.go getSpecifiedContainer, start.go projectFromName, kill.go (v2.40.3)
    for args in (("exec", "-T", "db", "true"), ("port", "db", "80"), ("export", "db"), ("commit", "db"),
                 ("cp", "db:/etc/hostname", "-"), ("attach", "db")):
        r = elsewhere(cli, "-p", "nothing-here", *args)
        assert (r.returncode, r.stderr) == (1, 'service "db" is not running\n'), args
    r = elsewhere(cli, "-p", "nothing-here", "start")
    assert (r.returncode, r.stderr) == (1, 'no container found for project "nothing-here": not found\n')
    r = elsewhere(cli, "-p", "nothing-here", "kill")
    assert (r.returncode, r.stderr) == (0, "no container to kill\n")
    cli.write(SLEEPERS)  # with the file: nothing created yet
    r = cli("start")
    assert (r.returncode, r.stderr) == (1, 'service "db" has no container to start\n')
    r = cli("exec", "-T", "db", "true")
    assert (r.returncode, r.stderr) == (1, 'service "db" is not running\n')
    cli("up", "-d", "db", check=True)
    r = cli("exec", "-T", "--index", "2", "db", "true")
    assert (r.returncode, r.stderr) == (1, 'service "db" is not running container #2\n')
