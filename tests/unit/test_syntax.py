import pytest

from compose.config.syntax import check_expose, parse_port, parse_volume


def ports(spec):
    return [(p.host_ip, p.published, p.target, p.protocol) for p in parse_port(spec)]


@pytest.mark.parametrize("spec,expected", [
    ("80", [(None, None, 80, "tcp")]),
    (80, [(None, None, 80, "tcp")]),
    ("8080:80", [(None, "8080", 80, "tcp")]),
    ("3000-3002", [(None, None, 3000, "tcp"), (None, None, 3001, "tcp"), (None, None, 3002, "tcp")]),
    ("9090-9091:8080-8081", [(None, "9090", 8080, "tcp"), (None, "9091", 8081, "tcp")]),
    ("127.0.0.1:8001:8001", [("127.0.0.1", "8001", 8001, "tcp")]),
    ("127.0.0.1::5000", [("127.0.0.1", None, 5000, "tcp")]),
    ("6060:6060/udp", [(None, "6060", 6060, "udp")]),
    ("53:53/UDP", [(None, "53", 53, "udp")]),
    ("[::1]:6001:6001", [("::1", "6001", 6001, "tcp")]),
    ("::1:6001:6001", [("::1", "6001", 6001, "tcp")]),
    ("8000-8010:80", [(None, "8000-8010", 80, "tcp")]),
    ("127.0.0.1:5000-5001:5000-5001/udp", [("127.0.0.1", "5000", 5000, "udp"), ("127.0.0.1", "5001", 5001, "udp")]),
])
def test_parse_port(spec, expected):
    assert ports(spec) == expected


@pytest.mark.parametrize("spec,fragment", [
    ("80:abc", "abc is not a container port number"),
    ("abc:80", "abc is not a host port number"),
    ("80:80/icmp", "protocol must be tcp, udp or sctp"),
    ("70000", "out of range"),
    ("1.2.3:80:80", "is not an IP address"),
    ("8080-8081:80-82", "not the same length"),
    ("90-80", "ends before it starts"),
    ("80:", "no container port"),
])
def test_parse_port_rejects(spec, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        parse_port(spec)
    assert f'"{spec}"' in str(info.value)


@pytest.mark.parametrize("spec,kind,source,target,ro", [
    ("./src:/app:ro", "bind", "./src", "/app", True),
    ("/host:/c", "bind", "/host", "/c", False),
    ("~/x:/y:rw", "bind", "~/x", "/y", False),
    ("data:/var/lib/db", "volume", "data", "/var/lib/db", False),
    ("/anon", "volume", None, "/anon", False),
    ("w:/data", "volume", "w", "/data", False),
])
def test_parse_volume(spec, kind, source, target, ro):
    m = parse_volume(spec)
    assert (m.type, m.source, m.target, m.read_only) == (kind, source, target, ro)


def test_short_bind_creates_host_path_and_keeps_options():
    m = parse_volume("./a:/b:z,rshared")
    assert m.bind is not None and m.bind.create_host_path and m.bind.selinux == "z"
    assert m.bind.propagation == "rshared"
    assert parse_volume("data:/x:nocopy").volume.nocopy


@pytest.mark.parametrize("spec,fragment", [
    ("a:b", "not absolute"),
    ("/a:/b:/c:/d", "too many colons"),
    ("/anon:ro", "container path ro is not absolute"),  # Compose: a bind of /anon on "ro"
    (":/data", "empty section between colons"),  # what ${UNSET}:/data becomes
])
def test_parse_volume_rejects(spec, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_volume(spec)


@pytest.mark.parametrize("good", ["80", 80, "8000-8010", "53/udp"])
def test_expose_accepts(good):
    check_expose(good)


@pytest.mark.parametrize("bad", ["http", "80/icmp", "80:80"])
def test_expose_rejects(bad):
    with pytest.raises(ValueError):
        check_expose(bad)
