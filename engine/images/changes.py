"""``--change`` instructions (Dockerfile syntax) applied to an image's run-time config.

``docker import -c`` accepts a handful of Dockerfile instructions that only
touch metadata. This module turns them into edits of the Docker-style
``config`` object (``Env``, ``Cmd``...) and refuses anything else by name,
before any byte of the tarball is read. Variables (``$FOO``) are not expanded.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import signal
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import EngineError

Config = dict[str, Any]
_PORT = re.compile(r"(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?")
_RT_SIGNAL = re.compile(r"SIGRTM(?:IN\+\d+|AX-\d+|IN|AX)")


def apply(config: Config, changes: Sequence[str]) -> Config:
    """Return ``config`` with every change applied in order; EngineError naming a bad one."""
    out = json.loads(json.dumps(config))
    for change in changes:
        word, rest = (change.split(None, 1) + ["", ""])[:2]
        handler = _HANDLERS.get(word.upper())
        if handler is None:
            raise EngineError(f'unsupported --change instruction "{word}" in "{change}" '
                              f"(supported: {', '.join(sorted(_HANDLERS))})")
        rest = rest.strip()
        if not rest:
            raise EngineError(f'{word.upper()} requires at least one argument: "{change}"')
        try:
            handler(out, rest)
        except ValueError as exc:  # shlex and int() complaints, re-worded with the instruction
            raise EngineError(f'bad --change "{change}": {exc}') from None
    return out


def _json_array(rest: str) -> list[str] | None:
    """The JSON (exec) form of an argument, or None when ``rest`` is not a JSON array of strings."""
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def _command(rest: str) -> list[str]:
    """Exec form, or shell form, which runs under /bin/sh -c as Docker does."""
    array = _json_array(rest)
    return ["/bin/sh", "-c", rest] if array is None else array


def _pairs(rest: str, what: str) -> list[tuple[str, str]]:
    """``K=V K2="V 2"`` pairs, or the old ``K V with spaces`` form."""
    first = rest.split(None, 1)[0]
    if "=" not in first:
        parts = rest.split(None, 1)
        if len(parts) < 2:
            raise ValueError(f"{what} needs a value: {what} {first} VALUE or {what} {first}=VALUE")
        return [(parts[0], parts[1].strip())]
    out = []
    for word in shlex.split(rest):
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise ValueError(f'"{word}" is not NAME=VALUE')
        out.append((key, value))
    return out


def _cmd(config: Config, rest: str) -> None:
    config["Cmd"] = _command(rest)


def _entrypoint(config: Config, rest: str) -> None:
    config["Entrypoint"] = _command(rest)


def _env(config: Config, rest: str) -> None:
    env: list[str] = config.get("Env") or []
    for key, value in _pairs(rest, "ENV"):
        env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
    config["Env"] = env


def _label(config: Config, rest: str) -> None:
    labels: dict[str, str] = config.get("Labels") or {}
    labels.update(_pairs(rest, "LABEL"))
    config["Labels"] = labels


def _workdir(config: Config, rest: str) -> None:
    config["WorkingDir"] = posixpath.normpath(posixpath.join("/", config.get("WorkingDir") or "", rest))


def _user(config: Config, rest: str) -> None:
    config["User"] = rest


def _expose(config: Config, rest: str) -> None:
    ports: dict[str, Any] = config.get("ExposedPorts") or {}
    for spec in rest.split():
        m = _PORT.fullmatch(spec.lower())
        low, high = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (0, -1)
        if not m or not 0 < low <= high <= 65535:
            raise ValueError(f'invalid port "{spec}" (PORT[-PORT][/tcp|udp|sctp])')
        proto = m.group(3) or "tcp"
        ports.update({f"{p}/{proto}": {} for p in range(low, high + 1)})
    config["ExposedPorts"] = ports


def _volume(config: Config, rest: str) -> None:
    array = _json_array(rest)
    paths = rest.split() if array is None and not rest.startswith("[") else array
    if not paths or not all(paths):
        raise ValueError("VOLUME takes paths, as a JSON array or separated by spaces")
    volumes: dict[str, Any] = config.get("Volumes") or {}
    volumes.update({p: {} for p in paths})
    config["Volumes"] = volumes


def _stopsignal(config: Config, rest: str) -> None:
    if rest.isdigit():
        if not 0 < int(rest) <= 64:
            raise ValueError(f'signal number out of range: "{rest}"')
    else:
        name = rest.upper() if rest.upper().startswith("SIG") else "SIG" + rest.upper()
        if not (isinstance(getattr(signal, name, None), signal.Signals) or _RT_SIGNAL.fullmatch(name)):
            raise ValueError(f'unknown signal "{rest}"')
    config["StopSignal"] = rest


_HANDLERS: dict[str, Callable[[Config, str], None]] = {
    "CMD": _cmd, "ENTRYPOINT": _entrypoint, "ENV": _env, "LABEL": _label, "WORKDIR": _workdir,
    "USER": _user, "EXPOSE": _expose, "VOLUME": _volume, "STOPSIGNAL": _stopsignal,
}
