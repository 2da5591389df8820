"""Seccomp profiles as data: the types, and Docker's default profile (moby v28.5 = v29.0-v29.4) in them.

A profile is an allow-list (or a deny-list) of system calls by name, with
rules that apply only for some capabilities, architectures or kernels. What
it becomes for one container (its bounding set, this machine) is worked out
by ``seccomp.resolve``; Docker's JSON form is read by ``seccomp.parse_json``.

The default allows what Docker's does and refuses the rest with EPERM: no
keyrings (add_key, keyctl, request_key), no new namespaces, mounts, bpf or
perf_event_open without CAP_SYS_ADMIN, no clone with a namespace flag, no
AF_VSOCK sockets, clone3 looks unimplemented (ENOSYS) so libc falls back to
clone, and personality only with the values programs commonly set.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Arg:
    """A check of one argument: ``op`` is NE, LT, LE, EQ, GE, GT or MASKED_EQ ((arg & value) == value_two)."""

    index: int
    op: str
    value: int
    value_two: int = 0


@dataclass(frozen=True)
class Rule:
    """What to do with the calls ``names``, where the conditions hold.

    ``action`` is allow, errno, kill_process, kill_thread, trap, trace or log.
    Capabilities are named as in ``caps`` (SYS_ADMIN); architectures by
    Docker's short names (amd64, x86, x32, arm64, arm, ...). ``caps`` must all
    be in the container's bounding set, and any one of ``unless_caps`` there
    drops the rule; kernels are (major, minor).
    """

    names: tuple[str, ...]
    action: str = "allow"
    errno: int | None = None  # for errno (default EPERM) and trace
    args: tuple[Arg, ...] = ()
    caps: frozenset[str] = frozenset()
    unless_caps: frozenset[str] = frozenset()
    arches: frozenset[str] = frozenset()
    unless_arches: frozenset[str] = frozenset()
    min_kernel: tuple[int, int] | None = None
    below_kernel: tuple[int, int] | None = None


@dataclass(frozen=True)
class Profile:
    """A whole profile. The architectures filtered are ``architectures`` when given, else the entry of
    ``arch_map`` for this machine's (libseccomp's names: x86_64, x86, x32, aarch64, arm), else the
    machine's own only."""

    default_action: str
    rules: tuple[Rule, ...]
    default_errno: int | None = None
    architectures: tuple[str, ...] | None = None
    arch_map: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    flags: tuple[str, ...] = ()  # SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW, ..._TSYNC


# Docker's archMap for the machines pycompose runs on: the native ABI and the ones its kernel also runs.
ARCH_MAP = {"x86_64": ("x86_64", "x86", "x32"), "aarch64": ("aarch64", "arm")}

_ALLOWED = """
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate
fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync
fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync
ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat
getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt
get_thread_area gettid gettimeofday getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init
inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount
listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2
mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64
mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock
munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause
pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64
prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
remap_file_pages removexattr removexattrat rename renameat renameat2 restart_syscall riscv_hwprobe
rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr
sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64
sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32
setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask
sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statmount statx symlink symlinkat
sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask
uname unlink unlinkat uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid
waitpid write writev
"""

AF_VSOCK = 40
# clone flags that make a namespace: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
# personality values allowed: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
_S390 = frozenset({"s390", "s390x"})
_ADMIN = frozenset({"SYS_ADMIN"})


def _needs(cap: str, *names: str) -> Rule:
    return Rule(names, caps=frozenset({cap}))


DOCKER_DEFAULT = Profile(
    default_action="errno",
    default_errno=errno.EPERM,
    arch_map=ARCH_MAP,
    rules=(
        Rule(tuple(_ALLOWED.split())),
        Rule(("process_vm_readv", "process_vm_writev", "ptrace"), min_kernel=(4, 8)),
        Rule(("socket",), args=(Arg(0, "NE", AF_VSOCK),)),
        *(Rule(("personality",), args=(Arg(0, "EQ", value),)) for value in PERSONALITIES),
        Rule(("sync_file_range2", "swapcontext"), arches=frozenset({"ppc64le"})),
        Rule(("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
              "set_tls"), arches=frozenset({"arm", "arm64"})),
        Rule(("arch_prctl",), arches=frozenset({"amd64", "x32"})),
        Rule(("modify_ldt",), arches=frozenset({"amd64", "x32", "x86"})),
        Rule(("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"), arches=_S390),
        Rule(("riscv_flush_icache",), arches=frozenset({"riscv64"})),
        _needs("DAC_READ_SEARCH", "open_by_handle_at"),
        Rule(("bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
              "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount",
              "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
              "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare"), caps=_ADMIN),
        # without CAP_SYS_ADMIN: clone only without namespace flags (s390 has the flags in argument 1)
        Rule(("clone",), args=(Arg(0, "MASKED_EQ", NAMESPACE_FLAGS, 0),), unless_caps=_ADMIN, unless_arches=_S390),
        Rule(("clone",), args=(Arg(1, "MASKED_EQ", NAMESPACE_FLAGS, 0),), unless_caps=_ADMIN, arches=_S390),
        Rule(("clone3",), action="errno", errno=errno.ENOSYS, unless_caps=_ADMIN),
        _needs("SYS_BOOT", "reboot"),
        _needs("SYS_CHROOT", "chroot"),
        _needs("SYS_MODULE", "delete_module", "init_module", "finit_module"),
        _needs("SYS_PACCT", "acct"),
        _needs("SYS_PTRACE", "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
               "ptrace"),
        _needs("SYS_RAWIO", "iopl", "ioperm"),
        _needs("SYS_TIME", "settimeofday", "stime", "clock_settime", "clock_settime64"),
        _needs("SYS_TTY_CONFIG", "vhangup"),
        _needs("SYS_NICE", "get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
        _needs("SYSLOG", "syslog"),
        _needs("BPF", "bpf"),
        _needs("PERFMON", "perf_event_open"),
    ),
)
