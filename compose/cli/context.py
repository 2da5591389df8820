"""Global options shared by every command, and the project they select."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model is imported only by commands that load a project
    from ..config.options import Loaded, LoadOptions


class Ansi(StrEnum):
    never = "never"
    always = "always"
    auto = "auto"


class Progress(StrEnum):
    auto = "auto"
    tty = "tty"
    plain = "plain"
    json = "json"
    quiet = "quiet"


@dataclass
class GlobalOptions:
    files: tuple[str, ...] = ()
    project_name: str | None = None
    project_directory: str | None = None
    env_files: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    ansi: Ansi = Ansi.auto
    progress: Progress = Progress.auto
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def load_options(self, *, services: tuple[str, ...] = (), interpolate: bool = True) -> LoadOptions:
        from ..config.options import LoadOptions

        return LoadOptions(
            files=self.files, project_name=self.project_name,
            project_directory=self.project_directory, env_files=self.env_files,
            profiles=self.profiles, services=services, interpolate=interpolate, cwd=os.getcwd(),
        )

    def load(self, *, services: tuple[str, ...] = (), interpolate: bool = True) -> Loaded:
        """Load the project and print its warnings to stderr."""
        from ..config.api import load

        stdin = sys.stdin.read() if "-" in self.files else None
        loaded = load(self.load_options(services=services, interpolate=interpolate), self.environ, stdin)
        for warning in loaded.warnings:
            warn(warning)
        return loaded


def warn(message: str) -> None:
    for line in message.splitlines():
        print(f"WARN[0000] {line}", file=sys.stderr)
