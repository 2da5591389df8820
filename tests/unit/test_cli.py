"""The command line as a user runs it: a subprocess, its output and its exit code."""

import json
import os
import re
import subprocess
import sys

import pytest

COMPOSE = "services:\n  web:\n    image: nginx\n    profiles: [front]\n  db:\n    image: postgres\n    volumes: [data:/var/lib/postgresql]\nvolumes:\n  data: {}\nnetworks:\n  back: {}\n"


def run(args, cwd, stdin=None, env=None):
    environ = {"PATH": os.environ["PATH"], "HOME": "/home/tester", "PYCOMPOSE_NO_CACHE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "compose.cli.main", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, env=environ)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    return tmp_path


def test_version():
    r = run(["version"], cwd=".")
    assert r.returncode == 0 and r.stdout.startswith("pycompose version v")
    assert run(["version", "--short"], cwd=".").stdout.strip().count(".") == 2


@pytest.mark.parametrize("flag,out", [
    ("--services", "db\n"),
    ("--volumes", "data\n"),
    ("--networks", "default\n"),  # "back" is used by no service: Compose leaves it out
    ("--profiles", "front\n"),
    ("--images", "postgres\n"),
])
def test_config_listings(project, flag, out):
    r = run(["config", flag], cwd=project)
    assert (r.returncode, r.stdout) == (0, out)


def test_config_profile_flag_and_named_service(project):
    assert run(["--profile", "front", "config", "--services"], cwd=project).stdout == "db\nweb\n"
    assert run(["config", "--services", "web"], cwd=project).stdout == "web\n"


def test_config_json_and_yaml_agree(project):
    import yaml

    as_json = json.loads(run(["config", "--format", "json"], cwd=project).stdout)
    as_yaml = yaml.safe_load(run(["config"], cwd=project).stdout)
    # Compose's JSON also prints Go struct fields that YAML omits when empty
    for svc in as_json["services"].values():
        assert svc.pop("command") is None and svc.pop("entrypoint") is None
    assert as_json["networks"]["default"].pop("ipam") == {}
    assert as_json == as_yaml
    assert as_json["name"] == project.name.lower().replace("_", "_")
    assert as_json["volumes"]["data"]["name"].endswith("_data")


def test_config_quiet_and_output_file(project):
    r = run(["config", "-q"], cwd=project)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    out = project / "out.yaml"
    assert run(["config", "-o", str(out)], cwd=project).returncode == 0
    assert "postgres" in out.read_text()


def test_output_to_a_missing_folder_is_a_clear_error(project):
    r = run(["config", "-o", "/nonexistent/dir/out.yaml"], cwd=project)
    assert (r.returncode, r.stderr) == (1, "cannot write /nonexistent/dir/out.yaml: No such file or directory\n")


def test_stdin_file(tmp_path):
    r = run(["-f", "-", "-p", "fromstdin", "config", "--format", "json"], cwd=tmp_path, stdin=COMPOSE)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "fromstdin"


def test_bad_file_exit_code_and_message_on_stderr(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: x\n    workdir: /a\n")
    r = run(["config"], cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == 'compose.yaml:4:5: services.web.workdir: unknown key "workdir" (did you mean "working_dir"?)\n'


def test_warning_goes_to_stderr(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx:${NOPE}\n")
    r = run(["config", "-q"], cwd=tmp_path)
    assert r.returncode == 0
    # logrus' text form, as Docker Compose writes a warning to a pipe
    assert re.fullmatch(r'time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=warning '
                        r'msg="The \\"NOPE\\" variable is not set. Defaulting to a blank string."\n', r.stderr), r.stderr


def test_unknown_format_is_a_usage_error(project):
    r = run(["config", "--format", "toml"], cwd=project)
    assert r.returncode == 1 and "toml" in r.stderr  # Compose exits 1 on bad usage too


def test_project_name_flag_validated(project):
    r = run(["-p", "Bad Name", "config"], cwd=project)
    assert r.returncode == 1 and 'invalid project name "Bad Name"' in r.stderr


def test_env_file_and_project_directory_flags(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "compose.yaml").write_text("services:\n  web:\n    image: nginx:${TAG}\n")
    (tmp_path / "custom.env").write_text("TAG=custom\n")
    r = run(["--project-directory", "app", "-f", "app/compose.yaml", "--env-file", "custom.env",
             "config", "--images"], cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "nginx:custom\n"), r.stderr


@pytest.mark.parametrize("argv,command", [
    (["up", "-d"], "up"),
    (["-f", "a.yml", "-p", "x", "--profile", "dev", "ps", "-a"], "ps"),
    (["--ansi", "never", "--progress", "plain", "logs"], "logs"),
    (["--help"], None),
    ([], None),
])
def test_command_is_found_past_the_global_options(argv, command):
    from compose.cli.main import command_of

    assert command_of(argv) == command


def test_help_lists_every_command():
    out = run(["--help"], cwd=".").stdout
    for name in ("up", "down", "ps", "logs", "exec", "run", "build", "pull", "config", "image", "network", "volume"):
        assert f"  {name}" in out


def test_a_bug_is_one_line_not_a_traceback(monkeypatch, capsys):
    import pytest

    from compose.cli import main

    def broken(argv):
        raise KeyError("boom")

    monkeypatch.setattr(main, "register", broken)
    monkeypatch.delenv("PYCOMPOSE_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main.run(["ps"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == "pycompose: internal error: KeyError: 'boom' (PYCOMPOSE_DEBUG=1 shows where)\n"


@pytest.mark.parametrize("value,expected", [
    ("2026-11-29T11:39:27Z", 1795952367.0),
    ("2026-11-29T12:39:27+01:00", 1795952367.0),
    ("2026-11-29T11:39:27.123456789Z", 1795952367.123456),
    ("2026-11-29", 1795910400.0),
    ("1795952367", 1795952367.0),
    ("1795952367.5", 1795952367.5),
    ("10m", 1795952367.0 - 600),
    ("1h30m", 1795952367.0 - 5400),
])
def test_logs_since_and_until_values(value, expected):
    from compose.deploy.logs import since

    assert since(value, now=1795952367.0) == pytest.approx(expected, abs=1e-6)


def test_logs_since_refuses_what_it_cannot_read():
    from compose.deploy.logs import since
    from compose.errors import UsageError

    with pytest.raises(UsageError, match='^invalid time "yesterday": use a Unix timestamp'):
        since("yesterday")


WARNED = COMPOSE.replace("image: postgres", "image: postgres:${PG_TAG}")


@pytest.mark.parametrize("args", [
    ["config"], ["config", "--format", "json"], ["config", "--services"], ["config", "--images"],
    ["config", "db"], ["config", "-q"], ["config", "ghost"], ["--profile", "front", "config", "--profiles"],
    ["config", "--no-interpolate"], ["config", "--hash", "*"],
])
def test_config_from_a_warm_cache_prints_what_a_load_prints(tmp_path, args):
    (tmp_path / "compose.yaml").write_text(WARNED)
    cached = {"PYCOMPOSE_NO_CACHE": "", "PYCOMPOSE_CACHE_DIR": str(tmp_path / "cache")}
    fresh = run(args, cwd=tmp_path)
    # logrus' text form on a pipe, as Compose writes it
    assert 'level=warning msg="The \\"PG_TAG\\" variable is not set.' in fresh.stderr or "--no-interpolate" in args
    for _ in range(2):  # the first fills the cache, the second reads it
        again = run(args, cwd=tmp_path, env=cached)
        untimed = [re.sub(r'^time="[^"]+" ', "", r.stderr, flags=re.M) for r in (again, fresh)]  # the second may tick
        assert (again.returncode, again.stdout, untimed[0]) == (fresh.returncode, fresh.stdout, untimed[1])
    (tmp_path / "compose.yaml").write_text(WARNED.replace("nginx", "httpd"))
    changed = run(args, cwd=tmp_path, env=cached)
    assert (changed.returncode, changed.stdout) == (run(args, cwd=tmp_path).returncode, run(args, cwd=tmp_path).stdout)


def _modules(args, cwd, env):
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('networkx', 'jsonschema', 'pyroute2', 'yaml', 'rich') or m in ('compose.config.model', "
            "'compose.config.loader', 'engine.images.store'))), file=sys.stderr))\n"
            f"sys.argv = ['pycompose', *{args!r}]\n"
            "from compose.cli.main import run\nrun()\n")
    environ = {"PATH": os.environ["PATH"], "HOME": "/home/tester", **env}
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, env=environ)
    assert done.returncode == 0, done.stderr
    return done.stderr.strip().split()


def test_lean_start_version_and_config_from_a_warm_cache_import_no_heavy_module(project):
    """The no-op commands stay fast: what they must not import (issue 16)."""
    env = {"PYCOMPOSE_CACHE_DIR": str(project / "cache")}
    assert _modules(["version"], project, env) == []
    assert "compose.config.loader" in _modules(["config", "-q"], project, env)  # fills the cache
    assert _modules(["config", "-q"], project, env) == []  # from the cache: no YAML, no model
    assert "compose.config.model" in _modules(["config"], project, env)  # the project from the cache, rendered
    assert _modules(["config"], project, env) == []  # the text from the cache
    # a cold load reads YAML, builds the model, and still needs neither jsonschema nor networkx
    cold = _modules(["config"], project, {"PYCOMPOSE_NO_CACHE": "1"})
    assert "compose.config.model" in cold and "yaml" in cold
    assert [m for m in cold if m.split(".")[0] in ("networkx", "jsonschema", "pyroute2", "rich")] == []


@pytest.mark.parametrize("args", [["version"], ["version", "--short"], ["version", "--format", "json"],
                                  ["version", "-f", "pretty"], ["version", "--format=json"], ["version", "-f", "xml"],
                                  ["version", "--short", "--format", "json"], ["--help"]])
def test_the_console_script_answers_version_as_the_typer_command_does(args):
    code = ("import sys\n"
            f"sys.argv = ['pycompose', *{args!r}]\n"
            "import atexit\n"
            "atexit.register(lambda: print('typer' in sys.modules, file=sys.stderr))\n"
            "from compose.cli.entry import run\nrun()\n")
    environ = {"PATH": os.environ["PATH"], "HOME": "/home/tester"}
    script = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ)
    typer_cmd = run(args, cwd=".")
    assert (script.returncode, script.stdout) == (typer_cmd.returncode, typer_cmd.stdout)
    fast = args in (["version"], ["version", "--short"], ["version", "--format", "json"], ["version", "-f", "pretty"],
                    ["version", "--format=json"])
    assert script.stderr.strip().endswith(str(not fast))  # typer imported only when needed


@pytest.mark.parametrize("args,said", [
    (["ps", "--nope"], "unknown flag: --nope"), (["ps", "--nope=1"], "unknown flag: --nope"),
    (["ps", "-z"], "unknown shorthand flag: 'z' in -z"), (["up", "-zd"], "unknown shorthand flag: 'z' in -zd"),
    (["up", "-dz"], "unknown shorthand flag: 'z' in -dz"),
])
def test_unknown_flags_in_cobras_words(tmp_path, args, said):
    """As recorded from Docker Compose v2.40.3 (tests/fixtures/compose_recorded/errors.txt): one line, exit 1."""
    r = run(args, cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", said + "\n")
