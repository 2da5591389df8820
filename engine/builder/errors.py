"""The build's one exception: what failed, in which Dockerfile, at which line and instruction."""

from __future__ import annotations

from ..errors import EngineError


class BuildError(EngineError):
    """A Dockerfile that cannot be parsed or a step that failed.

    ``str()`` reads ``Dockerfile:7: COPY: no source files were specified``.
    A failing RUN also carries the command's exit code (``run_exit_code``)
    and the tail of its output (``output``).
    """

    def __init__(self, message: str, *, dockerfile: str = "", line: int = 0, instruction: str = "",
                 run_exit_code: int | None = None, output: str = "") -> None:
        where = f"{dockerfile}:{line}: " if dockerfile and line else (f"{dockerfile}: " if dockerfile else "")
        what = f"{instruction}: " if instruction else ""
        super().__init__(f"{where}{what}{message}")
        self.dockerfile = dockerfile
        self.line = line
        self.instruction = instruction
        self.run_exit_code = run_exit_code
        self.output = output


class StepError(Exception):
    """Raised by a step's handler with just the message; the builder adds file, line and instruction."""
