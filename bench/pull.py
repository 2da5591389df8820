#!/usr/bin/env python3
"""Pulls from a registry on 127.0.0.1 (Debian's docker-registry, started here), side by side. Run as root.

The image: a bookworm minbase root (mmdebstrap, cached like the tests') cut
into three layers, plus a layer of files from this machine's Python library,
gzip level 6 as Docker compresses: about 200 MB of content. A second image
shares the three base layers and adds its own. Measured:

- pycompose: a pull into an empty store (MB/s of compressed layers received),
  the second image (which fetches only its own layer), and ``up -d`` into an
  empty state root until the container runs;
- ``skopeo copy`` of the same image to a directory (no unpacking), when skopeo
  is installed;
- a stack of four such images pulled by ``pycompose pull`` (services in parallel);
- with ``--old PATH`` (a checkout of an older pycompose), the same pulls with its code.

Usage: python bench/pull.py [--runs 3] [--old /path/to/old/checkout]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

from engine.images import ImageStore  # noqa: E402
from engine.images import registry as reg_api  # noqa: E402
from engine.images.push import push  # noqa: E402
from engine.state import Root  # noqa: E402
from tests.integration.debian import files_layer, minbase, oci_archive, split  # noqa: E402
from tests.integration.registries import Registry  # noqa: E402

CMD = ["/bin/sh", "-c", "echo ready; sleep 3600"]


def python_files(limit: int, salt: str) -> dict[str, bytes]:
    """About ``limit`` bytes of this machine's Python library files (real, compressible content), made
    distinct by a first line of their own."""
    base = Path(os.__file__).parent
    out: dict[str, bytes] = {}
    total = 0
    for path in sorted(base.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        data = f"# {salt}\n".encode() + path.read_bytes()
        out[f"opt/pylib/{path.relative_to(base)}"] = data
        total += len(data)
        if total >= limit:
            break
    return out


def build(src: ImageStore, host: str) -> dict[str, object]:
    layers = split(minbase())
    images = {}
    for name, extra in (("bench/a:1", 30_000_000), ("bench/b:1", 12_000_000), ("bench/c:1", 12_000_000),
                        ("bench/d:1", 12_000_000)):
        ref = f"{host}/{name}"
        own = files_layer(python_files(extra, name))
        src.load(io.BytesIO(oci_archive([*layers, own], ref, CMD, level=6)))
        t = time.perf_counter()
        push(src, ref)
        image = src.get(ref)
        images[name] = {"ref": ref, "push_s": time.perf_counter() - t,
                        "compressed": sum(d.size for d in image.layers), "content": src.size(image),
                        "own": image.layers[-1].size}
    return images


def pull_ours(tmp: str, refs: list[str]) -> tuple[list[float], float]:
    """Each pull's time into one store, and when the first one had received its last layer."""
    dst = ImageStore(Root(tempfile.mkdtemp(dir=tmp)))
    out = []
    received = [0.0]
    for ref in refs:
        t = time.perf_counter()

        def note(event, t=t) -> None:
            if event.status == "Download complete" and len(out) == 0:
                received[0] = time.perf_counter() - t

        reg_api.pull(dst, ref, progress=note)
        out.append(time.perf_counter() - t)
    shutil.rmtree(dst.root.path, ignore_errors=True)
    return out, received[0]


OLD_PULL = """
import sys, time, tempfile
from engine.images import ImageStore, registry
from engine.state import Root
store = ImageStore(Root(tempfile.mkdtemp(dir=sys.argv[1])))
for ref in sys.argv[2:]:
    t = time.perf_counter(); registry.pull(store, ref); print(time.perf_counter() - t)
"""


def pull_old(old: str, tmp: str, refs: list[str]) -> list[float]:
    done = subprocess.run([sys.executable, "-c", OLD_PULL, tmp, *refs], env={**os.environ, "PYTHONPATH": old},
                          cwd=old, capture_output=True, text=True, check=True)
    return [float(x) for x in done.stdout.split()]


def skopeo(tmp: str, ref: str) -> float | None:
    if not shutil.which("skopeo"):
        return None
    dest = tempfile.mkdtemp(dir=tmp)
    t = time.perf_counter()
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}", f"dir:{dest}"],
                   check=True, capture_output=True)
    took = time.perf_counter() - t
    shutil.rmtree(dest, ignore_errors=True)
    return took


def cli(env: dict[str, str], cwd: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "compose.cli.main", *args], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def up_to_running(tmp: str, ref: str, pythonpath: str) -> float:
    """``up -d`` of one service into an empty state root, until ``ps`` says it runs; then ``down``."""
    project = tempfile.mkdtemp(dir=tmp)
    Path(project, "compose.yaml").write_text(f"services:\n  app:\n    image: {ref}\n")
    env = {**os.environ, "PYCOMPOSE_ROOT": tempfile.mkdtemp(dir=tmp), "PYCOMPOSE_DNS_UPSTREAMS": "none",
           "PYTHONPATH": pythonpath, "PYCOMPOSE_NO_CACHE": "1"}
    t = time.perf_counter()
    cli(env, project, "up", "-d", "--quiet-pull")
    while True:
        ps = subprocess.run([sys.executable, "-m", "compose.cli.main", "ps", "--format", "json"], cwd=project,
                            env=env, capture_output=True, text=True).stdout
        if '"running"' in ps:
            break
        time.sleep(0.02)
    took = time.perf_counter() - t
    cli(env, project, "down", "-t", "0")
    shutil.rmtree(env["PYCOMPOSE_ROOT"], ignore_errors=True)
    return took


def stack_pull(tmp: str, refs: list[str], pythonpath: str) -> float:
    project = tempfile.mkdtemp(dir=tmp)
    Path(project, "compose.yaml").write_text(
        "services:\n" + "".join(f"  s{i}:\n    image: {ref}\n" for i, ref in enumerate(refs)))
    env = {**os.environ, "PYCOMPOSE_ROOT": tempfile.mkdtemp(dir=tmp), "PYTHONPATH": pythonpath,
           "PYCOMPOSE_NO_CACHE": "1"}
    t = time.perf_counter()
    cli(env, project, "pull", "-q")
    took = time.perf_counter() - t
    shutil.rmtree(env["PYCOMPOSE_ROOT"], ignore_errors=True)
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--old", help="a checkout of an older pycompose to compare with")
    args = parser.parse_args()
    mb = 1e6
    with tempfile.TemporaryDirectory(prefix="pycompose-bench-") as tmp:
        server = Registry(Path(tmp))
        try:
            assert server.wait_ready(), server.log.read_text()
            images = build(ImageStore(Root(os.path.join(tmp, "src"))), server.host)
            a, b = images["bench/a:1"], images["bench/b:1"]
            print(f"image a: {a['content'] / mb:.0f} MB of content, {a['compressed'] / mb:.1f} MB compressed, "
                  f"4 layers; image b shares 3 of them and adds {b['own'] / mb:.1f} MB")
            print(f"push of a: {a['push_s']:.2f} s ({a['compressed'] / mb / a['push_s']:.0f} MB/s)")
            rows: dict[str, list[float]] = {}
            for _ in range(args.runs):
                (first, second), received = pull_ours(tmp, [str(a["ref"]), str(b["ref"])])
                rows.setdefault("pycompose pull a: every layer received", []).append(received)
                rows.setdefault("pycompose pull a (empty store)", []).append(first)
                rows.setdefault("pycompose pull b after a (own layer only)", []).append(second)
                rows.setdefault("pycompose up -d a until running (empty root)", []).append(
                    up_to_running(tmp, str(a["ref"]), HERE))
                took = skopeo(tmp, str(a["ref"]))
                if took is not None:
                    rows.setdefault("skopeo copy a to a directory (no unpacking)", []).append(took)
                if args.old:
                    first, second = pull_old(args.old, tmp, [str(a["ref"]), str(b["ref"])])
                    rows.setdefault("old pycompose pull a (empty store)", []).append(first)
                    rows.setdefault("old pycompose pull b after a", []).append(second)
                stack = [str(images[n]["ref"]) for n in images]
                rows.setdefault("pycompose pull, 4-image stack (empty root)", []).append(stack_pull(tmp, stack, HERE))
                if args.old:
                    rows.setdefault("old pycompose pull, 4-image stack", []).append(stack_pull(tmp, stack, args.old))
            stack_bytes = sum(int(v["compressed"]) for v in images.values())
            unique = int(a["compressed"]) + sum(int(images[n]["own"]) for n in ("bench/b:1", "bench/c:1", "bench/d:1"))
            print(f"4-image stack: {stack_bytes / mb:.0f} MB of compressed layers in all, {unique / mb:.0f} MB distinct")
            print(f"{'':54} {'median':>8} {'MB/s':>7}   runs")
            for name, times in rows.items():
                med = statistics.median(times)
                size = (int(b["own"]) if " b " in name else unique if "stack" in name else int(a["compressed"]))
                print(f"{name:54} {med:7.2f}s {size / mb / med:7.0f}   {' '.join(f'{t:.2f}' for t in times)}")
            print(json.dumps({k: statistics.median(v) for k, v in rows.items()}))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
