"""``RUN --mount=...`` options, parsed and checked (pure): what BuildKit accepts, with its defaults.

``type=cache`` (the default type), ``bind``, ``secret`` and ``tmpfs`` are
supported; ``type=ssh`` is refused with what to do instead.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_KEYS = {
    "bind": {"target", "source", "from", "readonly", "readwrite"},
    "cache": {"target", "source", "from", "readonly", "id", "sharing", "mode", "uid", "gid"},
    "tmpfs": {"target", "size"},
    "secret": {"target", "id", "required", "mode", "uid", "gid", "env"},
    "ssh": set(),
}
_ALIASES = {"dst": "target", "destination": "target", "src": "source", "ro": "readonly", "rw": "readwrite"}
_BOOLS = {"readonly", "readwrite", "required"}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30}


@dataclass(frozen=True)
class MountOption:
    type: str
    target: str  # absolute, normalized ("" only for a secret given as env= alone)
    source: str = ""
    from_: str = ""  # a stage, image or named context ("" for the build context)
    read_only: bool = True
    id: str = ""  # cache and secret ids (a cache's default: its target)
    sharing: str = "shared"
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None  # tmpfs bytes
    required: bool = False
    env: str = ""  # secret: also (or only) as this environment variable


def parse_mount(text: str, workdir: str = "/") -> MountOption:
    """One ``--mount`` value (``type=cache,target=/root/.cache``); ValueError says what is wrong."""
    fields: dict[str, str] = {}
    for item in _split_csv(text):
        key, eq, value = item.partition("=")
        key = _ALIASES.get(key.strip().lower(), key.strip().lower())
        if not key:
            raise ValueError(f'invalid --mount "{text}": empty field')
        if key in _BOOLS and not eq:
            value = "true"
        fields[key] = value
    kind = fields.pop("type", "cache")
    if kind not in _TYPES:
        raise ValueError(f'unknown mount type "{kind}" in --mount (bind, cache, tmpfs, secret or ssh)')
    if kind == "ssh":
        raise ValueError("RUN --mount=type=ssh is not supported: pycompose builds forward no SSH agent; "
                         "use a build secret (--mount=type=secret) for the key, or fetch over HTTPS")
    unknown = sorted(set(fields) - _KEYS[kind])
    if unknown:
        raise ValueError(f'--mount type={kind}: unknown option "{unknown[0]}"')
    target = fields.get("target", "")
    if kind == "secret":
        ident = fields.get("id") or posixpath.basename(target)
        if not ident:
            raise ValueError("--mount type=secret needs an id (id=NAME) or a target")
        if not target and not fields.get("env"):
            target = f"/run/secrets/{ident}"
    else:
        ident = fields.get("id", "")
    if not target and not (kind == "secret" and fields.get("env")):
        raise ValueError(f"--mount type={kind} needs a target (target=/path)")
    if target:
        target = posixpath.normpath(posixpath.join(workdir or "/", target))
        if target == "/":
            raise ValueError(f"--mount type={kind}: the target cannot be /")
    read_only = kind in ("bind", "secret") and _bool(fields, "readwrite", False) is False
    if kind == "cache":
        read_only = _bool(fields, "readonly", False)
    elif kind == "bind" and "readonly" in fields:
        read_only = _bool(fields, "readonly", True)
    sharing = fields.get("sharing", "shared")
    if sharing not in ("shared", "private", "locked"):
        raise ValueError(f'--mount type=cache: sharing must be shared, private or locked, not "{sharing}"')
    return MountOption(
        type=kind, target=target, source=fields.get("source", ""), from_=fields.get("from", ""),
        read_only=read_only, id=ident or (target if kind == "cache" else ""), sharing=sharing,
        mode=_octal(fields, "mode"), uid=_int(fields, "uid"), gid=_int(fields, "gid"),
        size=_size(fields.get("size")), required=_bool(fields, "required", False), env=fields.get("env", ""))


def _split_csv(text: str) -> list[str]:
    """Comma-separated fields; a field in double quotes may hold commas (``"target=/a,b"``)."""
    out: list[str] = []
    field, quote = "", False
    for ch in text:
        if ch == '"':
            quote = not quote
        elif ch == "," and not quote:
            out.append(field)
            field = ""
        else:
            field += ch
    if quote:
        raise ValueError(f'invalid --mount "{text}": unterminated quote')
    out.append(field)
    return [f for f in out if f.strip()]


def _bool(fields: dict[str, str], key: str, default: bool) -> bool:
    if key not in fields:
        return default
    value = fields[key].lower()
    if value in ("", "true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ValueError(f'--mount {key}: "{fields[key]}" is not true or false')


def _int(fields: dict[str, str], key: str) -> int | None:
    if key not in fields:
        return None
    if not fields[key].isdigit():
        raise ValueError(f'--mount {key}: "{fields[key]}" is not a number')
    return int(fields[key])


def _octal(fields: dict[str, str], key: str) -> int | None:
    if key not in fields:
        return None
    try:
        value = int(fields[key], 8)
    except ValueError:
        raise ValueError(f'--mount {key}: "{fields[key]}" is not an octal mode such as 0755') from None
    if not 0 <= value <= 0o7777:
        raise ValueError(f'--mount {key}: "{fields[key]}" is out of range')
    return value


def _size(text: str | None) -> int | None:
    if text is None:
        return None
    t = text.strip().lower()
    digits = t.rstrip("bkmg")
    unit = t[len(digits):]
    if not digits.isdigit() or unit not in _SIZE_UNITS:
        raise ValueError(f'--mount size: "{text}" is not a size such as 64m')
    return int(digits) * _SIZE_UNITS[unit]
