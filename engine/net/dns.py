"""The embedded DNS server of pycompose networks (Docker's 127.0.0.11, Podman's aardvark-dns).

It listens on each network's gateway address, port 53, UDP and TCP, and answers
containers' questions about other containers from a ``Resolver`` asked on every
query, so answers follow containers as they come and go (what it answers, and
why, is ``dnswire.answer``). Names the resolver does not know are forwarded to
the host's upstream resolvers.

One thread runs everything through one ``selectors`` loop: listeners, TCP
clients and forwarded queries, each forward on its own connected UDP socket
(a fresh source port and query id each, so off-path spoofing is hard; ICMP
"port unreachable" from a dead upstream moves on to the next one at once).
A pending forward never holds up other queries; it ends with the upstream's
answer relayed under the client's query id, or SERVFAIL once every upstream
has had ``timeout`` seconds.
"""

from __future__ import annotations

import errno
import logging
import random
import secrets
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .dnswire import (
    QR,
    REFUSED,
    SERVFAIL,
    Query,
    Resolver,
    answer,
    build_response,
    parse_query,
    parse_upstream,
    question_of,
    read_upstreams,
    search_domains,
)

__all__ = ["DnsServer", "Resolver", "parse_upstream", "read_upstreams", "search_domains"]

log = logging.getLogger(__name__)

TCP_MAX = 65535
TCP_IDLE = 10.0  # seconds a TCP client may stay silent (RFC 7766 asks for "a few")
MAX_TCP_CLIENTS = 256
MAX_PENDING = 512  # forwards in flight; more are REFUSED (each holds one socket)


def _family(ip: str) -> socket.AddressFamily:
    """The address family of an address in text form."""
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _listen(ip: str, port: int, kind: socket.SocketKind) -> socket.socket:
    """A bound non-blocking UDP or listening TCP socket; OSError naming the address."""
    sock = socket.socket(_family(ip), kind)
    try:
        if kind == socket.SOCK_STREAM:
            # for TCP only: a UDP socket with SO_REUSEADDR may share a port with another
            # one on Linux, and a second server on the same address must fail, not hide
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(64)
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        proto = "tcp" if kind == socket.SOCK_STREAM else "udp"
        raise OSError(err.errno, f"cannot serve DNS on {ip} port {port}/{proto}: "
                                 f"{err.strerror or err}") from err
    return sock


@dataclass(eq=False)
class _Tcp:
    """A TCP client: length-prefixed messages in and out."""

    sock: socket.socket
    client: str
    listener: tuple[str, int]
    deadline: float
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    closed: bool = False


_Target = tuple[socket.socket, Any] | _Tcp  # where an answer goes: (UDP listener, address) or a TCP client


@dataclass(eq=False)
class _Forward:
    """A query waiting for upstream ``index`` on its own connected socket."""

    query: Query
    target: _Target
    index: int
    ident: int
    sock: socket.socket
    deadline: float


class DnsServer:
    """Serves containers' DNS on any number of listen addresses from one thread.

    Drive it with ``serve_forever()`` in a thread of its own (``stop()`` from any
    thread ends it and closes every socket) or call ``run_once()`` from another
    loop. Listeners can be added and removed at any time, from any thread.
    """

    def __init__(self, resolver: Resolver, upstreams: Sequence[tuple[str, int]] = (), *,
                 search_domains: Sequence[str] = (), ttl: int = 0, timeout: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.resolver = resolver
        self.upstreams = list(upstreams)
        self.search_domains = [d.lower().strip(".") for d in search_domains]
        self.ttl = ttl
        self.timeout = timeout  # per upstream tried
        self._clock = clock
        self._random = random.Random()
        self._sel = selectors.DefaultSelector()
        self._lock = threading.RLock()
        self._listeners: dict[tuple[str, int], tuple[socket.socket, socket.socket]] = {}
        self._tcp: set[_Tcp] = set()
        self._pending: dict[int, _Forward] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, self._on_wake)
        self._closed = self._stopping = False
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    # listeners

    def add_listener(self, ip: str, port: int = 53) -> int:
        """Serve ``ip``:``port`` on UDP and TCP and return the port (port 0 picks a free
        one, the same for both). OSError naming the address if it cannot be bound."""
        for _ in range(20 if port == 0 else 1):
            udp = _listen(ip, port, socket.SOCK_DGRAM)
            bound = udp.getsockname()[1]
            try:
                tcp = _listen(ip, bound, socket.SOCK_STREAM)
            except OSError as err:
                udp.close()
                if port == 0 and err.errno == errno.EADDRINUSE:
                    continue
                raise
            with self._lock:
                if self._closed:
                    udp.close()
                    tcp.close()
                    raise OSError(errno.EBADF, "the DNS server is stopped")
                self._listeners[(ip, bound)] = (udp, tcp)
                self._sel.register(udp, selectors.EVENT_READ, partial(self._on_udp, udp))
                self._sel.register(tcp, selectors.EVENT_READ, partial(self._on_accept, tcp, (ip, bound)))
            self._wake()
            return int(bound)
        raise OSError(errno.EADDRINUSE, f"cannot find a free port for DNS on {ip}")

    def remove_listener(self, ip: str, port: int | None = None) -> bool:
        """Stop serving ``ip`` (on ``port``, or on every port) and drop its TCP clients;
        the sockets are closed when this returns. False if nothing listened there."""
        with self._lock:
            keys = [k for k in self._listeners if k[0] == ip and port in (None, k[1])]
            for key in keys:
                for sock in self._listeners.pop(key):
                    self._drop(sock)
            for conn in [c for c in self._tcp if c.listener in keys]:
                self._close_tcp(conn)
        return bool(keys)

    def listeners(self) -> list[tuple[str, int]]:
        """The (ip, port) pairs served now."""
        with self._lock:
            return list(self._listeners)

    # running

    def run_once(self, timeout: float | None = None) -> int:
        """Wait up to ``timeout`` seconds (None: until something happens) for events,
        handle them and expire what is overdue; the number of events handled."""
        with self._lock:
            if self._closed:
                return 0
            wait = self._until_deadline()
        if timeout is not None:
            wait = timeout if wait is None else min(wait, timeout)
        try:
            events = self._sel.select(wait)
        except (OSError, ValueError):
            if self._closed:  # closed by another thread while we waited
                return 0
            raise
        with self._lock:
            if self._closed:
                return 0
            live = self._sel.get_map()
            for key, mask in events:
                if live.get(key.fd) is key:
                    key.data(mask)
            self._expire()
        return len(events)

    def serve_forever(self) -> None:
        """Serve until ``stop()``; every socket is closed when this returns."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the DNS server is already serving")
            self._thread = threading.current_thread()
            self._done.clear()
        try:
            while not self._stopping:
                self.run_once()
        finally:
            self.close()
            with self._lock:
                self._thread = None
            self._done.set()

    def stop(self, wait: float = 5.0) -> None:
        """End ``serve_forever`` (from any thread) and close every socket; returns once
        they are closed (or after ``wait`` seconds if the serving thread is stuck)."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake()
        if thread is None or thread is threading.current_thread():
            if thread is None:
                self.close()
            return
        self._done.wait(wait)

    def close(self) -> None:
        """Close every socket now; the server cannot serve again."""
        with self._lock:
            if self._closed:
                return
            self._closed = self._stopping = True
            for pair in self._listeners.values():
                for sock in pair:
                    self._drop(sock)
            self._listeners.clear()
            for conn in list(self._tcp):
                self._close_tcp(conn)
            for forward in list(self._pending.values()):
                self._retire(forward)
            self._drop(self._wake_r)
            self._wake_w.close()
            self._sel.close()

    def __enter__(self) -> DnsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # internals; everything below runs with self._lock held

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # full (a wake-up is already due) or closed

    def _on_wake(self, mask: int) -> None:
        try:
            self._wake_r.recv(4096)
        except OSError:
            pass

    def _drop(self, sock: socket.socket) -> None:
        try:
            self._sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()

    def _until_deadline(self) -> float | None:
        deadlines = [f.deadline for f in self._pending.values()] + [c.deadline for c in self._tcp]
        return max(0.0, min(deadlines) - self._clock()) if deadlines else None

    def _expire(self) -> None:
        now = self._clock()
        for forward in [f for f in self._pending.values() if f.deadline <= now]:
            log.debug("DNS upstream %s timed out for %s", self.upstreams[forward.index], forward.query.name)
            self._retire(forward)
            self._forward(forward.query, forward.target, forward.index + 1)
        for conn in [c for c in self._tcp if c.deadline <= now]:
            self._close_tcp(conn)

    def _handle(self, data: bytes, client: str, target: _Target) -> None:
        query = parse_query(data)
        if query is None:
            return
        max_size = TCP_MAX if isinstance(target, _Tcp) else query.max_udp()
        try:
            reply = answer(query, client, self.resolver, search_domains=self.search_domains, ttl=self.ttl,
                           max_size=max_size, shuffle=self._random.shuffle)
        except Exception:  # the resolver is someone else's code: one bad query, not a dead server
            log.exception("DNS lookup of %r for %s failed", query.name, client)
            reply = build_response(query, SERVFAIL)
        if reply is None and self.upstreams:
            self._forward(query, target, 0)
        else:
            self._send(target, reply if reply is not None else build_response(query, SERVFAIL))

    def _send(self, target: _Target, data: bytes) -> None:
        if isinstance(target, _Tcp):
            if target.closed:
                return
            target.outbuf += len(data).to_bytes(2, "big") + data
            self._flush(target)
            return
        sock, address = target
        try:
            sock.sendto(data, address)
        except OSError as err:  # a full buffer or a gone listener: the client asks again
            log.debug("DNS answer to %s lost: %s", address, err)

    def _on_udp(self, sock: socket.socket, mask: int) -> None:
        for _ in range(64):  # then let the others have a turn
            try:
                data, address = sock.recvfrom(TCP_MAX)
            except OSError:
                return
            self._handle(data, address[0], (sock, address))

    def _on_accept(self, sock: socket.socket, listener: tuple[str, int], mask: int) -> None:
        try:
            conn, address = sock.accept()
        except OSError:
            return
        if len(self._tcp) >= MAX_TCP_CLIENTS:
            conn.close()
            return
        conn.setblocking(False)
        client = _Tcp(conn, address[0], listener, self._clock() + TCP_IDLE)
        self._tcp.add(client)
        self._sel.register(conn, selectors.EVENT_READ, partial(self._on_tcp, client))

    def _on_tcp(self, conn: _Tcp, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
        if not mask & selectors.EVENT_READ or conn.closed:
            return
        try:
            data = conn.sock.recv(TCP_MAX)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_tcp(conn)
            return
        conn.deadline = self._clock() + TCP_IDLE
        conn.inbuf += data
        while len(conn.inbuf) >= 2 and not conn.closed:
            size = int.from_bytes(conn.inbuf[:2], "big")
            if len(conn.inbuf) < 2 + size:
                break
            message = bytes(conn.inbuf[2 : 2 + size])
            del conn.inbuf[: 2 + size]
            self._handle(message, conn.client, conn)

    def _flush(self, conn: _Tcp) -> None:
        try:
            while conn.outbuf:
                sent = conn.sock.send(conn.outbuf)
                del conn.outbuf[:sent]
        except BlockingIOError:
            pass
        except OSError:
            self._close_tcp(conn)
            return
        if len(conn.outbuf) > 16 * TCP_MAX:  # a client that asks but never reads
            self._close_tcp(conn)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbuf else 0)
        if self._sel.get_key(conn.sock).events != events:
            self._sel.modify(conn.sock, events, partial(self._on_tcp, conn))

    def _close_tcp(self, conn: _Tcp) -> None:
        if not conn.closed:
            conn.closed = True
            self._tcp.discard(conn)
            self._drop(conn.sock)

    def _forward(self, query: Query, target: _Target, index: int) -> None:
        """Send ``query`` to upstream ``index`` (or the next one that takes it);
        SERVFAIL once there is none left."""
        if isinstance(target, _Tcp) and target.closed:
            return
        if len(self._pending) >= MAX_PENDING:
            self._send(target, build_response(query, REFUSED))
            return
        while index < len(self.upstreams):
            host, port = self.upstreams[index]
            ident = secrets.randbits(16)
            while ident in self._pending:
                ident = secrets.randbits(16)
            sock = socket.socket(_family(host), socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.connect((host, port))
                sock.send(ident.to_bytes(2, "big") + query.raw[2:])
            except OSError as err:
                log.debug("DNS upstream %s:%s unusable: %s", host, port, err)
                sock.close()
                index += 1
                continue
            forward = _Forward(query, target, index, ident, sock, self._clock() + self.timeout)
            self._pending[ident] = forward
            self._sel.register(sock, selectors.EVENT_READ, partial(self._on_upstream, forward))
            return
        self._send(target, build_response(query, SERVFAIL))

    def _retire(self, forward: _Forward) -> None:
        self._pending.pop(forward.ident, None)
        self._drop(forward.sock)

    def _on_upstream(self, forward: _Forward, mask: int) -> None:
        try:
            data = forward.sock.recv(TCP_MAX)
        except BlockingIOError:
            return
        except OSError as err:  # ICMP port unreachable and the like: next upstream now
            log.debug("DNS upstream %s failed: %s", self.upstreams[forward.index], err)
            self._retire(forward)
            self._forward(forward.query, forward.target, forward.index + 1)
            return
        head = question_of(data)
        expected = (tuple(lab.lower() for lab in forward.query.labels),
                    forward.query.qtype, forward.query.qclass)
        if head is None or head[0] != forward.ident or not head[1] & QR or head[2] != expected:
            return  # not the answer to this query: keep waiting until the deadline
        self._retire(forward)
        if head[1] & 0xF in (SERVFAIL, REFUSED) and forward.index + 1 < len(self.upstreams):
            self._forward(forward.query, forward.target, forward.index + 1)
            return
        self._send(forward.target, forward.query.raw[:2] + data[2:])
