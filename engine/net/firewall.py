"""pycompose's firewall: one nftables table (family ``ip``) rebuilt whole on every change.

The caller passes the complete desired state (our bridges, published ports);
``render`` turns it into one ``nft -f -`` script that deletes and re-creates
the table in a single transaction, so the kernel switches from the old rules
to the new ones at once and a crash never leaves half of them. We never touch
another table, with one documented exception: on hosts with Docker's
iptables ``DOCKER-USER`` chain (see ``sync_docker_user``).

Layout (hooks and priorities are nftables' standard ones, as netavark and
Docker's nftables backend use):

- ``raw_prerouting`` filter/prerouting/raw(-300): drops packets from our
  bridges addressed to 127.0.0.0/8. Our bridges have ``route_localnet=1`` (so
  replies to the host's 127.0.0.1 connections can be routed); without this a
  container could reach services the host binds to loopback.
- ``prerouting`` nat/prerouting/dstnat(-100) and ``output`` nat/output/-100:
  packets for a local address jump to ``ports`` (DNAT to the container), from
  other hosts and containers (prerouting) and from the host itself (output).
  Prerouting skips 127.0.0.0/8 so a neighbour cannot reach ports published on
  loopback by sending to 127.0.0.1 (moby/moby#45610).
- ``postrouting`` nat/postrouting/srcnat(100): masquerade 127.0.0.0/8 sources
  leaving through our bridges, hairpin (a container reaching a published port
  of its own bridge through a host address; needs ip_forward, and for a
  container's own port hairpin mode on its bridge port) and outbound traffic
  of every non-internal subnet.
- ``forward`` filter/forward/filter(0), policy accept (other traffic is none
  of our business): internal bridges talk only to themselves; replies and
  published (DNAT) traffic pass; no new traffic between two of our bridges;
  our bridges may send anywhere; nothing else is routed into them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import EngineError

Runner = Callable[[Sequence[str], "str | None"], "subprocess.CompletedProcess[str]"]
PROC_SYS = "/proc/sys"
PROTOCOLS = ("tcp", "udp", "sctp")
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")  # no '*' (an nft wildcard), quotes or spaces
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_RESERVED_TABLES = {"filter", "nat", "mangle", "raw", "security"}  # iptables-nft's tables
_NOT_FOUND = "No such file or directory"


class FirewallError(EngineError):
    """nft refused our script or a command; carries its error text and the offending script line."""

    def __init__(self, message: str, *, detail: str = "", line: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail
        self.line = line


class InvalidRule(EngineError):
    """A bridge or port rule is malformed; raised by ``render`` before anything runs."""


@dataclass(frozen=True)
class BridgeRule:
    """One pycompose bridge and its subnet; ``internal`` networks get no NAT and no way out."""

    bridge: str
    subnet: str
    internal: bool = False


@dataclass(frozen=True)
class PortRule:
    """A published port: ``host_ip:host_port/protocol`` -> ``container_ip:container_port``.

    ``host_ip`` None (or 0.0.0.0) means every host address, 127.0.0.1 included.
    """

    bridge: str
    container_ip: str
    container_port: int
    host_port: int
    protocol: str = "tcp"
    host_ip: str | None = None


@dataclass(frozen=True)
class DockerUserChain:
    """Where Docker's ``DOCKER-USER`` chain lives; tests point this at a chain of their own table."""

    family: str = "ip"
    table: str = "filter"
    chain: str = "DOCKER-USER"


def run_command(argv: Sequence[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
    """The default runner: run ``argv`` with ``stdin``, capturing text output, never raising on exit status."""
    return subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)


# ---- validation -------------------------------------------------------------------------

def _bridge_name(name: str) -> str:
    if not _IFNAME.match(name) or name in (".", ".."):
        raise InvalidRule(f"{name!r} is not a valid bridge name: use 1-15 letters, digits, '_', '.' or '-'")
    return name


def _ipv4(value: str, what: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise InvalidRule(f"{what} {value!r} is not an IPv4 address (IPv6 is not supported yet)") from None


def _port(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidRule(f"{what} {value!r} is not a port number (1-65535)")
    return value


def _check(bridges: Sequence[BridgeRule], ports: Sequence[PortRule]) -> dict[str, tuple[BridgeRule, ipaddress.IPv4Network]]:
    """Validate everything; return bridge name -> (rule, normalized subnet)."""
    nets: dict[str, tuple[BridgeRule, ipaddress.IPv4Network]] = {}
    for b in bridges:
        _bridge_name(b.bridge)
        try:
            net = ipaddress.IPv4Network(b.subnet, strict=False)
        except ValueError:
            raise InvalidRule(f"bridge {b.bridge}: subnet {b.subnet!r} is not an IPv4 network such as 10.213.1.0/24") from None
        if net.prefixlen < 8 or net.overlaps(LOOPBACK):
            raise InvalidRule(f"bridge {b.bridge}: subnet {net} is too wide or overlaps 127.0.0.0/8")
        if b.bridge in nets:
            raise InvalidRule(f"bridge {b.bridge} is listed twice")
        for other, other_net in nets.values():
            if net.overlaps(other_net):
                raise InvalidRule(f"bridge {b.bridge}: subnet {net} overlaps {other_net} of bridge {other.bridge}")
        nets[b.bridge] = (b, net)
    published: list[PortRule] = []
    for p in ports:
        where = f"port {p.host_port}/{p.protocol}"
        _port(p.host_port, "host port")
        _port(p.container_port, f"{where}: container port")
        if p.protocol not in PROTOCOLS:
            raise InvalidRule(f"{where}: protocol must be one of {', '.join(PROTOCOLS)}")
        if p.bridge not in nets:
            raise InvalidRule(f"{where}: bridge {p.bridge!r} is not one of the bridges given")
        rule, net = nets[p.bridge]
        if rule.internal:
            raise InvalidRule(f"{where}: bridge {p.bridge} is internal; internal networks publish no ports")
        if _ipv4(p.container_ip, f"{where}: container address") not in net:
            raise InvalidRule(f"{where}: container address {p.container_ip} is outside {net} of bridge {p.bridge}")
        host = _host_ip(p)
        if host is not None:
            _ipv4(host, f"{where}: host address")
        for q in published:
            if (q.host_port, q.protocol) == (p.host_port, p.protocol) and (
                    host is None or _host_ip(q) is None or host == _host_ip(q)):
                raise InvalidRule(f"{where} is published twice ({q.container_ip} and {p.container_ip})")
        published.append(p)
    return nets


def _host_ip(p: PortRule) -> str | None:
    return None if p.host_ip in (None, "", "0.0.0.0") else p.host_ip


# ---- rendering ----------------------------------------------------------------------------

def _chain(name: str, base: str | None, rules: Sequence[str]) -> list[str]:
    return [f"\tchain {name} {{", *([f"\t\ttype {base}; policy accept;"] if base else []),
            *(f"\t\t{r}" for r in rules), "\t}"]


def _render_table(table: str, nets: dict[str, tuple[BridgeRule, ipaddress.IPv4Network]],
                  ports: Sequence[PortRule]) -> list[str]:
    names = sorted(nets)
    internal = [n for n in names if nets[n][0].internal]
    external = [(n, nets[n][1]) for n in names if not nets[n][0].internal]
    dnat = [(f"ip daddr {_host_ip(p)} " if _host_ip(p) else "")
            + f"{p.protocol} dport {p.host_port} dnat to {p.container_ip}:{p.container_port}"
            for p in sorted(ports, key=lambda p: (p.protocol, p.host_port, _host_ip(p) or ""))]
    return [
        f"table ip {table} {{",
        "\tset bridges {", "\t\ttype ifname", "\t\telements = { " + ", ".join(f'"{n}"' for n in names) + " }", "\t}",
        *_chain("raw_prerouting", "filter hook prerouting priority raw",
                ["iifname @bridges ip daddr 127.0.0.0/8 drop"]),
        *_chain("prerouting", "nat hook prerouting priority dstnat",
                ["ip daddr != 127.0.0.0/8 fib daddr type local jump ports"]),
        *_chain("output", "nat hook output priority -100", ["fib daddr type local jump ports"]),
        *_chain("ports", None, dnat),
        *_chain("postrouting", "nat hook postrouting priority srcnat", [
            "oifname @bridges ip saddr 127.0.0.0/8 masquerade",
            *(r for n, net in external for r in (f'oifname "{n}" ip saddr {net} ct status dnat masquerade',
                                                  f'oifname != "{n}" ip saddr {net} masquerade'))]),
        *_chain("forward", "filter hook forward priority filter", [
            *(r for n in internal for r in (f'iifname "{n}" oifname != "{n}" drop',
                                            f'oifname "{n}" iifname != "{n}" drop')),
            "oifname @bridges ct state established,related accept",
            "oifname @bridges ct status dnat accept",
            *(f'iifname "{n}" oifname @bridges oifname != "{n}" drop' for n, _ in external),
            "iifname @bridges accept",
            "oifname @bridges drop"]),
        "}"]


def _nft_error(stderr: str, script: str) -> tuple[str, str | None]:
    """The first error line of nft's output, and the script line it points at (if any)."""
    text = stderr.strip()
    first = next((ln for ln in text.splitlines() if "Error:" in ln), text.splitlines()[0] if text else "")
    m = re.search(r"/dev/stdin:(\d+):", text)
    lines = script.splitlines()
    line = lines[int(m[1]) - 1].strip() if m and 0 < int(m[1]) <= len(lines) else None
    return re.sub(r"^/dev/stdin:[\d:-]+ ", "", first), line


# ---- the firewall -------------------------------------------------------------------------

class Firewall:
    """The table ``ip <table>``; every change is one atomic ``nft -f -`` transaction.

    Callers serialize ``apply``/``remove`` (e.g. under the state root's lock):
    each call replaces the whole table with the state it is given.
    """

    def __init__(self, table: str = "pycompose", nft: str = "nft", *, runner: Runner = run_command,
                 proc_sys: str = PROC_SYS, docker_user: DockerUserChain | None = DockerUserChain()) -> None:
        if not _TABLE.match(table) or table in _RESERVED_TABLES:
            raise InvalidRule(f"{table!r} cannot be our table: use letters, digits and '_', not an iptables table name")
        self.table, self.nft, self.run, self.proc_sys = table, nft, runner, proc_sys
        self.docker_user = docker_user
        self.tag = f"pycompose:{table}"

    def render(self, bridges: Sequence[BridgeRule], ports: Sequence[PortRule]) -> str:
        """The whole transaction for this state (pure): re-create the table, or delete it if no bridges."""
        nets = _check(bridges, ports)
        lines = [f"add table ip {self.table}", f"delete table ip {self.table}"]
        if nets:
            lines += _render_table(self.table, nets, ports)
        return "\n".join(lines) + "\n"

    def apply(self, bridges: Sequence[BridgeRule], ports: Sequence[PortRule]) -> None:
        """Make the table exactly this state; no bridges removes everything (``remove``)."""
        script = self.render(bridges, ports)  # validates before anything runs
        if not bridges:
            self.remove()
            return
        localnet = {p.bridge for p in ports}
        for name in sorted(localnet):
            if not os.path.isdir(self._conf(name)):
                raise FirewallError(f"bridge {name} does not exist: create it before publishing its ports")
        before = self._bridges_in_table()
        self._nft_script(script)
        for name in sorted(before | {b.bridge for b in bridges}):
            if os.path.isdir(self._conf(name)):
                set_route_localnet(name, name in localnet, proc_sys=self.proc_sys)
        if self.docker_user:
            sync_docker_user(self.run, self.nft, self.docker_user, self.tag, bridges)

    def exists(self) -> bool:
        """Whether our table is in the kernel now."""
        r = self._nft(["list", "table", "ip", self.table])
        if r.returncode == 0:
            return True
        if _NOT_FOUND in r.stderr:
            return False
        raise FirewallError(f"cannot list table ip {self.table}: {r.stderr.strip()}", detail=r.stderr)

    def remove(self) -> None:
        """Delete our table, our DOCKER-USER rules and route_localnet on our bridges; nothing if absent."""
        before = self._bridges_in_table()
        if self.docker_user:
            sync_docker_user(self.run, self.nft, self.docker_user, self.tag, [])
        self._nft_script(f"add table ip {self.table}\ndelete table ip {self.table}\n")
        for name in sorted(before):
            if os.path.isdir(self._conf(name)):
                set_route_localnet(name, False, proc_sys=self.proc_sys)

    def enable_forwarding(self) -> None:
        """``net.ipv4.ip_forward=1``: routing (hence NAT) between our bridges and the world needs it."""
        _write_sysctl(os.path.join(self.proc_sys, "net/ipv4/ip_forward"), "1")

    def _conf(self, bridge: str) -> str:
        return os.path.join(self.proc_sys, "net/ipv4/conf", bridge)

    def _bridges_in_table(self) -> set[str]:
        """The bridges the current table (if any) was made for: their sysctls may need clearing."""
        r = self._nft(["-j", "list", "set", "ip", self.table, "bridges"])
        if r.returncode != 0:
            return set()
        for item in json.loads(r.stdout).get("nftables", []):
            if "set" in item:
                return {e for e in item["set"].get("elem", []) if isinstance(e, str)}
        return set()

    def _nft(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return self.run([self.nft, *args], stdin)
        except FileNotFoundError:
            raise FirewallError(f"{self.nft} not found: install nftables (Debian: apt-get install nftables)") from None

    def _nft_script(self, script: str) -> None:
        r = self._nft(["-f", "-"], script)
        if r.returncode != 0:
            error, line = _nft_error(r.stderr, script)
            where = f" at {line!r}" if line else ""
            raise FirewallError(f"nft rejected the rules of table ip {self.table}{where}: {error}",
                                detail=r.stderr, line=line)


def set_route_localnet(bridge: str, on: bool, *, proc_sys: str = PROC_SYS) -> None:
    """Set ``net.ipv4.conf.<bridge>.route_localnet``: lets 127.0.0.1 traffic DNATed by the host be routed to it.

    Only ever called for our own bridges; the raw_prerouting rule keeps
    containers from using it to reach the host's loopback.
    """
    _bridge_name(bridge)
    path = os.path.join(proc_sys, "net/ipv4/conf", bridge, "route_localnet")
    if not os.path.exists(path):
        raise FirewallError(f"bridge {bridge} does not exist (no {path})")
    _write_sysctl(path, "1" if on else "0")


def _write_sysctl(path: str, value: str) -> None:
    try:
        with open(path, "w", encoding="ascii") as fh:
            fh.write(value)
    except OSError as exc:
        raise FirewallError(f"cannot write {value} to {path}: {exc.strerror} (pycompose needs root)") from None


# ---- Docker compatibility -----------------------------------------------------------------
# Docker (iptables backend) sets the iptables FORWARD policy to DROP. That is a base chain of
# another table, and an nftables accept is final only for its own base chain, so our accepts
# cannot override it. Docker documents DOCKER-USER as the place for ACCEPT rules of traffic it
# should not drop ("Docker on a router": iptables -I DOCKER-USER -i src_if -o dst_if -j ACCEPT).
# Every rule of ours names both interfaces, so none of them lets a container of ours into a
# Docker network: traffic towards docker0 or a br-* bridge is left to Docker's own chains,
# which drop it unless the port is published. Each rule is tagged "pycompose:<table>:<digest
# of the rule>", so a listing tells at once whether ours are the wanted ones; no other rule is
# touched. Our own forward chain still applies isolation between our bridges: a drop there is
# final too.

DOCKER_BRIDGES = ("docker0", "br-*")  # Docker's default bridge and its user-defined networks


def _docker_user_bodies(bridges: Sequence[BridgeRule]) -> list[str]:
    """The bodies of our DOCKER-USER rules, in order. Per non-internal bridge: within it; out of it
    to anything but Docker's bridges; replies back into it; and published ports (DNAT) into it.
    Per internal bridge: within it only."""
    out: list[str] = []
    not_docker = " ".join(f'oifname != "{d}"' for d in DOCKER_BRIDGES)
    for b in sorted(bridges, key=lambda b: b.bridge):
        name = _bridge_name(b.bridge)
        out.append(f'iifname "{name}" oifname "{name}"')
        if not b.internal:
            out += [f'iifname "{name}" {not_docker}',
                    f'oifname "{name}" ct state established,related',
                    f'oifname "{name}" ct status dnat']
    return out


def _tag_of(tag: str, body: str) -> str:
    return f"{tag}:{hashlib.sha256(body.encode()).hexdigest()[:12]}"


def docker_user_rules(tag: str, bridges: Sequence[BridgeRule]) -> list[str]:
    """Our accept rules for DOCKER-USER, as nft rule bodies, each tagged with ``comment "<tag>:<digest>"``."""
    return [f'{body} counter accept comment "{_tag_of(tag, body)}"' for body in _docker_user_bodies(bridges)]


def _ours(tag: str, comment: object) -> bool:
    return isinstance(comment, str) and (comment == tag or comment.startswith(tag + ":"))


def docker_user_script(where: DockerUserChain, tag: str, bridges: Sequence[BridgeRule],
                       listing: str) -> str | None:
    """From ``nft -j list chain`` output: the transaction making our rules there exactly
    these (delete ours by handle, add the wanted ones), or None when they already are.

    Ours go at the end of the chain, or just before a final bare ``return``
    (older Docker adds one), so rules the admin put there (e.g. drops that
    restrict access to published ports) still run first.
    """
    rules = [r["rule"] for r in json.loads(listing).get("nftables", []) if "rule" in r]
    ours = [r for r in rules if _ours(tag, r.get("comment"))]
    wanted = _docker_user_bodies(bridges)
    if [r.get("comment") for r in ours] == [_tag_of(tag, body) for body in wanted]:
        return None
    chain = f"{where.family} {where.table} {where.chain}"
    lines = [f"delete rule {chain} handle {r['handle']}" for r in ours]
    others = [r for r in rules if not _ours(tag, r.get("comment"))]
    last = others[-1] if others else None
    verbs = [next(iter(e)) for e in last.get("expr", []) if "counter" not in e] if last else []
    position = f"insert rule {chain} position {last['handle']}" if last and verbs == ["return"] else None
    for rule in docker_user_rules(tag, bridges):
        lines.append(f"{position} {rule}" if position else f"add rule {chain} {rule}")
    return "\n".join(lines) + "\n"


def sync_docker_user(run: Runner, nft: str, where: DockerUserChain, tag: str, bridges: Sequence[BridgeRule]) -> None:
    """If Docker's DOCKER-USER chain exists, make our accept rules there match ``bridges`` (none: remove them)."""
    chain = [where.family, where.table, where.chain]
    r = run([nft, "-j", "list", "chain", *chain], None)
    if r.returncode != 0:
        if _NOT_FOUND in r.stderr:
            return  # no Docker (iptables-nft) here: nothing to do
        raise FirewallError(f"cannot list chain {' '.join(chain)}: {r.stderr.strip()}", detail=r.stderr)
    script = docker_user_script(where, tag, bridges, r.stdout)
    if script is None:
        return
    done = run([nft, "-f", "-"], script)
    if done.returncode != 0:
        error, line = _nft_error(done.stderr, script)
        raise FirewallError(f"cannot update {' '.join(chain)}{f' at {line!r}' if line else ''}: {error}",
                            detail=done.stderr, line=line)
