"""Which compose files to read, from where, and what the project is called."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigError, UsageError

DEFAULT_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_NAMES = (
    "compose.override.yaml", "compose.override.yml",
    "docker-compose.override.yaml", "docker-compose.override.yml",
)
STDIN = "-"


@dataclass(frozen=True)
class Found:
    files: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def find_default_files(start: str, isfile: Callable[[str], bool] = os.path.isfile) -> Found:
    """The compose file in ``start`` or the nearest parent, plus its override file if any."""
    directory = os.path.abspath(start)
    while True:
        present = [n for n in DEFAULT_NAMES if isfile(os.path.join(directory, n))]
        if present:
            warnings: list[str] = []
            if len(present) > 1:
                warnings.append(
                    f"Found multiple config files with supported names: "
                    f"{', '.join(os.path.join(directory, n) for n in present)}\n"
                    f"Using {os.path.join(directory, present[0])}"
                )
            files = [os.path.join(directory, present[0])]
            overrides = [n for n in OVERRIDE_NAMES if isfile(os.path.join(directory, n))]
            if overrides:
                files.append(os.path.join(directory, overrides[0]))
            return Found(tuple(files), tuple(warnings))
        parent = os.path.dirname(directory)
        if parent == directory:
            raise ConfigError(
                "no configuration file provided: not found "
                f"(looked for {', '.join(DEFAULT_NAMES)} in {os.path.abspath(start)} and its parents)"
            )
        directory = parent


def files_from_env(lookup: Callable[[str], str | None], cwd: str) -> tuple[str, ...] | None:
    """COMPOSE_FILE split on COMPOSE_PATH_SEPARATOR (default ``:``), relative to ``cwd``."""
    value = lookup("COMPOSE_FILE")
    if not value:
        return None
    sep = lookup("COMPOSE_PATH_SEPARATOR") or os.pathsep
    return tuple(absolute(p, cwd) for p in value.split(sep) if p)


def absolute(path: str, cwd: str) -> str:
    if path == STDIN:
        return path
    return os.path.normpath(os.path.join(cwd, os.path.expanduser(path)))


_VALID_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def normalize_project_name(name: str) -> str:
    """A folder name made into a project name as Compose does: lower case, only [a-z0-9_-]."""
    name = re.sub(r"[^a-z0-9_-]", "", name.lower())
    return name.lstrip("_-")


def check_project_name(name: str, source: str) -> str:
    if not _VALID_NAME.match(name):
        raise UsageError(
            f'invalid project name "{name}" (from {source}): it must contain only lower-case '
            "letters, digits, dashes and underscores, and start with a letter or digit"
        )
    return name
