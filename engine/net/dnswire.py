"""The pure half of the embedded DNS server: wire format, answering rules, resolv.conf.

Functions from bytes and values to bytes and values, no sockets, so every
corner is unit-tested alone; ``dns.py`` is the socket half.

The wire format (RFC 1035) goes as far as the server needs it. Parsing never raises on hostile input: a
packet that is short, has bad label lengths or a compression pointer that
does not point strictly backwards (which also rules out loops) is reported as
``None`` and the server drops it, as Docker's embedded DNS does.

Names are kept as their raw labels (``tuple[bytes, ...]``) so an answer can
echo the question exactly, case included (clients that randomise case, "DNS
0x20", check it). ``name_text`` gives the text used for matching.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

Labels = tuple[bytes, ...]

# record types and classes
A, NS, CNAME, PTR, MX, TXT, AAAA, SRV, OPT, ANY = 1, 2, 5, 12, 15, 16, 28, 33, 41, 255
IN = 1
# response codes
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
# header flag bits
QR, AA, TC, RD, RA, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0010

UDP_SIZE = 512  # largest UDP answer for a client that does not send EDNS
EDNS_SIZE = 4096  # the UDP payload size we advertise, and the most we send
MAX_NAME = 255  # wire length of a name, length bytes and root included
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")


class WireError(ValueError):
    """A packet or a name that breaks the format; never leaves this module's parsers."""


@dataclass(frozen=True)
class Record:
    """One resource record as decoded: ``value`` is the address or name for A, AAAA, PTR,
    CNAME and NS records, else ``None`` (the raw ``rdata`` is always there)."""

    name: str
    rtype: int
    rclass: int
    ttl: int
    rdata: bytes
    value: str | None = None


@dataclass(frozen=True)
class Message:
    """A decoded DNS message; tests and the upstream relay read answers with it."""

    id: int
    flags: int
    questions: list[tuple[Labels, int, int]]
    answers: list[Record]
    authority: list[Record]
    additional: list[Record]

    @property
    def rcode(self) -> int:
        return self.flags & 0xF

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF


@dataclass(frozen=True)
class Query:
    """A client's question: one name, type and class, plus what the answer must echo."""

    id: int
    flags: int
    labels: Labels
    qtype: int
    qclass: int
    edns_size: int | None  # the client's EDNS UDP payload size, None without an OPT record
    raw: bytes  # the packet as received, relayed to upstreams unchanged but for the id

    @property
    def name(self) -> str:
        return name_text(self.labels)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    def max_udp(self) -> int:
        """The largest UDP answer this client accepts (RFC 6891: never below 512)."""
        return max(UDP_SIZE, min(self.edns_size or UDP_SIZE, EDNS_SIZE))


@dataclass(frozen=True)
class Answer:
    """A record to send, owned by the question's name (encoded as a pointer to it)."""

    rtype: int
    ttl: int
    rdata: bytes


def name_text(labels: Labels) -> str:
    """Labels as presentation text without the trailing dot; dots and backslashes
    inside a label are escaped so ``a\\.b`` (one label) never equals ``a.b`` (two)."""
    return ".".join(
        lab.decode("latin-1").replace("\\", "\\\\").replace(".", "\\.") for lab in labels
    )


def encode_name(name: str) -> bytes:
    """``name`` (with or without the trailing dot) in wire form; ValueError if it cannot be."""
    text = name[:-1] if name.endswith(".") else name
    out = bytearray()
    for label in text.split(".") if text else []:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad DNS label {label!r} in {name!r}")
        out += bytes([len(raw)]) + raw
    out.append(0)
    if len(out) > MAX_NAME:
        raise ValueError(f"DNS name longer than {MAX_NAME} bytes: {name!r}")
    return bytes(out)


def read_name(data: bytes, offset: int) -> tuple[Labels, int]:
    """The name at ``offset`` and the offset just past it, following compression
    pointers; a pointer must point before itself, so a packet cannot loop us."""
    labels: list[bytes] = []
    end = -1  # where the name ends in the stream, fixed at the first pointer
    size = 1
    while True:
        if offset >= len(data):
            raise WireError("name runs past the end of the packet")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise WireError("truncated compression pointer")
            target = ((length & 0x3F) << 8) | data[offset + 1]
            if target >= offset:
                raise WireError("compression pointer does not point backwards")
            if end < 0:
                end = offset + 2
            offset = target
            continue
        if length & 0xC0:
            raise WireError(f"unsupported label type {length:#x}")
        if length == 0:
            return tuple(labels), (end if end >= 0 else offset + 1)
        size += length + 1
        if size > MAX_NAME or offset + 1 + length > len(data):
            raise WireError("name too long or truncated label")
        labels.append(data[offset + 1 : offset + 1 + length])
        offset += 1 + length


def _read_record(data: bytes, offset: int) -> tuple[Record, int]:
    labels, offset = read_name(data, offset)
    if offset + _RR.size > len(data):
        raise WireError("truncated resource record")
    rtype, rclass, ttl, rdlen = _RR.unpack_from(data, offset)
    start = offset + _RR.size
    if start + rdlen > len(data):
        raise WireError("record data runs past the end of the packet")
    rdata = data[start : start + rdlen]
    value: str | None = None
    if rtype == A and rdlen == 4:
        value = str(ipaddress.IPv4Address(rdata))
    elif rtype == AAAA and rdlen == 16:
        value = str(ipaddress.IPv6Address(rdata))
    elif rtype in (PTR, CNAME, NS):
        target, _ = read_name(data, start)
        value = name_text(target)
    return Record(name_text(labels), rtype, rclass, ttl, rdata, value), start + rdlen


def _parse(data: bytes) -> Message:
    if len(data) < _HEADER.size:
        raise WireError("shorter than a DNS header")
    ident, flags, qd, an, ns, ar = _HEADER.unpack_from(data)
    offset = _HEADER.size
    questions = []
    for _ in range(qd):
        labels, offset = read_name(data, offset)
        if offset + 4 > len(data):
            raise WireError("truncated question")
        qtype, qclass = struct.unpack_from("!HH", data, offset)
        questions.append((labels, qtype, qclass))
        offset += 4
    sections: list[list[Record]] = [[], [], []]
    for section, count in zip(sections, (an, ns, ar), strict=True):
        for _ in range(count):
            record, offset = _read_record(data, offset)
            section.append(record)
    return Message(ident, flags, questions, *sections)


def parse_message(data: bytes) -> Message | None:
    """Any DNS message decoded, or None if it is malformed."""
    try:
        return _parse(data)
    except (WireError, struct.error, ValueError):
        return None


def parse_query(data: bytes) -> Query | None:
    """A client's query, or None for anything the server should silently drop:
    malformed packets, responses (QR set, so two servers cannot ping-pong) and
    messages without exactly one question."""
    message = parse_message(data)
    if message is None or message.flags & QR or len(message.questions) != 1:
        return None
    labels, qtype, qclass = message.questions[0]
    edns = next((r.rclass for r in message.additional if r.rtype == OPT), None)
    return Query(message.id, message.flags, labels, qtype, qclass, edns, data)


def question_of(data: bytes) -> tuple[int, int, tuple[Labels, int, int]] | None:
    """(id, flags, first question with lower-case labels) of a message, or None;
    only the header and the question are read, so an upstream answer with records
    this module cannot decode is still recognised."""
    try:
        ident, flags, qd = struct.unpack_from("!HHH", data)
        if qd < 1:
            return None
        labels, offset = read_name(data, _HEADER.size)
        qtype, qclass = struct.unpack_from("!HH", data, offset)
    except (WireError, struct.error):
        return None
    return ident, flags, (tuple(lab.lower() for lab in labels), qtype, qclass)


def build_response(query: Query, rcode: int, answers: list[Answer] | tuple[Answer, ...] = (),
                   *, authoritative: bool = False, max_size: int = UDP_SIZE) -> bytes:
    """The answer to ``query``: its id, its question echoed byte for byte, RD and CD
    copied, RA set (unknown names are forwarded), an OPT record if the query had
    one. Answers that do not fit in ``max_size`` are dropped from the end and TC is
    set, so the client asks again over TCP (as Docker's resolver does)."""
    question = b"".join(bytes([len(lab)]) + lab for lab in query.labels) + b"\0"
    question += struct.pack("!HH", query.qtype, query.qclass)
    opt = struct.pack("!BHHIH", 0, OPT, EDNS_SIZE, 0, 0) if query.edns_size is not None else b""
    records = [b"\xc0\x0c" + _RR.pack(a.rtype, IN, a.ttl, len(a.rdata)) + a.rdata for a in answers]
    flags = QR | (query.flags & (0x7800 | RD | CD)) | RA | (rcode & 0xF)
    if authoritative:
        flags |= AA
    room = max_size - _HEADER.size - len(question) - len(opt)
    kept = 0
    while kept < len(records) and room >= len(records[kept]):
        room -= len(records[kept])
        kept += 1
    if kept < len(records):
        flags |= TC
    header = _HEADER.pack(query.id, flags, 1, kept, 0, 1 if opt else 0)
    return header + question + b"".join(records[:kept]) + opt


def address_rdata(address: str) -> tuple[int, bytes]:
    """(A or AAAA, packed address) for an address in text form."""
    ip = ipaddress.ip_address(address)
    return (A if ip.version == 4 else AAAA), ip.packed


def ptr_address(name: str) -> str | None:
    """The address a reverse name stands for (``4.3.2.1.in-addr.arpa`` -> ``1.2.3.4``,
    and the 32-nibble ``ip6.arpa`` form), or None if ``name`` is no such name."""
    parts = name.lower().rstrip(".").split(".")
    try:
        if parts[-2:] == ["in-addr", "arpa"] and len(parts) == 6:
            octets = parts[3::-1]
            if all(p.isdigit() and len(p) <= 3 for p in octets):
                return str(ipaddress.IPv4Address(".".join(octets)))
        elif parts[-2:] == ["ip6", "arpa"] and len(parts) == 34:
            nibbles = "".join(reversed(parts[:32]))
            if all(len(p) == 1 for p in parts[:32]):
                return str(ipaddress.IPv6Address(int(nibbles, 16)))
    except ValueError:
        return None
    return None


# answering

class Resolver(Protocol):
    """Where the names come from. ``client`` is the querying address, so a container
    only sees containers it shares a network with; ``name`` is lower case, without
    the trailing dot."""

    def lookup(self, client: str, name: str) -> list[str] | None:
        """Every address of ``name`` (IPv4 and IPv6), [] if known without one, None if unknown."""
        ...

    def reverse(self, client: str, address: str) -> str | None:
        """The name that ``address`` belongs to, None if it is not a container's."""
        ...


def candidates(name: str, search: Sequence[str]) -> list[str]:
    """The names to look up for ``name``: itself, then without each search domain it
    ends with ("db.localdomain" -> "db"), all lower case and without trailing dots."""
    name = name.lower().rstrip(".")
    out = [name]
    for domain in search:
        suffix = "." + domain.lower().strip(".")
        if suffix != "." and name.endswith(suffix) and len(name) > len(suffix):
            out.append(name[: -len(suffix)])
    return out


def answer(query: Query, client: str, resolver: Resolver, *, search_domains: Sequence[str] = (),
           ttl: int = 0, max_size: int = UDP_SIZE,
           shuffle: Callable[[list[str]], None] | None = None) -> bytes | None:
    """The local answer to ``query`` from ``client``, or None if it must be forwarded.

    After Docker's libnetwork resolver: a known name gets every address (shuffled
    by ``shuffle``); a known name without an address of the asked type (AAAA for an
    IPv4-only container, MX, TXT...) gets NOERROR and no answers, so clients fall
    back to A and never ask upstream about a container; unknown names, under a
    search domain too, are forwarded (a search domain may be the host's real
    domain, whose names upstream knows). Docker's TTL is 600; ours defaults to 0
    because a recreated container has a new address nobody should cache.
    """
    if query.opcode != 0:
        return build_response(query, NOTIMP, max_size=max_size)
    if query.qclass not in (IN, ANY) or not query.labels:
        return None
    if query.qtype == PTR:
        address = ptr_address(query.name)
        host = resolver.reverse(client, address) if address else None
        if not host:
            return None
        ptr = Answer(PTR, ttl, encode_name(host))
        return build_response(query, NOERROR, [ptr], authoritative=True, max_size=max_size)
    addresses: list[str] | None = None
    for name in candidates(query.name, search_domains):
        addresses = resolver.lookup(client, name)
        if addresses is not None:
            break
    if addresses is None:
        return None
    addresses = list(addresses)
    if shuffle is not None:
        shuffle(addresses)
    records = []
    for address in addresses:
        rtype, rdata = address_rdata(address)
        if query.qtype in (rtype, ANY):
            records.append(Answer(rtype, ttl, rdata))
    return build_response(query, NOERROR, records, authoritative=True, max_size=max_size)


def parse_upstream(text: str) -> tuple[str, int]:
    """``"ip[:port]"`` (``[v6]:port`` for IPv6 with a port) as (ip, port); ValueError if bad."""
    host, port = text.strip(), 53
    if host.startswith("["):
        host, bracket, rest = host[1:].partition("]")
        if not bracket:
            raise ValueError(f"no closing bracket in {text!r}")
        if rest:
            port = int(rest.removeprefix(":"))
    elif host.count(":") == 1:
        host, _, number = host.partition(":")
        port = int(number)
    ipaddress.ip_address(host.partition("%")[0])
    if not 0 < port < 65536:
        raise ValueError(f"bad port in {text!r}")
    return host, port


def _resolv_lines(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return [line.split() for line in fh if line.strip() and line.lstrip()[0] not in "#;"]
    except OSError:
        return []


def read_upstreams(path: str = "/etc/resolv.conf") -> list[tuple[str, int]]:
    """The ``nameserver`` lines of a resolv.conf, in order, without duplicates. Loopback
    ones (systemd-resolved's 127.0.0.53) are kept: the server runs on the host and can
    reach them, unlike a container. A missing file gives []."""
    out: list[tuple[str, int]] = []
    for words in _resolv_lines(path):
        if words[0] == "nameserver" and len(words) > 1:
            try:
                upstream = parse_upstream(words[1])
            except ValueError:
                continue
            if upstream not in out:
                out.append(upstream)
    return out


def search_domains(path: str = "/etc/resolv.conf") -> list[str]:
    """The search list of a resolv.conf: the last ``search`` or ``domain`` line wins,
    as in glibc."""
    found: list[str] = []
    for words in _resolv_lines(path):
        if words[0] in ("search", "domain"):
            found = [w.strip(".").lower() for w in words[1:] if w.strip(".")]
    return found
