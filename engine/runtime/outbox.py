"""Replies to commands, written without ever waiting for a client to read them.

A reply is sent at once if the connection's buffer takes it (it nearly always
does: replies are short). What does not fit stays in the outbox and goes out
when the connection is writable; a client that never reads is dropped after
``timeout`` seconds. Either way the loop never blocks on a client.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from .loop import Loop, Timer
from .protocol import encode


@dataclass(eq=False)
class _Pending:
    data: bytes
    deadline: Timer


class Outbox:
    def __init__(self, loop: Loop, timeout: float = 30.0) -> None:
        self.loop = loop
        self.timeout = timeout
        self._pending: dict[socket.socket, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def reply(self, conn: socket.socket, message: Mapping[str, object]) -> None:
        """Send ``message`` on ``conn`` and close it once it is all sent."""
        if conn in self._pending:  # one reply per connection
            return
        with contextlib.suppress(OSError):
            conn.setblocking(False)
        self._send(conn, encode(message))

    def _send(self, conn: socket.socket, data: bytes) -> None:
        try:
            sent = conn.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:  # the client is gone
            self._close(conn)
            return
        rest = data[sent:]
        if not rest:
            self._close(conn)
            return
        pending = self._pending.get(conn)
        if pending is None:
            timer = self.loop.later(self.timeout, lambda: self._close(conn))
            self._pending[conn] = _Pending(rest, timer)
            self.loop.watch(conn, lambda: self._writable(conn), selectors.EVENT_WRITE)
        else:
            pending.data = rest

    def _writable(self, conn: socket.socket) -> None:
        pending = self._pending.get(conn)
        if pending is not None:
            self._send(conn, pending.data)

    def _close(self, conn: socket.socket) -> None:
        pending = self._pending.pop(conn, None)
        if pending is not None:
            pending.deadline.cancel()
        self.loop.unwatch(conn)
        conn.close()

    def close_all(self) -> None:
        for conn in list(self._pending):
            self._close(conn)
