"""Per-project networks with real bridges, veths, DNS and nftables, checked from inside containers.

Traffic goes only to 127.0.0.1 and to our own containers' addresses. After
every test nothing of ours may remain: links, nftables table, daemons, mounts.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import time
import urllib.request

import pytest

from engine.errors import Conflict
from engine.net import ports
from engine.net.manage import NetworkManager
from engine.net.sync import table_name
from engine.runtime.containers import Runtime, new_id
from engine.runtime.spec import ContainerSpec, EndpointSpec, MountSpec, PortSpec
from engine.state import Root
from tests.integration.busybox import leftovers, rootfs_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="networks need root")


def nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("PYCOMPOSE_SUPERVISOR_IDLE", "0.2")
    monkeypatch.setenv("PYCOMPOSE_NETD_IDLE", "0.2")
    monkeypatch.setenv("PYCOMPOSE_DNS_UPSTREAMS", "none")  # tests send no query off this machine
    r = Root(str(tmp_path / "root"))
    r.ensure()
    with open("/proc/sys/net/ipv4/ip_forward") as fh:
        forwarding = fh.read()
    yield r
    rt, nets = Runtime(r), NetworkManager(r)
    ids = [c.id for c in rt.list()]
    for cid in ids:
        rt.remove(cid, force=True)
    for n in nets.list():
        nets.remove(n.name)
    deadline = time.monotonic() + 5
    while (leftovers(r.path, r.cgroup_name) or _netd_alive(r)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(r.path, r.cgroup_name) == []
    assert not _netd_alive(r)
    assert not [n for n in os.listdir("/sys/class/net") if n.startswith(tuple(f"pv{cid[:9]}" for cid in ids))]
    assert not [n for n in os.listdir("/sys/class/net") if n in {nets.bridge_name(x) for x in ("a", "b", "c", "internal")}]
    assert table_name(r) not in nft_tables()
    with open("/proc/sys/net/ipv4/ip_forward") as fh:
        assert fh.read() == forwarding  # switched back off if we switched it on


def _netd_alive(root: Root) -> bool:
    from engine.net import netd

    return netd.running(root)


@pytest.fixture
def image(root):
    from engine.images.store import ImageStore

    return ImageStore(root).import_tarball(io.BytesIO(rootfs_tar()), "busybox:test")


class Stack:
    def __init__(self, root, image):
        from engine.images.store import ImageStore

        self.rt, self.nets, self.image = Runtime(root), NetworkManager(root), image
        self.layers = tuple(ImageStore(root).layer_dirs(image))

    def container(self, name, argv, networks, *, aliases=(), address=None, ports_=(), start=True, **kw):
        cid = new_id()
        endpoints = []
        hostname = kw.pop("hostname", name)
        for net in networks:
            ep = self.nets.allocate(net, cid, container_name=name, names=(name, hostname, *aliases),
                                    address=address if net == networks[0] else None)
            endpoints.append(EndpointSpec(ep.network, ep.bridge, ep.address, ep.prefixlen, ep.gateway, ep.mac,
                                          internal=self.nets.get(net).internal))
        spec = ContainerSpec(id=cid, name=name, image_id=self.image.id, layers=self.layers, argv=tuple(argv),
                             env=("PATH=/bin",), hostname=hostname, group="nettest",
                             network="bridge", endpoints=tuple(endpoints), ports=tuple(ports_), **kw)
        self.rt.create(spec)
        if start:
            self.rt.start(cid)
        return cid

    def run(self, name, script, networks, **kw):
        cid = self.container(name, ["sh", "-c", script], networks, **kw)
        code = self.rt.wait(cid, timeout=60)
        out = "".join(e.text for e in self.rt.logs(cid))
        self.rt.remove(cid)
        return code, out

    def address(self, cid, network):
        return next(e.address for e in self.rt.get(cid).spec.endpoints if e.network == network)


@pytest.fixture
def stack(root, image):
    return Stack(root, image)


def test_names_resolve_on_shared_networks_only_and_follow_recreation(stack):
    stack.nets.create("a")
    stack.nets.create("b")
    db = stack.container("proj-db-1", ["sleep", "60"], ["a"], aliases=("db", "database"), hostname="dbhost")
    other = stack.container("proj-cache-1", ["sleep", "60"], ["b"], aliases=("cache",))
    db_ip = stack.address(db, "a")
    code, out = stack.run("client", "for n in db database proj-db-1 dbhost cache; do "
                                    "nslookup $n >/dev/null 2>&1 && echo $n=$(nslookup $n | awk '/^Address/ {a=$NF} END {print a}') "
                                    "|| echo $n=none; done", ["a"])
    assert out.split() == [f"db={db_ip}", f"database={db_ip}", f"proj-db-1={db_ip}", f"dbhost={db_ip}",
                           "cache=none"]
    # recreate db: a new container, a new address, the same name
    stack.rt.remove(db, force=True)
    stack.nets.release(db)
    blocker = stack.container("blocker", ["sleep", "60"], ["a"])  # takes db's old address
    db2 = stack.container("proj-db-1", ["sleep", "60"], ["a"], aliases=("db",))
    assert stack.address(db2, "a") != db_ip
    _, out = stack.run("client2", "nslookup db | awk '/^Address/ {a=$NF} END {print a}'", ["a"])
    assert out.split() == [stack.address(db2, "a")]
    for cid in (blocker, db2, other):
        stack.rt.remove(cid, force=True)


def test_replicas_give_several_addresses(stack):
    stack.nets.create("a")
    ips = {stack.address(stack.container(f"web-{i}", ["sleep", "60"], ["a"], aliases=("web",)), "a") for i in (1, 2, 3)}
    _, out = stack.run("client", "nslookup web | awk '/^Address/ && NR>2 {print $NF}'", ["a"])
    assert set(out.split()) == ips


def test_isolation_between_networks_and_reach_within(stack):
    stack.nets.create("a")
    stack.nets.create("b")
    target = stack.container("target", ["sh", "-c", "httpd -f -p 8080 -h /"], ["a"])
    ip = stack.address(target, "a")
    fetch = f"printf 'GET /etc/passwd HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} 8080 | grep -q root && echo reached || echo blocked"
    assert stack.run("same", fetch, ["a"])[1].strip() == "reached"
    assert stack.run("other", fetch, ["b"])[1].strip().endswith("blocked")


def test_internal_network_has_no_way_out(stack):
    stack.nets.create("internal", internal=True)
    _, out = stack.run("shut-in", "ip route; ping -c1 -W1 192.0.2.1 >/dev/null 2>&1 && echo out || echo no-way-out",
                       ["internal"])
    assert "default" not in out and out.strip().endswith("no-way-out")


def _free_port() -> int:
    return ports.ephemeral("tcp", "127.0.0.1")


def test_published_tcp_port_on_localhost(stack):
    stack.nets.create("a")
    host_port = _free_port()
    stack.container("web", ["sh", "-c", "mkdir /www; echo hello-from-web > /www/index.html; httpd -f -p 80 -h /www"],
                    ["a"], ports_=(PortSpec(container_port=80, host_port=host_port),))
    deadline = time.monotonic() + 5
    body = None
    while body is None and time.monotonic() < deadline:
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{host_port}/", timeout=2).read().decode()
        except OSError:
            time.sleep(0.05)
    assert body == "hello-from-web\n"


def test_published_udp_port_and_host_ip(stack):
    stack.nets.create("a")
    host_port = ports.ephemeral("udp", "127.0.0.1")
    server = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', 5353))\n"
              "while True:\n    data, peer = s.recvfrom(100)\n    s.sendto(b'pong:' + data, peer)\n")
    host_python = tuple(MountSpec(type="bind", source=d, target=d, read_only=True)
                        for d in ("/usr", "/lib", "/lib64") if os.path.isdir(d))
    stack.container("udp", ["/usr/bin/python3", "-c", server], ["a"], mounts=host_python,
                    ports_=(PortSpec(container_port=5353, host_port=host_port, protocol="udp", host_ip="127.0.0.1"),))
    answer = b""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        for _ in range(10):
            s.sendto(b"ping\n", ("127.0.0.1", host_port))
            try:
                answer = s.recv(100)
                break
            except TimeoutError:
                continue
    assert answer == b"pong:ping\n"
    # published on 127.0.0.1 only: another host address does not answer
    other = next((a for a in _host_addresses() if not a.startswith("127.")), None)
    if other:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            s.sendto(b"ping\n", (other, host_port))
            with pytest.raises(OSError):
                s.recv(100)


def _host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines()]


def test_port_rules_exist_only_while_the_container_runs(stack, root):
    stack.nets.create("a")
    host_port = _free_port()
    cid = stack.container("web", ["sleep", "60"], ["a"], ports_=(PortSpec(container_port=80, host_port=host_port),))
    table = subprocess.run(["nft", "list", "table", "ip", table_name(root)], capture_output=True, text=True).stdout
    assert f"dport {host_port}" in table
    stack.rt.stop(cid, timeout=0)
    table = subprocess.run(["nft", "list", "table", "ip", table_name(root)], capture_output=True, text=True).stdout
    assert f"dport {host_port}" not in table


def test_occupied_port_is_refused_before_anything_starts():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(Conflict, match=f"port 127.0.0.1:{port}/tcp is already in use"):
            ports.check([("127.0.0.1", port, "tcp")], [])
    with pytest.raises(Conflict, match="already published by web-1"):
        ports.check([(None, 8080, "tcp")], [("127.0.0.1", 8080, "tcp", "web-1")])
    ports.check([(None, 8080, "udp")], [("127.0.0.1", 8080, "tcp", "web-1")])


def test_network_in_use_is_not_removed(stack):
    stack.nets.create("a")
    stack.container("holder", ["sleep", "60"], ["a"], start=False)
    with pytest.raises(Conflict, match="network a has containers attached: holder"):
        stack.nets.remove("a")


def test_fixed_address_mac_and_two_networks(stack):
    stack.nets.create("a", subnet="10.213.50.0/24")
    stack.nets.create("b")
    _, out = stack.run("multi", "ip -o -4 addr show | awk '{print $2, $4}'; cat /sys/class/net/eth0/address",
                       ["a", "b"], address="10.213.50.77")
    lines = out.split("\n")
    assert "eth0 10.213.50.77/24" in lines and any(line.startswith("eth1 ") for line in lines)
    assert "02:42:0a:d5:32:4d" in lines
    with pytest.raises(Conflict, match="overlaps"):
        stack.nets.create("c", subnet="10.213.50.128/25")


def test_network_cli(root, stack):
    import json
    import sys

    env = {**os.environ, "PYCOMPOSE_ROOT": root.path}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "compose.cli.main", "network", *args], env=env,
                              capture_output=True, text=True)

    stack.nets.create("a", subnet="10.213.60.0/24")
    stack.nets.create("b")
    stack.container("user", ["sleep", "60"], ["a"], start=False)
    assert cli("ls", "-q").stdout.split() == ["a", "b"]
    info = json.loads(cli("inspect", "a").stdout)[0]
    assert info["IPAM"]["Config"][0] == {"Subnet": "10.213.60.0/24", "Gateway": "10.213.60.1"}
    assert [c["Name"] for c in info["Containers"].values()] == ["user"]
    r = cli("rm", "a")
    assert r.returncode == 1 and "network a has containers attached: user" in r.stderr
    assert cli("prune", "-f").stdout.split() == ["Deleted", "Networks:", "b"]
    r = cli("inspect", "nope")
    assert r.returncode == 1 and "network nope not found" in r.stderr


def test_compose_networks_applied_and_port_command(root, stack, tmp_path):
    import sys

    from compose.config.api import load
    from compose.config.options import LoadOptions
    from compose.deploy.netplan import apply, plan
    from compose.errors import ConfigError

    proj = tmp_path / "shop"
    proj.mkdir()
    (proj / "compose.yaml").write_text(
        "services:\n  web: {image: x, networks: [front, ext]}\nnetworks:\n  front: {}\n  ext: {external: true}\n")
    project = load(LoadOptions(cwd=str(proj)), {"PYCOMPOSE_NO_CACHE": "1"}).project
    apply(plan(project, ["front"]), stack.nets)
    net = stack.nets.get("shop_front")
    assert net.labels["com.docker.compose.project"] == "shop"
    with pytest.raises(ConfigError, match="network ext declared as external, but could not be found"):
        apply(plan(project, ["ext"]), stack.nets)

    host_port = _free_port()
    stack.container("shop-web-1", ["sleep", "60"], ["shop_front"], start=True,
                    labels={"com.docker.compose.project": "shop", "com.docker.compose.service": "web",
                            "com.docker.compose.container-number": "1"},
                    ports_=(PortSpec(container_port=80, host_port=host_port, host_ip="127.0.0.1"),))
    env = {**os.environ, "PYCOMPOSE_ROOT": root.path, "PYCOMPOSE_NO_CACHE": "1"}
    r = subprocess.run([sys.executable, "-m", "compose.cli.main", "port", "web", "80"], cwd=proj, env=env,
                       capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (0, f"127.0.0.1:{host_port}\n"), r.stderr
    r = subprocess.run([sys.executable, "-m", "compose.cli.main", "port", "web", "81"], cwd=proj, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 1 and "no port 81/tcp published for container shop-web-1" in r.stderr
