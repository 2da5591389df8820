"""Run ``config --format json`` on one corpus folder: pycompose in-process, or a Docker Compose binary.

A corpus folder is one project. Besides its compose files it may hold:

- ``args``: global CLI arguments placed before ``config`` (one line, split with shlex);
- ``cmd``: arguments placed after ``config`` (service names);
- ``environ``: ``KEY=VALUE`` lines, the whole shell environment of the run besides PATH and HOME.

Both runners see the same environment and replace the folder's absolute path in their output
with ``${PROJECT_DIR}``. pycompose runs in this process (the loader takes its working directory
and environment as values), which keeps a corpus of hundreds of projects fast.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compose.config.options import LoadOptions

PLACEHOLDER = "${PROJECT_DIR}"
HOME = "/home/tester"
PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Result:
    code: int  # 0 when the project was accepted
    out: str  # the JSON printed, with the folder's path replaced
    err: str

    def data(self) -> object:
        return json.loads(self.out)


def _read(folder: Path, name: str) -> str:
    path = folder / name
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def environ(folder: Path) -> dict[str, str]:
    env = {"PATH": PATH, "HOME": HOME, "PYCOMPOSE_NO_CACHE": "1"}
    for line in _read(folder, "environ").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{folder.name}/environ: not KEY=VALUE: {line!r}")
        env[key.strip()] = value
    return env


def arguments(folder: Path) -> tuple[list[str], list[str]]:
    """The global arguments and the ``config`` arguments of a folder's run."""
    return shlex.split(_read(folder, "args").strip()), shlex.split(_read(folder, "cmd").strip())


def _options(folder: Path, args: list[str], services: list[str]) -> LoadOptions:
    from compose.config.options import LoadOptions

    kw: dict[str, Any] = {}
    lists: dict[str, list[str]] = {"files": [], "profiles": [], "env_files": []}
    names = {"-f": "files", "--file": "files", "--profile": "profiles", "--env-file": "env_files",
             "-p": "project_name", "--project-name": "project_name",
             "--project-directory": "project_directory"}
    i = 0
    while i < len(args):
        name = names.get(args[i])
        if name is None or i + 1 >= len(args):
            raise ValueError(f"{folder.name}/args: unsupported argument {args[i]!r}")
        if name in lists:
            lists[name].append(args[i + 1])
        else:
            kw[name] = args[i + 1]
        i += 2
    return LoadOptions(files=tuple(lists["files"]), profiles=tuple(lists["profiles"]),
                       env_files=tuple(lists["env_files"]), services=tuple(services),
                       cwd=str(folder), **kw)


def run_pycompose(folder: Path) -> Result:
    """``pycompose config --format json`` for ``folder``, in this process."""
    from compose.config.loader import load_project
    from compose.config.render import project_dict, to_json
    from compose.errors import ComposeError

    args, services = arguments(folder)
    try:
        project = load_project(_options(folder, args, services), environ(folder)).project
        if services:
            unknown = [s for s in services if s not in project.services]
            if unknown:
                return Result(1, "", "no such service: " + ", ".join(unknown))
            keep = project.select(services)
            project = replace(project, services={k: v for k, v in project.services.items() if k in keep})
        out = to_json(project_dict(project, as_json=True))
    except ComposeError as exc:
        return Result(1, "", str(exc))
    return Result(0, out.replace(str(folder), PLACEHOLDER), "")


def run_compose(binary: str, folder: Path, timeout: float = 60) -> Result:
    """``docker compose config --format json`` for ``folder``, with a Docker Compose binary."""
    args, services = arguments(folder)
    env = environ(folder)
    del env["PYCOMPOSE_NO_CACHE"]
    try:
        proc = subprocess.run([binary, *args, "config", "--format", "json", *services], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Result(-1, "", "timed out")
    here = str(folder)
    return Result(proc.returncode, proc.stdout.replace(here, PLACEHOLDER), proc.stderr.replace(here, PLACEHOLDER))


def first_difference(expected: object, actual: object, path: str = "") -> str | None:
    """Where two JSON values first differ, as ``.services.web.ports[0].protocol: "UDP" != "udp"``."""
    def show(v: object) -> str:
        return json.dumps(v, ensure_ascii=False)[:160]

    if type(expected) is not type(actual):
        return f"{path}: {show(expected)} != {show(actual)}"
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                return f"{path}.{key}: only in Compose's: {show(expected[key])}"
            if key not in expected:
                return f"{path}.{key}: only in pycompose's: {show(actual[key])}"
            found = first_difference(expected[key], actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{path}: {len(expected)} items != {len(actual)}: {show(expected)} != {show(actual)}"
        for i, (a, b) in enumerate(zip(expected, actual, strict=True)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if expected == actual else f"{path}: {show(expected)} != {show(actual)}"
