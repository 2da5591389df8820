"""The compose layer's entry point: load a project, from the cache when nothing changed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from . import cache

if TYPE_CHECKING:
    from .options import Loaded, LoadOptions
    from .variables import Variable


def load(options: LoadOptions, environ: Mapping[str, str], stdin: str | None = None) -> Loaded:
    """The validated project for ``options``; raises ComposeError subclasses on bad input."""
    hit = cache.get(options, environ, stdin)
    if hit is not None:
        return hit
    from .loader import load_project

    loaded = load_project(options, environ, stdin)
    cache.put(options, stdin, loaded, environ)
    return loaded


def view(options: LoadOptions, environ: Mapping[str, str], stdin: str | None, name: str,
         make: Callable[[Loaded], str], warn: Callable[[str], object]) -> str:
    """``make(loaded)``, kept beside the cached project as ``name``; the load's warnings go to
    ``warn`` first, as a load would give them.

    The same view of an unchanged project is then read back without loading the model at all
    (no YAML, no classes). ``name`` must say everything the text depends on besides the
    project: the caller's options, and the version of the code that makes it."""
    hit = cache.view(options, environ, stdin, name)
    if hit is not None:
        for warning in hit[1]:
            warn(warning)
        return hit[0]
    loaded = load(options, environ, stdin)
    for warning in loaded.warnings:
        warn(warning)
    text = make(loaded)
    cache.put_view(options, environ, stdin, name, text)
    return text


def environment(options: LoadOptions, environ: Mapping[str, str], working_dir: str, name: str) -> dict[str, str]:
    """The project's variables as Compose resolves ``environment:`` secrets and configs: its ``.env`` (or
    ``--env-file``) files, with the shell winning. Read when needed, never cached."""
    from .inputs import Inputs
    from .loader import Loader

    loader = Loader(options, Inputs(environ))
    loader.name = name
    loader.read_env_files(working_dir)
    return {**loader.dotenv, **environ}


def variables(options: LoadOptions, environ: Mapping[str, str], stdin: str | None = None) -> dict[str, Variable]:
    """The variables the project's compose files use (``config --variables``), read from the files as written:
    nothing is interpolated, validated or built."""
    import os

    from .discovery import STDIN
    from .inputs import Inputs
    from .loader import Loader
    from .variables import extract
    from .yamlload import parse_documents

    loader = Loader(options, Inputs(environ, stdin=stdin))
    loader.read_env_files(os.path.abspath(options.project_directory or options.cwd))
    found: dict[str, Variable] = {}
    for path in loader.config_files():
        text = stdin or "" if path == STDIN else loader.read_text(path)
        for doc in parse_documents(text, loader.show(path)):
            found.update(extract(doc.data))
    return found
