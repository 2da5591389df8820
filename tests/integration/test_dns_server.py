"""The embedded DNS server over real sockets, on loopback addresses only.

Every server, upstream and client binds 127.0.0.x itself; nothing is sent
anywhere else (no real resolver, nothing from the host's resolv.conf). A
second DnsServer plays the upstream; a bound UDP socket that never answers
plays a dead one.
"""

import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from engine.net import dnswire as w
from engine.net.dns import DnsServer

SERVER = "127.0.0.153"
UPSTREAM = "127.0.0.154"
BLACKHOLE = "127.0.0.155"
EXTRA = "127.0.0.156"
CLIENT = "127.0.0.77"


class FakeResolver:
    """Names per client address would be the caller's business; here one table, and
    the clients seen, so the test can tell the client address got through."""

    def __init__(self, names=None, reverse=None):
        self.names = dict(names or {})
        self.reverses = dict(reverse or {})
        self.clients = []

    def lookup(self, client, name):
        self.clients.append(client)
        if name == "boom":
            raise RuntimeError("resolver bug")
        return self.names.get(name)

    def reverse(self, client, address):
        self.clients.append(client)
        return self.reverses.get(address)


def make_query(name, qtype=w.A, ident=0x4242, edns=None):
    raw = struct.pack("!HHHHHH", ident, w.RD, 1, 0, 0, 1 if edns else 0)
    raw += w.encode_name(name) + struct.pack("!HH", qtype, w.IN)
    if edns:
        raw += b"\0" + struct.pack("!HHIH", w.OPT, edns, 0, 0)
    return raw


def udp_ask(addr, name, qtype=w.A, ident=0x4242, source="127.0.0.1", timeout=5.0, edns=None):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        sock.sendto(make_query(name, qtype, ident, edns), addr)
        data, peer = sock.recvfrom(65535)
    assert peer == addr
    reply = w.parse_message(data)
    assert reply is not None
    return reply


def tcp_ask(addr, names, qtype=w.A, timeout=5.0):
    """Several queries pipelined on one TCP connection, ids 1, 2, ..."""
    with socket.create_connection(addr, timeout=timeout) as sock:
        sock.sendall(b"".join(
            len(q).to_bytes(2, "big") + q
            for q in (make_query(n, qtype, i + 1) for i, n in enumerate(names))))
        buf, replies = b"", []
        while len(replies) < len(names):
            while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
                chunk = sock.recv(65535)
                assert chunk, "server closed the connection"
                buf += chunk
            size = int.from_bytes(buf[:2], "big")
            replies.append(w.parse_message(buf[2 : 2 + size]))
            buf = buf[2 + size :]
    return replies


class Running:
    """A DnsServer serving in its own thread; ``close()`` stops it and checks the thread ended."""

    def __init__(self, resolver, upstreams=(), ip=SERVER, port=0, **kw):
        self.server = DnsServer(resolver, upstreams, **kw)
        self.port = self.server.add_listener(ip, port)
        self.addr = (ip, self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.stop()
        self.thread.join(5)
        assert not self.thread.is_alive()


@pytest.fixture
def running():
    made = []

    def start(*args, **kw):
        made.append(Running(*args, **kw))
        return made[-1]

    yield start
    for r in made:
        r.close()


@pytest.fixture
def blackhole():
    """An upstream that takes queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((BLACKHOLE, 0))
        yield sock.getsockname()


def closed_port(ip):
    """A UDP port on ``ip`` with nobody behind it (queries get ICMP port unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ip, 0))
        return sock.getsockname()


NAMES = {"db": ["10.0.0.5", "10.0.0.6"], "web": ["10.0.0.7"]}


def test_udp_answers_and_client_address(running):
    resolver = FakeResolver(NAMES)
    srv = running(resolver)
    reply = udp_ask(srv.addr, "DB", source=CLIENT, ident=0xBEEF)
    assert (reply.id, reply.rcode) == (0xBEEF, w.NOERROR)
    assert reply.flags & (w.QR | w.AA | w.RD | w.RA) == w.QR | w.AA | w.RD | w.RA
    assert sorted(r.value for r in reply.answers) == ["10.0.0.5", "10.0.0.6"]
    assert {r.ttl for r in reply.answers} == {0}
    assert resolver.clients == [CLIENT]


def test_answers_follow_the_resolver(running):
    resolver = FakeResolver(NAMES)
    srv = running(resolver)
    assert [r.value for r in udp_ask(srv.addr, "web").answers] == ["10.0.0.7"]
    resolver.names["web"] = ["10.0.0.8"]
    assert [r.value for r in udp_ask(srv.addr, "web").answers] == ["10.0.0.8"]


def test_aaaa_ptr_search_domain(running):
    srv = running(FakeResolver(NAMES, {"10.0.0.5": "db"}), search_domains=["localdomain"])
    aaaa = udp_ask(srv.addr, "db", w.AAAA)
    assert (aaaa.rcode, aaaa.answers) == (w.NOERROR, [])
    ptr = udp_ask(srv.addr, "5.0.0.10.in-addr.arpa", w.PTR)
    assert [(r.rtype, r.value) for r in ptr.answers] == [(w.PTR, "db")]
    assert len(udp_ask(srv.addr, "db.localdomain.").answers) == 2


def test_tcp_pipelined(running):
    srv = running(FakeResolver(NAMES))
    replies = tcp_ask(srv.addr, ["db", "web", "db"])
    assert [r.id for r in replies] == [1, 2, 3]
    assert [len(r.answers) for r in replies] == [2, 1, 2]


def test_truncated_over_udp_whole_over_tcp(running):
    many = {"many": [f"10.1.0.{i}" for i in range(1, 101)]}
    srv = running(FakeResolver(many))
    udp = udp_ask(srv.addr, "many")
    assert udp.flags & w.TC and len(udp.answers) < 100
    edns = udp_ask(srv.addr, "many", edns=4096)
    assert not edns.flags & w.TC and len(edns.answers) == 100
    (tcp,) = tcp_ask(srv.addr, ["many"])
    assert not tcp.flags & w.TC and len(tcp.answers) == 100


def test_no_upstream_gives_servfail(running):
    srv = running(FakeResolver(NAMES))
    assert udp_ask(srv.addr, "elsewhere.test").rcode == w.SERVFAIL


def test_garbage_and_resolver_errors_do_not_stop_it(running):
    srv = running(FakeResolver(NAMES))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for junk in (b"", b"\0", b"\xff" * 40, make_query("db")[:-3]):
            sock.sendto(junk, srv.addr)
    with socket.create_connection(srv.addr, timeout=5) as sock:  # a TCP client that says nonsense
        sock.sendall(b"\0\5hello")
        sock.sendall(b"\0\0")
    assert udp_ask(srv.addr, "boom").rcode == w.SERVFAIL
    assert len(udp_ask(srv.addr, "db").answers) == 2


def test_forwarding_keeps_the_query_id(running):
    upstream = running(FakeResolver({"example.test": ["192.0.2.10"]}), ip=UPSTREAM)
    srv = running(FakeResolver(NAMES), [upstream.addr])
    for ident in (0x0001, 0xBEEF, 0xFFFF):
        reply = udp_ask(srv.addr, "Example.Test", ident=ident)
        assert (reply.id, reply.rcode) == (ident, w.NOERROR)
        assert [r.value for r in reply.answers] == ["192.0.2.10"]
        assert reply.questions[0][0] == (b"Example", b"Test")
    (tcp,) = tcp_ask(srv.addr, ["example.test"])
    assert [r.value for r in tcp.answers] == ["192.0.2.10"]
    # known names never go upstream
    assert len(udp_ask(srv.addr, "db").answers) == 2


def test_upstream_servfail_moves_on(running):
    empty = running(FakeResolver(), ip=UPSTREAM)  # no upstream of its own: SERVFAIL
    good = running(FakeResolver({"example.test": ["192.0.2.10"]}), ip=EXTRA)
    srv = running(FakeResolver(), [empty.addr, good.addr])
    assert [r.value for r in udp_ask(srv.addr, "example.test").answers] == ["192.0.2.10"]


def test_dead_upstream_gives_servfail_in_time_without_blocking(running, blackhole):
    srv = running(FakeResolver(NAMES), [blackhole], timeout=1.0)
    results = {}

    def slow(ident):
        start = time.monotonic()
        results[ident] = (udp_ask(srv.addr, "elsewhere.test", ident=ident), time.monotonic() - start)

    threads = [threading.Thread(target=slow, args=(i,)) for i in (7, 8)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # both forwards are pending now
    start = time.monotonic()
    for _ in range(10):
        assert len(udp_ask(srv.addr, "db").answers) == 2
    (tcp,) = tcp_ask(srv.addr, ["web"])
    assert len(tcp.answers) == 1
    assert time.monotonic() - start < 0.5, "local answers waited for the forward"
    for t in threads:
        t.join(5)
    for ident, (reply, elapsed) in results.items():
        assert (reply.id, reply.rcode) == (ident, w.SERVFAIL)
        assert 0.9 <= elapsed < 2.0


def test_failover_after_timeout_and_on_refusal(running, blackhole):
    good = running(FakeResolver({"example.test": ["192.0.2.10"]}), ip=UPSTREAM)
    srv = running(FakeResolver(), [blackhole, closed_port(EXTRA), good.addr], timeout=0.5)
    start = time.monotonic()
    reply = udp_ask(srv.addr, "example.test")
    assert [r.value for r in reply.answers] == ["192.0.2.10"]
    assert 0.4 <= time.monotonic() - start < 1.5  # one timeout; the closed port fails at once


def test_listeners_come_and_go(running):
    srv = running(FakeResolver(NAMES))
    port = srv.server.add_listener(EXTRA, 0)
    assert len(udp_ask((EXTRA, port), "db").answers) == 2
    assert len(tcp_ask((EXTRA, port), ["db"])[0].answers) == 2
    assert srv.server.remove_listener(EXTRA) is True
    assert srv.server.remove_listener(EXTRA) is False
    with pytest.raises(OSError):  # ICMP port unreachable or silence
        udp_ask((EXTRA, port), "db", timeout=0.5)
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):  # the address is free again
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((EXTRA, port))
    assert len(udp_ask(srv.addr, "db").answers) == 2  # the other listener is untouched
    assert srv.server.listeners() == [srv.addr]


def test_bind_failure_names_the_address():
    server = DnsServer(FakeResolver())
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
            taken.bind((EXTRA, 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            with pytest.raises(OSError, match=f"{EXTRA} port {port}"):
                server.add_listener(EXTRA, port)
        with pytest.raises(OSError, match="192.0.2.1 port 53"):  # not ours: bind fails, nothing sent
            server.add_listener("192.0.2.1")
        assert server.listeners() == []
    finally:
        server.close()


def test_stop_releases_every_socket(blackhole):
    srv = Running(FakeResolver(NAMES), [blackhole])
    srv.server.add_listener(EXTRA, srv.port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as pending:  # leave a forward pending
        pending.bind(("127.0.0.1", 0))
        pending.sendto(make_query("elsewhere.test"), srv.addr)
        time.sleep(0.1)
    idle = socket.create_connection(srv.addr, timeout=5)  # and a TCP client connected
    srv.close()
    idle.close()
    for ip in (SERVER, EXTRA):
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((ip, srv.port))
    again = DnsServer(FakeResolver())
    try:
        assert again.add_listener(SERVER, srv.port) == srv.port
    finally:
        again.close()


def test_run_once_from_another_loop():
    server = DnsServer(FakeResolver(NAMES))
    try:
        port = server.add_listener(SERVER, 0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(make_query("db"), (SERVER, port))
            deadline = time.monotonic() + 5
            while server.run_once(0.1) == 0 and time.monotonic() < deadline:
                pass
            data = sock.recv(65535)
        assert len(w.parse_message(data).answers) == 2
    finally:
        server.close()
    assert server.run_once(0) == 0


def test_port_53():
    server = DnsServer(FakeResolver(NAMES))
    try:
        try:
            server.add_listener(SERVER)
        except OSError as err:
            pytest.skip(f"port 53 is not free here: {err}")
        assert server.listeners() == [(SERVER, 53)]
    finally:
        server.close()


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox is not installed")
def test_busybox_nslookup(running):
    srv = running(FakeResolver(NAMES, {"10.0.0.5": "db"}))
    server = f"{SERVER}:{srv.port}"  # busybox nslookup takes the server as host:port

    def nslookup(*args):
        return subprocess.run(["busybox", "nslookup", *args, server],
                              capture_output=True, text=True, timeout=30)

    found = nslookup("db")  # asks A and AAAA
    assert found.returncode == 0, found.stdout + found.stderr
    assert "10.0.0.5" in found.stdout and "10.0.0.6" in found.stdout
    ptr = nslookup("-type=ptr", "5.0.0.10.in-addr.arpa")
    assert "name = db" in ptr.stdout
    missing = nslookup("elsewhere.test")
    assert missing.returncode != 0 and "SERVFAIL" in missing.stdout
