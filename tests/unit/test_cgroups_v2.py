"""engine.runtime.cgroups without a kernel: conversions, mount detection, and the v2 code
run against a fake cgroup2 tree in tmp_path.

``KernelFs`` mimics what cgroupfs does on mkdir (a new cgroup gets cgroup.* files and
the files of the controllers its parent enabled), on writes to cgroup.subtree_control
(only offered controllers, "+name" syntax) and on rmdir (control files vanish with the
folder; a folder with child cgroups is busy). It records every write, and every device
program attached, for the asserts.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from engine.errors import RuntimeFailure
from engine.runtime import devices
from engine.runtime.cgroups import Cgroups, Fs, parse_mountinfo
from engine.runtime.limits import Limits, Setting, cpu_weight, settings

MiB = 1 << 20
CONTROLLER_FILES = {
    "memory": {"memory.max": "max", "memory.swap.max": "max", "memory.low": "0", "memory.current": "0",
               "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"},
    "cpu": {"cpu.max": "max 100000", "cpu.weight": "100"},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "io": {"io.max": ""},
}


class KernelFs(Fs):
    def __init__(self, root: Path, offered: str = "cpuset cpu io memory hugetlb pids", swap: bool = True):
        self.root, self.swap = root, swap
        self.writes: list[tuple[str, str]] = []
        self.programs: list[tuple[str, bytes]] = []
        root.mkdir()
        files = {"cgroup.controllers": offered, "cgroup.subtree_control": "", "cgroup.procs": "",
                 "cpu.stat": "usage_usec 0\n"}
        for name, text in files.items():
            (root / name).write_text(text)

    def mkdir(self, path: str) -> None:
        os.mkdir(path)
        p = Path(path)
        enabled = (p.parent / "cgroup.subtree_control").read_text().split()
        files = {"cgroup.controllers": " ".join(enabled), "cgroup.subtree_control": "", "cgroup.procs": "",
                 "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.freeze": "0", "cgroup.kill": "",
                 "cpu.stat": "usage_usec 2500\n"}
        for c in enabled:
            files.update(CONTROLLER_FILES.get(c, {}))
        if not self.swap:
            files.pop("memory.swap.max", None)
        for name, text in files.items():
            (p / name).write_text(text)

    def write(self, path: str, value: str) -> None:
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        self.writes.append((str(p.relative_to(self.root)), value))
        if p.name == "cgroup.subtree_control":
            offered = (p.parent / "cgroup.controllers").read_text().split()
            enabled = p.read_text().split()
            for word in value.split():
                if word[1:] not in offered:
                    raise OSError(errno.ENOENT, "No such file or directory", path)
                enabled = [c for c in enabled if c != word[1:]] + ([word[1:]] if word[0] == "+" else [])
            value = " ".join(enabled)
        elif p.name == "cpuset.cpus" and any(int(n) > 3 for n in value.replace("-", ",").split(",") if n):
            raise OSError(errno.EINVAL, "Invalid argument", path)
        elif p.name == "cgroup.freeze":
            events = p.parent / "cgroup.events"
            events.write_text(events.read_text().replace(f"frozen {1 - int(value)}", f"frozen {value}"))
        p.write_text(value)

    def rmdir(self, path: str) -> None:
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if any(c.is_dir() for c in p.iterdir()):
            raise OSError(errno.EBUSY, "Device or resource busy", path)
        for f in p.iterdir():
            f.unlink()
        p.rmdir()

    def attach_device_program(self, path: str, program: bytes) -> None:
        if not (Path(path) / "cgroup.procs").exists():
            raise OSError(errno.EBADF, "Bad file descriptor", path)  # not a cgroup2 folder
        self.programs.append((str(Path(path).relative_to(self.root)), program))

    def wrote(self, name: str) -> list[str]:
        return [v for f, v in self.writes if f == name]


@pytest.fixture
def kfs(tmp_path: Path) -> KernelFs:
    return KernelFs(tmp_path / "cg")


def test_create_enables_controllers_and_writes_limits(kfs: KernelFs) -> None:
    groups = Cgroups.v2("pycompose-1a2b3c4d", str(kfs.root), fs=kfs)
    cg = groups.container("web-1")
    cg.create(Limits(memory=64 * MiB, memory_swap=96 * MiB, memory_reservation=16 * MiB, cpus=1.5,
                     cpu_shares=1024, cpuset_cpus="0-1", cpuset_mems="0", pids=100))
    assert kfs.wrote("cgroup.subtree_control") == ["+cpu", "+memory", "+pids", "+cpuset", "+io"]
    assert kfs.wrote("pycompose-1a2b3c4d/cgroup.subtree_control") == ["+cpu", "+memory", "+pids", "+cpuset",
                                                                      "+io"]
    d = kfs.root / "pycompose-1a2b3c4d" / "web-1"
    assert {f: (d / f).read_text() for f in ("memory.max", "memory.swap.max", "memory.low", "cpu.max",
                                            "cpu.weight", "cpuset.cpus", "cpuset.mems", "pids.max")} == {
        "memory.max": str(64 * MiB), "memory.swap.max": str(32 * MiB), "memory.low": str(16 * MiB),
        "cpu.max": "150000 100000", "cpu.weight": "100", "cpuset.cpus": "0-1", "cpuset.mems": "0",
        "pids.max": "100"}
    assert cg.paths == [str(d)] and groups.containers() == ["web-1"]
    assert cg.stats().memory_limit == 64 * MiB and cg.stats().cpu_usage_ns == 2_500_000
    assert kfs.programs == [("pycompose-1a2b3c4d/web-1", devices.program(devices.DEFAULT))]


def test_device_programs_follow_the_policy(kfs: KernelFs) -> None:
    """Each cgroup gets its own policy's program; a privileged one (everything allowed) gets none."""
    groups = Cgroups.v2("pycompose", str(kfs.root), fs=kfs)
    tun_only = devices.Policy(False, (devices.parse("c 10:200 rwm"),))
    groups.container("a").create(Limits(), tun_only)
    groups.container("b").create(Limits(), devices.policy(privileged=True))
    assert kfs.programs == [("pycompose/a", devices.program(tun_only))]


def test_controllers_already_enabled_are_not_rewritten(kfs: KernelFs) -> None:
    (kfs.root / "cgroup.subtree_control").write_text("cpuset cpu io memory pids")
    Cgroups.v2("pycompose", str(kfs.root), fs=kfs).container("a").create(Limits())
    assert kfs.wrote("cgroup.subtree_control") == []


@pytest.mark.parametrize("limits,expected", [
    (Limits(memory=100), {"memory.max": "100", "memory.swap.max": "100"}),  # Docker: swap = memory
    (Limits(memory=100, memory_swap=-1), {"memory.max": "100", "memory.swap.max": "max"}),
    (Limits(memory=100, memory_swap=100), {"memory.max": "100", "memory.swap.max": "0"}),
    (Limits(cpu_shares=2), {"cpu.weight": "1"}),
    (Limits(cpu_shares=512), {"cpu.weight": "59"}),
    (Limits(cpu_shares=262144), {"cpu.weight": "10000"}),
    (Limits(cpus=0.25), {"cpu.max": "25000 100000"}),
    (Limits(cpus=2, cpu_period=50000), {"cpu.max": "100000 50000"}),
    (Limits(cpu_quota=-1), {"cpu.max": "max 100000"}),
    (Limits(cpu_period=20000), {"cpu.max": "max 20000"}),
    (Limits(cpu_quota=30000, cpu_period=60000), {"cpu.max": "30000 60000"}),
    (Limits(pids=0), {"pids.max": "max"}),
    (Limits(pids=-1), {"pids.max": "max"}),
    (Limits(memory=0, memory_swap=0, memory_reservation=0, cpus=0, cpu_shares=0, cpu_period=0), {}),
    (Limits(memory_swap=-1), {}),
    (Limits(), {}),
])
def test_v2_settings(limits: Limits, expected: dict[str, str]) -> None:
    assert {s.file: s.value for s in settings(limits, 2)} == expected


@pytest.mark.parametrize("limits,expected", [
    (Limits(memory=100), {"memory.limit_in_bytes": "100", "memory.memsw.limit_in_bytes": "200"}),
    (Limits(memory=100, memory_swap=-1), {"memory.limit_in_bytes": "100", "memory.memsw.limit_in_bytes": "-1"}),
    (Limits(memory_reservation=50), {"memory.soft_limit_in_bytes": "50"}),
    (Limits(cpus=1.5, cpu_shares=512), {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "150000",
                                        "cpu.shares": "512"}),
    (Limits(cpu_quota=0), {"cpu.cfs_quota_us": "-1"}),
    (Limits(cpuset_cpus="0,1", cpuset_mems="0", pids=5),
     {"cpuset.cpus": "0,1", "cpuset.mems": "0", "pids.max": "5"}),
])
def test_v1_settings(limits: Limits, expected: dict[str, str]) -> None:
    assert {s.file: s.value for s in settings(limits, 1)} == expected


def test_only_defaults_are_optional() -> None:
    assert [s.required for s in settings(Limits(memory=100), 2)] == [True, False]
    assert all(s.required for s in settings(Limits(memory=100, memory_swap=300), 1))


@pytest.mark.parametrize("shares,weight", [(2, 1), (3, 2), (128, 21), (1024, 100), (2048, 174),
                                           (262144, 10000), (10**6, 10000)])
def test_cpu_weight(shares: int, weight: int) -> None:
    assert cpu_weight(shares) == weight


@pytest.mark.parametrize("limits,message", [
    (Limits(memory_swap=100), "memswap_limit needs mem_limit"),
    (Limits(memory=200, memory_swap=100), "at least mem_limit"),
    (Limits(memory=-5), "positive"),
    (Limits(memory=100, memory_reservation=200), "mem_reservation"),
    (Limits(cpus=1, cpu_quota=5000), "cpu_quota"),
    (Limits(cpus=-1), "cpus must be positive"),
    (Limits(cpu_shares=-2), "cpu_shares and cpu_period must be positive"),
])
def test_bad_limits_fail_before_anything_is_made(kfs: KernelFs, limits: Limits, message: str) -> None:
    with pytest.raises(RuntimeFailure, match=message):
        Cgroups.v2("pycompose", str(kfs.root), fs=kfs).container("a").create(limits)
    assert kfs.writes == [] and not (kfs.root / "pycompose").exists()


def test_swap_without_swap_accounting(tmp_path: Path) -> None:
    kfs = KernelFs(tmp_path / "cg", swap=False)
    groups = Cgroups.v2("pycompose", str(kfs.root), fs=kfs)
    with pytest.raises(RuntimeFailure, match="no swap accounting .*memory.swap.max"):
        groups.container("a").create(Limits(memory=64 * MiB, memory_swap=128 * MiB))
    assert not (kfs.root / "pycompose").exists()
    groups.container("a").create(Limits(memory=64 * MiB))  # the default 2 x memory is skipped
    assert (kfs.root / "pycompose" / "a" / "memory.max").read_text() == str(64 * MiB)


def test_missing_controller_and_bad_value_roll_back(tmp_path: Path) -> None:
    kfs = KernelFs(tmp_path / "cg", offered="cpu io")
    groups = Cgroups.v2("pycompose", str(kfs.root), fs=kfs)
    with pytest.raises(RuntimeFailure, match="pids_limit: the pids cgroup controller is not available"):
        groups.container("a").create(Limits(pids=5))
    assert not (kfs.root / "pycompose").exists()
    with pytest.raises(RuntimeFailure, match="mem_limit: the memory cgroup controller is not available"):
        groups.container("a").create(Limits(memory=10 * MiB))
    assert groups.containers() == [] and not (kfs.root / "pycompose").exists()


def test_invalid_cpuset_names_file_and_value(kfs: KernelFs) -> None:
    groups = Cgroups.v2("pycompose", str(kfs.root), fs=kfs)
    groups.container("keep").create(Limits())
    with pytest.raises(RuntimeFailure, match=r"writing '999' to .*/pycompose/bad/cpuset.cpus failed"):
        groups.container("bad").create(Limits(cpuset_cpus="999"))
    assert groups.containers() == ["keep"]


def test_remove_prunes_the_parent_with_the_last_child(kfs: KernelFs) -> None:
    groups = Cgroups.v2("pycompose", str(kfs.root), fs=kfs)
    a, b = groups.container("a"), groups.container("b")
    a.create(Limits())
    b.create(Limits())
    with pytest.raises(RuntimeFailure, match="already exists"):
        groups.container("a").create(Limits())
    a.remove()
    assert (kfs.root / "pycompose").is_dir() and groups.containers() == ["b"]
    b.remove()
    b.remove()
    assert not (kfs.root / "pycompose").exists() and not a.exists()


def test_freeze_oom_and_kill_files(kfs: KernelFs) -> None:
    cg = Cgroups.v2("pycompose", str(kfs.root), fs=kfs).container("a")
    cg.create(Limits(memory=MiB))
    cg.freeze()
    assert cg.frozen() and kfs.wrote("pycompose/a/cgroup.freeze") == ["1"]
    cg.thaw()
    assert not cg.frozen()
    assert not cg.oom_killed()
    (Path(cg.paths[0]) / "memory.events").write_text("oom 1\noom_kill 2\n")
    assert cg.oom_killed()
    cg.kill_all()  # empty: nothing to wait for, but cgroup.kill is the v2 way
    assert kfs.wrote("pycompose/a/cgroup.kill") == ["1"]


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"])
def test_names_are_one_path_component(kfs: KernelFs, name: str) -> None:
    with pytest.raises(RuntimeFailure, match="not a valid cgroup name"):
        Cgroups.v2("pycompose", str(kfs.root), fs=kfs).container(name)


HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 23 0:39 / /mnt/my\\040cgroups rw - cgroup2 none rw
"""


def test_parse_mountinfo() -> None:
    v1, v2 = parse_mountinfo(HYBRID)
    assert v1 == {"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                  "memory": "/sys/fs/cgroup/memory"}
    assert v2 == ["/sys/fs/cgroup/unified", "/mnt/my cgroups"]


def test_detect(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    unified = tmp_path / "unified"  # a hybrid host's cgroup2 mount: device programs attach there
    info.write_text(HYBRID.replace("/sys/fs/cgroup/unified", str(unified)).replace("/mnt/my\\040cgroups",
                                                                                    "/nonexistent"))
    hybrid = Cgroups.detect("pycompose", str(info))
    assert hybrid.version == 1 and hybrid.unified is None
    assert hybrid.parent_dirs == ["/sys/fs/cgroup/cpu,cpuacct/pycompose", "/sys/fs/cgroup/memory/pycompose"]
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("hugetlb")
    hybrid = Cgroups.detect("pycompose", str(info))
    assert hybrid.version == 1 and hybrid.unified == str(unified)
    assert hybrid.parent_dirs == ["/sys/fs/cgroup/cpu,cpuacct/pycompose", "/sys/fs/cgroup/memory/pycompose",
                                  str(unified / "pycompose")]
    top = tmp_path / "cg2"
    top.mkdir()
    (top / "cgroup.controllers").write_text("cpu memory")
    info.write_text(f"30 23 0:27 / {top} rw - cgroup2 cgroup2 rw\n")
    pure = Cgroups.detect("pycompose", str(info))
    assert pure.version == 2 and pure.parent_dirs == [str(top / "pycompose")]
    info.write_text("30 23 0:27 / /proc rw - proc proc rw\n")
    with pytest.raises(RuntimeFailure, match="no cgroup filesystem"):
        Cgroups.detect("pycompose", str(info))


def test_v1_memsw_order_follows_runc(tmp_path: Path) -> None:
    d = tmp_path / "memory" / "pycompose" / "a"
    d.mkdir(parents=True)
    (d / "memory.limit_in_bytes").write_text("100")
    cg = Cgroups("pycompose", 1, {"memory": str(tmp_path / "memory")}).container("a")

    def order(limits: Limits) -> list[str]:
        todo: list[Setting] = settings(limits, 1)
        return [s.file for s in cg._ordered(todo)]

    raise_ = order(Limits(memory=300, memory_swap=400))
    assert raise_ == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    assert order(Limits(memory=50, memory_swap=60)) == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    assert order(Limits(memory=50, memory_swap=-1))[0] == "memory.memsw.limit_in_bytes"
