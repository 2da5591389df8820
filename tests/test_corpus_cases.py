"""Small compose projects, one pattern each, checked against ``docker compose config --format json``.

Each case of ``corpus_cases.yaml`` is the forms real-world compose files use (app stores,
self-hosted apps, Compose's own fixtures) reduced to one project of a few lines:

    - name: volume-empty-source           # unique, used as the folder name too
      why: ${UNSET}:/data is an empty source, which Compose refuses
      service: |                         # keys added to `services: app: {image: example/app:1}`
        volumes: ["${UNSET}:/data"]
      top: |                             # top-level keys appended after services
        volumes: {data: {}}
      compose: |                         # or a whole compose.yaml instead of service/top
        services: ...
      files: {.env: "A=1\\n"}            # other files of the project
      args: -p demo                      # global arguments, as in tests/corpus (also cmd)
      environ: {A: "1"}                  # the shell environment besides PATH and HOME

``corpus_cases.expected.json`` holds what Docker Compose v2.40 answered for each case:
``{"accepted": true, "config": ...}`` or ``{"accepted": false}``. pycompose must print the same
JSON, or refuse the same projects. The file is written only from Compose's output:
``python tests/test_corpus_cases.py --record /path/to/docker-compose [NAME...]``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus_run import run_compose, run_pycompose  # noqa: E402
from test_corpus import diff  # noqa: E402

HERE = Path(__file__).resolve().parent
CASES = HERE / "corpus_cases.yaml"
EXPECTED = HERE / "corpus_cases.expected.json"
IMAGE = "example/app:1"


def cases() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    return list(loaded)


def compose_text(case: dict[str, Any]) -> str:
    if "compose" in case:
        return str(case["compose"])
    service = "".join(f"    {line}\n" for line in str(case.get("service", "")).splitlines())
    return f"services:\n  app:\n    image: {IMAGE}\n{service}{case.get('top', '')}"


def materialize(case: dict[str, Any], root: Path) -> Path:
    """The case as a project folder (named after the case) under ``root``."""
    folder = root / case["name"]
    folder.mkdir(parents=True)
    (folder / "compose.yaml").write_text(compose_text(case), encoding="utf-8")
    for name, text in (case.get("files") or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for key in ("args", "cmd"):
        if case.get(key):
            (folder / key).write_text(str(case[key]) + "\n", encoding="utf-8")
    if case.get("environ"):
        (folder / "environ").write_text("".join(f"{k}={v}\n" for k, v in case["environ"].items()), encoding="utf-8")
    return folder


def expected() -> dict[str, Any]:
    return dict(json.loads(EXPECTED.read_text(encoding="utf-8"))) if EXPECTED.is_file() else {}


_CASES = cases()
_EXPECTED = expected()


def test_cases_have_unique_names_and_answers() -> None:
    names = [c["name"] for c in _CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert sorted(_EXPECTED) == sorted(names), "corpus_cases.expected.json does not answer every case (record it)"


@pytest.mark.parametrize("case", _CASES, ids=lambda c: c["name"])
def test_case_matches_compose(case: dict[str, Any], tmp_path: Path) -> None:
    want = _EXPECTED[case["name"]]
    result = run_pycompose(materialize(case, tmp_path))
    if not want["accepted"]:
        assert result.code != 0, f"{case['name']}: Compose refuses it ({case.get('why', '')}), pycompose accepted it"
        assert result.err.strip() and "Traceback" not in result.err, f"{case['name']}: refused without a message"
        return
    assert result.code == 0, f"{case['name']}: Compose accepts it, pycompose refused it:\n{result.err}"
    actual = result.data()
    if actual != want["config"]:
        pytest.fail(f"{case['name']}: config differs from Docker Compose's\n{diff(want['config'], actual)}",
                    pytrace=False)


def record(binary: str, names: list[str]) -> int:
    """Write Compose's answers for the named cases (all when none) into corpus_cases.expected.json."""
    answers = expected()
    wanted = [c for c in _CASES if not names or c["name"] in names]
    with tempfile.TemporaryDirectory() as tmp:
        for case in wanted:
            result = run_compose(binary, materialize(case, Path(tmp)))
            answers[case["name"]] = {"accepted": True, "config": result.data()} if result.code == 0 \
                else {"accepted": False}
            print(f"{case['name']}: {'accepted' if result.code == 0 else 'refused: ' + result.err.strip()[-160:]}")
    known = {c["name"] for c in _CASES}
    ordered = {name: answers[name] for name in sorted(answers) if name in known}
    EXPECTED.write_text(json.dumps(ordered, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--record" and os.access(sys.argv[2], os.X_OK):
        sys.exit(record(sys.argv[2], sys.argv[3:]))
    print(f"usage: python {sys.argv[0]} --record DOCKER_COMPOSE_BINARY [NAME...]", file=sys.stderr)
    sys.exit(2)
