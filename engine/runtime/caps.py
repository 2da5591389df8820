"""Linux capabilities by name, and the set a container gets (Docker's defaults)."""

from __future__ import annotations

from collections.abc import Iterable

NAMES = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
]
NUMBERS = {name: i for i, name in enumerate(NAMES)}

DOCKER_DEFAULT = frozenset({
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
})


def last_cap() -> int:
    """The highest capability this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            return int(fh.read())
    except OSError:
        return len(NAMES) - 1


def normalize(name: str) -> str:
    """``cap_net_admin`` / ``NET_ADMIN`` / ``CAP_NET_ADMIN`` -> ``NET_ADMIN``; ValueError if unknown."""
    upper = name.strip().upper()
    if upper.startswith("CAP_"):
        upper = upper[4:]
    if upper != "ALL" and upper not in NUMBERS:
        raise ValueError(f'unknown capability "{name}"')
    return upper


def effective_set(cap_add: Iterable[str] = (), cap_drop: Iterable[str] = (), privileged: bool = False) -> frozenset[str]:
    """The capabilities a container's root gets, as Docker computes them."""
    available = frozenset(NAMES[: last_cap() + 1])
    if privileged:
        return available
    adds = {normalize(c) for c in cap_add}
    drops = {normalize(c) for c in cap_drop}
    caps = set(available) if "ALL" in adds else set(DOCKER_DEFAULT)
    caps |= adds - {"ALL"}
    if "ALL" in drops:
        caps = adds - {"ALL"} if "ALL" not in adds else caps
    caps -= drops - {"ALL"}
    return frozenset(caps & available)


def mask(caps: Iterable[str]) -> int:
    value = 0
    for name in caps:
        value |= 1 << NUMBERS[name]
    return value
