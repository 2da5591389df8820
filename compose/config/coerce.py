"""Type conversion of validated values.

Interpolation runs before validation, so the schema lets a string stand
wherever a number or boolean goes (``"8080"``, ``"true"``). These helpers turn
such values into their real types, raising ValueError when they cannot.
"""

from __future__ import annotations

import shlex
from typing import Any

from .forms import kv_to_dict, scalar_str

_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = scalar_str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f'"{value}" is not a boolean (true or false)')


def to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f'"{value}" is not an integer')
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip(), 0) if str(value).strip().startswith("0o") else int(str(value).strip())
    except ValueError:
        raise ValueError(f'"{value}" is not an integer') from None


def to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f'"{value}" is not a number')
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f'"{value}" is not a number') from None


def to_mode(value: Any) -> int:
    """A file mode: 0o440 from YAML, or a string "0440" / "440" read as octal."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip(), 8)
    except ValueError:
        raise ValueError(f'"{value}" is not a file mode (like 0440)') from None


def opt_str(value: Any) -> str | None:
    return None if value is None else scalar_str(value)


def str_tuple(value: Any) -> tuple[str, ...]:
    """A string or a list of strings as a tuple (a lone string is one item)."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(scalar_str(v) for v in value)
    return (scalar_str(value),)


def command(value: Any) -> tuple[str, ...] | None:
    """``command``/``entrypoint``: a list as is, a string split as a shell would."""
    if value is None:
        return None
    if isinstance(value, list):
        return tuple(scalar_str(v) for v in value)
    try:
        return tuple(shlex.split(scalar_str(value)))
    except ValueError as exc:
        raise ValueError(f'cannot split "{value}" into words: {exc}') from None


def str_map(value: Any) -> dict[str, str]:
    """A list-or-map of KEY=VALUE as a mapping of strings (a key with no value maps to "")."""
    return {k: "" if v is None else scalar_str(v) for k, v in kv_to_dict(value).items()}


def opt_str_map(value: Any) -> dict[str, str | None]:
    """Like str_map, but a key with no value stays None (environment, build args)."""
    return {k: None if v is None else scalar_str(v) for k, v in kv_to_dict(value).items()}
