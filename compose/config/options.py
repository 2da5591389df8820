"""What a caller asks of the loader, and what it gets back. Kept light: no YAML, no schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model's modules are loaded by whoever makes or reads a Project
    from .inputs import Inputs
    from .model import Project


@dataclass(frozen=True)
class LoadOptions:
    """What the command line (or a caller) asks of the loader."""

    files: tuple[str, ...] = ()
    project_name: str | None = None
    project_directory: str | None = None
    env_files: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    interpolate: bool = True
    cwd: str = "."
    dotenv: bool = True  # read the project folder's .env when no env file is named (COMPOSE_DISABLE_ENV_FILE)
    all_resources: bool = False  # keep networks, volumes, secrets and configs no service uses (--all-resources)
    consistency: bool = True  # check references between services and resources (config --no-consistency)
    env_resolution: bool = True  # fold env_file files into environment (config --no-env-resolution)


@dataclass
class Loaded:
    project: Project
    warnings: list[str] = field(default_factory=list)
    inputs: Inputs | None = None
