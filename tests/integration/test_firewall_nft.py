"""engine.net.firewall against the kernel: real nftables, real bridges, real traffic.

Each test builds its own world with a random suffix: network namespaces as
"containers" on test bridges, plus one namespace "outside" wired to the host
by a veth pair, as another host would be. Subnets come from 10.213.0.0/16.
Our table is ``pycompose_test_<suffix>``; DOCKER-USER compatibility runs
against a chain in ``pycompose_test_<suffix>_du``, never the host's ``ip
filter``. The fixture kills the servers and deletes namespaces, links and
tables even on failure, restores ``ip_forward``, and asserts that nothing of
the test is left.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.net.firewall import BridgeRule, DockerUserChain, Firewall, FirewallError, PortRule

pytestmark = [
    pytest.mark.skipif(shutil.which("nft") is None, reason="nft (Debian package nftables) is not installed"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="ip (iproute2) is not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: nftables, namespaces and bridges"),
]

FORWARD = "/proc/sys/net/ipv4/ip_forward"
SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))
s.listen(16)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    c.sendall(f"{sys.argv[1]} {peer[0]}".encode())
    c.close()
"""
CLIENT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1) as c:
        print(c.recv(100).decode())
except OSError as exc:
    print("FAIL", exc)
"""


def sh(*argv: str, check: bool = True) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r.stdout


def host_connect(address: str, port: int) -> str:
    try:
        with socket.create_connection((address, port), timeout=1) as c:
            return c.recv(100).decode()
    except OSError as exc:
        return f"FAIL {exc}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def _free_block() -> int:
    """A third octet b such that 10.213.b.0/22 overlaps none of the host's routes."""
    routes = [ipaddress.ip_network(line.split()[0], strict=False)
              for line in sh("ip", "-4", "route", "show", "table", "all").splitlines()
              if line and line.split()[0][0].isdigit()]
    for _ in range(100):
        b = random.randrange(16, 252, 4)
        if not any(ipaddress.ip_network(f"10.213.{b}.0/22").overlaps(r) for r in routes):
            return b
    raise AssertionError("no free /22 in 10.213.0.0/16")


class World:
    """Bridges a (two containers), b (one), i (internal, one) and a namespace "outside"."""

    def __init__(self) -> None:
        self.sfx = uuid.uuid4().hex[:6]
        self.table = f"pycompose_test_{self.sfx}"
        self.du_table = f"{self.table}_du"
        o = _free_block()
        self.nets = {"a": f"10.213.{o}", "b": f"10.213.{o + 1}", "i": f"10.213.{o + 2}"}
        self.out_net = f"10.213.{o + 3}"  # the outside link: host .1, outside .2 (a /30)
        self.namespaces: list[str] = []
        self.links: list[str] = []
        self.procs: list[subprocess.Popen[str]] = []

    def bridge(self, net: str) -> str:
        return f"pct{self.sfx}{net}"

    def ns(self, name: str) -> str:
        return f"pyc-test-{self.sfx}-{name}"

    def ip(self, name: str) -> str:
        """The address of container ``name`` (a1 -> 10.213.x.2, a2 -> .3)."""
        return f"{self.nets[name[0]]}.{int(name[1:]) + 1}"

    def build(self) -> None:
        for net, prefix in self.nets.items():
            br = self.bridge(net)
            sh("ip", "link", "add", br, "type", "bridge")
            self.links.append(br)
            sh("ip", "addr", "add", f"{prefix}.1/24", "dev", br)
            sh("ip", "link", "set", br, "up")
        for name in ("a1", "a2", "b1", "i1"):
            self._namespace(name, self.ip(name), 24, f"{self.nets[name[0]]}.1", self.bridge(name[0]))
        self._namespace("o1", f"{self.out_net}.2", 30, f"{self.out_net}.1", None)
        sh("ip", "addr", "add", f"{self.out_net}.1/30", "dev", f"pcv{self.sfx}o1")
        for name in ("a1", "a2", "b1", "i1", "o1"):
            self._serve(name)

    def _namespace(self, name: str, address: str, prefixlen: int, gateway: str, bridge: str | None) -> None:
        ns, host_end, inner = self.ns(name), f"pcv{self.sfx}{name}", f"pcp{self.sfx}{name}"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", inner)
        self.links.append(host_end)
        sh("ip", "link", "set", inner, "netns", ns)
        if bridge:
            sh("ip", "link", "set", host_end, "master", bridge)
        sh("ip", "link", "set", host_end, "up")
        for cmd in (["link", "set", "lo", "up"], ["link", "set", inner, "name", "eth0"],
                    ["addr", "add", f"{address}/{prefixlen}", "dev", "eth0"], ["link", "set", "eth0", "up"],
                    ["route", "add", "default", "via", gateway]):
            sh("ip", "-n", ns, *cmd)

    def _serve(self, name: str) -> None:
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(name), sys.executable, "-c", SERVER, name],
                             stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"

    def connect(self, src: str, address: str, port: int = 80) -> str:
        """From namespace ``src``: the server's answer ("<name> <peer address>") or "FAIL ..."."""
        return sh("ip", "netns", "exec", self.ns(src), sys.executable, "-c", CLIENT, address, str(port)).strip()

    def bridges(self) -> list[BridgeRule]:
        return [BridgeRule(self.bridge("a"), f"{self.nets['a']}.0/24"),
                BridgeRule(self.bridge("b"), f"{self.nets['b']}.0/24"),
                BridgeRule(self.bridge("i"), f"{self.nets['i']}.0/24", internal=True)]

    def localnet(self, net: str) -> str:
        with open(f"/proc/sys/net/ipv4/conf/{self.bridge(net)}/route_localnet") as fh:
            return fh.read().strip()

    def leftovers(self) -> list[str]:
        found = [n for n in sh("ip", "netns", "list").split() if self.sfx in n]
        found += [ln.split()[0] for ln in sh("ip", "-br", "link").splitlines() if self.sfx in ln]
        found += [ln for ln in sh("nft", "list", "tables").splitlines() if self.sfx in ln]
        return found

    def teardown(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()
            if p.stdout:
                p.stdout.close()
        for t in (self.table, self.du_table):  # only the tables this test named
            subprocess.run(["nft", "-f", "-"], input=f"add table ip {t}\ndelete table ip {t}\n",
                           capture_output=True, text=True, check=False)
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)
        for link in self.links:
            if os.path.exists(f"/sys/class/net/{link}"):
                sh("ip", "link", "del", link, check=False)


@pytest.fixture
def world() -> Iterator[World]:
    with open(FORWARD) as fh:
        forwarding = fh.read().strip()
    w = World()
    try:
        w.build()
        yield w
    finally:
        w.teardown()
        with open(FORWARD, "w") as fh:
            fh.write(forwarding)
    with open(FORWARD) as fh:
        assert fh.read().strip() == forwarding
    assert w.leftovers() == []  # no namespace, link or table of this test is left


@pytest.fixture
def forwarding(world: World) -> Iterator[None]:
    """IP forwarding on for this test (the world fixture restores the old value)."""
    make_firewall(world).enable_forwarding()
    with open(FORWARD) as fh:
        assert fh.read().strip() == "1"
    yield


def make_firewall(w: World) -> Firewall:
    return Firewall(w.table, docker_user=DockerUserChain("ip", w.du_table, "DOCKER-USER"))


def listing(w: World) -> str:
    return sh("nft", "list", "table", "ip", w.table)


# ---- the table itself -------------------------------------------------------------------

def test_apply_reapply_remove(world: World) -> None:
    fw = make_firewall(world)
    bridges = world.bridges()
    a, hp = world.bridge("a"), free_port()
    assert not fw.exists()
    fw.apply(bridges, [PortRule(a, world.ip("a1"), 80, hp)])
    assert fw.exists()
    text = listing(world)
    assert f"tcp dport {hp} dnat to {world.ip('a1')}:80" in text
    assert f'oifname != "{a}" ip saddr {world.nets["a"]}.0/24 masquerade' in text
    assert f'iifname "{world.bridge("i")}" oifname != "{world.bridge("i")}" drop' in text
    assert world.localnet("a") == "1" and world.localnet("b") == "0"

    fw.apply(bridges[1:], [PortRule(world.bridge("b"), world.ip("b1"), 80, hp, "udp", "127.0.0.1")])
    text = listing(world)
    assert f"dport {hp} dnat to {world.ip('a1')}" not in text and a not in text
    assert f"ip daddr 127.0.0.1 udp dport {hp} dnat to {world.ip('b1')}:80" in text
    assert (world.localnet("a"), world.localnet("b")) == ("0", "1")  # a left the table: cleared

    fw.apply(bridges[1:], [PortRule(world.bridge("b"), world.ip("b1"), 80, hp, "udp", "127.0.0.1")])
    assert listing(world) == text  # the same state gives the same table

    fw.remove()
    assert not fw.exists()
    assert world.table not in sh("nft", "list", "tables")
    assert (world.localnet("a"), world.localnet("b")) == ("0", "0")
    fw.remove()  # nothing there: still fine


def test_apply_nothing_deletes_the_table(world: World) -> None:
    fw = make_firewall(world)
    fw.apply(world.bridges(), [])
    fw.apply([], [])
    assert not fw.exists()


def test_nft_rejection_carries_the_line(world: World) -> None:
    """render() only makes valid scripts, so feed real nft a broken one to check error parsing."""
    fw = make_firewall(world)
    with pytest.raises(FirewallError) as err:
        fw._nft_script(f"table ip {world.table} {{\n\tchain c {{\n\t\ttcp dport 80 frobnicate\n\t}}\n}}\n")
    assert err.value.line == "tcp dport 80 frobnicate"
    assert "syntax error" in str(err.value)
    assert not fw.exists()  # nothing of a failed transaction stays


# ---- traffic ------------------------------------------------------------------------------

def test_published_port_reaches_the_container_from_the_host(world: World) -> None:
    fw = make_firewall(world)
    bridges = world.bridges()
    any_port, lo_port = free_port(), free_port()
    assert host_connect("127.0.0.1", any_port).startswith("FAIL")
    fw.apply(bridges, [PortRule(world.bridge("a"), world.ip("a1"), 80, any_port),
                       PortRule(world.bridge("a"), world.ip("a2"), 80, lo_port, host_ip="127.0.0.1")])
    gateway = f"{world.nets['a']}.1"  # 127.0.0.1 sources are masqueraded to the bridge's address
    assert host_connect("127.0.0.1", any_port) == f"a1 {gateway}"
    assert host_connect("127.0.0.1", lo_port) == f"a2 {gateway}"
    assert host_connect(f"{world.out_net}.1", any_port) == f"a1 {world.out_net}.1"  # another host address
    assert host_connect(f"{world.out_net}.1", lo_port).startswith("FAIL")  # published on loopback only
    fw.remove()
    assert host_connect("127.0.0.1", any_port).startswith("FAIL")
    assert world.localnet("a") == "0"


@pytest.mark.usefixtures("forwarding")
def test_other_hosts_nat_and_direct_routing(world: World) -> None:
    fw = make_firewall(world)
    bridges = world.bridges()
    port, lo_port, host = free_port(), free_port(), f"{world.out_net}.1"
    a_net = f"{world.nets['a']}.0/24"
    sh("ip", "-n", world.ns("o1"), "route", "add", a_net, "via", host)
    # without our table: no masquerade, and direct routing into the bridge works
    assert world.connect("a1", f"{world.out_net}.2") == f"o1 {world.ip('a1')}"
    assert world.connect("o1", world.ip("a1")) == f"a1 {world.out_net}.2"
    fw.apply(bridges, [PortRule(world.bridge("a"), world.ip("a1"), 80, port),
                       PortRule(world.bridge("a"), world.ip("a2"), 80, lo_port, host_ip="127.0.0.1")])
    assert world.connect("a1", f"{world.out_net}.2") == f"o1 {host}"  # masqueraded
    assert world.connect("o1", host, port) == f"a1 {world.out_net}.2"  # DNAT in prerouting keeps the client
    assert world.connect("o1", world.ip("a1")).startswith("FAIL")  # unpublished: not routed in
    assert world.connect("o1", "127.0.0.1", lo_port).startswith("FAIL")  # loopback ports stay local


@pytest.mark.usefixtures("forwarding")
def test_isolation_between_bridges_and_internal(world: World) -> None:
    fw = make_firewall(world)
    bridges = world.bridges()
    a1, port = world.ip("a1"), free_port()
    # without our table, forwarding connects everything: the checks below can fail
    assert world.connect("b1", a1) == f"a1 {world.ip('b1')}"
    assert world.connect("i1", a1).startswith("a1")
    fw.apply(bridges, [PortRule(world.bridge("a"), a1, 80, port)])
    assert world.connect("b1", a1).startswith("FAIL")
    assert world.connect("a1", world.ip("b1")).startswith("FAIL")
    assert world.connect("i1", a1).startswith("FAIL")
    assert world.connect("a1", world.ip("i1")).startswith("FAIL")
    assert world.connect("i1", f"{world.out_net}.2").startswith("FAIL")  # internal: no way out
    assert world.connect("o1", world.ip("i1")).startswith("FAIL")
    assert world.connect("a1", world.ip("a2")) == f"a2 {a1}"  # same bridge: fine
    # a published port, through a host address: allowed, and masqueraded on the way out as Docker does
    assert world.connect("b1", f"{world.nets['b']}.1", port) == f"a1 {world.nets['a']}.1"
    assert world.connect("i1", f"{world.nets['i']}.1", port).startswith("FAIL")
    assert world.connect("b1", "127.0.0.1", port).startswith("FAIL")  # route_localnet is no way in
    fw.remove()
    assert world.connect("b1", a1).startswith("a1")  # back as before


@pytest.mark.usefixtures("forwarding")
def test_hairpin(world: World) -> None:
    """Routing back into the same bridge needs ip_forward; a container reaching its own port
    also needs hairpin mode on its bridge port when br_netfilter is loaded (Docker sets it too)."""
    fw = make_firewall(world)
    bridges = world.bridges()
    to_a2, to_a1 = free_port(), free_port()
    fw.apply(bridges, [PortRule(world.bridge("a"), world.ip("a2"), 80, to_a2),
                       PortRule(world.bridge("a"), world.ip("a1"), 80, to_a1)])
    gateway = f"{world.nets['a']}.1"
    assert world.connect("a1", gateway, to_a2) == f"a2 {gateway}"  # a sibling, through the host
    assert world.connect("a1", f"{world.out_net}.1", to_a2) == f"a2 {gateway}"  # any host address
    sh("bridge", "link", "set", "dev", f"pcv{world.sfx}a1", "hairpin", "on")
    assert world.connect("a1", gateway, to_a1) == f"a1 {gateway}"  # itself


# ---- Docker compatibility, on a DOCKER-USER chain of our own ------------------------------

def du_rules(w: World) -> list[tuple[str, str | None]]:
    out = json.loads(sh("nft", "-j", "list", "chain", "ip", w.du_table, "DOCKER-USER"))
    return [(" ".join(str(e) for e in r["rule"]["expr"]), r["rule"].get("comment"))
            for r in out["nftables"] if "rule" in r]


def test_docker_user_rules_added_and_removed(world: World) -> None:
    subprocess.run(["nft", "-f", "-"], check=True, text=True, input=(
        f"table ip {world.du_table} {{\n\tchain DOCKER-USER {{\n"
        '\t\tiifname "eth9" counter drop comment "admin"\n\t\tcounter return\n\t}\n}\n'))
    before = du_rules(world)
    fw = make_firewall(world)
    bridges = world.bridges()
    fw.apply(bridges, [])
    got = du_rules(world)
    tag = f"pycompose:{world.table}:"
    assert got[0] == before[0] and got[-1] == before[-1]  # the admin's rule first, the return last
    assert len(got) == 2 + 4 + 4 + 1 and all(str(c).startswith(tag) for _, c in got[1:-1])
    listing = sh("nft", "list", "chain", "ip", world.du_table, "DOCKER-USER")
    assert [listing.count(f'"{world.bridge(n)}"') for n in "abi"] == [5, 5, 2]  # both ends named in each rule
    assert listing.count('oifname != "docker0" oifname != "br-*"') == 2  # never into Docker's bridges
    fw.apply(bridges, [])
    assert du_rules(world) == got  # unchanged
    fw.apply(bridges[:1], [])
    assert [c for _, c in du_rules(world)][0] == "admin" and len(du_rules(world)) == 2 + 4
    fw.remove()
    assert du_rules(world) == before



# ---- a host with Docker, in a network namespace of its own ------------------------------------

DOCKER_RULES = """\
table ip filter {
\tchain DOCKER-USER {
\t}
\tchain DOCKER-FORWARD {
\t\toifname "docker0" ct state established,related accept
\t\tiifname "docker0" oifname != "docker0" accept
\t\tiifname "docker0" oifname "docker0" accept
\t\toifname "docker0" drop
\t}
\tchain FORWARD {
\t\ttype filter hook forward priority filter; policy drop;
\t\tjump DOCKER-USER
\t\tjump DOCKER-FORWARD
\t}
}
"""


class DockerHost:
    """A namespace standing for a host where Docker runs: Docker's FORWARD chains (policy drop, DOCKER-USER
    first) and a docker0 bridge with one container serving on an unpublished port; beside it one bridge of
    ours with one container, and an "outside" namespace behind a veth."""

    def __init__(self) -> None:
        self.sfx = uuid.uuid4().hex[:6]
        self.host = f"pyc-test-{self.sfx}-host"
        self.names = {role: f"pyc-test-{self.sfx}-{role}" for role in ("docker", "ours", "outside")}
        self.bridge = f"pcd{self.sfx}"
        self.made: list[str] = []
        self.procs: list[subprocess.Popen[str]] = []

    def run(self, argv: list[str] | tuple[str, ...], stdin: str | None) -> subprocess.CompletedProcess[str]:
        """A runner for the firewall: its nft calls happen inside the Docker host's namespace."""
        return subprocess.run(["ip", "netns", "exec", self.host, *argv], input=stdin, capture_output=True,
                              text=True, check=False)

    def build(self) -> None:
        sh("ip", "netns", "add", self.host)
        self.made.append(self.host)
        h = ["ip", "-n", self.host]
        sh(*h, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", self.host, "sysctl", "-qw", "net.ipv4.ip_forward=1")  # this namespace's own
        for br, address in (("docker0", "10.213.250.1/24"), (self.bridge, "10.213.251.1/24")):
            sh(*h, "link", "add", br, "type", "bridge")
            sh(*h, "addr", "add", address, "dev", br)
            sh(*h, "link", "set", br, "up")
        self._guest("docker", "10.213.250.2/24", "10.213.250.1", "docker0")
        self._guest("ours", "10.213.251.2/24", "10.213.251.1", self.bridge)
        self._guest("outside", "10.213.252.2/30", "10.213.252.1", None)
        sh(*h, "addr", "add", "10.213.252.1/30", "dev", "vh-outside")
        subprocess.run(["ip", "netns", "exec", self.host, "nft", "-f", "-"], input=DOCKER_RULES, text=True,
                       check=True)
        for role in self.names:
            p = subprocess.Popen(["ip", "netns", "exec", self.names[role], sys.executable, "-c", SERVER, role],
                                 stdout=subprocess.PIPE, text=True)
            self.procs.append(p)
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"

    def _guest(self, role: str, address: str, gateway: str, bridge: str | None) -> None:
        ns = self.names[role]
        sh("ip", "netns", "add", ns)
        self.made.append(ns)
        sh("ip", "-n", self.host, "link", "add", f"vh-{role}", "type", "veth", "peer", "name", "eth0",
           "netns", ns)
        if bridge:
            sh("ip", "-n", self.host, "link", "set", f"vh-{role}", "master", bridge)
        sh("ip", "-n", self.host, "link", "set", f"vh-{role}", "up")
        for cmd in (["link", "set", "lo", "up"], ["addr", "add", address, "dev", "eth0"],
                    ["link", "set", "eth0", "up"], ["route", "add", "default", "via", gateway]):
            sh("ip", "-n", ns, *cmd)

    def connect(self, src: str, address: str) -> str:
        return sh("ip", "netns", "exec", self.names[src], sys.executable, "-c", CLIENT, address, "80").strip()

    def teardown(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()
            if p.stdout:
                p.stdout.close()
        for ns in reversed(self.made):  # the links and tables of the host namespace go with it
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def docker_host() -> Iterator[DockerHost]:
    d = DockerHost()
    try:
        d.build()
        yield d
    finally:
        d.teardown()
    assert not [n for n in sh("ip", "netns", "list").split() if d.sfx in n]


def test_our_containers_cannot_reach_a_docker_containers_unpublished_port(docker_host: DockerHost,
                                                                          tmp_path: Path) -> None:
    d = docker_host
    proc = tmp_path / "proc"  # the firewall's sysctl writes land here, not in the test's own namespace
    (proc / "net/ipv4/conf" / d.bridge).mkdir(parents=True)
    (proc / "net/ipv4/ip_forward").write_text("1\n")
    (proc / "net/ipv4/conf" / d.bridge / "route_localnet").write_text("0\n")
    assert d.connect("ours", "10.213.252.2").startswith("FAIL")  # Docker's FORWARD policy drops us
    fw = Firewall(f"pycompose_test_{d.sfx}", runner=d.run, proc_sys=str(proc),
                  docker_user=DockerUserChain("ip", "filter", "DOCKER-USER"))
    fw.apply([BridgeRule(d.bridge, "10.213.251.0/24")], [])
    assert d.connect("ours", "10.213.252.2") == "outside 10.213.252.1"  # out, masqueraded: allowed
    assert d.connect("ours", "10.213.250.2").startswith("FAIL")  # into docker0, unpublished: blocked
    assert d.connect("docker", "10.213.251.2").startswith("FAIL")  # and the other way
    assert d.connect("docker", "10.213.252.2") == "outside 10.213.250.2"  # Docker's own traffic untouched
