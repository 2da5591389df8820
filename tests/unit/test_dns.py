"""The pure half of the embedded DNS server: wire format, answering rules, resolv.conf.

Queries are built by hand as bytes (not with the module under test), and one
answer is checked byte for byte, so the decoder does not only check itself.
"""

import random
import struct

import pytest

from engine.net import dnswire as w
from engine.net.dns import parse_upstream, read_upstreams, search_domains


def header(ident=0x1234, flags=w.RD, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


def labels(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"


def opt(size=4096):
    return b"\0" + struct.pack("!HHIH", w.OPT, size, 0, 0)


OPT_RR = opt()


def query(name="db", qtype=w.A, ident=0x1234, flags=w.RD, qclass=w.IN, edns=None):
    """A query; ``edns`` is True (4096) or the UDP size of an OPT record to add."""
    size = 4096 if edns is True else edns
    return (header(ident, flags, ar=1 if size else 0) + labels(name)
            + struct.pack("!HH", qtype, qclass) + (opt(size) if size else b""))


def parsed(name="db", **kw):
    q = w.parse_query(query(name, **kw))
    assert q is not None
    return q


class FakeResolver:
    def __init__(self, names=None, reverse=None):
        self.names = names if names is not None else {
            "db": ["10.0.0.5", "10.0.0.6"], "web": ["10.0.0.7", "fd00::7"], "v6only": ["fd00::8"],
            "stopped": [], "a.alias": ["10.0.0.9"],
        }
        self.reverses = reverse if reverse is not None else {"10.0.0.5": "db", "fd00::7": "web"}
        self.calls = []

    def lookup(self, client, name):
        self.calls.append(("lookup", client, name))
        return self.names.get(name)

    def reverse(self, client, address):
        self.calls.append(("reverse", client, address))
        return self.reverses.get(address)


def ask(raw, resolver=None, **kw):
    q = w.parse_query(raw)
    assert q is not None
    out = w.answer(q, "10.0.0.2", resolver or FakeResolver(), **kw)
    return None if out is None else w.parse_message(out)


# parsing


@pytest.mark.parametrize("raw,name,qtype,edns", [
    (query("db"), "db", w.A, None),
    (query("DB.Example.COM", qtype=w.AAAA), "DB.Example.COM", w.AAAA, None),
    (query("db", edns=True), "db", w.A, 4096),
    (query("", qtype=w.ANY), "", w.ANY, None),
    # the OPT record's owner is a compression pointer to the question name (legal, odd)
    (header(ar=1) + labels("db") + b"\0\1\0\1" + b"\xc0\x0c" + OPT_RR[1:], "db", w.A, 4096),
    # a label holding a dot is escaped, so it never matches the two-label name
    (header() + b"\x03a.b\0" + b"\0\1\0\1", "a\\.b", w.A, None),
])
def test_parse_query(raw, name, qtype, edns):
    q = w.parse_query(raw)
    assert q is not None
    assert (q.id, q.name, q.qtype, q.qclass, q.edns_size, q.raw) == (0x1234, name, qtype, w.IN, edns, raw)


def test_read_name_follows_pointers():
    data = b"\0" * 12 + labels("example.com") + b"\3www\xc0\x0c" + b"\2db\xc0\x14"
    assert w.read_name(data, 25) == ((b"www", b"example", b"com"), 31)
    assert w.read_name(data, 31) == ((b"db", b"com"), 36)


MALFORMED = {
    "empty": b"",
    "short header": header()[:11],
    "no question": header(qd=0),
    "two questions": header(qd=2) + (labels("db") + b"\0\1\0\1") * 2,
    "a response": query(flags=w.QR | w.RD),
    "question cut": header() + labels("db") + b"\0\1",
    "name cut": header() + b"\x05ab",
    "no root label": header() + b"\x02db",
    "label past end": header() + b"\x3fdb\0\0\1\0\1",
    "extended label type": header() + b"\x40db\0\0\1\0\1",
    "reserved label type": header() + b"\x80db\0\0\1\0\1",
    "pointer to itself": header() + b"\xc0\x0c\0\1\0\1",
    "pointer forward": header() + b"\xc0\x0e\x02db\0\0\1\0\1",
    "pointer cut": header() + b"\xc0",
    "pointer loop": header(ar=1) + labels("db") + b"\0\1\0\1" + b"\x01x\xc0\x16" + OPT_RR[1:],
    "name too long": header() + b"\x3f" + b"a" * 63 + (b"\x3f" + b"a" * 63) * 3 + b"\0\0\1\0\1",
    "record cut": query(edns=True)[:-3],
    "record data past end": header(ar=1) + labels("db") + b"\0\1\0\1" + b"\0\0\1\0\1\0\0\0\0\0\x09",
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_queries_are_dropped(raw):
    assert w.parse_query(raw) is None


def test_longest_legal_name_parses():
    name = ".".join(["a" * 63] * 3 + ["a" * 61])  # 255 bytes on the wire
    assert len(w.encode_name(name)) == 255
    assert parsed(name).name == name


def test_no_packet_makes_the_parsers_raise():
    rng = random.Random(53)
    good = w.build_response(parsed("db"), w.NOERROR, [w.Answer(w.A, 0, bytes(4))] * 3)
    samples = [good[:n] for n in range(len(good))]
    for _ in range(3000):
        mutated = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        samples.append(bytes(mutated))
        samples.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 80))))
    for raw in samples:
        w.parse_query(raw)
        w.parse_message(raw)
        w.question_of(raw)


# building


def test_response_bytes():
    raw = w.build_response(parsed("db", ident=0xBEEF), w.NOERROR,
                           [w.Answer(w.A, 0, bytes([10, 0, 0, 5]))], authoritative=True)
    assert raw == (b"\xbe\xef\x85\x80\0\1\0\1\0\0\0\0" + b"\x02db\0\0\1\0\1"
                   + b"\xc0\x0c\0\1\0\1\0\0\0\0\0\4\x0a\0\0\5")


def test_response_copies_rd_and_cd_and_echoes_opt():
    reply = w.parse_message(w.build_response(parsed(flags=w.CD, edns=True), w.SERVFAIL))
    assert reply.flags & (w.QR | w.RD | w.CD | w.RA | w.AA) == w.QR | w.CD | w.RA
    assert reply.rcode == w.SERVFAIL
    assert [(r.rtype, r.rclass) for r in reply.additional] == [(w.OPT, w.EDNS_SIZE)]


@pytest.mark.parametrize("bad", ["a" * 64, "a..b", "é", ".".join(["a" * 63] * 4)])
def test_encode_name_rejects(bad):
    with pytest.raises(ValueError):
        w.encode_name(bad)


@pytest.mark.parametrize("name,wire", [("db", b"\2db\0"), ("db.", b"\2db\0"), ("", b"\0"), (".", b"\0")])
def test_encode_name(name, wire):
    assert w.encode_name(name) == wire


# answering


@pytest.mark.parametrize("raw,search,values,rtype", [
    (query("db"), (), ["10.0.0.5", "10.0.0.6"], w.A),
    (query("DB"), (), ["10.0.0.5", "10.0.0.6"], w.A),
    (query("dB."), (), ["10.0.0.5", "10.0.0.6"], w.A),
    (query("db.localdomain"), ("localdomain",), ["10.0.0.5", "10.0.0.6"], w.A),
    (query("db.LocalDomain"), ("localdomain.",), ["10.0.0.5", "10.0.0.6"], w.A),
    (query("db.b.example"), ("a.example", "b.example"), ["10.0.0.5", "10.0.0.6"], w.A),
    (query("a.alias"), ("alias",), ["10.0.0.9"], w.A),  # the whole name is tried first
    (query("web"), (), ["10.0.0.7"], w.A),
    (query("web", qtype=w.AAAA), (), ["fd00::7"], w.AAAA),
    (query("db", qtype=w.AAAA), (), [], None),  # known, no IPv6: NOERROR, no answer
    (query("v6only"), (), [], None),
    (query("stopped"), (), [], None),
    (query("db", qtype=w.MX), (), [], None),
    (query("db", qtype=w.TXT), (), [], None),
    (query("web", qtype=w.ANY), (), ["10.0.0.7", "fd00::7"], None),
    (query("db", qclass=w.ANY), (), ["10.0.0.5", "10.0.0.6"], w.A),
])
def test_known_names(raw, search, values, rtype):
    reply = ask(raw, search_domains=search)
    assert reply.id == 0x1234
    assert reply.flags & (w.QR | w.AA | w.RD | w.RA | w.TC) == w.QR | w.AA | w.RD | w.RA
    assert reply.rcode == w.NOERROR
    assert sorted(r.value for r in reply.answers) == values
    assert all(r.ttl == 0 and r.rclass == w.IN for r in reply.answers)
    if rtype is not None:
        assert {r.rtype for r in reply.answers} == {rtype}
    q = w.parse_query(raw)
    assert reply.questions == [(q.labels, q.qtype, q.qclass)]  # echoed as asked, case included


@pytest.mark.parametrize("raw,search", [
    (query("nothere"), ()),
    (query("db.localdomain"), ()),
    (query("db.otherdomain"), ("localdomain",)),
    (query("localdomain"), ("localdomain",)),
    (query("nothere.localdomain"), ("localdomain",)),  # may be a real host of that domain
    (query("db", qclass=3), ()),  # CHAOS
    (query("", qtype=w.NS), ()),  # the root
    (query("9.0.0.10.in-addr.arpa", qtype=w.PTR), ()),
    (query("1.2.3.in-addr.arpa", qtype=w.PTR), ()),
    (query("db", qtype=w.PTR), ()),
])
def test_unknown_names_are_forwarded(raw, search):
    assert ask(raw, search_domains=search) is None


@pytest.mark.parametrize("name,host", [
    ("5.0.0.10.in-addr.arpa", "db"),
    ("5.0.0.10.IN-ADDR.ARPA", "db"),
    ("7." + "0." * 29 + "d.f.ip6.arpa", "web"),
])
def test_ptr(name, host):
    resolver = FakeResolver()
    reply = ask(query(name, qtype=w.PTR), resolver)
    assert (reply.rcode, reply.flags & w.AA) == (w.NOERROR, w.AA)
    assert [(r.rtype, r.name, r.value) for r in reply.answers] == [(w.PTR, name, host)]
    assert resolver.calls[-1][0] == "reverse"


@pytest.mark.parametrize("name,address", [
    ("4.3.2.1.in-addr.arpa", "1.2.3.4"),
    ("4.3.2.1.in-addr.arpa.", "1.2.3.4"),
    ("b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa",
     "4321:0:1:2:3:4:567:89ab"),
    ("256.3.2.1.in-addr.arpa", None),
    ("04.3.2.1.in-addr.arpa", None),
    ("x.3.2.1.in-addr.arpa", None),
    ("3.2.1.in-addr.arpa", None),
    ("5.4.3.2.1.in-addr.arpa", None),
    ("db", None),
    ("z." * 32 + "ip6.arpa", None),
])
def test_ptr_address(name, address):
    assert w.ptr_address(name) == address


def test_client_address_reaches_the_resolver():
    resolver = FakeResolver()
    ask(query("db.localdomain"), resolver, search_domains=["localdomain"])
    assert resolver.calls == [("lookup", "10.0.0.2", "db.localdomain"), ("lookup", "10.0.0.2", "db")]


def test_ttl_and_shuffle():
    reply = ask(query("db"), ttl=600, shuffle=lambda addrs: addrs.reverse())
    assert [(r.value, r.ttl) for r in reply.answers] == [("10.0.0.6", 600), ("10.0.0.5", 600)]


def test_opcode_other_than_query_is_not_implemented():
    reply = ask(query("db", flags=2 << 11))
    assert (reply.rcode, reply.opcode, reply.answers) == (w.NOTIMP, 2, [])


MANY = {"many": [f"10.1.{i // 256}.{i % 256}" for i in range(100)]}


@pytest.mark.parametrize("edns,max_size,truncated,count", [
    (None, 512, True, 30),  # 12 + 10 (question) + 30 * 16 = 502
    (512, 512, True, 29),  # the OPT record takes 11 bytes
    (1232, 1232, True, 74),
    (4096, 4096, False, 100),
    (None, 65535, False, 100),  # TCP
])
def test_truncation(edns, max_size, truncated, count):
    raw = query("many", edns=edns)
    q = w.parse_query(raw)
    size = q.max_udp() if max_size != 65535 else max_size
    assert size == max_size
    out = w.answer(q, "10.0.0.2", FakeResolver(MANY), max_size=size)
    reply = w.parse_message(out)
    assert len(out) <= max_size
    assert bool(reply.flags & w.TC) is truncated
    assert len(reply.answers) == count


@pytest.mark.parametrize("size,expected", [(None, 512), (100, 512), (1232, 1232), (65000, 4096)])
def test_max_udp(size, expected):
    raw = query(edns=size)
    assert w.parse_query(raw).max_udp() == expected


@pytest.mark.parametrize("name,search,expected", [
    ("DB.", [], ["db"]),
    ("db.localdomain", ["localdomain"], ["db.localdomain", "db"]),
    ("db.localdomain", [".LocalDomain."], ["db.localdomain", "db"]),
    ("localdomain", ["localdomain"], ["localdomain"]),
    ("xlocaldomain", ["localdomain"], ["xlocaldomain"]),
    ("a.b.c", ["c", "b.c"], ["a.b.c", "a.b", "a"]),
])
def test_candidates(name, search, expected):
    assert w.candidates(name, search) == expected


# resolv.conf


@pytest.mark.parametrize("text,upstream", [
    ("10.0.0.1", ("10.0.0.1", 53)),
    ("10.0.0.1:5353", ("10.0.0.1", 5353)),
    ("::1", ("::1", 53)),
    ("[::1]:5353", ("::1", 5353)),
    ("[fe80::1%eth0]", ("fe80::1%eth0", 53)),
    (" 127.0.0.53 ", ("127.0.0.53", 53)),
])
def test_parse_upstream(text, upstream):
    assert parse_upstream(text) == upstream


@pytest.mark.parametrize("bad", ["", "dns.example", "10.0.0.1:0", "10.0.0.1:x", "10.0.0.1:70000", "[::1"])
def test_parse_upstream_rejects(bad):
    with pytest.raises(ValueError):
        parse_upstream(bad)


RESOLV_CONF = """\
# generated
nameserver 127.0.0.53
nameserver 10.0.0.1 # trailing comment words are ignored
; old style comment
nameserver not-an-address
nameserver 10.0.0.1
nameserver fd00::53
domain example.org
search corp.example. Lab.Example
options edns0 trust-ad
"""


def test_read_upstreams_and_search(tmp_path):
    path = tmp_path / "resolv.conf"
    path.write_text(RESOLV_CONF)
    assert read_upstreams(str(path)) == [("127.0.0.53", 53), ("10.0.0.1", 53), ("fd00::53", 53)]
    assert search_domains(str(path)) == ["corp.example", "lab.example"]
    path.write_text("search a.example\ndomain b.example\n")  # the last one wins
    assert search_domains(str(path)) == ["b.example"]


def test_missing_resolv_conf(tmp_path):
    assert read_upstreams(str(tmp_path / "none")) == []
    assert search_domains(str(tmp_path / "none")) == []
