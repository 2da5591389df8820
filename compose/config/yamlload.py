"""Parse a compose file's YAML into plain values plus the position of every key and value.

Compose (compose-go, on yaml.v3) reads YAML 1.2: ``yes``/``no``/``on``/``off``
are strings, not booleans, so ``environment: {DEBUG: yes}`` stays ``"yes"``.
PyYAML speaks YAML 1.1, so we compose the node graph with libyaml and
construct values ourselves with a 1.2 core-schema resolver. That walk also
records where each key and value was written, refuses duplicate keys, expands
merge keys (``<<: *base``) and turns ``!reset`` / ``!override`` into markers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import ConfigError, Location, Path, PathPart
from .markers import Override, Reset

try:
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _BaseLoader = yaml.SafeLoader

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"

# YAML 1.2 core schema (what yaml.v3 resolves).
_CORE = [
    (_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    (_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    (_INT, re.compile(r"^[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$"), list("-+0123456789")),
    (
        _FLOAT,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+.0123456789"),
    ),
    (_MERGE, re.compile(r"^<<$"), ["<"]),
]


class _Loader(_BaseLoader):
    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}


for _tag, _regexp, _first in _CORE:
    for _ch in _first:
        _Loader.yaml_implicit_resolvers.setdefault(_ch or None, []).append((_tag, _regexp))
_Loader.yaml_implicit_resolvers.setdefault("", [])


@dataclass
class Positions:
    """Where each value (and each mapping key) of one parsed file sits."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path, *, key: bool = False) -> Location:
        """The location of ``path``, or of its nearest recorded ancestor."""
        table = (self.keys, self.values) if key else (self.values, self.keys)
        probe = tuple(path)
        while True:
            for t in table:
                if probe in t:
                    line, col = t[probe]
                    return Location(self.file, line, col)
            if not probe:
                return Location(self.file)
            probe = probe[:-1]


@dataclass
class Document:
    data: Any
    positions: Positions


def _scalar(node: yaml.ScalarNode, file: str) -> Any:
    tag, value = node.tag, node.value
    if tag == _STR or tag == "!":
        return value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return value.lower() == "true"
    if tag == _INT:
        return _go_int(value)
    if tag == _FLOAT:
        low = value.lower()
        if low.endswith("inf"):
            return -math.inf if low.startswith("-") else math.inf
        if low.endswith("nan"):
            return math.nan
        return float(value)
    if tag == "tag:yaml.org,2002:binary":
        return value
    if tag == "tag:yaml.org,2002:timestamp":
        return value
    raise ConfigError(f"unsupported YAML tag {tag}", file=file, line=node.start_mark.line + 1,
                      column=node.start_mark.column + 1)


def _go_int(text: str) -> int:
    """An integer as yaml.v3 reads one: underscores ignored, 0x/0o/0b prefixes, a leading 0 is octal."""
    v = text.replace("_", "")
    sign = -1 if v.startswith("-") else 1
    v = v.lstrip("+-")
    if v[:2] in ("0x", "0o", "0b"):
        return sign * int(v, 0)
    if len(v) > 1 and v.startswith("0") and set(v) <= set("01234567"):
        return sign * int(v, 8)
    return sign * int(v, 10)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.pos = Positions(file)
        self._active: set[int] = set()

    def _mark(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def _error(self, node: yaml.Node, path: Path, message: str) -> ConfigError:
        line, col = self._mark(node)
        return ConfigError(message, file=self.file, line=line, column=col, path=path)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.pos.values.setdefault(path, self._mark(node))
        tag = node.tag
        if tag == "!reset":
            return Reset(self._plain(node, path))
        if tag == "!override":
            return Override(self._plain(node, path))
        return self._plain(node, path)

    def _plain(self, node: yaml.Node, path: Path) -> Any:
        if id(node) in self._active:
            raise self._error(node, path, "recursive YAML alias")
        if isinstance(node, yaml.ScalarNode):
            if node.tag in ("!reset", "!override"):
                return None if node.value == "" else node.value
            return _scalar(node, self.file)
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
        finally:
            self._active.discard(id(node))
        raise self._error(node, path, f"unsupported YAML node {type(node).__name__}")

    def _key(self, node: yaml.Node, path: Path) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self._error(node, path, "a mapping key must be a scalar, not a mapping or list")
        value = _scalar(node, self.file)
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return "null" if node.value else ""
        return str(value) if not isinstance(value, str) else value

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, int] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE or (
                isinstance(key_node, yaml.ScalarNode) and key_node.value == "<<" and key_node.tag != _STR
            ):
                for source in self._merge_sources(value_node, path):
                    for k, v in source.items():
                        merged.setdefault(k, v)
                continue
            key = self._key(key_node, path)
            if key in seen:
                raise self._error(
                    key_node, path, f'mapping key "{key}" already defined at line {seen[key]}'
                )
            seen[key] = key_node.start_mark.line + 1
            child = path + (key,)
            self.pos.keys[child] = self._mark(key_node)
            out[key] = self.build(value_node, child)
        for k, v in merged.items():
            out.setdefault(k, v)
        return out

    def _merge_sources(self, node: yaml.Node, path: Path) -> Iterator[dict[str, Any]]:
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for n in nodes:
            if not isinstance(n, yaml.MappingNode):
                raise self._error(n, path, "a merge key (<<) takes a mapping or a list of mappings")
            yield self._mapping(n, path)


def _problem_location(exc: yaml.MarkedYAMLError, file: str) -> tuple[int, int]:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return 0, 0
    return mark.line + 1, mark.column + 1


def parse_documents(text: str, file: str) -> list[Document]:
    """All YAML documents of ``text``; raises ConfigError on malformed YAML."""
    loader = _Loader(text)
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            builder = _Builder(file)
            docs.append(Document(builder.build(node, ()), builder.pos))
    except yaml.MarkedYAMLError as exc:
        line, col = _problem_location(exc, file)
        problem = exc.problem or str(exc)
        if exc.context:
            problem = f"{exc.context}, {problem}"
        raise ConfigError(f"invalid YAML: {problem}", file=file, line=line, column=col) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    return docs


def strip_markers(value: Any) -> Any:
    """A copy of ``value`` without Reset entries and with Override unwrapped (for validation)."""
    if isinstance(value, Override):
        return strip_markers(value.value)
    if isinstance(value, dict):
        return {k: strip_markers(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [strip_markers(v) for v in value if not isinstance(v, Reset)]
    return value


__all__ = ["Document", "Positions", "PathPart", "parse_documents", "strip_markers"]
