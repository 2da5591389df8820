"""Validate one compose document against schemas/compose-spec.json.

jsonschema's own messages (``'workdir' does not match any of the regexes:
'^x-'``) are rewritten into one sentence per error that names the file, line,
column and key path, with a "did you mean" where a key is misspelled. Every
error of a document is reported together. A valid document is recognised by
``schemacheck`` without jsonschema; jsonschema is imported here only, and only
for a document that check does not pass.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path as FsPath
from typing import Any

from ..errors import ConfigError, ConfigErrors, Location, PathPart
from .schemacheck import Check, Unsupported, compile_schema
from .syntax import check_expose, check_volume, parse_port
from .units import parse_duration
from .yamlload import Positions

SCHEMA_FILE = FsPath(__file__).resolve().parents[2] / "schemas" / "compose-spec.json"

_TYPE_NAMES = {
    "object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "a boolean", "null": "null",
}


def _check_ports(value: object) -> bool:
    if isinstance(value, str | int) and not isinstance(value, bool):
        parse_port(value)
    return True


def _check_duration(value: object) -> bool:
    if isinstance(value, str):
        parse_duration(value)
    return True


def _check_expose(value: object) -> bool:
    if isinstance(value, str | int) and not isinstance(value, bool) and value != "":  # Compose lets "" through
        check_expose(value)
    return True


def _check_volume(value: object) -> bool:
    if isinstance(value, str):
        check_volume(value)
    return True


_FORMATS = {"ports": _check_ports, "duration": _check_duration, "expose": _check_expose, "volume": _check_volume}


@lru_cache(maxsize=1)
def _schema() -> Any:
    with open(SCHEMA_FILE, encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=1)
def _quick() -> Check | None:
    """The schema compiled, once per process, into a yes-or-not-sure check that needs no jsonschema."""
    try:
        return compile_schema(_schema(), _FORMATS)
    except Unsupported:
        return None


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())
    for name, check in _FORMATS.items():
        checker.checks(name, raises=ValueError)(check)
    return jsonschema.Draft7Validator(_schema(), format_checker=checker)


def validate_document(data: Any, positions: Positions) -> None:
    """Raise ConfigErrors listing every problem of ``data`` (already interpolated, markers stripped).

    A document the quick check passes is valid; any other goes to jsonschema, which finds and words
    its errors (and passes the few the quick check was too strict about)."""
    quick = _quick()
    if quick is not None and quick(data):
        return
    errors: list[ConfigError] = []
    for err in _validator().iter_errors(data):
        errors.extend(_rewrite(err, positions))
    if errors:
        unique: dict[str, ConfigError] = {}
        for e in errors:
            unique.setdefault(str(e), e)
        ordered = sorted(unique.values(), key=lambda e: (e.line, e.column, str(e)))
        raise ConfigErrors(ordered)


def _at(positions: Positions, path: tuple[PathPart, ...], message: str, *, key: bool = False) -> ConfigError:
    loc: Location = positions.locate(path, key=key)
    return ConfigError(message, file=loc.file, line=loc.line, column=loc.column, path=path)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return json.dumps(value)


def _type_words(types: Iterable[str]) -> str:
    names = list(dict.fromkeys(_TYPE_NAMES.get(t, t) for t in types))
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _schema_types(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return []
    t = schema.get("type")
    if isinstance(t, str):
        return [t]
    if isinstance(t, list):
        return list(t)
    out: list[str] = []
    for key in ("oneOf", "anyOf"):
        for sub in schema.get(key, []):
            out.extend(_schema_types(_validator().resolver.resolve(sub["$ref"])[1]) if "$ref" in sub
                       else _schema_types(sub))
    return out


def _allowed_keys(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return []
    return sorted(schema.get("properties", {}))


def _rewrite(err: Any, positions: Positions) -> list[ConfigError]:
    path = tuple(err.absolute_path)
    v = err.validator
    if v == "additionalProperties" or (v == "patternProperties" and isinstance(err.instance, dict)):
        allowed = _allowed_keys(err.schema)
        props = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
        patterns = list((err.schema.get("patternProperties") or {}).keys()) if isinstance(err.schema, dict) else []
        import re

        extras = [k for k in err.instance if k not in props and not any(re.search(p, k) for p in patterns)]
        out = []
        for key in extras:
            hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            msg = f'unknown key "{key}"' + (f' (did you mean "{hint[0]}"?)' if hint else "")
            if not path and not key.startswith("x-"):
                msg += "; top-level keys are " + ", ".join(allowed) + " and x-*"
            out.append(_at(positions, path + (key,), msg, key=True))
        if out:
            return out
        return [_at(positions, path, _plain(err))]
    if v in ("oneOf", "anyOf") and err.context:
        return _rewrite_choice(err, positions)
    if v == "type":
        return [_at(positions, path, f"must be {_type_words(_schema_types(err.schema) or [err.validator_value] if isinstance(err.validator_value, str) else err.validator_value)}, not {_show(err.instance)}")]
    if v == "enum":
        choices = ", ".join(str(c) for c in err.validator_value)
        return [_at(positions, path, f"{_show(err.instance)} is not one of: {choices}")]
    if v == "format":
        cause = err.cause
        msg = str(cause) if cause else f"{_show(err.instance)} is not a valid {err.validator_value}"
        return [_at(positions, path, msg)]
    if v == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        return [_at(positions, path, f'"{k}" is required') for k in missing]
    return [_at(positions, path, _plain(err))]


def _plain(err: Any) -> str:
    v = err.validator
    if v == "minItems":
        return f"must have at least {err.validator_value} item(s)"
    if v == "uniqueItems":
        return "must not contain the same item twice"
    if v == "pattern":
        return f"{_show(err.instance)} does not match {err.validator_value}"
    if v in ("minimum", "maximum"):
        word = "at least" if v == "minimum" else "at most"
        return f"{_show(err.instance)} must be {word} {err.validator_value}"
    if v == "propertyNames":
        return f"invalid name {_show(err.instance)}"
    if v == "not":
        return "is not allowed here"
    return str(err.message)


def _rewrite_choice(err: Any, positions: Positions) -> list[ConfigError]:
    """For oneOf/anyOf: report the branch the value was evidently meant for."""
    branches: dict[int, list[Any]] = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    path = tuple(err.absolute_path)
    # A branch whose failures are all deeper than its own type check is the one the user meant.
    meant = [
        subs for subs in branches.values()
        if not any(s.validator == "type" and tuple(s.absolute_path) == path for s in subs)
    ]
    if len(meant) >= 1:
        best = min(meant, key=lambda subs: len(subs))
        out: list[ConfigError] = []
        for sub in best:
            out.extend(_rewrite(sub, positions))
        return out
    types: list[str] = []
    for subs in branches.values():
        for s in subs:
            if s.validator == "type":
                types.extend([s.validator_value] if isinstance(s.validator_value, str) else s.validator_value)
    return [_at(positions, path, f"must be {_type_words(types)}, not {_show(err.instance)}")]
