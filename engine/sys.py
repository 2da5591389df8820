"""The raw Linux calls Python's os module lacks: ctypes and ioctls. Nothing else in pycompose uses either.

Each function raises OSError with the call's errno and a message naming the
call and its argument, so errors read like ``mount(overlay -> /x): Invalid
argument``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import socket
import struct
import termios
from collections.abc import Sequence

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

# The numbers of the system calls libc has no wrapper for, per architecture (asm/unistd_64.h and
# asm-generic/unistd.h). Only these architectures are supported: elsewhere the numbers differ,
# so a call is refused rather than guessed (see syscall_number).
SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {"capget": 125, "capset": 126, "pivot_root": 155, "seccomp": 317, "bpf": 321, "close_range": 436},
    "aarch64": {"capget": 90, "capset": 91, "pivot_root": 41, "seccomp": 277, "bpf": 280, "close_range": 436},
}
MACHINE = os.uname().machine if struct.calcsize("P") == 8 else f"{os.uname().machine} (32-bit userland)"


def architecture(machine: str = MACHINE) -> str:
    """``machine`` if pycompose knows its system calls; else OSError(ENOSYS) saying which ones it knows."""
    if machine not in SYSCALLS:
        raise OSError(errno.ENOSYS, f"this machine's architecture ({machine}) is not supported: pycompose "
                                    f"runs containers on {' and '.join(SYSCALLS)} only")
    return machine


def syscall_number(name: str, machine: str = MACHINE) -> int:
    return SYSCALLS[architecture(machine)][name]


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
    _check(_libc.syscall(syscall_number("pivot_root"), _b(new_root), _b(put_old)), f"pivot_root({new_root})")


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
    _check(_libc.syscall(syscall_number("capset"), ctypes.byref(header), data), "capset")


def capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of this thread."""
    header = _CapHeader(_CAP_V3, 0)
    data = (_CapData * 2)()
    _check(_libc.syscall(syscall_number("capget"), ctypes.byref(header), data), "capget")
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


# -- descriptors ---------------------------------------------------------------------

_CLOSE_RANGE_CLOEXEC = 4


def cloexec_from(first: int) -> None:
    """Mark every fd from ``first`` up close-on-exec, so that an exec keeps only those below it.

    close_range(CLOSE_RANGE_CLOEXEC) where the kernel has it (5.11); else each fd of /proc/self/fd.
    Closing them outright would close an error pipe that must stay open until the exec.
    """
    if _libc.syscall(syscall_number("close_range"), ctypes.c_uint(first), ctypes.c_uint(0xFFFFFFFF),
                     ctypes.c_uint(_CLOSE_RANGE_CLOEXEC)) == 0:
        return
    for fd in (int(name) for name in os.listdir("/proc/self/fd")):
        if fd >= first:
            try:
                os.set_inheritable(fd, False)
            except OSError as exc:  # EBADF: the listing's own fd, closed by now
                if exc.errno != errno.EBADF:
                    raise


# -- bpf (cgroup device programs) --------------------------------------------------

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6  # the attach type
BPF_F_ALLOW_MULTI = 2
_BPF_ATTR_SIZE = 144  # sizeof(union bpf_attr) in the 6.1 headers; the kernel accepts a zeroed tail


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char], what: str) -> int:
    return _check(_libc.syscall(syscall_number("bpf"), cmd, attr, _BPF_ATTR_SIZE), what)


def bpf_load_device_program(insns: bytes, license: str = "Apache") -> int:
    """Load ``insns`` (struct bpf_insn, 8 bytes each) as a BPF_PROG_TYPE_CGROUP_DEVICE program; its fd.

    A program the verifier refuses raises OSError with the verifier's log.
    """
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    attr = ctypes.create_string_buffer(_BPF_ATTR_SIZE)
    struct.pack_into("=IIQQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(insns) // 8,
                     ctypes.addressof(code), ctypes.addressof(lic))
    fd = _libc.syscall(syscall_number("bpf"), BPF_PROG_LOAD, attr, _BPF_ATTR_SIZE)
    if fd >= 0:
        os.set_inheritable(fd, False)
        return int(fd)
    err = ctypes.get_errno()
    log = ctypes.create_string_buffer(1 << 16)  # load again with the verifier's log, for the message
    struct.pack_into("=IIQ", attr, 24, 1, len(log), ctypes.addressof(log))
    fd = _libc.syscall(syscall_number("bpf"), BPF_PROG_LOAD, attr, _BPF_ATTR_SIZE)
    if fd >= 0:
        os.close(fd)
    detail = log.value.decode(errors="replace").strip().splitlines()
    raise OSError(err, f"bpf(BPF_PROG_LOAD): {os.strerror(err)}" + (f": {detail[-1]}" if detail else ""))


def bpf_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int) -> None:
    attr = ctypes.create_string_buffer(_BPF_ATTR_SIZE)
    struct.pack_into("=IIII", attr, 0, target_fd, prog_fd, attach_type, flags)
    _bpf(BPF_PROG_ATTACH, attr, "bpf(BPF_PROG_ATTACH)")


def bpf_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    attr = ctypes.create_string_buffer(_BPF_ATTR_SIZE)
    struct.pack_into("=III", attr, 0, target_fd, prog_fd, attach_type)  # flags must be 0
    _bpf(BPF_PROG_DETACH, attr, "bpf(BPF_PROG_DETACH)")


def bpf_attached(target_fd: int, attach_type: int) -> list[int]:
    """The ids of the programs attached to the cgroup ``target_fd`` itself (BPF_PROG_QUERY)."""
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(_BPF_ATTR_SIZE)
    struct.pack_into("=IIIIQI", attr, 0, target_fd, attach_type, 0, 0, ctypes.addressof(ids), len(ids))
    _bpf(BPF_PROG_QUERY, attr, "bpf(BPF_PROG_QUERY)")
    count = struct.unpack_from("=I", attr, 24)[0]
    return list(ids[:count])


# -- seccomp (filters built by libseccomp) ------------------------------------------

# libseccomp's numbers (seccomp.h, the same in 2.5 and 2.6)
SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_KILL_THREAD = 0x00000000
SCMP_ACT_TRAP = 0x00030000
SCMP_ACT_LOG = 0x7FFC0000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
            "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
_SCMP_FLTATR_CTL_NNP = 3
_SCMP_FLTATR_CTL_OPTIMIZE = 8
_NR_SCMP_ERROR = -1

# seccomp(2)
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_LOG = 2
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4


def scmp_act_errno(err: int) -> int:
    return 0x00050000 | (err & 0xFFFF)


def scmp_act_trace(msg: int) -> int:
    return 0x7FF00000 | (msg & 0xFFFF)


class _ScmpArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libseccomp: ctypes.CDLL | None = None


def _seccomp_lib() -> ctypes.CDLL:
    """libseccomp.so.2, loaded on first use (only the processes that build filters need it)."""
    global _libseccomp
    if _libseccomp is None:
        try:
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError:
            raise OSError(errno.ENOENT, "libseccomp.so.2 is missing: install it (apt-get install libseccomp2) "
                                        "or run with security_opt seccomp=unconfined") from None
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_release.restype = None
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                               ctypes.POINTER(_ScmpArgCmp)]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        _libseccomp = lib
    return _libseccomp


def _scmp(result: int, what: str) -> None:
    if result < 0:
        raise OSError(-result, f"{what}: {os.strerror(-result)}")


SeccompArg = tuple[int, int, int, int]  # (argument index, SCMP_CMP_* number, datum_a, datum_b)


def seccomp_syscall(name: str, arch: str | None = None) -> int | None:
    """The number libseccomp knows for ``name`` (on ``arch``, default native); None if it does not know it."""
    lib = _seccomp_lib()
    if arch is None:
        nr = int(lib.seccomp_syscall_resolve_name(name.encode()))
    else:
        nr = int(lib.seccomp_syscall_resolve_name_arch(lib.seccomp_arch_resolve_name(arch.encode()), name.encode()))
    return None if nr == _NR_SCMP_ERROR else nr


def seccomp_program(default_action: int, arches: Sequence[str],
                    rules: Sequence[tuple[int, str, Sequence[SeccompArg]]]) -> tuple[bytes, list[str]]:
    """A seccomp filter built by libseccomp, exported as classic BPF: (the program, names it did not know).

    ``arches`` are libseccomp's names ("x86_64", "x86", "x32", "aarch64", "arm"; the native one is
    always in). Each rule is (action, syscall name, argument checks); a name this libseccomp cannot
    resolve is skipped, as runc and crun do. The program is installed with ``seccomp_install``.
    """
    lib = _seccomp_lib()
    ctx = lib.seccomp_init(default_action)
    if not ctx:
        raise OSError(errno.EINVAL, f"seccomp_init({default_action:#x}) failed")
    unknown: list[str] = []
    try:
        for arch in arches:
            token = lib.seccomp_arch_resolve_name(arch.encode())
            if not token:
                raise OSError(errno.EINVAL, f"libseccomp does not know the architecture {arch!r}")
            result = lib.seccomp_arch_add(ctx, token)
            if result != -errno.EEXIST:
                _scmp(result, f"seccomp_arch_add({arch})")
        _scmp(lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_NNP, 0), "seccomp_attr_set(CTL_NNP)")
        if len(rules) > 32:  # a binary tree rather than a list (as runc); older libseccomp lacks it
            lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_OPTIMIZE, 2)
        for action, name, args in rules:
            nr = int(lib.seccomp_syscall_resolve_name(name.encode()))
            if nr == _NR_SCMP_ERROR:
                unknown.append(name)
                continue
            checks = (_ScmpArgCmp * max(len(args), 1))(*(_ScmpArgCmp(*a) for a in args))
            _scmp(lib.seccomp_rule_add_array(ctx, action, nr, len(args), checks), f"seccomp_rule_add({name})")
        memfd = os.memfd_create("seccomp", os.MFD_CLOEXEC)
        try:
            _scmp(lib.seccomp_export_bpf(ctx, memfd), "seccomp_export_bpf")
            size = os.lseek(memfd, 0, os.SEEK_CUR)
            program = os.pread(memfd, size, 0)
        finally:
            os.close(memfd)
    finally:
        lib.seccomp_release(ctx)
    return program, unknown


def seccomp_install(program: bytes, flags: int = 0) -> None:
    """Install the BPF ``program`` as this thread's seccomp filter (needs CAP_SYS_ADMIN or no_new_privs)."""
    code = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(code))
    _check(_libc.syscall(syscall_number("seccomp"), SECCOMP_SET_MODE_FILTER, ctypes.c_uint(flags),
                         ctypes.byref(prog)), "seccomp(SECCOMP_SET_MODE_FILTER)")
