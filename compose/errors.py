"""The exceptions of the compose layer.

Every error a user can cause by what they wrote carries where it came from:
the file, the line and column in it, and the dotted path of the key
(``services.web.ports[1]``). ``str()`` of an error is the one line the CLI
prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PathPart = str | int
Path = tuple[PathPart, ...]


def format_path(path: Sequence[PathPart]) -> str:
    """``("services", "web", "ports", 1)`` -> ``services.web.ports[1]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out


@dataclass(frozen=True)
class Location:
    """Where in a file something was written. line and column count from 1."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


class ComposeError(Exception):
    """Base of everything the compose layer raises on purpose."""

    exit_code = 1


class ConfigError(ComposeError):
    """A compose file (or .env file) says something we cannot accept."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int = 0,
        column: int = 0,
        path: Sequence[PathPart] = (),
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.path: Path = tuple(path)
        super().__init__(str(self))

    @classmethod
    def at(cls, loc: Location | None, path: Sequence[PathPart], message: str) -> ConfigError:
        if loc is None:
            return cls(message, path=path)
        return cls(message, file=loc.file, line=loc.line, column=loc.column, path=path)

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += f":{self.line}:{self.column}"
            where += ": "
        key = format_path(self.path)
        if key:
            where += f"{key}: "
        return f"{where}{self.message}"


class ConfigErrors(ComposeError):
    """Several configuration errors, reported together (one per line)."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors = list(errors)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class GraphError(ComposeError):
    """The services' dependencies cannot be ordered (a cycle, a missing service)."""

    def __init__(self, message: str, cycle: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.cycle = tuple(cycle)


class UsageError(ComposeError):
    """The command line asks for something impossible (unknown service, bad flag value)."""


class UpError(ComposeError):
    """A service could not be brought up, or a command on its containers failed; names the service and the cause."""


class Cancelled(ComposeError):
    """The user interrupted a wait (Ctrl-C during an attached ``up``)."""

    exit_code = 130
