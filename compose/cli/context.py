"""Global options shared by every command, and the project they select."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model is imported only by commands that load a project
    from ..config.model import Project
    from ..config.options import Loaded, LoadOptions
    from ..deploy.progress import Progress as ProgressWriter
    from ..deploy.session import Session


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


    def session(self, services: tuple[str, ...] = (), *, quiet: bool = False, by_name: bool = False) -> Session:
        """The project (with ``services`` named on the command line) on the engine; unknown services refused.

        ``by_name``: with no compose file at hand but a project name (``-p`` or COMPOSE_PROJECT_NAME), the
        project is found from what the engine holds, as Docker Compose does for ps, logs, stop, down...
        """
        from ..deploy.progress import Progress as ProgressWriter
        from ..deploy.session import Session
        from ..errors import ConfigError, UsageError

        progress = ProgressWriter("quiet" if quiet else self.progress.value)
        name = self.project_name or self.environ.get("COMPOSE_PROJECT_NAME")
        try:
            project = self.load(services=services).project
        except ConfigError as exc:
            if not (by_name and name and str(exc).startswith("no configuration file provided")):
                raise
            return self._by_name(name, services, progress)
        unknown = [s for s in services if s not in project.services]
        if unknown:
            raise UsageError("no such service: " + ", ".join(unknown))

        def environment() -> dict[str, str]:
            from ..config.api import environment as project_environment

            return project_environment(self.load_options(services=services), self.environ, project.working_dir,
                                       project.name)

        return Session(project, progress=progress, environment=environment)

    def _by_name(self, name: str, services: tuple[str, ...], progress: ProgressWriter) -> Session:
        from dataclasses import replace

        from ..config.api import load
        from ..deploy.byname import open_by_name
        from ..errors import UsageError

        def from_files(working_dir: str, files: tuple[str, ...]) -> Project:
            options = replace(self.load_options(services=services), files=files, project_name=name,
                              project_directory=working_dir or None)
            return load(options, self.environ).project

        session = open_by_name(name, progress, from_files, lambda: dict(self.environ))
        unknown = [s for s in services if s not in session.project.services]
        if unknown:
            raise UsageError("no such service: " + ", ".join(unknown))
        return session


def warn(message: str) -> None:
    for line in message.splitlines():
        print(f"WARN[0000] {line}", file=sys.stderr)
