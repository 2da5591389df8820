"""The compose layer's entry point: load a project, from the cache when nothing changed."""

from __future__ import annotations

from collections.abc import Mapping

from . import cache
from .options import Loaded, LoadOptions


def load(options: LoadOptions, environ: Mapping[str, str], stdin: str | None = None) -> Loaded:
    """The validated project for ``options``; raises ComposeError subclasses on bad input."""
    hit = cache.get(options, environ, stdin)
    if hit is not None:
        return hit
    from .loader import load_project

    loaded = load_project(options, environ, stdin)
    cache.put(options, stdin, loaded, environ)
    return loaded


def environment(options: LoadOptions, environ: Mapping[str, str], working_dir: str, name: str) -> dict[str, str]:
    """The project's variables as Compose resolves ``environment:`` secrets and configs: its ``.env`` (or
    ``--env-file``) files, with the shell winning. Read when needed, never cached."""
    from .inputs import Inputs
    from .loader import Loader

    loader = Loader(options, Inputs(environ))
    loader.name = name
    loader.read_env_files(working_dir)
    return {**loader.dotenv, **environ}
