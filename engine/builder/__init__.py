"""Build images from Dockerfiles with pycompose's own runtime and image store (no daemon).

``build`` is the entry point (``BuildOptions`` for what compose's ``build:``
section adds), ``stale`` tells how a context moved on since an image was
built from it, and ``dockerfile.parse`` is the pure parser.
Importing this package loads the image store and the runtime, so
command-line code imports it inside the command that needs it.
"""

from __future__ import annotations

from .base import BuildOptions
from .builder import build, stale
from .errors import BuildError
from .progress import Event

__all__ = ["BuildError", "BuildOptions", "Event", "build", "stale"]
