"""Corpus of realistic compose projects checked against ``docker compose config --format json``.

Each folder under ``tests/corpus/`` is one project. Besides its compose files it may hold:

- ``args``: extra global CLI arguments placed before ``config`` (one line, split with shlex);
- ``cmd``: arguments placed after ``config`` (e.g. a service name);
- ``environ``: ``KEY=VALUE`` lines added to the shell environment of the run;
- ``expected.json``: what Docker Compose v2 prints for
  ``docker compose <args> config --format json <cmd>`` run in that folder, with the folder's
  absolute path replaced by ``${PROJECT_DIR}``.

The expected files were written from Compose's output and reviewed by hand; they are NOT
pycompose's output. ``python tests/test_corpus.py --regen [NAME...]`` rewrites them from
pycompose's current output: do that only for a project whose output you have read and checked
against Docker Compose, never blindly.
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parent / "corpus"
REPO = CORPUS.parent.parent
PLACEHOLDER = "${PROJECT_DIR}"
HOME = "/home/tester"
MIN_PROJECTS = 30


def projects() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read(folder: Path, name: str) -> str:
    path = folder / name
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _environ(folder: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": HOME,
        "PYCOMPOSE_NO_CACHE": "1",
    }
    for line in _read(folder, "environ").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{folder.name}/environ: not KEY=VALUE: {line!r}")
        env[key.strip()] = value
    return env


def _command(folder: Path) -> list[str]:
    args = shlex.split(_read(folder, "args").strip())
    cmd = shlex.split(_read(folder, "cmd").strip())
    return [sys.executable, "-m", "compose.cli.main", *args, "config", "--format", "json", *cmd]


def run_config(folder: Path) -> tuple[int, str, str]:
    """Run ``pycompose config --format json`` for one corpus project."""
    env = _environ(folder)
    env["PYTHONPATH"] = str(REPO)  # import this checkout's compose package
    proc = subprocess.run(
        _command(folder), cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout.replace(str(folder), PLACEHOLDER)
    return proc.returncode, out, proc.stderr


def _dump(data: Any) -> list[str]:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def _diff(expected: Any, actual: Any) -> str:
    return "\n".join(difflib.unified_diff(
        _dump(expected), _dump(actual), "expected (docker compose)", "actual (pycompose)", lineterm="", n=3,
    ))


@pytest.mark.parametrize("folder", projects(), ids=lambda p: p.name)
def test_config_matches_compose(folder: Path) -> None:
    expected_file = folder / "expected.json"
    assert expected_file.is_file(), f"{folder.name}: expected.json is missing"
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    code, out, err = run_config(folder)
    assert code == 0, f"{folder.name}: pycompose exited {code}\n--- stderr ---\n{err}"
    try:
        actual = json.loads(out)
    except json.JSONDecodeError as exc:
        pytest.fail(f"{folder.name}: output is not JSON ({exc})\n--- stdout ---\n{out}\n--- stderr ---\n{err}")
    if actual != expected:
        pytest.fail(f"{folder.name}: config differs from Docker Compose's\n{_diff(expected, actual)}", pytrace=False)


def test_corpus_is_large_enough() -> None:
    found = projects()
    assert len(found) >= MIN_PROJECTS, f"only {len(found)} corpus projects, want >= {MIN_PROJECTS}"
    for folder in found:
        assert (folder / "expected.json").is_file(), f"{folder.name}: expected.json is missing"


def regen(names: list[str]) -> int:
    """Rewrite expected.json from pycompose's output. Read every result before keeping it."""
    wanted = [p for p in projects() if not names or p.name in names]
    unknown = set(names) - {p.name for p in wanted}
    if unknown:
        print(f"unknown project(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    status = 0
    for folder in wanted:
        code, out, err = run_config(folder)
        if code != 0:
            print(f"{folder.name}: pycompose exited {code}, not rewritten\n{err}", file=sys.stderr)
            status = 1
            continue
        data = json.loads(out)
        (folder / "expected.json").write_text(
            json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{folder.name}: rewritten (review it against Docker Compose before committing)")
    return status


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--regen":
        sys.exit(regen(sys.argv[2:]))
    print(f"usage: python {sys.argv[0]} --regen [PROJECT...]", file=sys.stderr)
    sys.exit(2)
