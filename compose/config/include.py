"""Top-level ``include``: other compose projects pulled into this one.

Each entry is loaded as its own project (its own project directory, its own
``.env`` or ``env_file``), and its services, networks, volumes, configs and
secrets are added to the including file. A name defined on both sides with a
different definition is an error.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigError
from .dotenv import parse_dotenv
from .merge import merge_values
from .paths import resolve
from .yamlload import Positions

if TYPE_CHECKING:
    from .inputs import Inputs
    from .yamlload import Document


class Loader(Protocol):
    """What include needs of the loader: its inputs, its .env values (swapped per included project), files."""

    inputs: Inputs
    cwd: str
    dotenv: dict[str, str]

    def lookup(self, name: str) -> str | None: ...
    def load_file(self, path: str, base: str, stack: tuple[str, ...] = ()) -> list[Document]: ...
    def show(self, path: str) -> str: ...

_KINDS = ("services", "networks", "volumes", "configs", "secrets", "models")


def _entries(raw: Any) -> list[dict[str, Any]]:
    out = []
    for item in raw or []:
        if isinstance(item, str):
            out.append({"path": [item]})
        else:
            paths = item.get("path")
            entry = dict(item)
            entry["path"] = [paths] if isinstance(paths, str) else list(paths or [])
            out.append(entry)
    return out


def apply_include(data: dict[str, Any], positions: Positions, loader: Loader,
                  stack: tuple[str, ...]) -> dict[str, Any]:
    here = os.path.dirname(stack[-1]) if stack[-1] != "-" else loader.cwd
    out = {k: v for k, v in data.items() if k != "include"}
    for i, entry in enumerate(_entries(data.get("include"))):
        where = ("include", i)
        files = [resolve(str(p), here) for p in entry["path"]]
        if not files:
            raise ConfigError.at(positions.locate(where), where, "an include entry needs a path")
        for f in files:
            if f in stack:
                chain = " -> ".join(loader.show(s) for s in stack[stack.index(f):]) + f" -> {loader.show(f)}"
                raise ConfigError.at(positions.locate(where), where, f"include cycle: {chain}")
        project_dir = resolve(str(entry["project_directory"]), here) if entry.get("project_directory") \
            else os.path.dirname(files[0])
        included = _load_included(loader, files, project_dir, entry, here, stack)
        for kind in _KINDS:
            for name, definition in (included.get(kind) or {}).items():
                mine = out.setdefault(kind, {})
                if mine is None:
                    mine = out[kind] = {}
                if name in mine and mine[name] != definition:
                    raise ConfigError.at(
                        positions.locate((kind, name)), (kind, name),
                        f"conflicts with the {kind[:-1]} of the same name imported from "
                        f"{loader.show(files[0])}",
                    )
                mine[name] = definition
    return out


def _load_included(loader: Loader, files: list[str], project_dir: str, entry: dict[str, Any],
                   here: str, stack: tuple[str, ...]) -> dict[str, Any]:
    env_files = entry.get("env_file")
    if env_files is None:
        paths, required = [os.path.join(project_dir, ".env")], False
    else:
        paths = [resolve(str(p), here) for p in ([env_files] if isinstance(env_files, str) else env_files)]
        required = True
    extra: dict[str, str] = {}
    for path in paths:
        if not loader.inputs.isfile(path):
            if required:
                raise ConfigError(f"env file {path} not found", file=loader.show(stack[-1]))
            continue
        extra.update(parse_dotenv(loader.inputs.read_text(path), filename=loader.show(path),
                                  lookup=loader.lookup))
    saved = loader.dotenv
    loader.dotenv = {**extra, **saved}
    try:
        merged: dict[str, Any] = {}
        for f in files:
            for doc in loader.load_file(f, project_dir, stack):
                merged = merge_values(merged, doc.data)
    finally:
        loader.dotenv = saved
    return merged
