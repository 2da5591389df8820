"""engine.runtime.cgroups against the host's real cgroups.

Each test gets a fresh parent folder ``pycompose-test-<uuid>`` and a fixture that
always removes every cgroup made below it (killing what is inside), then asserts
that no folder of that parent is left in any cgroup hierarchy. Tests run against
the detected setup and, when the host also has a separate cgroup2 mount (hybrid
hosts mount one without controllers at /sys/fs/cgroup/unified), against that too:
there limits must fail clearly, while processes, freezing and killing work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from engine.errors import RuntimeFailure
from engine.runtime.cgroups import CGROUP_ROOT, MOUNTINFO, Cgroup, Cgroups, Limits, parse_mountinfo

MiB = 1 << 20


def _mounts() -> tuple[dict[str, str], list[str]]:
    try:
        with open(MOUNTINFO, encoding="utf-8") as fh:
            return parse_mountinfo(fh.read())
    except OSError:
        return {}, []


V1_MOUNTS, V2_MOUNTS = _mounts()
EXTRA_V2 = [m for m in V2_MOUNTS if m != CGROUP_ROOT and V1_MOUNTS]  # a hybrid host's unified mount
SETUPS = ["detected"] + [f"v2:{m}" for m in EXTRA_V2]


def _all_parent_dirs(parent: str) -> list[str]:
    return [os.path.join(m, parent) for m in {*V1_MOUNTS.values(), *V2_MOUNTS}]


class Harness:
    """The cgroups of one test, plus the processes it started (killed by pid at the end)."""

    def __init__(self, groups: Cgroups) -> None:
        self.groups = groups
        self.procs: list[subprocess.Popen[bytes]] = []

    def cgroup(self, name: str = "c1", limits: Limits | None = None) -> Cgroup:
        cg = self.groups.container(name)
        cg.create(limits or Limits())
        return cg

    def spawn(self, cg: Cgroup, argv: list[str], **kw: object) -> subprocess.Popen[bytes]:
        """Start ``argv`` already inside ``cg``: it joins before exec, so no fork escapes."""
        proc = subprocess.Popen(argv, preexec_fn=lambda: cg.add(os.getpid()), **kw)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc

    def has(self, controller: str) -> bool:
        if self.groups.version == 1:
            return self.groups.mount(controller) is not None
        mount = self.groups.mount("")
        assert mount is not None
        with open(os.path.join(mount, "cgroup.controllers"), encoding="ascii") as fh:
            return controller in fh.read().split()

    def need(self, *controllers: str) -> None:
        missing = [c for c in controllers if not self.has(c)]
        if missing:
            pytest.skip(f"this cgroup setup has no {', '.join(missing)} controller")


@pytest.fixture(params=SETUPS)
def h(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if os.geteuid() != 0:
        pytest.skip("cgroup tests need root")
    parent = f"pycompose-test-{uuid.uuid4().hex[:8]}"
    try:
        if request.param == "detected":
            groups = Cgroups.detect(parent)
        else:
            groups = Cgroups.v2(parent, request.param.removeprefix("v2:"))
    except (RuntimeFailure, OSError) as e:
        pytest.skip(f"no usable cgroup filesystem: {e}")
    harness = Harness(groups)
    probe = groups.container("probe")
    try:
        probe.create(Limits())
    except RuntimeFailure as e:
        pytest.skip(f"cgroups are not writable here: {e}")
    probe.remove()
    try:
        yield harness
    finally:
        errors = []
        for name in groups.containers():
            try:
                groups.container(name).remove()
            except RuntimeFailure as e:
                errors.append(str(e))
        for proc in harness.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        with contextlib.suppress(RuntimeFailure):
            groups.prune()
        left = [d for d in _all_parent_dirs(parent) if os.path.exists(d)]
        assert not errors and not left, f"cleanup failed: {errors}, left behind: {left}"


def _read(cg: Cgroup, controller: str, file: str) -> str:
    d = cg.dir(controller)
    assert d is not None
    with open(os.path.join(d, file), encoding="ascii") as fh:
        return fh.read().strip()


def test_create_writes_every_limit(h: Harness) -> None:
    h.need("memory", "cpu", "cpuset", "pids")
    v1 = h.groups.version == 1
    limits = Limits(memory=64 * MiB, memory_swap=128 * MiB, memory_reservation=32 * MiB, cpus=0.5,
                    cpu_shares=512, cpuset_cpus="0", cpuset_mems="0", pids=50)
    has_swap = True
    try:
        cg = h.cgroup("limits", limits)
    except RuntimeFailure as e:  # no swap accounting: the rest must still apply
        assert "swap accounting" in str(e)
        has_swap = False
        cg = h.cgroup("limits", dataclasses.replace(limits, memory_swap=None))
    if v1:
        expected = {
            ("memory", "memory.limit_in_bytes"): str(64 * MiB),
            ("memory", "memory.soft_limit_in_bytes"): str(32 * MiB),
            ("cpu", "cpu.cfs_quota_us"): "50000", ("cpu", "cpu.cfs_period_us"): "100000",
            ("cpu", "cpu.shares"): "512", ("cpuset", "cpuset.cpus"): "0",
            ("cpuset", "cpuset.mems"): "0", ("pids", "pids.max"): "50",
        }
        if has_swap:
            expected["memory", "memory.memsw.limit_in_bytes"] = str(128 * MiB)
    else:
        expected = {
            ("memory", "memory.max"): str(64 * MiB), ("memory", "memory.low"): str(32 * MiB),
            ("cpu", "cpu.max"): "50000 100000", ("cpu", "cpu.weight"): "59",
            ("cpuset", "cpuset.cpus"): "0", ("cpuset", "cpuset.mems"): "0", ("pids", "pids.max"): "50",
        }
        if has_swap:
            expected["memory", "memory.swap.max"] = str(64 * MiB)
    got = {key: _read(cg, *key) for key in expected}
    assert got == expected
    stats = cg.stats()
    assert stats.memory_limit == 64 * MiB and stats.pids_limit == 50


def test_limits_without_controllers_fail_clearly(h: Harness) -> None:
    if h.has("memory") and h.has("pids"):
        pytest.skip("this setup has the memory and pids controllers")
    for limits, word in ((Limits(memory=32 * MiB), "memory"), (Limits(pids=5), "pids")):
        if h.has(word):
            continue
        with pytest.raises(RuntimeFailure, match=f"{word} cgroup controller is not available"):
            h.groups.container("nolimits").create(limits)
        assert h.groups.containers() == []
        assert not any(os.path.exists(d) for d in h.groups.parent_dirs)


def test_add_puts_the_process_in_every_hierarchy(h: Harness) -> None:
    cg = h.cgroup()
    proc = subprocess.Popen(["sleep", "60"])
    h.procs.append(proc)
    cg.add(proc.pid)
    assert cg.pids() == [proc.pid]
    with open(f"/proc/{proc.pid}/cgroup", encoding="ascii") as fh:
        lines = fh.read()
    assert lines.count(f"/{h.groups.parent}/c1\n") == len(cg.paths)
    cg.kill_all()
    assert cg.pids() == []
    assert proc.wait(timeout=5) == -signal.SIGKILL


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_kill_all_stops_a_fork_loop(h: Harness, sig: int) -> None:
    cg = h.cgroup()
    proc = h.spawn(cg, ["sh", "-c", "while :; do sleep 1 & done"])
    deadline = time.monotonic() + 5
    while len(cg.pids()) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(cg.pids()) >= 20
    cg.kill_all(sig, timeout=10)
    assert cg.pids() == []
    assert proc.wait(timeout=5) == -sig
    time.sleep(0.2)
    assert cg.pids() == [], "something forked after kill_all returned"


def test_memory_limit_oom_kills(h: Harness) -> None:
    h.need("memory")
    cg = h.cgroup(limits=Limits(memory=32 * MiB))
    hog = "b = []\nwhile True:\n    b.append(bytearray(1 << 20))\n"
    proc = h.spawn(cg, [sys.executable, "-c", hog], stderr=subprocess.DEVNULL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert cg.oom_killed()


def test_pids_limit_stops_forks(h: Harness) -> None:
    h.need("pids")
    cg = h.cgroup(limits=Limits(pids=5))
    script = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 60 & done; echo spawned; sleep 60"
    proc = h.spawn(cg, ["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.wait(timeout=10) != 0, "the shell forked 10 children under pids.max=5"
    stats = cg.stats()
    assert stats.pids_limit == 5
    assert stats.pids_current is not None and 1 <= stats.pids_current <= 5
    assert 1 <= len(cg.pids()) <= 5
    cg.kill_all()  # the sleeps that did start
    out, err = proc.communicate(timeout=5)
    assert b"spawned" not in out and b"fork" in err.lower(), err


def _counter(path: str) -> int:
    with open(path, encoding="ascii") as fh:
        text = fh.read()
    return int(text) if text else 0


def test_freeze_and_thaw(h: Harness, tmp_path: object) -> None:
    cg = h.cgroup()
    out = os.path.join(str(tmp_path), "count")
    open(out, "w").close()
    code = ("import os, sys, time\ni = 0\nwhile True:\n    i += 1\n"
            "    with open(sys.argv[1] + '.tmp', 'w') as fh: fh.write(str(i))\n"
            "    os.replace(sys.argv[1] + '.tmp', sys.argv[1])\n    time.sleep(0.005)\n")
    proc = h.spawn(cg, [sys.executable, "-c", code, out])
    deadline = time.monotonic() + 10
    while _counter(out) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    cg.freeze()
    assert cg.frozen()
    if h.groups.version == 1:
        assert _read(cg, "freezer", "freezer.state") == "FROZEN"
    else:
        assert "frozen 1" in _read(cg, "", "cgroup.events").splitlines()
        assert _read(cg, "", "cgroup.freeze") == "1"
    before = _counter(out)
    time.sleep(0.4)
    assert _counter(out) == before, "the counter advanced while frozen"
    cg.thaw()
    assert not cg.frozen()
    time.sleep(0.4)
    assert _counter(out) > before, "the counter did not resume after thaw"
    cg.freeze()
    cg.kill_all()  # a paused container can still be killed
    assert proc.wait(timeout=5) == -signal.SIGKILL
    assert not cg.frozen()


def test_stats_are_plausible(h: Harness) -> None:
    limits = Limits(memory=128 * MiB if h.has("memory") else None, pids=20 if h.has("pids") else None)
    cg = h.cgroup(limits=limits)
    code = ("import time\nb = bytearray(16 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
            "t = time.time()\nwhile time.time() - t < 0.5: pass\nprint('ok', flush=True)\ntime.sleep(60)\n")
    proc = h.spawn(cg, [sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ok\n"
    stats = cg.stats()
    assert stats.cpu_usage_ns is not None and 0.2e9 < stats.cpu_usage_ns < 30e9
    if h.has("memory"):
        assert stats.memory_limit == 128 * MiB
        assert stats.memory_usage is not None and 16 * MiB <= stats.memory_usage <= 128 * MiB
    if h.has("pids"):
        assert stats.pids_limit == 20 and stats.pids_current == 1
    assert not cg.oom_killed()


def test_remove_kills_and_leaves_nothing(h: Harness) -> None:
    one, two = h.cgroup("one"), h.cgroup("two")
    proc = h.spawn(one, ["sleep", "60"])
    assert h.groups.containers() == ["one", "two"]
    one.remove()
    assert proc.wait(timeout=5) == -signal.SIGKILL
    assert not one.exists() and h.groups.containers() == ["two"]
    assert all(os.path.isdir(d) for d in h.groups.parent_dirs), "parent went while a child remains"
    two.remove()
    two.remove()  # idempotent
    assert not any(os.path.exists(d) for d in h.groups.parent_dirs)


def test_failed_create_rolls_back(h: Harness) -> None:
    with pytest.raises(RuntimeFailure, match="cpuset"):
        h.groups.container("bad").create(Limits(cpuset_cpus="999"))
    assert h.groups.containers() == []
    assert not any(os.path.exists(d) for d in h.groups.parent_dirs)
    with pytest.raises(RuntimeFailure, match="memswap_limit"):
        h.groups.container("bad").create(Limits(memory=64 * MiB, memory_swap=32 * MiB))
    assert not any(os.path.exists(d) for d in h.groups.parent_dirs)


def test_create_refuses_an_existing_cgroup_and_keeps_it(h: Harness) -> None:
    cg = h.cgroup("dup")
    with pytest.raises(RuntimeFailure, match="already exists"):
        h.groups.container("dup").create(Limits())
    assert cg.exists() and all(os.path.isdir(p) for p in cg.paths)
