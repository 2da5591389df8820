"""How commands talk to a group's supervisor: one JSON object per line, each way.

A command connects to the group's Unix socket, a file in a folder only root
may enter (``<root>/run/sockets``, 0700), not an abstract name: an abstract
socket is reachable from anything that shares the host's network namespace
(a ``network_mode: host`` container), a file only from what sees the folder,
and a container has its own mount namespace. The supervisor also accepts
only root (SO_PEERCRED). A command sends one request line and reads one reply line. Requests are
``{"op": "start" | "stop" | "kill" | "wait" | "attach" | "ping", "id": …}``;
replies are ``{"ok": true, …}`` or ``{"ok": false, "error": "…"}``. Both
sides use this module, so the framing and the field types are defined once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import stat
from collections.abc import Iterator, Mapping

from ..errors import EngineError
from ..state import Root

Message = dict[str, object]
MAX_LINE = 1 << 20  # a request or reply longer than this is refused
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def run_file(root: Root, group: str, suffix: str) -> str:
    """``<root>/run/supervisor-<group>.<suffix>``: the group's supervisor's lock, start lock, log, pid record."""
    return os.path.join(root.run, f"supervisor-{group}.{suffix}")


def socket_dir(root: Root) -> str:
    """``<root>/run/sockets``: root's only (0700), so nothing that cannot see this folder can connect."""
    return os.path.join(root.run, "sockets")


def socket_path(root: Root, group: str) -> str:
    """The file a group's supervisor listens on (a digest for a name that is no plain file name)."""
    name = group if _PLAIN.match(group) else hashlib.sha256(group.encode()).hexdigest()[:24]
    return os.path.join(socket_dir(root), f"{name}.sock")


def ensure_socket_dir(root: Root) -> str:
    """Make the sockets folder, or make sure it is still a folder of ours that only we can enter."""
    path = socket_dir(root)
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise EngineError(f"{path} is not a folder of this user's: remove it")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def connect(sock: socket.socket, root: Root, group: str) -> None:
    """Connect to the group's supervisor; FileNotFoundError or ConnectionRefusedError when none listens."""
    with _short(socket_path(root, group)) as address:
        sock.connect(address)


def bind(sock: socket.socket, root: Root, group: str) -> None:
    """Listen for the group (the caller holds the group's supervisor lock: a file left by a supervisor
    that died is removed first)."""
    path = socket_path(root, group)
    ensure_socket_dir(root)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    with _short(path) as address:
        sock.bind(address)


@contextlib.contextmanager
def _short(path: str) -> Iterator[str]:
    """``path`` as a socket address: through ``/proc/self/fd`` when it is longer than sun_path's 108 bytes."""
    if len(path.encode()) < 108:
        yield path
        return
    fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{os.path.basename(path)}"
    finally:
        os.close(fd)


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
