"""A cache of loaded projects, so repeated commands skip YAML, the schema check and the graph.

An entry is keyed by the load options, the working directory and the
pycompose version, and holds every file and environment variable the load
read, with their contents' digests and values. It is used only when all of
them are unchanged, so a cached project is always the one a fresh load would
give. Entries live in ``$PYCOMPOSE_CACHE_DIR`` (default
``$XDG_CACHE_HOME/pycompose`` or ``~/.cache/pycompose``), a directory only its
owner may touch; ``PYCOMPOSE_NO_CACHE=1`` turns the cache off.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from collections.abc import Mapping
from typing import Any

from .. import __version__
from .inputs import digest, unchanged
from .options import Loaded, LoadOptions

_FORMAT = 1


def cache_dir(environ: Mapping[str, str]) -> str | None:
    if environ.get("PYCOMPOSE_NO_CACHE"):
        return None
    explicit = environ.get("PYCOMPOSE_CACHE_DIR")
    if explicit:
        return explicit
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pycompose", "config")


def _code() -> str:
    """The loader's own files and the schema (names, sizes, mtimes): new code never reads an old entry."""
    here = os.path.dirname(os.path.abspath(__file__))
    schema = os.path.join(here, os.pardir, os.pardir, "schemas", "compose-spec.json")  # validate.SCHEMA_FILE
    paths = [os.path.join(here, n) for n in sorted(os.listdir(here)) if n.endswith(".py")] + [schema]
    stamps = []
    for path in paths:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            stamps.append(f"{os.path.basename(path)}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(stamps)


def _key(options: LoadOptions, stdin: str | None) -> str:
    parts = [repr((_FORMAT, __version__)), _code(), repr(options), os.path.abspath(options.cwd)]
    if stdin is not None:
        parts.append(digest(stdin.encode()))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _safe_dir(path: str) -> bool:
    """Only trust a cache directory that we own and nobody else can write."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def get(options: LoadOptions, environ: Mapping[str, str], stdin: str | None) -> Loaded | None:
    directory = cache_dir(environ)
    if directory is None or not _safe_dir(directory):
        return None
    path = os.path.join(directory, _key(options, stdin))
    try:
        with open(path, "rb") as fh:
            entry: dict[str, Any] = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None
    if not unchanged(entry["files"], entry["variables"], environ):
        return None
    return Loaded(project=entry["project"], warnings=entry["warnings"])


def put(options: LoadOptions, stdin: str | None, loaded: Loaded, environ: Mapping[str, str]) -> None:
    directory = cache_dir(environ)
    if directory is None or loaded.inputs is None:
        return
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not _safe_dir(directory):
            return
        entry = {"files": loaded.inputs.files, "variables": loaded.inputs.variables,
                 "project": loaded.project, "warnings": loaded.warnings}
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(entry, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, os.path.join(directory, _key(options, stdin)))
    except OSError:
        pass  # a cache that cannot be written is only a slower start
