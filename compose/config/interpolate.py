"""Variable interpolation in Compose files, with Docker Compose's syntax and rules.

Supported forms (``VAR`` is ``[A-Za-z_][A-Za-z0-9_]*``)::

    $VAR  ${VAR}            value of VAR, "" (and a warning) when unset
    ${VAR:-default}         default when VAR is unset or empty
    ${VAR-default}          default when VAR is unset
    ${VAR:?message}         error when VAR is unset or empty
    ${VAR?message}          error when VAR is unset
    ${VAR:+alternate}       alternate when VAR is set and not empty, else ""
    ${VAR+alternate}        alternate when VAR is set, else ""
    $$                      a literal "$"

Defaults, alternates and messages are themselves interpolated, lazily (only
when used), to any depth. A ``$`` followed by anything other than a name,
``{`` or ``$`` is kept as is; a malformed ``${...}`` is an error.

The rules follow compose-go's ``template`` package, including its choice of
the closing brace: braces are counted within the rest of the line (the
character after each ``{`` is skipped, as compose-go does), and when they do
not balance, the last ``}`` on the line closes the expression.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from compose.config.markers import Override, Reset
from compose.errors import ConfigError, Location, Path

Lookup = Callable[[str], str | None]
OnUnset = Callable[[str], None]
Locate = Callable[[tuple[str | int, ...]], Location | None]

_NAME_START = frozenset(string.ascii_letters + "_")
_NAME_CHARS = _NAME_START | frozenset(string.digits)
# Two-character operators first, so that ":-" is not read as ":" then "-".
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(Exception):
    """A string cannot be interpolated: bad syntax or a required variable is missing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def interpolate_string(text: str, lookup: Lookup, *, on_unset: OnUnset | None = None) -> str:
    """Replace the variables in ``text``; ``lookup`` returns None for an unset variable.

    ``on_unset(name)`` is called for each plain ``$VAR``/``${VAR}`` whose
    variable is unset (it becomes ""). Raises InterpolationError.
    """
    if "$" not in text:
        return text
    return _Interpolator(text, lookup, on_unset).expand(text)


def unset_warning(name: str) -> str:
    """The warning Docker Compose prints for an unset variable."""
    return f'The "{name}" variable is not set. Defaulting to a blank string.'


def interpolate_tree(
    data: Any,
    lookup: Lookup,
    *,
    filename: str,
    locate: Locate,
) -> tuple[Any, list[str]]:
    """Interpolate every string value in a loaded YAML tree (mapping keys are left alone).

    Returns the new tree and the warnings for unset variables (each once, in
    the order first met). An interpolation error is raised as a ConfigError
    located with ``locate(path)`` (or at ``filename`` when it returns None).
    """
    walker = _TreeWalker(lookup=lookup, filename=filename, locate=locate)
    return walker.walk(data, ()), walker.warnings


# --- strings -----------------------------------------------------------------


MAX_DEPTH = 64  # defaults within defaults: far beyond any real file, far below Python's recursion limit


@dataclass
class _Interpolator:
    source: str
    lookup: Lookup
    on_unset: OnUnset | None
    depth: int = 0

    def expand(self, template: str) -> str:
        if self.depth >= MAX_DEPTH:
            raise InterpolationError(f"interpolation nested deeper than {MAX_DEPTH} levels in "
                                     f"{_go_quote(self.source[:60] + ('...' if len(self.source) > 60 else ''))}")
        self.depth += 1
        try:
            return self._expand(template)
        finally:
            self.depth -= 1

    def _expand(self, template: str) -> str:
        parts: list[str] = []
        pos = 0
        while (dollar := template.find("$", pos)) >= 0:
            parts.append(template[pos:dollar])
            text, pos = self._substitution(template, dollar)
            parts.append(text)
        parts.append(template[pos:])
        return "".join(parts)

    def _substitution(self, template: str, start: int) -> tuple[str, int]:
        """Expand what starts at the ``$`` at ``start``; return it and where the rest starts."""
        following = template[start + 1 : start + 2]
        if following == "$":
            return "$", start + 2
        if following == "{":
            return self._braced(template, start)
        end = _name_end(template, start + 1)
        if end == start + 1:
            return "$", start + 1
        return self._reference(template[start + 1 : end]), end

    def _braced(self, template: str, start: int) -> tuple[str, int]:
        name_end = _name_end(template, start + 2)
        name = template[start + 2 : name_end]
        if not name:
            raise self._invalid()
        if template.startswith("}", name_end):
            return self._reference(name), name_end + 1
        operator = _operator_at(template, name_end)
        if operator is None:
            raise self._invalid()
        arg_start = name_end + len(operator)
        close = _closing_brace(template, start + 1, arg_start)
        if close < 0:
            raise self._invalid()
        return self._apply(name, operator, template[arg_start:close]), close + 1

    def _reference(self, name: str) -> str:
        value = self.lookup(name)
        if value is not None:
            return value
        if self.on_unset is not None:
            self.on_unset(name)
        return ""

    def _apply(self, name: str, operator: str, arg: str) -> str:
        value = self.lookup(name)
        empty_counts = operator.startswith(":")
        if operator.endswith("-"):
            return self._default(value, arg, empty_counts)
        if operator.endswith("+"):
            return self._alternate(value, arg, empty_counts)
        return self._required(name, value, arg, empty_counts)

    def _default(self, value: str | None, arg: str, empty_counts: bool) -> str:
        if value is None or (empty_counts and value == ""):
            return self.expand(arg)
        return value

    def _alternate(self, value: str | None, arg: str, empty_counts: bool) -> str:
        if value is None or (empty_counts and value == ""):
            return ""
        return self.expand(arg)

    def _required(self, name: str, value: str | None, arg: str, empty_counts: bool) -> str:
        if value is None or (empty_counts and value == ""):
            raise InterpolationError(_missing_message(name, self.expand(arg)))
        return value

    def _invalid(self) -> InterpolationError:
        return InterpolationError(
            f"invalid interpolation format for {_go_quote(self.source)}: "
            "you may need to escape any $ with another $"
        )


def _name_end(text: str, start: int) -> int:
    """End of the variable name starting at ``start`` (``start`` itself when there is none)."""
    if start >= len(text) or text[start] not in _NAME_START:
        return start
    end = start + 1
    while end < len(text) and text[end] in _NAME_CHARS:
        end += 1
    return end


def _operator_at(text: str, pos: int) -> str | None:
    for operator in _OPERATORS:
        if text.startswith(operator, pos):
            return operator
    return None


def _closing_brace(text: str, open_brace: int, arg_start: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``open_brace``, or -1.

    Only the current line counts. Braces are counted as compose-go counts
    them (the character right after a ``{`` is not looked at); when they never
    balance, the last ``}`` after ``arg_start`` on the line closes.
    """
    line_end = text.find("\n", arg_start)
    if line_end < 0:
        line_end = len(text)
    depth = 0
    pos = open_brace
    while pos < line_end:
        char = text[pos]
        if char == "}":
            depth -= 1
            if depth == 0:
                return pos
        elif char == "{":
            depth += 1
            pos += 1
        pos += 1
    return text.rfind("}", arg_start, line_end)


def _missing_message(name: str, reason: str) -> str:
    if reason:
        return f"required variable {name} is missing a value: {reason}"
    return f"required variable {name} is missing a value"


def _go_quote(text: str) -> str:
    """A double-quoted rendering of ``text`` (like Go's ``%q``), escapes included."""
    return json.dumps(text, ensure_ascii=False)


# --- trees -------------------------------------------------------------------


@dataclass
class _TreeWalker:
    lookup: Lookup
    filename: str
    locate: Locate

    def __post_init__(self) -> None:
        self.warnings: list[str] = []

    def walk(self, node: Any, path: Path) -> Any:
        if isinstance(node, str):
            return self._string(node, path)
        if isinstance(node, dict):
            return {key: self.walk(value, (*path, _path_part(key))) for key, value in node.items()}
        if isinstance(node, list):
            return [self.walk(item, (*path, index)) for index, item in enumerate(node)]
        if isinstance(node, Override):
            return Override(self.walk(node.value, path))
        if isinstance(node, Reset):
            return node
        return node

    def _string(self, text: str, path: Path) -> str:
        try:
            return interpolate_string(text, self.lookup, on_unset=self._warn_unset)
        except InterpolationError as exc:
            location = self.locate(path) or Location(self.filename)
            raise ConfigError.at(location, path, exc.message) from exc

    def _warn_unset(self, name: str) -> None:
        warning = unset_warning(name)
        if warning not in self.warnings:
            self.warnings.append(warning)


def _path_part(key: Any) -> str | int:
    return key if isinstance(key, str) else str(key)
