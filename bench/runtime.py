#!/usr/bin/env python3
"""Container life-cycle speed and supervision memory. Run as root.

Measures, on a busybox image imported into a throw-away state root:
- create + start + stop + remove of one container (`true`, and `sleep` stopped);
- the same for 20 containers at once (started concurrently from 20 threads);
- the supervisor's RSS with 1 and with 20 running containers, and per container.

Usage: python bench/runtime.py [-n 10]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.images.store import ImageStore  # noqa: E402
from engine.runtime.containers import Runtime, new_id  # noqa: E402
from engine.runtime.spec import ContainerSpec  # noqa: E402
from engine.state import Root  # noqa: E402
from tests.integration.busybox import rootfs_tar  # noqa: E402


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=10, help="repetitions of the single-container cycle")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pycompose-bench-") as tmp:
        root = Root(os.path.join(tmp, "root"))
        root.ensure()
        image = ImageStore(root).import_tarball(io.BytesIO(rootfs_tar()), "busybox:bench")
        layers = tuple(ImageStore(root).layer_dirs(image))
        rt = Runtime(root)

        def spec(argv: list[str], name: str) -> ContainerSpec:
            return ContainerSpec(id=new_id(), name=name, image_id=image.id, layers=layers,
                                 argv=tuple(argv), env=("PATH=/bin",), group="bench")

        def cycle(argv: list[str], name: str) -> float:
            t = time.perf_counter()
            s = spec(argv, name)
            rt.create(s)
            rt.start(s.id)
            if argv[0] == "true":
                rt.wait(s.id)
            else:
                rt.stop(s.id, timeout=10)
            rt.remove(s.id)
            return time.perf_counter() - t

        keep = spec(["sleep", "3600"], "keeper")  # keeps the supervisor up, as a running project does
        rt.create(keep)
        rt.start(keep.id)
        for argv in (["true"], ["sleep", "3600"]):
            times = [cycle(argv, f"c{i}") for i in range(args.n)]
            print(f"1 container `{' '.join(argv)}`: create+start+stop+remove  "
                  f"median {statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms")

        for argv in (["true"], ["sleep", "3600"]):
            t = time.perf_counter()
            with ThreadPoolExecutor(20) as pool:
                list(pool.map(lambda i, a=argv: cycle(a, f"p{i}"), range(20)))
            print(f"20 containers `{' '.join(argv)}` at once: {(time.perf_counter() - t) * 1000:.0f} ms in all")

        sup = rt.records.state(keep.id).supervisor_pid or 0
        one = rss_kib(sup)
        specs = [spec(["sleep", "3600"], f"r{i}") for i in range(20)]
        for s in specs:
            rt.create(s)
            rt.start(s.id)
        twenty = rss_kib(sup)
        print(f"supervisor RSS: {one / 1024:.1f} MiB with 1 container, {twenty / 1024:.1f} MiB with 21; "
              f"{(twenty - one) / 20:.0f} KiB per extra container, {twenty / 21 / 1024:.2f} MiB per container at 21")
        for s in [*specs, keep]:
            rt.remove(s.id, force=True)


if __name__ == "__main__":
    main()
