"""Compose projects through ``convert``: every manifest validates, every refusal is the expected one.

Each folder under ``tests/kube_corpus/`` is one small project written for this test in the shapes real
stacks have (web + database, queues with workers, a reverse proxy, internal networks, healthcheck chains,
one-shot migrations, secrets and configs, shared volumes, profiles, extends and include, and the host
paths and Docker socket that must be refused), with the files it binds or reads. Real-world projects stay
out of the repository: ``bench/kube_corpus.py`` runs the same checks on a folder of them. Besides the
compose file, the files it reads and its ``.env``, a folder may hold:

- ``args``: ``--profile NAME`` options (one line);
- ``expected.txt``: the warnings and errors ``convert`` gives, one a line, the folder written ``${PROJECT_DIR}``.
  A project whose lines include an ``error`` is one of the documented refusals (README, "Kubernetes").

``python tests/test_kube_corpus.py --regen [NAME...]`` rewrites expected.txt: read every line before keeping it.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from compose.config.api import environment, load  # noqa: E402
from compose.config.options import LoadOptions  # noqa: E402
from compose.kube import Conversion, ConvertOptions, convert  # noqa: E402
from compose.kube.sources import Disk  # noqa: E402
from tests.kube_support import ENVIRON, validate  # noqa: E402

CORPUS = REPO / "tests" / "kube_corpus"
PLACEHOLDER = "${PROJECT_DIR}"
MIN_PROJECTS = 20
NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")


def projects() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.is_dir())


def run(folder: Path) -> tuple[Conversion, list[str]]:
    compose = next(folder / n for n in NAMES if (folder / n).is_file())
    args = shlex.split((folder / "args").read_text()) if (folder / "args").is_file() else []
    profiles = tuple(args[i + 1] for i, a in enumerate(args) if a == "--profile")
    options = LoadOptions(files=(str(compose),), cwd=str(folder), profiles=profiles)
    project = load(options, ENVIRON).project
    # secrets and configs from `environment:` see the project's .env, as `convert` on the command line does
    environ = environment(options, ENVIRON, project.working_dir, project.name)
    result = convert(project, ConvertOptions(), Disk(environ))
    lines = [("error " if d.error else "warning ") + str(d).replace(str(folder), PLACEHOLDER)
             for d in result.diagnostics]
    return result, lines


@pytest.mark.parametrize("folder", projects(), ids=lambda p: p.name)
def test_project_converts_to_valid_manifests(folder: Path) -> None:
    result, lines = run(folder)
    expected = (folder / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert lines == expected
    problems = [p for o in result.objects for p in validate(o)]
    assert not problems, "\n".join(problems)
    if not result.errors:  # a converted project has its workloads and the Services that name them
        workloads = [o for o in result.objects if o["kind"] in ("Deployment", "StatefulSet", "Job")]
        assert len(workloads) == len({o["metadata"]["annotations"]["com.docker.compose.service"]
                                      for o in workloads}) > 0


def test_corpus_is_large_enough() -> None:
    found = projects()
    assert len(found) >= MIN_PROJECTS, f"only {len(found)} projects, want >= {MIN_PROJECTS}"


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--regen":
        for folder in projects():
            if len(sys.argv) == 2 or folder.name in sys.argv[2:]:
                result, lines = run(folder)
                (folder / "expected.txt").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
                print(f"{folder.name}: {len(result.objects)} objects, {len(result.errors)} errors, "
                      f"{len(result.warnings)} warnings")
        sys.exit(0)
    print(f"usage: python {sys.argv[0]} --regen [PROJECT...]", file=sys.stderr)
    sys.exit(2)
