"""The variables a compose file uses, with their defaults (``config --variables``).

As compose-go's ``template.ExtractVariables`` reads them (v2.9.1): every
``$NAME`` and ``${NAME...}`` in the file's strings (``$$`` is a literal
dollar); ``${NAME:?err}``/``${NAME?err}`` make it required,
``${NAME:-default}``/``${NAME-default}`` give its default value and
``${NAME:+alt}``/``${NAME+alt}`` its alternate (presence) value; variables
inside a default or an alternate value count too. Pure: it walks values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")


@dataclass(frozen=True)
class Variable:
    name: str
    default_value: str = ""
    presence_value: str = ""
    required: bool = False


def _closing(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose ``{`` is at ``start`` (nesting counted), or -1."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _in_string(text: str) -> Iterator[Variable]:
    i = 0
    while i < len(text):
        if text[i] != "$" or i + 1 >= len(text):
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            i += 2
            continue
        if nxt == "{":
            end = _closing(text, i + 1)
            if end < 0:
                return
            body = text[i + 2:end]
            m = _NAME.match(body)
            i = end + 1
            if m is None:
                continue
            name, rest = m.group(), body[m.end():]
            if rest.startswith((":?", "?")):
                var = Variable(name, required=True)
            elif rest.startswith((":-", "-")):
                var = Variable(name, default_value=rest[2 if rest.startswith(":") else 1:])
            elif rest.startswith((":+", "+")):
                var = Variable(name, presence_value=rest[2 if rest.startswith(":") else 1:])
            else:
                var = Variable(name)
            yield var
            for inner in (var.default_value, var.presence_value):
                if inner:
                    yield from _in_string(inner)
            continue
        m = _NAME.match(text, i + 1)
        if m is not None:
            yield Variable(m.group())
            i = m.end()
        else:
            i += 1


def extract(value: Any) -> dict[str, Variable]:
    """Every variable used in ``value`` (a parsed YAML tree), by name; a later use of a name wins."""
    out: dict[str, Variable] = {}
    if isinstance(value, str):
        for var in _in_string(value):
            out[var.name] = var
    elif isinstance(value, dict):
        for item in value.values():
            out.update(extract(item))
    elif isinstance(value, list):
        for item in value:
            out.update(extract(item))
    return out
