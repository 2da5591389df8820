"""The exceptions of the engine. ``str()`` is the one line the CLI prints."""

from __future__ import annotations


class EngineError(Exception):
    """Base of everything the engine raises on purpose."""

    exit_code = 1


class NotFound(EngineError):
    """An image, container or other object that does not exist."""


class Conflict(EngineError):
    """The operation conflicts with the current state (an image in use, a name taken)."""


class ArchiveError(EngineError):
    """An image archive or layer is malformed or hostile; nothing of it was kept."""


class RuntimeFailure(EngineError):
    """A container could not be created, started or entered."""
