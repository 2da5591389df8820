#!/usr/bin/env python3
"""How fast `pycompose config` and `pycompose version` answer on a 3-service project.

Runs each command N times as a fresh process and prints the median and best
wall time: `version`, `config` with the model cache cold (every run loads,
validates and builds the graph) and warm (the cached model is reused), and
`config --format json`. Usage: python bench/config_startup.py [-n 20]
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

COMPOSE = """\
services:
  frontend:
    image: node:20
    ports: ["8080:3000"]
    environment: [API_URL=http://backend:5000]
    depends_on: [backend]
  backend:
    build: ./backend
    environment:
      DATABASE_URL: postgres://app:${DB_PASSWORD:-secret}@db/app
    depends_on:
      db: {condition: service_healthy}
  db:
    image: postgres:16
    volumes: [db-data:/var/lib/postgresql/data]
    healthcheck:
      test: ["CMD", "pg_isready"]
      interval: 5s
volumes:
  db-data:
"""


def pycompose() -> list[str]:
    script = shutil.which("pycompose", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "compose.cli.main"]


def timed(cmd: list[str], cwd: str, env: dict[str, str], n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = os.path.join(tmp, "demo")
        os.makedirs(os.path.join(project, "backend"))
        with open(os.path.join(project, "compose.yaml"), "w") as fh:
            fh.write(COMPOSE)
        base = {"PATH": os.environ["PATH"], "HOME": tmp, "PYCOMPOSE_CACHE_DIR": os.path.join(tmp, "cache")}
        cold = {**base, "PYCOMPOSE_NO_CACHE": "1"}
        cmd = pycompose()
        rows = [
            ("python -c pass (floor)", [sys.executable, "-c", "pass"], base),
            ("version", cmd + ["version"], base),
            ("config, cache cold", cmd + ["config"], cold),
            ("config, cache warm", cmd + ["config"], base),
            ("config --format json, warm", cmd + ["config", "--format", "json"], base),
            ("config -q, warm", cmd + ["config", "-q"], base),
        ]
        subprocess.run(cmd + ["config", "-q"], cwd=project, env=base, check=True)  # fill the cache
        print(f"{'command':32} {'median':>9} {'best':>9}   (n={args.n})")
        for label, argv, env in rows:
            median, best = timed(argv, project, env, args.n)
            print(f"{label:32} {median * 1000:7.1f}ms {best * 1000:7.1f}ms")


if __name__ == "__main__":
    main()
