"""engine.net.firewall without the kernel: rendered scripts, validation, and the commands
apply/remove/Docker compatibility would run, through a fake nft runner and a fake /proc/sys."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from textwrap import dedent

import pytest

from engine.errors import EngineError
from engine.net.firewall import (
    BridgeRule,
    DockerUserChain,
    Firewall,
    FirewallError,
    InvalidRule,
    PortRule,
    docker_user_rules,
    docker_user_script,
    sync_docker_user,
)

A = BridgeRule("pc-a", "10.213.1.0/24")
B = BridgeRule("pc-b", "10.213.2.0/24")
I = BridgeRule("pc-i", "10.213.3.0/24", internal=True)  # noqa: E741
WEB = PortRule("pc-a", "10.213.1.2", 80, 8080)
NOT_FOUND = "Error: No such file or directory\nlist chain ip filter DOCKER-USER\n"


class FakeNft:
    """Records every command; answers from ``replies`` (first matching argv prefix) or rc 0."""

    def __init__(self, replies: dict[tuple[str, ...], tuple[int, str, str]] | None = None) -> None:
        self.replies = replies or {}
        self.calls: list[tuple[list[str], str | None]] = []

    def __call__(self, argv: Sequence[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
        self.calls.append((list(argv), stdin))
        for prefix, (rc, out, err) in self.replies.items():
            if tuple(argv[: len(prefix)]) == prefix:
                return subprocess.CompletedProcess(list(argv), rc, out, err)
        return subprocess.CompletedProcess(list(argv), 0, "", "")

    def scripts(self) -> list[str]:
        return [stdin for argv, stdin in self.calls if argv[1:] == ["-f", "-"] and stdin is not None]


def no_table(table: str = "pycompose") -> dict[tuple[str, ...], tuple[int, str, str]]:
    return {("nft", "-j", "list", "set"): (1, "", f"Error: No such file or directory\nlist set ip {table} bridges\n"),
            ("nft", "-j", "list", "chain"): (1, "", NOT_FOUND)}


def lines(script: str) -> list[str]:
    return [ln.strip() for ln in script.splitlines()]


# ---- render -------------------------------------------------------------------------------

def test_render_one_network_with_a_port() -> None:
    assert Firewall().render([A], [WEB]) == dedent("""\
        add table ip pycompose
        delete table ip pycompose
        table ip pycompose {
        \tset bridges {
        \t\ttype ifname
        \t\telements = { "pc-a" }
        \t}
        \tchain raw_prerouting {
        \t\ttype filter hook prerouting priority raw; policy accept;
        \t\tiifname @bridges ip daddr 127.0.0.0/8 drop
        \t}
        \tchain prerouting {
        \t\ttype nat hook prerouting priority dstnat; policy accept;
        \t\tip daddr != 127.0.0.0/8 fib daddr type local jump ports
        \t}
        \tchain output {
        \t\ttype nat hook output priority -100; policy accept;
        \t\tfib daddr type local jump ports
        \t}
        \tchain ports {
        \t\ttcp dport 8080 dnat to 10.213.1.2:80
        \t}
        \tchain postrouting {
        \t\ttype nat hook postrouting priority srcnat; policy accept;
        \t\toifname @bridges ip saddr 127.0.0.0/8 masquerade
        \t\toifname "pc-a" ip saddr 10.213.1.0/24 ct status dnat masquerade
        \t\toifname != "pc-a" ip saddr 10.213.1.0/24 masquerade
        \t}
        \tchain forward {
        \t\ttype filter hook forward priority filter; policy accept;
        \t\toifname @bridges ct state established,related accept
        \t\toifname @bridges ct status dnat accept
        \t\tiifname "pc-a" oifname @bridges oifname != "pc-a" drop
        \t\tiifname @bridges accept
        \t\toifname @bridges drop
        \t}
        }
        """)


def test_render_several_networks_isolates_each_from_the_others() -> None:
    got = lines(Firewall("pc_x").render([B, A], []))
    assert got[:3] == ["add table ip pc_x", "delete table ip pc_x", "table ip pc_x {"]
    assert 'elements = { "pc-a", "pc-b" }' in got  # sorted: the same state renders the same text
    for name, net in (("pc-a", "10.213.1.0/24"), ("pc-b", "10.213.2.0/24")):
        assert f'oifname != "{name}" ip saddr {net} masquerade' in got
        assert f'iifname "{name}" oifname @bridges oifname != "{name}" drop' in got
    forward = got[got.index("chain forward {"):]
    assert forward.index("oifname @bridges ct status dnat accept") < forward.index(
        'iifname "pc-a" oifname @bridges oifname != "pc-a" drop') < forward.index("iifname @bridges accept")
    assert [ln for ln in got if "dnat to" in ln] == []


def test_render_internal_network_no_nat_and_sealed() -> None:
    got = lines(Firewall().render([A, I], []))
    assert 'elements = { "pc-a", "pc-i" }' in got
    assert not [ln for ln in got if "10.213.3.0/24" in ln]  # no masquerade for it
    forward = got[got.index("chain forward {"):]
    seal = ['iifname "pc-i" oifname != "pc-i" drop', 'oifname "pc-i" iifname != "pc-i" drop']
    assert forward[2:4] == seal  # before anything that accepts
    assert not [ln for ln in got if 'iifname "pc-i" oifname @bridges' in ln]


@pytest.mark.parametrize(("rule", "line"), [
    (WEB, "tcp dport 8080 dnat to 10.213.1.2:80"),
    (PortRule("pc-a", "10.213.1.2", 80, 8080, host_ip="0.0.0.0"), "tcp dport 8080 dnat to 10.213.1.2:80"),
    (PortRule("pc-a", "10.213.1.2", 80, 8080, host_ip="127.0.0.1"), "ip daddr 127.0.0.1 tcp dport 8080 dnat to 10.213.1.2:80"),
    (PortRule("pc-a", "10.213.1.3", 53, 5353, "udp", "192.0.2.2"), "ip daddr 192.0.2.2 udp dport 5353 dnat to 10.213.1.3:53"),
    (PortRule("pc-a", "10.213.1.3", 9, 9, "sctp"), "sctp dport 9 dnat to 10.213.1.3:9"),
])
def test_render_ports(rule: PortRule, line: str) -> None:
    got = lines(Firewall().render([A], [rule]))
    assert got[got.index("chain ports {") + 1] == line


def test_render_ports_sorted_and_same_port_other_protocol_or_address() -> None:
    ports = [PortRule("pc-a", "10.213.1.2", 53, 53, "udp"), PortRule("pc-a", "10.213.1.2", 53, 53, "tcp"),
             PortRule("pc-a", "10.213.1.3", 80, 80, host_ip="127.0.0.1"),
             PortRule("pc-a", "10.213.1.4", 80, 80, host_ip="192.0.2.2")]
    got = [ln for ln in lines(Firewall().render([A], ports)) if "dnat to" in ln]
    assert got == ["tcp dport 53 dnat to 10.213.1.2:53", "ip daddr 127.0.0.1 tcp dport 80 dnat to 10.213.1.3:80",
                   "ip daddr 192.0.2.2 tcp dport 80 dnat to 10.213.1.4:80", "udp dport 53 dnat to 10.213.1.2:53"]


def test_render_without_bridges_only_deletes() -> None:
    assert Firewall("t1").render([], []) == "add table ip t1\ndelete table ip t1\n"


def test_subnet_with_host_bits_is_normalized() -> None:
    assert "oifname != \"pc-a\" ip saddr 10.213.1.0/24 masquerade" in lines(
        Firewall().render([BridgeRule("pc-a", "10.213.1.7/24")], []))


# ---- validation ---------------------------------------------------------------------------

@pytest.mark.parametrize(("bridges", "ports", "message"), [
    ([BridgeRule("", "10.213.1.0/24")], [], "not a valid bridge name"),
    ([BridgeRule("x" * 16, "10.213.1.0/24")], [], "not a valid bridge name"),
    ([BridgeRule("br-*", "10.213.1.0/24")], [], "not a valid bridge name"),
    ([BridgeRule('a"b', "10.213.1.0/24")], [], "not a valid bridge name"),
    ([BridgeRule("a b", "10.213.1.0/24")], [], "not a valid bridge name"),
    ([BridgeRule("..", "10.213.1.0/24")], [], "not a valid bridge name"),
    ([BridgeRule("pc-a", "10.213.1.0/33")], [], "is not an IPv4 network"),
    ([BridgeRule("pc-a", "fd00::/64")], [], "is not an IPv4 network"),
    ([BridgeRule("pc-a", "lan")], [], "is not an IPv4 network"),
    ([BridgeRule("pc-a", "0.0.0.0/0")], [], "too wide"),
    ([BridgeRule("pc-a", "127.1.0.0/16")], [], "overlaps 127.0.0.0/8"),
    ([A, BridgeRule("pc-a", "10.213.2.0/24")], [], "listed twice"),
    ([A, BridgeRule("pc-b", "10.213.0.0/16")], [], "overlaps 10.213.1.0/24"),
    ([A], [PortRule("pc-a", "10.213.1.2", 80, 0)], "host port 0 is not a port number"),
    ([A], [PortRule("pc-a", "10.213.1.2", 80, 65536)], "host port 65536"),
    ([A], [PortRule("pc-a", "10.213.1.2", 0, 80)], "container port 0"),
    ([A], [PortRule("pc-a", "10.213.1.2", True, 80)], "container port True"),  # type: ignore[arg-type]
    ([A], [PortRule("pc-a", "10.213.1.2", "80", 80)], "container port '80'"),  # type: ignore[arg-type]
    ([A], [PortRule("pc-a", "10.213.1.2", 80, 80, "icmp")], "protocol must be one of tcp, udp, sctp"),
    ([A], [PortRule("pc-z", "10.213.1.2", 80, 80)], "bridge 'pc-z' is not one of the bridges given"),
    ([A, I], [PortRule("pc-i", "10.213.3.2", 80, 80)], "bridge pc-i is internal"),
    ([A], [PortRule("pc-a", "10.213.9.2", 80, 80)], "outside 10.213.1.0/24"),
    ([A], [PortRule("pc-a", "10.213.1.300", 80, 80)], "container address '10.213.1.300' is not an IPv4"),
    ([A], [PortRule("pc-a", "10.213.1.2", 80, 80, host_ip="::1")], "host address '::1' is not an IPv4"),
    ([A], [PortRule("pc-a", "10.213.1.2", 80, 80, host_ip="localhost")], "host address 'localhost'"),
    ([A], [WEB, PortRule("pc-a", "10.213.1.3", 81, 8080)], "port 8080/tcp is published twice"),
    ([A], [WEB, PortRule("pc-a", "10.213.1.3", 81, 8080, host_ip="127.0.0.1")], "published twice"),
])
def test_invalid_input_is_refused_before_anything_runs(
        bridges: list[BridgeRule], ports: list[PortRule], message: str, tmp_path: Path) -> None:
    fake = FakeNft()
    fw = Firewall(runner=fake, proc_sys=str(tmp_path))
    with pytest.raises(InvalidRule, match=message.replace("*", r"\*").replace("(", r"\(")):
        fw.render(bridges, ports)
    with pytest.raises(InvalidRule) as err:
        fw.apply(bridges, ports)
    assert isinstance(err.value, EngineError)
    assert fake.calls == []


@pytest.mark.parametrize("table", ["", "filter", "nat", "my-table", "1abc", "a" * 65])
def test_table_names_we_refuse(table: str) -> None:
    with pytest.raises(InvalidRule, match="cannot be our table"):
        Firewall(table)


# ---- apply / remove / exists against fakes -------------------------------------------------

def make_proc(tmp_path: Path, *bridges: str) -> Path:
    (tmp_path / "net/ipv4/conf").mkdir(parents=True, exist_ok=True)
    for name in bridges:
        conf = tmp_path / "net/ipv4/conf" / name
        conf.mkdir()
        (conf / "route_localnet").write_text("0")
    (tmp_path / "net/ipv4/ip_forward").write_text("0")
    return tmp_path


def localnet(proc: Path, bridge: str) -> str:
    return (proc / "net/ipv4/conf" / bridge / "route_localnet").read_text()


def test_apply_runs_one_transaction_then_sets_route_localnet(tmp_path: Path) -> None:
    proc = make_proc(tmp_path, "pc-a", "pc-b", "pc-old")
    old = json.dumps({"nftables": [{"set": {"name": "bridges", "elem": ["pc-a", "pc-old"]}}]})
    fake = FakeNft({("nft", "-j", "list", "set"): (0, old, ""), ("nft", "-j", "list", "chain"): (1, "", NOT_FOUND)})
    (proc / "net/ipv4/conf/pc-old/route_localnet").write_text("1")
    fw = Firewall(runner=fake, proc_sys=str(proc))
    fw.apply([A, B], [WEB])
    assert [c[0] for c in fake.calls] == [
        ["nft", "-j", "list", "set", "ip", "pycompose", "bridges"],
        ["nft", "-f", "-"],
        ["nft", "-j", "list", "chain", "ip", "filter", "DOCKER-USER"]]
    assert fake.scripts() == [fw.render([A, B], [WEB])]
    assert (localnet(proc, "pc-a"), localnet(proc, "pc-b"), localnet(proc, "pc-old")) == ("1", "0", "0")


def test_apply_refuses_ports_on_a_bridge_that_does_not_exist(tmp_path: Path) -> None:
    fake = FakeNft(no_table())
    with pytest.raises(FirewallError, match="bridge pc-a does not exist"):
        Firewall(runner=fake, proc_sys=str(make_proc(tmp_path))).apply([A], [WEB])
    assert fake.scripts() == []


def test_apply_nothing_removes(tmp_path: Path) -> None:
    proc = make_proc(tmp_path, "pc-a")
    (proc / "net/ipv4/conf/pc-a/route_localnet").write_text("1")
    listing = json.dumps({"nftables": [{"set": {"name": "bridges", "elem": ["pc-a", "pc-gone"]}}]})
    fake = FakeNft({("nft", "-j", "list", "set"): (0, listing, ""), ("nft", "-j", "list", "chain"): (1, "", NOT_FOUND)})
    Firewall("t2", runner=fake, proc_sys=str(proc)).apply([], [])
    assert fake.scripts() == ["add table ip t2\ndelete table ip t2\n"]
    assert localnet(proc, "pc-a") == "0"  # pc-gone has no /proc entry any more: skipped


def test_nft_errors_name_the_rule_and_the_reason(tmp_path: Path) -> None:
    stderr = ("/dev/stdin:21:3-40: Error: Could not process rule: No such file or directory\n"
              "\t\ttcp dport 8080 dnat to 10.213.1.2:80\n\t\t^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n")
    fake = FakeNft({**no_table(), ("nft", "-f", "-"): (1, "", stderr)})
    fw = Firewall(runner=fake, proc_sys=str(make_proc(tmp_path, "pc-a")))
    with pytest.raises(FirewallError) as err:
        fw.apply([A], [WEB])
    assert err.value.line == "tcp dport 8080 dnat to 10.213.1.2:80"
    assert str(err.value) == ("nft rejected the rules of table ip pycompose at 'tcp dport 8080 dnat to 10.213.1.2:80': "
                              "Error: Could not process rule: No such file or directory")
    assert err.value.detail == stderr


def test_missing_nft_binary(tmp_path: Path) -> None:
    def runner(argv: Sequence[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(argv[0])
    with pytest.raises(FirewallError, match="nft-missing not found: install nftables"):
        Firewall(nft="nft-missing", runner=runner).exists()


@pytest.mark.parametrize(("rc", "stderr", "expected"), [
    (0, "", True), (1, "Error: No such file or directory\n", False)])
def test_exists(rc: int, stderr: str, expected: bool) -> None:
    fake = FakeNft({("nft", "list", "table"): (rc, "", stderr)})
    assert Firewall("t3", runner=fake).exists() is expected
    assert fake.calls[0][0] == ["nft", "list", "table", "ip", "t3"]


def test_exists_reports_other_failures() -> None:
    fake = FakeNft({("nft", "list", "table"): (1, "", "Error: Operation not permitted\n")})
    with pytest.raises(FirewallError, match="Operation not permitted"):
        Firewall(runner=fake).exists()


def test_remove_cleans_docker_user_then_deletes_table(tmp_path: Path) -> None:
    fake = FakeNft(no_table("t4"))
    Firewall("t4", runner=fake, proc_sys=str(make_proc(tmp_path))).remove()
    assert [c[0][:4] for c in fake.calls] == [["nft", "-j", "list", "set"], ["nft", "-j", "list", "chain"],
                                              ["nft", "-f", "-"]]
    assert fake.scripts() == ["add table ip t4\ndelete table ip t4\n"]


def test_enable_forwarding(tmp_path: Path) -> None:
    proc = make_proc(tmp_path)
    Firewall(runner=FakeNft(), proc_sys=str(proc)).enable_forwarding()
    assert (proc / "net/ipv4/ip_forward").read_text() == "1"


def test_docker_user_can_be_turned_off(tmp_path: Path) -> None:
    fake = FakeNft(no_table())
    Firewall(runner=fake, proc_sys=str(make_proc(tmp_path)), docker_user=None).apply([A], [])
    assert not [c for c in fake.calls if "DOCKER-USER" in c[0]]


# ---- Docker compatibility -------------------------------------------------------------------

DU = DockerUserChain()
TAG = "pycompose:pycompose"


def listing(*rules: dict[str, object]) -> str:
    items: list[dict[str, object]] = [{"chain": {"family": "ip", "table": "filter", "name": "DOCKER-USER"}}]
    return json.dumps({"nftables": items + [{"rule": r} for r in rules]})


def rule(handle: int, *expr: dict[str, object], comment: str | None = None) -> dict[str, object]:
    r: dict[str, object] = {"family": "ip", "table": "filter", "chain": "DOCKER-USER", "handle": handle,
                            "expr": list(expr)}
    if comment:
        r["comment"] = comment
    return r


def ifname(key: str, value: str) -> dict[str, object]:
    return {"match": {"op": "==", "left": {"meta": {"key": key}}, "right": value}}


COUNTER: dict[str, object] = {"counter": {"packets": 0, "bytes": 0}}
ACCEPT: dict[str, object] = {"accept": None}
RETURN: dict[str, object] = {"return": None}
FOREIGN = rule(5, ifname("iifname", "eth9"), COUNTER, {"drop": None}, comment="admin")


A_RULES = [
    'iifname "pc-a" oifname "pc-a" counter accept comment "pycompose:pycompose:06d6c1d1d3fb"',
    'iifname "pc-a" oifname != "docker0" oifname != "br-*" counter accept comment "pycompose:pycompose:c935dca0efb7"',
    'oifname "pc-a" ct state established,related counter accept comment "pycompose:pycompose:7bf398ff87be"',
    'oifname "pc-a" ct status dnat counter accept comment "pycompose:pycompose:0f62b14dbf0f"']
I_RULES = ['iifname "pc-i" oifname "pc-i" counter accept comment "pycompose:pycompose:c973dbe15b0e"']


def ours_for_a() -> list[dict[str, object]]:
    """Our rules for bridge pc-a as nft lists them (only the comments matter to the comparison)."""
    return [rule(8 + i, ifname("iifname", "pc-a"), COUNTER, ACCEPT, comment=text.split('comment "')[1][:-1])
            for i, text in enumerate(A_RULES)]


def test_docker_user_rules_name_both_interfaces_and_never_docker_bridges() -> None:
    assert docker_user_rules(TAG, [I, A]) == A_RULES + I_RULES


def test_docker_user_rules_go_before_a_final_return() -> None:
    script = docker_user_script(DU, TAG, [A], listing(FOREIGN, rule(7, COUNTER, RETURN)))
    assert script == "".join(f"insert rule ip filter DOCKER-USER position 7 {r}\n" for r in A_RULES)


def test_docker_user_rules_are_appended_without_a_final_return() -> None:
    script = docker_user_script(DU, TAG, [I], listing(FOREIGN))
    assert script == f"add rule ip filter DOCKER-USER {I_RULES[0]}\n"


def test_docker_user_unchanged_means_no_transaction() -> None:
    assert docker_user_script(DU, TAG, [A], listing(FOREIGN, *ours_for_a(), rule(7, COUNTER, RETURN))) is None


def test_docker_user_stale_rules_are_replaced_and_only_ours_deleted() -> None:
    old_format = [rule(8, ifname("iifname", "pc-old"), COUNTER, ACCEPT, comment=TAG),  # before digests
                  rule(9, ifname("oifname", "pc-old"), COUNTER, ACCEPT, comment=TAG)]
    other_table = rule(10, ifname("iifname", "pc-x"), COUNTER, ACCEPT, comment="pycompose:other:0123456789ab")
    script = docker_user_script(DU, TAG, [B], listing(FOREIGN, *old_format, other_table))
    assert script is not None
    assert lines(script) == [
        "delete rule ip filter DOCKER-USER handle 8", "delete rule ip filter DOCKER-USER handle 9",
        'add rule ip filter DOCKER-USER iifname "pc-b" oifname "pc-b" counter accept comment "pycompose:pycompose:6c8a6545fc62"',
        'add rule ip filter DOCKER-USER iifname "pc-b" oifname != "docker0" oifname != "br-*" counter accept comment "pycompose:pycompose:adcdda729e2d"',
        'add rule ip filter DOCKER-USER oifname "pc-b" ct state established,related counter accept comment "pycompose:pycompose:0638a29aa7f1"',
        'add rule ip filter DOCKER-USER oifname "pc-b" ct status dnat counter accept comment "pycompose:pycompose:082746392318"']


def test_sync_docker_user_commands_with_a_fake_runner() -> None:
    fake = FakeNft({("nft", "-j", "list", "chain"): (0, listing(FOREIGN, *ours_for_a(), rule(7, COUNTER, RETURN)), "")})
    sync_docker_user(fake, "nft", DU, TAG, [])  # the last bridge went: remove ours, keep the rest
    assert fake.calls == [
        (["nft", "-j", "list", "chain", "ip", "filter", "DOCKER-USER"], None),
        (["nft", "-f", "-"], "".join(f"delete rule ip filter DOCKER-USER handle {h}\n" for h in (8, 9, 10, 11)))]


def test_sync_docker_user_without_docker_only_looks() -> None:
    fake = FakeNft({("nft", "-j", "list", "chain"): (1, "", NOT_FOUND)})
    sync_docker_user(fake, "nft", DU, TAG, [A])
    assert len(fake.calls) == 1


def test_sync_docker_user_reports_failures() -> None:
    fake = FakeNft({("nft", "-j", "list", "chain"): (0, listing(FOREIGN), ""),
                    ("nft", "-f", "-"): (1, "", "/dev/stdin:1:1-3: Error: Operation not permitted\n")})
    with pytest.raises(FirewallError, match="cannot update ip filter DOCKER-USER at 'add rule ip filter"):
        sync_docker_user(fake, "nft", DU, TAG, [A])
    fake = FakeNft({("nft", "-j", "list", "chain"): (1, "", "Error: Operation not permitted\n")})
    with pytest.raises(FirewallError, match="cannot list chain ip filter DOCKER-USER"):
        sync_docker_user(fake, "nft", DU, TAG, [A])
