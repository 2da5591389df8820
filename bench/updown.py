#!/usr/bin/env python3
"""`up -d` from nothing, `up -d` with nothing changed, and `down`: 3, 10 and 30 services. Run as root.

Services are busybox `sleep` (PID 1 ignores SIGTERM, so `down` must not wait
for it), independent, or a chain of 30 where each depends on the previous one.
Where a Docker engine with Docker Compose v2 answers, the same projects run
with it too, and the ratios are printed.

Usage: python bench/updown.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

from tests.integration.busybox import rootfs_tar  # noqa: E402


def compose_file(n: int, chain: bool) -> str:
    lines = ["services:"]
    for i in range(n):
        lines += [f"  s{i}:", "    image: busybox:latest", '    command: ["sleep", "3600"]']
        if chain and i:
            lines.append(f"    depends_on: [s{i - 1}]")
    return "\n".join(lines) + "\n"


def timed(cmd: list[str], cwd: str, env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def docker_compose() -> list[str] | None:
    if not shutil.which("docker"):
        return None
    ok = subprocess.run(["docker", "info"], capture_output=True).returncode == 0 and \
        subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    return ["docker", "compose"] if ok else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    pycompose = [sys.executable, "-m", "compose.cli.main"]
    docker = docker_compose()
    with tempfile.TemporaryDirectory(prefix="pycompose-bench-") as tmp:
        env = {**os.environ, "PYCOMPOSE_ROOT": os.path.join(tmp, "root"), "PYCOMPOSE_DNS_UPSTREAMS": "none",
               "PYTHONPATH": HERE}
        subprocess.run(pycompose + ["image", "import", "-", "busybox:latest"], input=rootfs_tar(), env=env,
                       check=True, capture_output=True)
        print(f"{'project':22} {'up -d':>8} {'unchanged':>10} {'down':>8}" + ("   docker compose ratios" if docker else ""))
        for n, chain in ((3, False), (10, False), (30, False), (30, True)):
            project = os.path.join(tmp, f"p{n}{'c' if chain else ''}")
            os.makedirs(project)
            with open(os.path.join(project, "compose.yaml"), "w") as fh:
                fh.write(compose_file(n, chain))
            results: dict[str, list[float]] = {"up": [], "again": [], "down": []}
            for _ in range(args.runs):
                results["up"].append(timed(pycompose + ["up", "-d"], project, env))
                results["again"].append(timed(pycompose + ["up", "-d"], project, env))
                results["down"].append(timed(pycompose + ["down"], project, env))
            med = {k: statistics.median(v) for k, v in results.items()}
            label = f"{n} {'chained' if chain else 'independent'}"
            line = f"{label:22} {med['up']:7.2f}s {med['again']:9.2f}s {med['down']:7.2f}s"
            if docker:
                d = {k: timed(docker + cmd, project, dict(os.environ)) for k, cmd in
                     (("up", ["up", "-d"]), ("again", ["up", "-d"]), ("down", ["down", "-t", "10"]))}
                line += "   " + "  ".join(f"{k} x{d[k] / med[k]:.1f}" for k in d)
            print(line)


if __name__ == "__main__":
    main()
