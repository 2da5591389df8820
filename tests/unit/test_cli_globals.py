"""Global options and the COMPOSE_* variables, exit codes, help text, events and variables formats.

Rules from Docker Compose v2.40.3 (49b1c1e9): cmd/compose/compose.go (ansi, progress, parallel, .env's
COMPOSE_* variables), cmd/compose/events.go with pkg/api/api.go (event formats), compose-go v2.9.1
template/variables.go (config --variables).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from compose.cli.context import GlobalOptions
from compose.cli.main import COMMANDS, normalize
from compose.errors import UsageError


def opts(tmp_path, monkeypatch, env=None, **kw):
    monkeypatch.chdir(tmp_path)
    return GlobalOptions(environ=dict(env or {}), **kw)


@pytest.mark.parametrize("ansi,progress,env,mode", [
    (None, None, {}, "auto"),
    ("never", None, {}, "plain"),
    ("always", None, {}, "tty"),
    (None, None, {"COMPOSE_ANSI": "never"}, "plain"),
    ("always", None, {"COMPOSE_ANSI": "never"}, "tty"),  # the option wins over the variable
    (None, None, {"COMPOSE_PROGRESS": "json"}, "json"),
    (None, "quiet", {"COMPOSE_PROGRESS": "json"}, "quiet"),
    (None, "none", {}, "quiet"),
    (None, "tty", {}, "tty"),
    (None, "plain", {"COMPOSE_ANSI": "auto"}, "plain"),
])
def test_progress_mode(tmp_path, monkeypatch, ansi, progress, env, mode):
    assert opts(tmp_path, monkeypatch, env, ansi=ansi, progress=progress).progress_mode == mode


@pytest.mark.parametrize("ansi,progress,env,message", [
    ("never", "tty", {}, "can't use --progress tty while ANSI support is disabled"),
    ("always", "plain", {}, "can't use --progress plain while ANSI support is forced"),
    (None, "fancy", {}, 'unsupported --progress value "fancy"'),
    ("sometimes", None, {}, 'invalid --ansi value "sometimes"'),
    (None, None, {"COMPOSE_PARALLEL_LIMIT": "many"}, 'COMPOSE_PARALLEL_LIMIT must be an integer (found: "many")'),
])
def test_conflicting_modes_are_refused(tmp_path, monkeypatch, ansi, progress, env, message):
    with pytest.raises(UsageError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        opts(tmp_path, monkeypatch, env, ansi=ansi, progress=progress)


def test_compose_variables_come_from_the_dotenv_file_unless_the_shell_sets_them(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("COMPOSE_PROGRESS=json\nCOMPOSE_PARALLEL_LIMIT=3\nOTHER=1\n")
    o = opts(tmp_path, monkeypatch, {"COMPOSE_PARALLEL_LIMIT": "5"})
    assert (o.progress_mode, o.parallel, "OTHER" in o.environ) == ("json", 5, False)
    o = opts(tmp_path, monkeypatch, {"COMPOSE_DISABLE_ENV_FILE": "true"})
    assert (o.progress_mode, o.parallel) == ("auto", None)
    (tmp_path / "other.env").write_text("COMPOSE_ANSI=never\n")
    assert opts(tmp_path, monkeypatch, {"COMPOSE_ENV_FILES": "other.env"}).progress_mode == "plain"


def test_status_stdout_and_no_color(tmp_path, monkeypatch):
    o = opts(tmp_path, monkeypatch, {"COMPOSE_STATUS_STDOUT": "1", "NO_COLOR": "1"}, ansi="always")
    assert o.status_stream() is sys.stdout and o.log_color() is False
    assert o.progress_writer().color is False
    o = opts(tmp_path, monkeypatch, {}, ansi="always")
    assert o.status_stream() is sys.stderr and o.log_color() is True and o.progress_writer().mode == "tty"


@pytest.mark.parametrize("argv,expected", [
    (["up", "--dry-run", "-d"], ["--dry-run", "up", "-d"]),
    (["-p", "x", "down", "--dry-run"], ["-p", "x", "--dry-run", "down"]),
    (["--dry-run", "up", "--dry-run"], ["--dry-run", "up"]),
    (["run", "web", "echo", "--dry-run"], ["run", "web", "echo", "--dry-run"]),  # the command's own argument
    (["run", "-e", "A=1", "--dry-run", "web"], ["--dry-run", "run", "-e", "A=1", "web"]),
    (["exec", "web", "sh", "--", "--dry-run"], ["exec", "web", "sh", "--", "--dry-run"]),
    (["ps", "--orphans=false"], ["ps", "--no-orphans"]),
    (["attach", "--sig-proxy=false", "web"], ["attach", "--no-sig-proxy", "web"]),
    (["commit", "--pause=true", "web"], ["commit", "--pause", "web"]),
])
def test_normalize(argv, expected):
    assert normalize(argv) == expected


def cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "compose.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=60)


@pytest.mark.parametrize("args", [("--bogus", "ps"), ("bogus",), ("ps", "--bogus"), ("up", "--scale")])
def test_usage_errors_exit_1(tmp_path, args):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.strip() and "Traceback" not in r.stderr


@pytest.mark.parametrize("command", ["watch", "publish", "bridge", "alpha"])
def test_commands_pycompose_refuses_say_so(tmp_path, command):
    r = cli(command, cwd=tmp_path)
    assert r.returncode == 1 and "pycompose" in r.stderr and len(r.stderr.splitlines()) == 1


def test_no_help_text_has_escaped_brackets_and_defaults_read_as_dockers(tmp_path):
    names = sorted(set(COMMANDS) - {"image", "network", "volume"}) + ["version"]
    for name in names:
        r = cli(name, "--help", cwd=tmp_path)
        assert r.returncode == 0, (name, r.stderr)
        assert "\\[" not in r.stdout and "[default:" not in r.stdout, name
    assert '(default "policy")' in " ".join(cli("up", "--help").stdout.split())
    assert "(default true)" in " ".join(cli("ps", "--help").stdout.split())


def test_every_compose_command_has_help(tmp_path):
    listed = cli("--help", cwd=tmp_path).stdout
    for name in ("attach", "commit", "events", "export", "scale", "volumes", "top", "wait", "cp", "stats"):
        assert f"\n  {name} " in listed, name


def test_event_formats(monkeypatch):
    import time

    from compose.cli.events_cmd import json_line, rfc3339nano, text_line
    from compose.deploy.events import Event

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    e = Event(1_795_967_601_123_456_789, "db", "b4a580b2" * 8, "die",
              {"name": "demo-db-1", "image": "postgres:16", "exitCode": "0"})
    # pkg/api/api.go Event.String ("2006-01-02 15:04:05.000000 container ACTION ID (k=v, ...)\n") + Println
    assert text_line(e) == ("2026-11-29 15:53:21.123456 container die " + "b4a580b2" * 8
                            + " (exitCode=0, image=postgres:16, name=demo-db-1)\n\n")
    # cmd/compose/events.go: a map, so keys sorted; time.Time as RFC 3339 with nanoseconds
    assert json.loads(json_line(e)) == {"action": "die", "attributes": {"exitCode": "0", "image": "postgres:16",
                                                                       "name": "demo-db-1"},
                                        "id": "b4a580b2" * 8, "service": "db",
                                        "time": "2026-11-29T15:53:21.123456789Z", "type": "container"}
    assert list(json.loads(json_line(e))) == ["action", "attributes", "id", "service", "time", "type"]
    assert rfc3339nano(1_795_967_601_000_000_000) == "2026-11-29T15:53:21Z"  # trailing zeros dropped
    assert rfc3339nano(1_795_967_601_500_000_000) == "2026-11-29T15:53:21.5Z"


@pytest.mark.parametrize("text,expected", [
    # compose-go v2.9.1 template/variables.go, as pkg/e2e/config_test.go at v2.40.3 shows for ${PORT:-8080}
    ("${PORT:-8080}:80", {"PORT": ("8080", "", False)}),
    ("${TAG:?needed}", {"TAG": ("", "", True)}),
    ("${TAG?}", {"TAG": ("", "", True)}),
    ("${ALT:+yes} ${ALT2+no}", {"ALT": ("", "yes", False), "ALT2": ("", "no", False)}),
    ("$$NOT $PLAIN", {"PLAIN": ("", "", False)}),
    ("${OUTER:-${INNER:-x}}", {"OUTER": ("${INNER:-x}", "", False), "INNER": ("x", "", False)}),
    ("${1BAD} ${}", {}),
])
def test_variables(text, expected):
    from compose.config.variables import extract

    got = extract({"services": {"web": {"image": text}}})
    assert {k: (v.default_value, v.presence_value, v.required) for k, v in got.items()} == expected
