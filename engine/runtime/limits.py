"""Resource limits as Docker states them, and the cgroup files they become on v1 and v2.

Pure functions: a bad value is refused here, before any cgroup is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from engine.errors import RuntimeFailure

DEFAULT_PERIOD = 100_000


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
    lim = replace(lim, **{f: None for f in zero_is_unset if getattr(lim, f) == 0})
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


def settings(lim: Limits, version: int) -> list[Setting]:
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
    return out


