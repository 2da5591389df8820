#!/usr/bin/env python3
"""Published-port speed vs the container's own address, and the cost of joining a network. Run as root.

A container on a pycompose network runs a small TCP server (the host's
python, bind-mounted read-only): a sink for throughput, and an echo for
requests per second (a new connection per request, as HTTP/1.0 clients
make them). The same client measures both through 127.0.0.1:<published>
(DNAT by the kernel) and straight to the container's address. Traffic
stays on this machine.

Usage: python bench/network.py [--mb 512] [--requests 3000]
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("PYCOMPOSE_DNS_UPSTREAMS", "none")

from engine.images.store import ImageStore  # noqa: E402
from engine.net.manage import NetworkManager  # noqa: E402
from engine.net.ports import ephemeral  # noqa: E402
from engine.runtime.containers import Runtime, new_id  # noqa: E402
from engine.runtime.spec import ContainerSpec, EndpointSpec, MountSpec, PortSpec  # noqa: E402
from engine.state import Root  # noqa: E402
from tests.integration.busybox import rootfs_tar  # noqa: E402

SERVER = """
import socket, threading
def sink():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 9000)); s.listen(64)
    while True:
        c, _ = s.accept()
        while c.recv(1 << 20):
            pass
        c.sendall(b"done"); c.close()
threading.Thread(target=sink, daemon=True).start()
e = socket.socket(); e.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
e.bind(("0.0.0.0", 9001)); e.listen(512)
while True:
    c, _ = e.accept()
    c.sendall(c.recv(64)); c.close()
"""


def wait_port(host: str, port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {host}:{port}")


def throughput(host: str, port: int, megabytes: int) -> float:
    chunk = b"x" * (1 << 20)
    with socket.create_connection((host, port)) as s:
        start = time.perf_counter()
        for _ in range(megabytes):
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)
        s.recv(4)
        return megabytes / (time.perf_counter() - start)


def rps(host: str, port: int, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        with socket.create_connection((host, port)) as s:
            s.sendall(b"ping")
            s.recv(4)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=512)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pycompose-bench-") as tmp:
        root = Root(os.path.join(tmp, "root"))
        root.ensure()
        store = ImageStore(root)
        image = store.import_tarball(io.BytesIO(rootfs_tar()), "busybox:bench")
        layers = tuple(store.layer_dirs(image))
        rt, nets = Runtime(root), NetworkManager(root)
        t = time.perf_counter()
        nets.create("bench_default")
        print(f"network create (bridge, firewall, DNS): {(time.perf_counter() - t) * 1000:.0f} ms")
        python = tuple(MountSpec(type="bind", source=d, target=d, read_only=True)
                       for d in ("/usr", "/lib", "/lib64") if os.path.isdir(d))
        sink_port, echo_port = ephemeral("tcp", "127.0.0.1"), ephemeral("tcp", "127.0.0.1")

        def container(name: str, argv: tuple[str, ...], network: bool, **kw: object) -> str:
            cid = new_id()
            eps: tuple[EndpointSpec, ...] = ()
            if network:
                ep = nets.allocate("bench_default", cid, container_name=name, names=(name,))
                eps = (EndpointSpec(ep.network, ep.bridge, ep.address, ep.prefixlen, ep.gateway, ep.mac),)
            rt.create(ContainerSpec(id=cid, name=name, image_id=image.id, layers=layers, argv=argv,
                                    env=("PATH=/usr/bin:/bin",), group="bench",
                                    network="bridge" if network else "none", endpoints=eps, **kw))  # type: ignore[arg-type]
            return cid

        try:
            server = container("server", ("/usr/bin/python3", "-c", SERVER), True, mounts=python,
                               ports=(PortSpec(9000, sink_port, host_ip="127.0.0.1"),
                                      PortSpec(9001, echo_port, host_ip="127.0.0.1")))
            rt.start(server)
            direct = rt.get(server).spec.endpoints[0].address
            wait_port(direct, 9001)
            wait_port("127.0.0.1", echo_port)
            results: dict[str, list[float]] = {}
            for _ in range(args.runs):
                for label, host, sport, eport in (("direct", direct, 9000, 9001),
                                                  ("published", "127.0.0.1", sink_port, echo_port)):
                    results.setdefault(f"{label} MB/s", []).append(throughput(host, sport, args.mb))
                    results.setdefault(f"{label} req/s", []).append(rps(host, eport, args.requests))
            for kind in ("MB/s", "req/s"):
                d = statistics.median(results[f"direct {kind}"])
                p = statistics.median(results[f"published {kind}"])
                print(f"{kind:6} direct {d:9.0f}   published 127.0.0.1 {p:9.0f}   published/direct {p / d:6.1%}")

            for network in (False, True):
                times = []
                for i in range(10):
                    cid = container(f"c{int(network)}{i}", ("true",), network)
                    t = time.perf_counter()
                    rt.start(cid)
                    times.append(time.perf_counter() - t)
                    rt.wait(cid)
                    rt.remove(cid)
                print(f"start {'with a network endpoint' if network else 'without network  '}: "
                      f"median {statistics.median(times) * 1000:.0f} ms")
        finally:
            for c in rt.list():
                rt.remove(c.id, force=True)
            for n in nets.list():
                nets.remove(n.name)


if __name__ == "__main__":
    main()
