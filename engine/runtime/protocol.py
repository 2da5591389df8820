"""How commands talk to a group's supervisor: one JSON object per line, each way.

A command connects to the group's abstract Unix socket (only root may, by
SO_PEERCRED), sends one request line and reads one reply line. Requests are
``{"op": "start" | "stop" | "kill" | "wait" | "attach" | "ping", "id": …}``;
replies are ``{"ok": true, …}`` or ``{"ok": false, "error": "…"}``. Both
sides use this module, so the framing and the field types are defined once.
"""

from __future__ import annotations

import hashlib
import json
import signal
from collections.abc import Mapping

from ..errors import EngineError
from ..state import Root

Message = dict[str, object]
MAX_LINE = 1 << 20  # a request or reply longer than this is refused


def socket_address(root: Root, group: str) -> bytes:
    """The abstract socket name for a root's group (no file to leak)."""
    digest = hashlib.sha256(f"{root.path}\0{group}".encode()).hexdigest()[:24]
    return b"\0pycompose-" + digest.encode()


def signal_number(name: str | int) -> int:
    """``SIGTERM``, ``TERM``, ``term`` or ``15`` -> 15; EngineError for an unknown name."""
    text = str(name).upper()
    if text.isdigit():
        return int(text)
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(signal.Signals[text])
    except KeyError:
        raise EngineError(f"unknown signal {name}") from None


def encode(message: Mapping[str, object]) -> bytes:
    """One message as its line on the wire."""
    return json.dumps(message).encode() + b"\n"


def decode(line: bytes) -> Message:
    """One line from the wire as a message; EngineError unless it is a JSON object."""
    try:
        value: object = json.loads(line)
    except ValueError:
        raise EngineError("malformed message: not JSON") from None
    if not isinstance(value, dict):
        raise EngineError("malformed message: not a JSON object")
    return {str(k): v for k, v in value.items()}


def text(message: Mapping[str, object], key: str, default: str = "") -> str:
    value = message.get(key, default)
    return value if isinstance(value, str) else default


def number(message: Mapping[str, object], key: str) -> int | None:
    """An integer field (an exit code, a signal); None when absent or not an integer."""
    value = message.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def seconds(message: Mapping[str, object], key: str) -> float | None:
    """A duration field; None when absent or not a number."""
    value = message.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
