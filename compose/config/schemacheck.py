"""A quick yes-or-not-sure check of a document against the compose schema, without jsonschema.

jsonschema takes 30-45 ms to import, and a valid document needs none of its
error machinery. ``compile_schema`` turns the schema's keywords into closures
once per process (about a millisecond) and the check answers True (valid) or
False (not sure): a document it does not pass goes to jsonschema, which finds
and words the errors exactly as before. Where it is simpler, the check is
stricter than jsonschema (duplicates by Python equality, enum values of the
same type only, keys that are not strings): that only sends a few more
documents to jsonschema, never lets a bad one through. A keyword it does not
know makes it refuse to compile, and then every document goes to jsonschema.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

_MAPPING = ("properties", "patternProperties", "additionalProperties")
_SUBSCHEMA = {"additionalProperties", "propertyNames", "items", "if", "then", "else", "not"}
_KEYWORDS = {*_MAPPING, *_SUBSCHEMA, "definitions", "type", "$ref", "required", "uniqueItems", "minItems",
             "maxItems", "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum", "format",
             "allOf", "anyOf", "oneOf"}
_IGNORED = {"$comment", "$schema", "$id", "description", "title", "default", "examples", "deprecated"}


class Unsupported(Exception):
    """The schema uses a keyword this check does not know."""


def _is_type(name: str) -> Check:
    if name == "object":
        return lambda v: isinstance(v, dict)
    if name == "array":
        return lambda v: isinstance(v, list)
    if name == "string":
        return lambda v: isinstance(v, str)
    if name == "boolean":
        return lambda v: isinstance(v, bool)
    if name == "null":
        return lambda v: v is None
    if name == "number":
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool)
    if name == "integer":
        return lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    raise Unsupported(f"type {name}")


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and not isinstance(a, dict | list) and a == b


def _unique(items: list[Any]) -> bool:
    return all(not (items[i] == items[j]) for i in range(len(items)) for j in range(i + 1, len(items)))


class _Compiler:
    def __init__(self, schema: Mapping[str, Any], formats: Mapping[str, Callable[[Any], bool]]) -> None:
        self.root = schema
        self.formats = formats
        self.refs: dict[str, Check] = {}

    def ref(self, target: str) -> Check:
        if not target.startswith("#/definitions/") or \
                target.removeprefix("#/definitions/") not in self.root.get("definitions", {}):
            raise Unsupported(f"$ref {target}")
        if target not in self.refs:
            self.refs[target] = self.later(self.root["definitions"][target.removeprefix("#/definitions/")])
        return self.refs[target]

    def later(self, schema: Any) -> Check:
        """``schema``'s check, compiled the first time it is needed: a document reaches a small part of
        the compose schema (recursive definitions find themselves this way too)."""
        compiled: list[Check] = []

        def check(v: Any) -> bool:
            if not compiled:
                compiled.append(self.compile(schema))
            return compiled[0](v)

        return check

    def compile(self, schema: Any) -> Check:  # noqa: C901 - one branch per keyword
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise Unsupported(repr(schema))
        checks: list[Check] = []
        for key, arg in schema.items():
            if key in _IGNORED or key in ("definitions", "then", "else") or key in _MAPPING:
                continue
            checks.append(self.keyword(key, arg, schema))
        if any(key in schema for key in _MAPPING):
            checks.append(self.mapping(schema))
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    def keyword(self, key: str, arg: Any, schema: Mapping[str, Any]) -> Check:  # noqa: C901
        if key == "type":
            tests = [_is_type(t) for t in ([arg] if isinstance(arg, str) else arg)]
            return lambda v: any(t(v) for t in tests)
        if key == "$ref":
            return self.ref(arg)
        if key == "required":
            names = list(arg)
            return lambda v: not isinstance(v, dict) or all(n in v for n in names)
        if key == "propertyNames":
            key_check = self.compile(arg)
            return lambda v: not isinstance(v, dict) or all(isinstance(k, str) and key_check(k) for k in v)
        if key == "items":
            if not isinstance(arg, dict | bool):
                raise Unsupported("items as a list")
            each = self.compile(arg)
            return lambda v: not isinstance(v, list) or all(each(i) for i in v)
        if key == "uniqueItems":
            return (lambda v: not isinstance(v, list) or _unique(v)) if arg else (lambda v: True)
        if key == "minItems":
            return lambda v: not isinstance(v, list) or len(v) >= arg
        if key == "maxItems":
            return lambda v: not isinstance(v, list) or len(v) <= arg
        if key == "enum":
            choices = list(arg)
            return lambda v: any(_same(v, c) for c in choices)
        if key == "const":
            return lambda v: _same(v, arg)
        if key == "pattern":
            rx = re.compile(arg)
            return lambda v: not isinstance(v, str) or rx.search(v) is not None
        if key == "minLength":
            return lambda v: not isinstance(v, str) or len(v) >= arg
        if key == "maxLength":
            return lambda v: not isinstance(v, str) or len(v) <= arg
        if key in ("minimum", "maximum"):
            low = key == "minimum"
            return lambda v: (not isinstance(v, int | float) or isinstance(v, bool)
                              or (v >= arg if low else v <= arg))
        if key == "format":
            fmt = self.formats.get(arg)
            return (lambda v: True) if fmt is None else self.format(fmt)
        if key == "if":
            cond = self.compile(arg)
            then = self.compile(schema.get("then", True))
            other = self.compile(schema.get("else", True))
            return lambda v: then(v) if cond(v) else other(v)
        if key in ("allOf", "anyOf", "oneOf"):
            subs = [self.compile(s) for s in arg]
            if key == "allOf":
                return lambda v: all(s(v) for s in subs)
            if key == "anyOf":
                return lambda v: any(s(v) for s in subs)
            return lambda v: sum(1 for s in subs if s(v)) == 1
        if key == "not":
            sub = self.compile(arg)
            return lambda v: not sub(v)
        raise Unsupported(key)

    @staticmethod
    def format(fmt: Callable[[Any], bool]) -> Check:
        def check(v: Any) -> bool:
            try:
                return bool(fmt(v))
            except ValueError:
                return False

        return check

    def mapping(self, schema: Mapping[str, Any]) -> Check:
        """properties, patternProperties and additionalProperties together, as jsonschema applies them."""
        props = {name: self.later(s) for name, s in schema.get("properties", {}).items()}
        patterns = [(re.compile(p), self.later(s)) for p, s in schema.get("patternProperties", {}).items()]
        extra = schema.get("additionalProperties", True)
        rest = None if extra is True else self.later(extra)

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, value in v.items():
                if not isinstance(key, str):
                    return False
                matched = False
                sub = props.get(key)
                if sub is not None:
                    matched = True
                    if not sub(value):
                        return False
                for rx, pat in patterns:
                    if rx.search(key) is not None:
                        matched = True
                        if not pat(value):
                            return False
                if not matched and rest is not None and not rest(value):
                    return False
            return True

        return check


def _known(schema: Any) -> None:
    """Raise Unsupported for a keyword (anywhere in the schema) the check does not know."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise Unsupported(repr(schema))
    for key, arg in schema.items():
        if key in _IGNORED:
            continue
        if key not in _KEYWORDS:
            raise Unsupported(key)
        if key in ("properties", "patternProperties", "definitions"):
            for sub in arg.values():
                _known(sub)
        elif key in ("allOf", "anyOf", "oneOf"):
            for sub in arg:
                _known(sub)
        elif key in _SUBSCHEMA:
            if key == "items" and not isinstance(arg, dict | bool):
                raise Unsupported("items as a list")
            _known(arg)


def compile_schema(schema: Mapping[str, Any], formats: Mapping[str, Callable[[Any], bool]]) -> Check:
    """A check that is True only for documents the schema (Draft 7, our format checkers) accepts.

    Raises Unsupported when the schema uses a keyword the check does not know. Parts of the
    schema are compiled when a document first reaches them."""
    _known(schema)
    return _Compiler(schema, formats).compile(schema)
