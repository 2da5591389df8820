"""What cgroups look like on this host: their mount points, and the file operations on them.

``Fs`` is the only way ``cgroups`` touches cgroupfs, so its v2 code can run
against a fake in unit tests.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from engine import sys as lx
from engine.errors import RuntimeFailure

CGROUP_ROOT = "/sys/fs/cgroup"
MOUNTINFO = "/proc/self/mountinfo"
V1_HIERARCHIES = ("cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "blkio", "devices")
V2_CONTROLLERS = ("cpu", "memory", "pids", "cpuset", "io")


@dataclass(frozen=True)
class CgroupStats:
    """Usage numbers of one cgroup; ``None`` when unknown or unlimited."""

    memory_usage: int | None
    memory_limit: int | None
    cpu_usage_ns: int | None
    pids_current: int | None
    pids_limit: int | None


def parse_mountinfo(text: str) -> tuple[dict[str, str], list[str]]:
    """From /proc/self/mountinfo: (v1 controller -> mount point, cgroup2 mount points)."""
    v1: dict[str, str] = {}
    v2: list[str] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])  # \040 is a space
        if tail[0] == "cgroup2":
            v2.append(point)
        elif tail[0] == "cgroup":
            for opt in tail[2].split(","):
                if opt in V1_HIERARCHIES:
                    v1.setdefault(opt, point)
    return v1, v2


def _check_name(name: str) -> None:
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise RuntimeFailure(f"{name!r} is not a valid cgroup name: use one path component")


class Fs:
    """File operations on cgroupfs; unit tests pass a fake that mimics the kernel."""

    def read(self, path: str) -> str:
        with open(path, encoding="ascii") as fh:
            return fh.read()

    def write(self, path: str, value: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)  # no O_CREAT: cgroupfs files exist or not
        try:
            os.write(fd, value.encode())  # one write: the kernel parses each write whole
        finally:
            os.close(fd)

    def mkdir(self, path: str) -> None:
        os.mkdir(path, 0o755)

    def rmdir(self, path: str) -> None:
        os.rmdir(path)

    def attach_device_program(self, path: str, program: bytes) -> None:
        """Load ``program`` (BPF_PROG_TYPE_CGROUP_DEVICE) and attach it to the v2 cgroup ``path``.

        Attached with BPF_F_ALLOW_MULTI, as runc does, so programs of the cgroups
        above still run too. The attachment keeps the program; it goes with the cgroup.
        """
        target = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            prog = lx.bpf_load_device_program(program)
            try:
                lx.bpf_attach(target, prog, lx.BPF_CGROUP_DEVICE, lx.BPF_F_ALLOW_MULTI)
            finally:
                os.close(prog)
        finally:
            os.close(target)
