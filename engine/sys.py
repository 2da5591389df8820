"""The raw Linux calls Python's os module lacks: ctypes and ioctls. Nothing else in pycompose uses either.

Each function raises OSError with the call's errno and a message naming the
call and its argument, so errors read like ``mount(overlay -> /x): Invalid
argument``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import socket
import struct
import termios

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

# namespaces (linux/sched.h)
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

NAMESPACES = {  # /proc/PID/ns/<name> -> its clone flag
    "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS, "net": CLONE_NEWNET, "pid": CLONE_NEWPID,
    "mnt": CLONE_NEWNS, "cgroup": CLONE_NEWCGROUP,
}

# mount flags (linux/mount.h)
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

# prctl
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]

_SYS_PIVOT_ROOT = 155  # x86_64
_SYS_CAPSET = 126
_SYS_CAPGET = 125
if os.uname().machine == "aarch64":  # pragma: no cover - not the machine we test on
    _SYS_PIVOT_ROOT, _SYS_CAPSET, _SYS_CAPGET = 41, 91, 90


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0,
          data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
           f"mount({source or fstype} -> {target})")


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount({target})")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), f"unshare({flags:#x})")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype), f"setns({nstype:#x})")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_SYS_PIVOT_ROOT, _b(new_root), _b(put_old)), f"pivot_root({new_root})")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), f"sethostname({name})")


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_libc.setdomainname(raw, len(raw)), f"setdomainname({name})")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_CAP_V3 = 0x20080522


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this thread's capability sets (64-bit masks)."""
    header = _CapHeader(_CAP_V3, 0)
    data = (_CapData * 2)()
    for i, shift in enumerate((0, 32)):
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.syscall(_SYS_CAPSET, ctypes.byref(header), data), "capset")


def capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of this thread."""
    header = _CapHeader(_CAP_V3, 0)
    data = (_CapData * 2)()
    _check(_libc.syscall(_SYS_CAPGET, ctypes.byref(header), data), "capget")
    eff = data[0].effective | (data[1].effective << 32)
    per = data[0].permitted | (data[1].permitted << 32)
    inh = data[0].inheritable | (data[1].inheritable << 32)
    return eff, per, inh


def set_ambient(caps: list[int]) -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in caps:
        prctl(PR_CAP_AMBIENT, 2, cap)  # PR_CAP_AMBIENT_RAISE


# -- ioctls -------------------------------------------------------------------------

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_TIOCGPTN = 0x80045430
_TIOCSPTLCK = 0x40045431


def _ioctl(fd: int, request: int, arg: bytes | int, what: str) -> bytes:
    try:
        result = fcntl.ioctl(fd, request, arg)
    except OSError as exc:
        raise OSError(exc.errno, f"{what}: {exc.strerror}") from None
    return result if isinstance(result, bytes) else b""


def interface_up(name: str) -> None:
    """Bring the interface ``name`` of this network namespace up (SIOCGIFFLAGS, SIOCSIFFLAGS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14s", name.encode(), 0, b"")
        flags = struct.unpack("16sH14s", _ioctl(s.fileno(), _SIOCGIFFLAGS, ifreq, f"SIOCGIFFLAGS({name})"))[1]
        ifreq = struct.pack("16sH14s", name.encode(), flags | _IFF_UP, b"")
        _ioctl(s.fileno(), _SIOCSIFFLAGS, ifreq, f"SIOCSIFFLAGS({name})")


def unlock_pty(master: int) -> int:
    """Unlock the slave of pseudo-terminal ``master`` (TIOCSPTLCK); its number (TIOCGPTN)."""
    _ioctl(master, _TIOCSPTLCK, struct.pack("i", 0), "TIOCSPTLCK")
    return int(struct.unpack("I", _ioctl(master, _TIOCGPTN, b"\0" * 4, "TIOCGPTN"))[0])


def set_controlling_terminal(fd: int) -> None:
    """Make the terminal ``fd`` this session's controlling terminal (TIOCSCTTY; after setsid)."""
    _ioctl(fd, termios.TIOCSCTTY, 0, "TIOCSCTTY")


def window_size(fd: int) -> bytes:
    """The window size of terminal ``fd``, as the kernel's struct winsize (TIOCGWINSZ)."""
    return _ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8, "TIOCGWINSZ")


def set_window_size(fd: int, size: bytes) -> None:
    """Give terminal ``fd`` the window size ``size`` (a struct winsize, from window_size; TIOCSWINSZ)."""
    _ioctl(fd, termios.TIOCSWINSZ, size, "TIOCSWINSZ")
