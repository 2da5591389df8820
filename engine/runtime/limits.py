"""Resource limits as Docker states them, and the cgroup files they become on v1 and v2.

Pure functions: a bad value is refused here, before any cgroup is made.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from engine.errors import RuntimeFailure

DEFAULT_PERIOD = 100_000


@dataclass(frozen=True)
class DeviceLimit:
    """A per-device block I/O weight or rate (bytes or operations per second), by the device's host path."""

    path: str
    value: int


@dataclass(frozen=True)
class Limits:
    """A container's resource limits, in Docker's units. ``None`` leaves a knob alone."""

    memory: int | None = None  # bytes (mem_limit)
    memory_swap: int | None = None  # bytes of memory+swap (memswap_limit); -1 = unlimited swap
    memory_reservation: int | None = None  # bytes (mem_reservation): a soft floor/limit
    cpus: float | None = None  # -> CFS quota over a 100000us period
    cpu_shares: int | None = None  # v1 cpu.shares; v2 cpu.weight via cpu_weight()
    cpu_period: int | None = None  # us
    cpu_quota: int | None = None  # us; <= 0 = unlimited
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids: int | None = None  # pids.max; <= 0 = unlimited
    memory_swappiness: int | None = None  # 0-100 (v1 only)
    blkio_weight: int | None = None  # 10-1000
    blkio_weight_device: tuple[DeviceLimit, ...] = field(default=())
    device_read_bps: tuple[DeviceLimit, ...] = field(default=())
    device_write_bps: tuple[DeviceLimit, ...] = field(default=())
    device_read_iops: tuple[DeviceLimit, ...] = field(default=())
    device_write_iops: tuple[DeviceLimit, ...] = field(default=())

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Limits:
        """From a container record (JSON): per-device lists back into ``DeviceLimit``s."""
        devices = ("blkio_weight_device", "device_read_bps", "device_write_bps", "device_read_iops",
                   "device_write_iops")
        plain = {k: v for k, v in data.items() if k not in devices}
        lists = {k: tuple(DeviceLimit(path=str(d["path"]), value=int(d["value"]))
                          for d in v if isinstance(d, dict))
                 for k, v in data.items() if k in devices and isinstance(v, list | tuple)}
        return cls(**plain, **lists)  # type: ignore[arg-type]  # the record's own fields, as written


@dataclass(frozen=True)
class Setting:
    """One value to write to ``file`` of ``controller``, on behalf of the compose ``option``.

    ``required`` is False for defaults we add ourselves (Docker's memswap = 2 x memory):
    those are skipped where the kernel lacks the file; what the user asked for raises.
    """

    controller: str
    file: str
    value: str
    option: str
    required: bool = True


def cpu_weight(shares: int) -> int:
    """Convert v1 cpu.shares [2, 262144] to v2 cpu.weight [1, 10000] as runc does.

    This is runc's quadratic-in-log-space mapping (opencontainers/runc#4785), which
    keeps the defaults equal (1024 -> 100), unlike the older linear formula (1024 -> 39).
    """
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    lg = math.log2(shares)
    return math.ceil(10 ** ((lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0))


def _checked(lim: Limits) -> Limits:
    """``lim`` with Docker's 0 = "not set" applied; raises on what Docker rejects, in one sentence."""
    zero_is_unset = ("memory", "memory_swap", "memory_reservation", "cpus", "cpu_shares", "cpu_period")
    for name in zero_is_unset:
        if getattr(lim, name) == 0:
            lim = replace(lim, **{name: None})  # type: ignore[arg-type]  # each of these is an int | None
    mem, swap = lim.memory, lim.memory_swap
    if mem is not None and mem < 0:
        raise RuntimeFailure(f"mem_limit must be a positive number of bytes, not {mem}")
    if swap is not None and swap != -1 and mem is None:
        raise RuntimeFailure("memswap_limit needs mem_limit: set mem_limit as well")
    if swap is not None and mem is not None and swap != -1 and swap < mem:
        raise RuntimeFailure(
            f"memswap_limit ({swap}) must be -1 or at least mem_limit ({mem}): it counts memory plus swap")
    res = lim.memory_reservation
    if res is not None and (res <= 0 or (mem is not None and res > mem)):
        raise RuntimeFailure(f"mem_reservation ({res}) must be positive and not above mem_limit ({mem})")
    if lim.cpus is not None and (lim.cpus < 0 or lim.cpu_quota is not None):
        raise RuntimeFailure("cpus must be positive and cannot be combined with cpu_quota")
    if (lim.cpu_shares or 0) < 0 or (lim.cpu_period or 0) < 0:
        raise RuntimeFailure("cpu_shares and cpu_period must be positive")
    return lim


def _cfs(lim: Limits) -> tuple[int | None, int | None]:
    """The CFS (quota, period) in microseconds; ``cpus`` means quota = cpus x period."""
    if lim.cpus is not None:
        period = lim.cpu_period or DEFAULT_PERIOD
        return round(lim.cpus * period), period
    return lim.cpu_quota, lim.cpu_period


def block_device(path: str) -> str:
    """``major:minor`` of the block device at ``path`` (followed through symlinks), as cgroup files want it."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise RuntimeFailure(f"blkio_config: {path}: {exc.strerror}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise RuntimeFailure(f"blkio_config: {path} is not a block device")
    return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"


def settings(lim: Limits, version: int, devnum: Callable[[str], str] = block_device) -> list[Setting]:
    """The files and values that apply ``lim`` under cgroup ``version`` (1 or 2), after checks.

    v1 memsw counts memory+swap (default 2 x memory, as Docker); v2 memory.swap.max is the
    swap alone (memswap - memory, default = memory). v1 memsw order is fixed in ``_ordered``.
    """
    lim = _checked(lim)
    v2 = version == 2
    out: list[Setting] = []

    def put(ctrl: str, v1_file: str, v2_file: str, value: object, option: str, required: bool = True) -> None:
        out.append(Setting(ctrl, v2_file if v2 else v1_file, str(value), option, required))

    mem, swap = lim.memory, lim.memory_swap
    if mem is not None:
        put("memory", "memory.limit_in_bytes", "memory.max", mem, "mem_limit")
        if v2:
            value: object = mem if swap is None else "max" if swap == -1 else swap - mem
        else:
            value = 2 * mem if swap is None else swap
        put("memory", "memory.memsw.limit_in_bytes", "memory.swap.max", value, "memswap_limit", swap is not None)
    if lim.memory_reservation is not None:
        put("memory", "memory.soft_limit_in_bytes", "memory.low", lim.memory_reservation, "mem_reservation")
    if lim.cpu_shares is not None:
        put("cpu", "cpu.shares", "cpu.weight", cpu_weight(lim.cpu_shares) if v2 else lim.cpu_shares,
            "cpu_shares")
    quota, period = _cfs(lim)
    if v2 and (quota is not None or period is not None):
        q = quota if quota is not None and quota > 0 else "max"
        put("cpu", "", "cpu.max", f"{q} {period or DEFAULT_PERIOD}", "cpus/cpu_quota/cpu_period")
    if not v2 and period is not None:
        put("cpu", "cpu.cfs_period_us", "", period, "cpu_period")
    if not v2 and quota is not None:
        put("cpu", "cpu.cfs_quota_us", "", quota if quota > 0 else -1, "cpus/cpu_quota")
    if lim.cpuset_cpus is not None:
        put("cpuset", "cpuset.cpus", "cpuset.cpus", lim.cpuset_cpus, "cpuset")
    if lim.cpuset_mems is not None:
        put("cpuset", "cpuset.mems", "cpuset.mems", lim.cpuset_mems, "cpuset_mems")
    if lim.pids is not None:
        put("pids", "pids.max", "pids.max", lim.pids if lim.pids > 0 else "max", "pids_limit")
    if lim.memory_swappiness is not None and lim.memory_swappiness >= 0:
        if v2:
            raise RuntimeFailure("mem_swappiness is not supported on cgroup v2 (the kernel has no such knob)")
        if lim.memory_swappiness > 100:
            raise RuntimeFailure(f"mem_swappiness must be between 0 and 100, not {lim.memory_swappiness}")
        put("memory", "memory.swappiness", "", lim.memory_swappiness, "mem_swappiness")
    out += _blkio(lim, v2, devnum)
    return out


def _blkio(lim: Limits, v2: bool, devnum: Callable[[str], str]) -> list[Setting]:
    """blkio_config: weights (10-1000; v2 io.weight 1-10000 takes the same numbers) and throttling rates."""
    out: list[Setting] = []
    for w in ([lim.blkio_weight] if lim.blkio_weight is not None else []) + [d.value for d in lim.blkio_weight_device]:
        if not 10 <= w <= 1000:
            raise RuntimeFailure(f"blkio_config: weight must be between 10 and 1000, not {w}")
    if lim.blkio_weight is not None:
        out.append(Setting("blkio" if not v2 else "io", "io.weight" if v2 else "blkio.weight",
                           f"default {lim.blkio_weight}" if v2 else str(lim.blkio_weight), "blkio_config.weight"))
    for d in lim.blkio_weight_device:
        out.append(Setting("blkio" if not v2 else "io", "io.weight" if v2 else "blkio.weight_device",
                           f"{devnum(d.path)} {d.value}", "blkio_config.weight_device"))
    throttles = (("device_read_bps", "read_bps_device", "rbps"), ("device_write_bps", "write_bps_device", "wbps"),
                 ("device_read_iops", "read_iops_device", "riops"), ("device_write_iops", "write_iops_device", "wiops"))
    for key, v1_file, v2_key in throttles:
        for d in getattr(lim, key):
            if d.value < 0:
                raise RuntimeFailure(f"blkio_config: {key} for {d.path} must not be negative")
            if v2:
                out.append(Setting("io", "io.max", f"{devnum(d.path)} {v2_key}={d.value}", f"blkio_config.{key}"))
            else:
                out.append(Setting("blkio", f"blkio.throttle.{v1_file}", f"{devnum(d.path)} {d.value}",
                                   f"blkio_config.{key}"))
    return out


