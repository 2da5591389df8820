"""The last steps of a container's first process (and of an exec'd one): limits, user, confinement, exec.

Runs after the process is in the container's namespaces and root. Never
returns: it execs, or raises an exception whose text the parent reports.
What reaches the command is Docker's: the seccomp filter, the capabilities
and ids asked for, and no descriptor but 0, 1 and 2.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Mapping, Sequence
from typing import NoReturn

from .. import sys as lx
from . import caps as capabilities
from . import seccomp
from .users import User, resolve

RLIMITS = {  # Linux's numbers (resource lacks some of the names)
    "cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6, "nofile": 7,
    "memlock": 8, "as": 9, "locks": 10, "sigpending": 11, "msgqueue": 12, "nice": 13, "rtprio": 14,
    "rttime": 15,
}


class ExecError(Exception):
    """The command could not be executed; carries the exit code Docker uses (126 or 127)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def find_executable(name: str, path: str) -> str:
    """``name`` looked up in PATH the way Docker (Go's exec.LookPath) does."""
    if "/" in name:
        if not os.path.exists(name):
            raise ExecError(f"exec: \"{name}\": stat {name}: no such file or directory", 127)
        return name
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise ExecError(f'exec: "{name}": executable file not found in $PATH', 127)


def set_ulimits(ulimits: Mapping[str, tuple[int, int]]) -> None:
    for name, (soft, hard) in ulimits.items():
        if name not in RLIMITS:
            raise ValueError(f'unknown ulimit "{name}"')
        resource.setrlimit(RLIMITS[name], (soft, hard))


def drop_privileges(user: User, allowed: frozenset[str], no_new_privileges: bool,
                    seccomp_filter: seccomp.Filter | None = None) -> None:
    """The seccomp filter, then the bounding set, the ids and the capability sets (root keeps ``allowed``;
    others get none).

    As runc without no_new_privs: the filter goes in while CAP_SYS_ADMIN is still held (the kernel asks
    for it, or for no_new_privs), so the calls after it (prctl, setgroups, setresuid, capset) must be
    ones the profile allows; Docker's does.
    """
    if no_new_privileges:
        lx.prctl(lx.PR_SET_NO_NEW_PRIVS, 1)
    seccomp.install(seccomp_filter)
    keep = capabilities.mask(allowed) & lx.capget()[1]  # never more than we hold (a host may bound us)
    for cap in range(capabilities.last_cap() + 1):
        if not keep & (1 << cap):
            lx.prctl(lx.PR_CAPBSET_DROP, cap)
    os.setgroups(list(user.groups))
    os.setgid(user.gid)
    os.setuid(user.uid)  # for uid != 0 the kernel clears the permitted and effective sets
    if user.uid == 0:
        lx.capset(keep, keep, 0)


def exec_in_container(argv: Sequence[str], env: Sequence[str], *, user_spec: str | None,
                      group_add: Sequence[str], working_dir: str, allowed_caps: frozenset[str],
                      no_new_privileges: bool, seccomp_filter: seccomp.Filter | None) -> NoReturn:
    """Become the configured user in ``working_dir`` and exec ``argv`` with fds 0, 1 and 2 only."""
    if not argv:
        raise ExecError("no command specified", 127)
    try:
        user = resolve(user_spec, group_add)
    except ValueError as exc:
        raise ExecError(str(exc), 126) from None
    environ = dict(item.partition("=")[::2] for item in env)
    environ.setdefault("HOME", user.home)
    cwd = working_dir or "/"
    os.makedirs(cwd, exist_ok=True)
    os.chdir(cwd)
    path = find_executable(argv[0], environ.get("PATH", ""))
    drop_privileges(user, allowed_caps, no_new_privileges, seccomp_filter)
    lx.cloexec_from(3)  # an error pipe (close-on-exec already) still reports a failed exec
    try:
        os.execve(path, list(argv), environ)
    except PermissionError:
        raise ExecError(f"exec {path}: permission denied", 126) from None
    except OSError as exc:
        raise ExecError(f"exec {path}: {exc.strerror.lower() if exc.strerror else exc}", 127) from None
