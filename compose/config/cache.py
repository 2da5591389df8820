"""A cache of loaded projects, so repeated commands skip YAML, the schema check and the graph.

An entry is keyed by the load options, the working directory and the
pycompose version, and holds every file and environment variable the load
read, with their contents' digests and values. It is used only when all of
them are unchanged, so a cached project is always the one a fresh load would
give. An entry is plain data (the project is kept pickled inside it, as
bytes), so a command can check it and read a *view* kept beside the project,
such as the text ``config`` printed, without loading the model's modules.
Entries live in ``$PYCOMPOSE_CACHE_DIR`` (default
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
from typing import TYPE_CHECKING, Any

from .. import __version__
from .inputs import digest, unchanged

if TYPE_CHECKING:
    from .options import Loaded, LoadOptions

_FORMAT = 2


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


_BROKEN = (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, KeyError, ValueError)


def _entry(options: LoadOptions, environ: Mapping[str, str], stdin: str | None) -> tuple[str, dict[str, Any]] | None:
    """The entry for these options, if its files and variables are unchanged, and its path."""
    directory = cache_dir(environ)
    if directory is None or not _safe_dir(directory):
        return None
    path = os.path.join(directory, _key(options, stdin))
    try:
        with open(path, "rb") as fh:
            entry: dict[str, Any] = pickle.load(fh)
        if not unchanged(entry["files"], entry["variables"], environ):
            return None
    except _BROKEN:
        return None
    return path, entry


def get(options: LoadOptions, environ: Mapping[str, str], stdin: str | None) -> Loaded | None:
    found = _entry(options, environ, stdin)
    if found is None:
        return None
    from .options import Loaded

    try:
        return Loaded(project=pickle.loads(found[1]["project"]), warnings=found[1]["warnings"])
    except _BROKEN:
        return None


def view(options: LoadOptions, environ: Mapping[str, str], stdin: str | None, name: str) -> tuple[str, list[str]] | None:
    """The text kept as ``name`` beside an unchanged project, and the load's warnings."""
    found = _entry(options, environ, stdin)
    if found is None or name not in found[1]["views"]:
        return None
    return found[1]["views"][name], found[1]["warnings"]


def put_view(options: LoadOptions, environ: Mapping[str, str], stdin: str | None, name: str, text: str) -> None:
    """Keep ``text`` as ``name`` in the entry of an unchanged project (none: nothing kept)."""
    found = _entry(options, environ, stdin)
    if found is not None:
        found[1]["views"][name] = text
        _write(os.path.dirname(found[0]), found[0], found[1])


def _write(directory: str, path: str, entry: dict[str, Any]) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    except OSError:
        return  # a cache that cannot be written is only a slower start
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(entry, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
    except BaseException:
        os.unlink(tmp)
        raise


def put(options: LoadOptions, stdin: str | None, loaded: Loaded, environ: Mapping[str, str]) -> None:
    directory = cache_dir(environ)
    if directory is None or loaded.inputs is None:
        return
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not _safe_dir(directory):
            return
    except OSError:
        return
    entry = {"files": loaded.inputs.files, "variables": loaded.inputs.variables, "warnings": loaded.warnings,
             "project": pickle.dumps(loaded.project, protocol=pickle.HIGHEST_PROTOCOL), "views": {}}
    _write(directory, os.path.join(directory, _key(options, stdin)), entry)
