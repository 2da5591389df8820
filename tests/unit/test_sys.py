"""engine.sys: the system call numbers per architecture, and descriptors made close-on-exec."""

from __future__ import annotations

import errno
import os

import pytest

from engine import sys as lx


def test_system_call_numbers_are_per_architecture() -> None:
    assert lx.syscall_number("pivot_root", "x86_64") == 155 and lx.syscall_number("pivot_root", "aarch64") == 41
    assert lx.syscall_number("bpf", "aarch64") == 280 and lx.syscall_number("seccomp", "x86_64") == 317
    with pytest.raises(OSError, match=r"architecture \(s390x\) is not supported") as info:
        lx.syscall_number("pivot_root", "s390x")
    assert info.value.errno == errno.ENOSYS


@pytest.mark.parametrize("close_range", [True, False])
def test_cloexec_from_leaves_0_1_2_and_marks_the_rest(monkeypatch: pytest.MonkeyPatch, close_range: bool) -> None:
    if not close_range:  # a kernel without close_range(CLOSE_RANGE_CLOEXEC): each fd of /proc/self/fd
        monkeypatch.setattr(lx, "syscall_number", lambda name, machine=lx.MACHINE: 99999)
    r, w = os.pipe()
    os.set_inheritable(r, True)
    os.set_inheritable(w, True)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        lx.cloexec_from(3)
        ok = all(os.get_inheritable(fd) for fd in (0, 1, 2) if _open(fd)) and not os.get_inheritable(r) \
            and not os.get_inheritable(w)
        os._exit(0 if ok else 1)
    os.close(r)
    os.close(w)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def _open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
