"""Global options shared by every command, the environment variables that stand in for them, and the
project they select.

The ``COMPOSE_*`` variables are read as Docker Compose v2.40 reads them
(cmd/compose/compose.go): from the shell, or else from the project's
``.env`` file; an option given on the command line wins over its variable.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from ..errors import UsageError

if TYPE_CHECKING:  # the model is imported only by commands that load a project
    from ..config.model import Project
    from ..config.options import Loaded, LoadOptions
    from ..deploy.progress import Progress as ProgressWriter
    from ..deploy.session import Session

ANSI_MODES = ("never", "always", "auto")
PROGRESS_MODES = ("auto", "tty", "plain", "json", "quiet")
TRUE = ("1", "t", "true", "y", "yes", "on")  # what Compose's utils.StringToBool takes for true, lower-cased


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE


@dataclass
class GlobalOptions:
    files: tuple[str, ...] = ()
    project_name: str | None = None
    project_directory: str | None = None
    env_files: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    ansi: str | None = None  # None: not given (COMPOSE_ANSI, else auto)
    progress: str | None = None  # None: not given (COMPOSE_PROGRESS, else auto)
    dry_run: bool = False
    parallel: int | None = None  # None: not given (COMPOSE_PARALLEL_LIMIT, else unlimited)
    compatibility: bool = False
    all_resources: bool = False
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def __post_init__(self) -> None:
        self._resolve()

    # -- the environment -----------------------------------------------------------------------

    def _resolve(self) -> None:
        """Apply the COMPOSE_* variables (shell first, then the project's .env) and check the modes."""
        self._dotenv_compose_variables()
        env = self.environ
        if not self.env_files and env.get("COMPOSE_ENV_FILES"):
            self.env_files = tuple(f for f in env["COMPOSE_ENV_FILES"].split(",") if f)
        ansi = self.ansi if self.ansi is not None else env.get("COMPOSE_ANSI", "auto")
        if ansi not in ANSI_MODES:
            raise UsageError(f'invalid --ansi value "{ansi}": use never, always or auto')
        progress = self.progress if self.progress is not None else env.get("COMPOSE_PROGRESS", "")
        self.no_color = bool(env.get("NO_COLOR"))
        if progress in ("", "auto"):
            mode = "plain" if ansi == "never" else "tty" if ansi == "always" else "auto"
        elif progress == "tty":
            if ansi == "never":
                raise UsageError("can't use --progress tty while ANSI support is disabled")
            mode = "tty"
        elif progress == "plain":
            if ansi == "always":
                raise UsageError("can't use --progress plain while ANSI support is forced")
            mode = "plain"
        elif progress in ("quiet", "none"):
            mode = "quiet"
        elif progress == "json":
            mode = "json"
        else:
            raise UsageError(f'unsupported --progress value "{progress}"')
        self.ansi_mode, self.progress_mode = ansi, mode
        if self.parallel is None and "COMPOSE_PARALLEL_LIMIT" in env:
            try:
                self.parallel = int(env["COMPOSE_PARALLEL_LIMIT"])
            except ValueError:
                raise UsageError('COMPOSE_PARALLEL_LIMIT must be an integer '
                                 f'(found: "{env["COMPOSE_PARALLEL_LIMIT"]}")') from None
        self.compatibility = self.compatibility or truthy(env.get("COMPOSE_COMPATIBILITY"))

    def _dotenv_compose_variables(self) -> None:
        """COMPOSE_* variables of the project's .env (or --env-file) that the shell does not set."""
        listed = self.env_files or tuple(f for f in self.environ.get("COMPOSE_ENV_FILES", "").split(",") if f)
        if listed:
            paths = [os.path.abspath(f) for f in listed]
        elif truthy(self.environ.get("COMPOSE_DISABLE_ENV_FILE")):
            return
        else:
            paths = [os.path.join(self.project_directory or os.getcwd(), ".env")]
        for path in paths:
            if not os.path.isfile(path):
                continue
            from ..config.dotenv import parse_dotenv
            from ..errors import ConfigError

            try:
                with open(path, encoding="utf-8") as fh:
                    values = parse_dotenv(fh.read(), filename=path, lookup=self.environ.get)
            except (OSError, UnicodeDecodeError, ConfigError):
                continue  # the loader reports a broken file where it matters
            for key, value in values.items():
                if key.startswith("COMPOSE_") and key not in self.environ:
                    self.environ[key] = value

    def status_stream(self) -> TextIO:
        """Where progress goes: stderr, or stdout with COMPOSE_STATUS_STDOUT."""
        return sys.stdout if truthy(self.environ.get("COMPOSE_STATUS_STDOUT")) else sys.stderr

    def log_color(self, stream: TextIO | None = None) -> bool:
        """Whether containers' output is coloured (``--ansi``, NO_COLOR, a terminal)."""
        if self.no_color or self.ansi_mode == "never":
            return False
        return self.ansi_mode == "always" or (stream or sys.stdout).isatty()

    def progress_writer(self, title: str = "Running", *, quiet: bool = False) -> ProgressWriter:
        from ..deploy.progress import Progress as ProgressWriter

        return ProgressWriter("quiet" if quiet else self.progress_mode, self.status_stream(), title=title,
                              dry_run=self.dry_run, color=not self.no_color, force_terminal=self.ansi_mode == "always")

    # -- the project ---------------------------------------------------------------------------

    def load_options(self, *, services: tuple[str, ...] = (), interpolate: bool = True) -> LoadOptions:
        from ..config.options import LoadOptions

        return LoadOptions(
            files=self.files, project_name=self.project_name,
            project_directory=self.project_directory, env_files=self.env_files,
            profiles=self.profiles, services=services, interpolate=interpolate, cwd=os.getcwd(),
            dotenv=not truthy(self.environ.get("COMPOSE_DISABLE_ENV_FILE")), all_resources=self.all_resources,
        )

    def load(self, *, services: tuple[str, ...] = (), interpolate: bool = True) -> Loaded:
        """Load the project and print its warnings to stderr."""
        from ..config.api import load

        stdin = sys.stdin.read() if "-" in self.files else None
        loaded = load(self.load_options(services=services, interpolate=interpolate), self.environ, stdin)
        for warning in loaded.warnings:
            warn(warning)
        return loaded

    def session(self, services: tuple[str, ...] = (), *, quiet: bool = False, by_name: bool = False,
                title: str = "Running", one_container: bool = False) -> Session:
        """The project (with ``services`` named on the command line) on the engine; unknown services refused.

        ``by_name``: with no compose file at hand but a project name (``-p`` or COMPOSE_PROJECT_NAME), the
        project is found from what the engine holds, as Docker Compose does for ps, logs, stop, down...
        ``one_container``: the command acts on one container of one service (exec, port, attach, cp, export,
        commit); by name, a service with none is refused in Compose's words (``service "db" is not running``).
        """
        from ..deploy.session import Session
        from ..errors import ConfigError

        progress = self.progress_writer(title, quiet=quiet)
        name = self.project_name or self.environ.get("COMPOSE_PROJECT_NAME")
        try:
            project = self.load(services=services).project
        except ConfigError as exc:
            if not (by_name and name and str(exc).startswith("no configuration file provided")):
                raise
            return self._configure(self._by_name(name, services, progress, one_container))
        unknown = [s for s in services if s not in project.services]
        if unknown:
            raise UsageError("no such service: " + ", ".join(unknown))

        def environment() -> dict[str, str]:
            from ..config.api import environment as project_environment

            return project_environment(self.load_options(services=services), self.environ, project.working_dir,
                                       project.name)

        return self._configure(Session(project, progress=progress, environment=environment))

    def _configure(self, session: Session) -> Session:
        if self.dry_run:
            from ..deploy.dryrun import dry_engine

            dry_engine(session)
        session.parallel = self.parallel if self.parallel and self.parallel > 0 else None
        session.separator = "_" if self.compatibility else "-"
        return session

    def _by_name(self, name: str, services: tuple[str, ...], progress: ProgressWriter,
                 one_container: bool = False) -> Session:
        from dataclasses import replace

        from ..config.api import load
        from ..deploy.byname import open_by_name

        def from_files(working_dir: str, files: tuple[str, ...]) -> Project:
            options = replace(self.load_options(services=services), files=files, project_name=name,
                              project_directory=working_dir or None)
            return load(options, self.environ).project

        session = open_by_name(name, progress, from_files, lambda: dict(self.environ))
        unknown = [s for s in services if s not in session.project.services]
        if unknown and one_container:
            raise UsageError(f'service "{unknown[0]}" is not running')
        if unknown:
            raise UsageError("no such service: " + ", ".join(unknown))
        return session


def warn(message: str) -> None:
    from ..deploy.progress import warning_line

    for line in message.splitlines():
        print(warning_line(line, sys.stderr), file=sys.stderr)
