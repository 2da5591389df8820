"""Load a project: find files, read .env, and run each file through the pipeline.

    parse (YAML, positions) -> interpolate -> validate (schema) -> resolve paths
    -> extends / include -> merge all files -> profiles -> normalize -> check

Every step is a function of values; the outside world (files, environment
variables) is reached only through ``Inputs``, which records what was read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, ConfigErrors, GraphError, Location, PathPart, UsageError
from . import discovery
from .dotenv import parse_dotenv
from .extends import apply_extends
from .inputs import Inputs
from .interpolate import InterpolationError, interpolate_string, interpolate_tree
from .merge import dedupe_single, merge_files
from .model import Project
from .options import Loaded, LoadOptions
from .paths import resolve_document
from .project import build_project, dependency_refs
from .validate import validate_document
from .yamlload import Document, Positions, parse_documents, strip_markers


class Locator:
    """Finds where a path of the merged project was written, searching the last file first."""

    def __init__(self) -> None:
        self.tables: list[Positions] = []

    def add(self, positions: Positions) -> None:
        self.tables.append(positions)

    def __call__(self, path: tuple[PathPart, ...]) -> Location | None:
        probe = tuple(path)
        while True:
            for table in reversed(self.tables):
                if probe in table.values:
                    line, col = table.values[probe]
                    return Location(table.file, line, col)
                if probe in table.keys:
                    line, col = table.keys[probe]
                    return Location(table.file, line, col)
            if not probe:
                return Location(self.tables[-1].file) if self.tables else None
            probe = probe[:-1]


class Loader:
    def __init__(self, options: LoadOptions, inputs: Inputs) -> None:
        self.options = options
        self.inputs = inputs
        self.cwd = os.path.abspath(options.cwd)
        self.warnings: list[str] = []
        self.locator = Locator()
        self.dotenv: dict[str, str] = {}
        self.name: str | None = None  # known before interpolation, for ${COMPOSE_PROJECT_NAME}

    # -- environment ------------------------------------------------------------

    def lookup(self, name: str) -> str | None:
        """Shell environment first, then .env; then what Compose itself provides."""
        value = self.inputs.getenv(name)
        if value is None:
            value = self.dotenv.get(name)
        if value is None and name == "COMPOSE_PROJECT_NAME":
            value = self.name
        if value is None and name == "PWD":
            value = self.cwd
        return value

    def isfile(self, path: str) -> bool:
        return self.inputs.isfile(path)

    def read_text(self, path: str) -> str:
        return self.inputs.read_text(path)

    def read_env_files(self, directory: str) -> None:
        self.dotenv = {}
        if self.options.env_files:
            paths = [discovery.absolute(p, self.cwd) for p in self.options.env_files]
            required = True
        elif self.options.dotenv:
            paths = [os.path.join(directory, ".env")]
            required = False
        else:
            return
        for path in paths:
            if not self.inputs.isfile(path):
                if required:
                    raise ConfigError(f"env file {path} not found", file=path)
                continue
            text = self.inputs.read_text(path)
            self.dotenv.update(parse_dotenv(text, filename=self.show(path), lookup=self.lookup))

    def show(self, path: str) -> str:
        """A path as errors show it: relative to the working directory when inside it."""
        if path == discovery.STDIN:
            return "(stdin)"
        rel = os.path.relpath(path, self.cwd)
        return path if rel.startswith("..") else rel

    # -- files ------------------------------------------------------------------

    def config_files(self) -> tuple[str, ...]:
        opts = self.options
        if opts.files:
            return tuple(discovery.absolute(f, self.cwd) for f in opts.files)
        from_env = discovery.files_from_env(self.lookup, self.cwd)
        if from_env:
            return from_env
        start = discovery.absolute(opts.project_directory, self.cwd) if opts.project_directory else self.cwd
        found = discovery.find_default_files(start, self.inputs.isfile)
        self.warnings.extend(found.warnings)
        return found.files

    def load_file(self, path: str, base: str, stack: tuple[str, ...] = ()) -> list[Document]:
        """Parse, interpolate, validate and resolve one file; apply its extends and include."""
        shown = self.show(path)
        if path in stack:
            chain = " -> ".join(self.show(s) for s in stack[stack.index(path):])
            raise ConfigError(f"circular reference between files: {chain} -> {shown}", file=shown)
        try:
            text = self.inputs.read_text(path)
        except FileNotFoundError:
            raise ConfigError("no such file", file=shown) from None
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", file=shown) from None
        if not text.strip():
            raise ConfigError("empty compose file", file=shown)
        docs = []
        for doc in parse_documents(text, shown):
            docs.append(self.process(doc.data, doc.positions, base, stack + (path,)))
        if not docs:
            raise ConfigError("empty compose file", file=shown)
        return docs

    def process(self, data: Any, positions: Positions, base: str, stack: tuple[str, ...]) -> Document:
        check_shape(data, positions)
        self.locator.add(positions)
        if self.options.interpolate:
            data, warnings = interpolate_tree(data, self.lookup, filename=positions.file,
                                              locate=positions.locate)
            for w in warnings:
                if w not in self.warnings:
                    self.warnings.append(w)
        data = dedupe_single(data)  # before the schema, whose uniqueItems Compose applies after it too
        validate_document(strip_markers(data), positions)
        data = resolve_document(data, base, self.inputs.getenv("HOME"))
        if "include" in data:
            data = self.apply_include(data, positions, stack)
        data = apply_extends(data, positions.file, stack[-1], self, stack)
        return Document(data, positions)

    def apply_include(self, data: dict[str, Any], positions: Positions, stack: tuple[str, ...]) -> dict[str, Any]:
        from .include import apply_include

        return apply_include(data, positions, self, stack)

    # -- the whole project --------------------------------------------------------

    def load(self) -> Project:
        opts = self.options
        first = opts.files[0] if opts.files else None
        if opts.project_directory:
            workdir = discovery.absolute(opts.project_directory, self.cwd)
        elif first and first != discovery.STDIN:
            workdir = os.path.dirname(discovery.absolute(first, self.cwd))
        else:
            workdir = self.cwd
        self.read_env_files(workdir)
        files = self.config_files()
        opts = self.options
        if opts.project_directory:
            project_dir = workdir
        elif files[0] != discovery.STDIN:
            project_dir = os.path.dirname(files[0])
        else:
            project_dir = self.cwd
        if project_dir != workdir and not opts.env_files:
            self.read_env_files(project_dir)

        name = self.name = self.project_name(files, project_dir)
        documents: list[dict[str, Any]] = []
        for path in files:
            documents.extend(d.data for d in self.load_file(path, project_dir))
        merged = merge_files(documents)
        project = build_project(
            merged,
            name=name,
            working_dir=project_dir,
            config_files=tuple(f if f == discovery.STDIN else f for f in files),
            reader=self,
            profiles=self.active_profiles(),
            wanted=opts.services,
            locate=self.locator,
            all_resources=opts.all_resources,
            consistency=opts.consistency,
            env_resolution=opts.env_resolution,
        )
        return self.check_graph(project)

    def check_graph(self, project: Project) -> Project:
        """Refuse dependency cycles; keep the start order and dependencies in the project."""
        from dataclasses import replace

        from .graph import DependencyGraph

        try:
            graph = DependencyGraph(project)
            return replace(project, start_order=tuple(tuple(level) for level in graph.start_levels()),
                           requires={s: frozenset(graph.dependencies(s)) for s in project.services})
        except GraphError as exc:
            if not exc.cycle:
                raise
            first = exc.cycle[0]
            svc = project.services[first]
            kind = next((k for k, dep, _ in dependency_refs(svc) if dep == exc.cycle[1]), "depends_on")
            path = ("services", first, kind)
            raise ConfigError.at(self.locator(path), path, str(exc)) from None

    def active_profiles(self) -> tuple[str, ...]:
        if self.options.profiles:
            return tuple(p for p in self.options.profiles if p)
        value = self.lookup("COMPOSE_PROFILES") or ""
        return tuple(p.strip() for p in value.split(",") if p.strip())

    def project_name(self, files: tuple[str, ...], project_dir: str) -> str:
        """-p, else COMPOSE_PROJECT_NAME, else the last file's top-level ``name:``, else the folder."""
        if self.options.project_name:
            return discovery.check_project_name(self.options.project_name, "-p/--project-name")
        from_env = self.lookup("COMPOSE_PROJECT_NAME")
        if from_env:
            return discovery.check_project_name(from_env, "COMPOSE_PROJECT_NAME")
        written = None
        for path in files:
            found = self.written_name(path)
            written = found if found is not None else written
        if written is not None:  # normalized as Compose does ("My App" -> "myapp")
            name = discovery.normalize_project_name(written)
            if not name:
                raise UsageError(f'the top-level name: key gives an empty project name ("{written}"); '
                                 "set one with -p, COMPOSE_PROJECT_NAME or the name: key")
            return name
        name = discovery.normalize_project_name(os.path.basename(project_dir.rstrip("/")))
        if not name:
            raise UsageError(
                f'cannot derive a project name from the folder "{os.path.basename(project_dir)}"; '
                "set one with -p, COMPOSE_PROJECT_NAME or a top-level name: key"
            )
        return name

    def written_name(self, path: str) -> str | None:
        """The interpolated top-level ``name:`` of one file, if it has a non-empty one (errors come later)."""
        try:
            docs = parse_documents(self.inputs.read_text(path), self.show(path))
        except (OSError, ConfigError):
            return None
        name = None
        for doc in docs:
            if isinstance(doc.data, dict) and isinstance(doc.data.get("name"), str) and doc.data["name"]:
                name = doc.data["name"]
        if name and self.options.interpolate:
            try:
                name = interpolate_string(name, self.lookup)
            except InterpolationError:
                return None
        return name


def check_shape(data: Any, positions: Positions) -> None:
    """The errors worth a sentence of their own, before the schema speaks."""
    loc = positions.locate(())
    if data is None:
        raise ConfigError("empty compose file", file=loc.file)
    if not isinstance(data, dict):
        raise ConfigError(f"the top-level object must be a mapping, not {type_word(data)}",
                          file=loc.file, line=loc.line, column=loc.column)
    services = data.get("services")
    if services is not None and not isinstance(services, dict):
        raise ConfigError.at(positions.locate(("services",)), ("services",),
                             f"must be a mapping of service names to services, not {type_word(services)}")
    errors = []
    for name, svc in (services or {}).items():
        if svc is not None and not isinstance(svc, dict):
            errors.append(ConfigError.at(positions.locate(("services", name)), ("services", name),
                                         f"a service must be a mapping, not {type_word(svc)}"))
    if errors:
        raise ConfigErrors(errors)


def type_word(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return f'the string "{value}"'
    if value is None:
        return "null"
    return f"the value {value!r}"


def load_project(options: LoadOptions, environ: Mapping[str, str], stdin: str | None = None) -> Loaded:
    """Load, validate and normalize the project ``options`` describe."""
    inputs = Inputs(environ=environ, stdin=stdin)
    loader = Loader(options, inputs)
    project = loader.load()
    return Loaded(project=project, warnings=loader.warnings, inputs=inputs)
