"""Corpus of realistic compose projects checked against ``docker compose config --format json``.

Each folder under ``tests/corpus/`` is one project, run as ``tests/corpus_run.py`` describes
(``args``, ``cmd``, ``environ``), with an ``expected.json``: what Docker Compose v2.40 printed
for ``docker compose <args> config --format json <cmd>`` in that folder, with the folder's
absolute path replaced by ``${PROJECT_DIR}``.

The expected files are Compose's output, NOT pycompose's. To record them again, run
``python tests/test_corpus.py --record /path/to/docker-compose [NAME...]`` (a Docker Compose
v2.40 binary; see the README) and review the diff before committing.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus_run import PLACEHOLDER, environ, run_compose, run_pycompose  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "corpus"
REPO = CORPUS.parent.parent
MIN_PROJECTS = 30


def projects() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("."))


def _dump(data: Any) -> list[str]:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def diff(expected: Any, actual: Any) -> str:
    return "\n".join(difflib.unified_diff(
        _dump(expected), _dump(actual), "expected (docker compose)", "actual (pycompose)", lineterm="", n=3,
    ))


@pytest.mark.parametrize("folder", projects(), ids=lambda p: p.name)
def test_config_matches_compose(folder: Path) -> None:
    expected_file = folder / "expected.json"
    assert expected_file.is_file(), f"{folder.name}: expected.json is missing"
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    result = run_pycompose(folder)
    assert result.code == 0, f"{folder.name}: pycompose refused it\n{result.err}"
    actual = result.data()
    if actual != expected:
        pytest.fail(f"{folder.name}: config differs from Docker Compose's\n{diff(expected, actual)}", pytrace=False)


def test_the_command_line_prints_what_the_loader_gives() -> None:
    """The corpus runs the loader in-process; the CLI must print the very same JSON."""
    folder = CORPUS / "37-merge-rules-ci"
    env = {**environ(folder), "PYTHONPATH": str(REPO)}
    args = (folder / "args").read_text().split()
    proc = subprocess.run([sys.executable, "-m", "compose.cli.main", *args, "config", "--format", "json"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.replace(str(folder), PLACEHOLDER) == run_pycompose(folder).out


def test_corpus_is_large_enough() -> None:
    found = projects()
    assert len(found) >= MIN_PROJECTS, f"only {len(found)} corpus projects, want >= {MIN_PROJECTS}"
    for folder in found:
        assert (folder / "expected.json").is_file(), f"{folder.name}: expected.json is missing"


def record(binary: str, names: list[str]) -> int:
    """Write expected.json from a Docker Compose binary's output. Review the diff before committing."""
    wanted = [p for p in projects() if not names or p.name in names]
    unknown = set(names) - {p.name for p in wanted}
    if unknown:
        print(f"unknown project(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    status = 0
    for folder in wanted:
        result = run_compose(binary, folder)
        if result.code != 0:
            print(f"{folder.name}: Compose refused it, not rewritten\n{result.err}", file=sys.stderr)
            status = 1
            continue
        (folder / "expected.json").write_text(
            json.dumps(result.data(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{folder.name}: recorded")
    return status


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--record" and os.access(sys.argv[2], os.X_OK):
        sys.exit(record(sys.argv[2], sys.argv[3:]))
    print(f"usage: python {sys.argv[0]} --record DOCKER_COMPOSE_BINARY [PROJECT...]", file=sys.stderr)
    sys.exit(2)
