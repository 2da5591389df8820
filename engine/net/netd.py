"""netd: the network daemon of a state root. It serves DNS on every network's gateway.

One process per root, started when the first network is made and exiting
once no network is left. Each network's gateway gets a listener on port 53
(UDP and TCP). Answers come from the network records on disk, read again
whenever they change, so names follow containers as they are created,
recreated, restarted or scaled, and no other container is touched.

A client sees the names of running containers on the networks it shares
with them, and each name resolves to that container's address on the
shared network. Other names go to the host's resolvers.

Run as ``python -m engine.net.netd ROOT [READY_FD]``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from typing import Any

from ..daemon import quiet_output, spawn
from ..state import Root, locked, read_json, try_locked, unlink_lock, write_json
from .networks import Network, Networks

RESCAN = 0.5  # seconds between looks at the records
IDLE_EXIT = float(os.environ.get("PYCOMPOSE_NETD_IDLE", "2"))


class RecordsResolver:
    """Names from the network records, read again whenever they change; only running containers answer."""

    def __init__(self, root: Root) -> None:
        self.root = root
        self.store = Networks(root)
        self.networks: list[Network] = []
        self._stamp: Any = None
        self._running: dict[str, tuple[float, bool]] = {}

    def refresh(self) -> bool:
        """Re-read the records if any changed; True when they did."""
        try:
            stamp = tuple(sorted((e.name, e.stat().st_mtime_ns) for e in os.scandir(self.store.dir)))
        except FileNotFoundError:
            stamp = ()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        self.networks = self.store.list()
        return True

    def _is_running(self, container: str) -> bool:
        path = os.path.join(self.root.containers, container, "state.json")
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return False
        cached = self._running.get(container)
        if cached is None or cached[0] != mtime:
            state = read_json(path, {}) or {}
            cached = (mtime, state.get("status") in ("running", "paused"))
            self._running[container] = cached
        return cached[1]

    def _shared(self, client: str) -> list[Network]:
        self.refresh()
        return [n for n in self.networks if client in n.allocations or client == n.gateway]

    def lookup(self, client: str, name: str) -> list[str] | None:
        found: list[str] = []
        for net in self._shared(client):
            for address, holder in net.allocations.items():
                names = {n.lower() for n in holder.get("names", ())}
                names |= {holder.get("name", "").lower(), holder["container"][:12]}
                if name in names and self._is_running(holder["container"]):
                    found.append(address)
        return found or None

    def reverse(self, client: str, address: str) -> str | None:
        for net in self._shared(client):
            holder = net.allocations.get(address)
            if holder and self._is_running(holder["container"]):
                return holder.get("name") or holder["container"][:12]
        return None


def upstreams() -> list[tuple[str, int]]:
    """Where names we do not know go: ``PYCOMPOSE_DNS_UPSTREAMS`` (``ip[:port],…``; ``none``), else the host's."""
    from .dns import parse_upstream

    value = os.environ.get("PYCOMPOSE_DNS_UPSTREAMS")
    if value is None:
        from .dns import read_upstreams

        return read_upstreams("/etc/resolv.conf")
    return [parse_upstream(v.strip()) for v in value.split(",") if v.strip() and v.strip() != "none"]


class Netd:
    def __init__(self, root: Root) -> None:
        self.root = root
        self.resolver = RecordsResolver(root)
        # the daemon only: commands that ask whether netd runs do not load the DNS server
        from .dns import DnsServer

        self.server = DnsServer(self.resolver, upstreams())
        self.listening: set[str] = set()
        self.stopping = False

    def _scan(self) -> list[Network]:
        """Listen on every network's gateway, and only there."""
        changed = self.resolver.refresh()
        wanted = {n.gateway for n in self.resolver.networks}
        if changed or wanted != self.listening:
            for gone in self.listening - wanted:
                self.server.remove_listener(gone)
            self.listening &= wanted
            for new in wanted - self.listening:
                with contextlib.suppress(OSError):  # the bridge may not carry the address yet: retried
                    self.server.add_listener(new, 53)
                    self.listening.add(new)
        return self.resolver.networks

    def serve(self, ready_fd: int | None) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self._scan()
        write_json(_file(self.root, "json"), {"pid": os.getpid()})
        if ready_fd is not None:
            os.write(ready_fd, b"ready")
            os.close(ready_fd)
        idle_since = time.monotonic()
        while not self.stopping:
            self.server.run_once(RESCAN)
            if self._scan():
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > IDLE_EXIT:
                break
        self.server.close()


def running(root: Root) -> bool:
    """The root's netd runs (the pid it recorded is a netd of this root, not a recycled pid)."""
    try:
        info = read_json(_file(root, "json"), {}) or {}
    except ValueError:
        return False
    pid = info.get("pid")
    if not isinstance(pid, int) or not pid:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
    except OSError:
        return False
    return b"engine.net.netd" in argv and root.path.encode() in argv


def _file(root: Root, suffix: str) -> str:
    """``<root>/run/netd.<suffix>``: its lock, start lock, log and pid record."""
    return os.path.join(root.run, f"netd.{suffix}")


def _clean_up(root: Root) -> None:
    """On the way out (no network left): remove netd's files under ``run/`` (the log only if empty).
    The start lock goes only if no command holds it: one that does is starting a new netd."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_file(root, "json"))
    start = try_locked(_file(root, "start.lock"))
    if start is None:
        return
    try:
        with contextlib.suppress(OSError):
            if os.path.getsize(_file(root, "log")) == 0:
                os.unlink(_file(root, "log"))
        unlink_lock(_file(root, "start.lock"))
    finally:
        os.close(start)


def ensure(root: Root) -> None:
    """Start the root's netd unless it runs (detached, double fork); wait until it serves."""
    root.ensure()
    with locked(_file(root, "start.lock")):
        if running(root):
            return
        spawn("engine.net.netd", [root.path], _file(root, "log"))


def main(argv: list[str]) -> int:
    root = Root(argv[1])
    ready_fd = int(argv[2]) if len(argv) > 2 else None
    quiet_output()
    with locked(_file(root, "lock")):
        Netd(root).serve(ready_fd)
        _clean_up(root)
        unlink_lock(_file(root, "lock"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
