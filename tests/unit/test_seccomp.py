"""Seccomp profiles without loading one: Docker's default as it applies to a container (its bounding set,
the machine, the kernel), Docker's JSON form read back, and the filter libseccomp builds from them."""

from __future__ import annotations

import errno
import json
import struct

import pytest

from engine import sys as lx
from engine.runtime import caps, seccomp
from engine.runtime.seccomp import Call, ProfileError, parse_json, resolve
from engine.runtime.seccomp_profile import DOCKER_DEFAULT, NAMESPACE_FLAGS, Arg, Profile, Rule

ALLOW, EPERM = lx.SCMP_ACT_ALLOW, lx.scmp_act_errno(errno.EPERM)
DEFAULT_CAPS = caps.DOCKER_DEFAULT
ALL_CAPS = frozenset(caps.NAMES)


def calls(r: seccomp.Resolved, name: str) -> list[Call]:
    return [c for c in r.calls if c.name == name]


def test_default_for_dockers_default_capabilities() -> None:
    r = resolve(DOCKER_DEFAULT, DEFAULT_CAPS, "x86_64", (6, 1))
    assert r.default_action == EPERM and r.architectures == ("x86_64", "x86", "x32")
    assert calls(r, "read") == [Call("read", ALLOW)]
    for refused in ("unshare", "mount", "setns", "keyctl", "add_key", "request_key", "perf_event_open", "bpf",
                    "userfaultfd", "io_uring_setup", "kexec_load", "open_by_handle_at", "reboot", "init_module"):
        assert calls(r, refused) == [], refused
    assert calls(r, "clone") == [Call("clone", ALLOW, (Arg(0, "MASKED_EQ", NAMESPACE_FLAGS, 0),))]
    assert NAMESPACE_FLAGS == 0x7E020000
    assert calls(r, "clone3") == [Call("clone3", lx.scmp_act_errno(errno.ENOSYS))]
    assert calls(r, "socket") == [Call("socket", ALLOW, (Arg(0, "NE", 40),))]
    assert [c.args[0].value for c in calls(r, "personality")] == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
    assert calls(r, "chroot") == [Call("chroot", ALLOW)]  # SYS_CHROOT is one of Docker's defaults
    assert calls(r, "arch_prctl") and calls(r, "modify_ldt") and not calls(r, "set_tls")
    assert calls(r, "ptrace") == [Call("ptrace", ALLOW)]  # kernel >= 4.8


def test_capabilities_open_their_rules() -> None:
    admin = resolve(DOCKER_DEFAULT, DEFAULT_CAPS | {"SYS_ADMIN"}, "x86_64", (6, 1))
    assert calls(admin, "clone") == [Call("clone", ALLOW)] and calls(admin, "clone3") == [Call("clone3", ALLOW)]
    assert calls(admin, "unshare") and calls(admin, "mount") and calls(admin, "bpf")
    nothing = resolve(DOCKER_DEFAULT, frozenset(), "x86_64", (6, 1))
    assert not calls(nothing, "chroot")
    everything = resolve(DOCKER_DEFAULT, ALL_CAPS, "x86_64", (6, 1))
    for name in ("reboot", "init_module", "acct", "kcmp", "iopl", "settimeofday", "vhangup", "mbind", "syslog",
                 "perf_event_open", "open_by_handle_at"):
        assert calls(everything, name), name
    assert len(calls(everything, "syslog")) == 1  # named by two rules: one libseccomp rule


def test_architecture_and_kernel_conditions() -> None:
    arm = resolve(DOCKER_DEFAULT, DEFAULT_CAPS, "aarch64", (6, 1))
    assert arm.architectures == ("aarch64", "arm")
    assert calls(arm, "set_tls") and calls(arm, "cacheflush") and not calls(arm, "arch_prctl")
    old = resolve(DOCKER_DEFAULT, DEFAULT_CAPS, "x86_64", (4, 4))
    assert not calls(old, "ptrace")  # only with CAP_SYS_PTRACE before 4.8
    with pytest.raises(OSError, match=r"\(riscv64\) is not supported: pycompose runs containers on x86_64 and "
                                      r"aarch64 only"):
        resolve(DOCKER_DEFAULT, DEFAULT_CAPS, "riscv64")


def test_rules_as_runc_gives_them_to_libseccomp() -> None:
    profile = Profile(default_action="errno", default_errno=errno.EPERM, rules=(
        Rule(("mkdir",), action="errno"),  # the default action itself: left out
        Rule(("openat",), args=(Arg(2, "MASKED_EQ", 3, 1), Arg(2, "MASKED_EQ", 3, 2))),  # one argument twice: OR
        Rule(("ioctl",), args=(Arg(0, "EQ", 1), Arg(1, "EQ", 2))),  # two arguments: AND
    ), architectures=("x86_64",))
    r = resolve(profile, frozenset(), "x86_64", (6, 1))
    assert r.calls == (Call("openat", ALLOW, (Arg(2, "MASKED_EQ", 3, 1),)),
                       Call("openat", ALLOW, (Arg(2, "MASKED_EQ", 3, 2),)),
                       Call("ioctl", ALLOW, (Arg(0, "EQ", 1), Arg(1, "EQ", 2))))
    assert r.architectures == ("x86_64",)


def to_json(profile: Profile) -> str:
    """Docker's JSON form of ``profile`` (as ``docker run --security-opt seccomp=`` takes it)."""
    def conditions(caps: frozenset[str], arches: frozenset[str], kernel: tuple[int, int] | None) -> dict[str, object]:
        out: dict[str, object] = {}
        if caps:
            out["caps"] = sorted("CAP_" + c for c in caps)
        if arches:
            out["arches"] = sorted(arches)
        if kernel:
            out["minKernel"] = f"{kernel[0]}.{kernel[1]}"
        return out

    rules = []
    for r in profile.rules:
        rule: dict[str, object] = {"names": list(r.names), "action": "SCMP_ACT_" + r.action.upper()}
        if r.errno is not None:
            rule["errnoRet"] = r.errno
        if r.args:
            rule["args"] = [{"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": "SCMP_CMP_" + a.op}
                            for a in r.args]
        for key, cond in (("includes", conditions(r.caps, r.arches, r.min_kernel)),
                          ("excludes", conditions(r.unless_caps, r.unless_arches, r.below_kernel))):
            if cond:
                rule[key] = cond
        rules.append(rule)
    arch_map = [{"architecture": "SCMP_ARCH_" + native.upper(),
                 "subArchitectures": ["SCMP_ARCH_" + a.upper() for a in arches[1:]]}
                for native, arches in profile.arch_map.items()]
    return json.dumps({"defaultAction": "SCMP_ACT_" + profile.default_action.upper(),
                       "defaultErrnoRet": profile.default_errno, "archMap": arch_map, "syscalls": rules})


def test_dockers_json_form_reads_back_as_the_same_profile() -> None:
    parsed = parse_json(to_json(DOCKER_DEFAULT))
    assert parsed is not None and parsed.rules == DOCKER_DEFAULT.rules
    assert dict(parsed.arch_map) == dict(DOCKER_DEFAULT.arch_map)
    assert resolve(parsed, DEFAULT_CAPS, "x86_64", (6, 1)) == resolve(DOCKER_DEFAULT, DEFAULT_CAPS, "x86_64", (6, 1))


def test_json_details() -> None:
    assert parse_json("{}") is None  # no default action and no rules: Docker runs unconfined
    p = parse_json('{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],'
                   ' "flags": ["SECCOMP_FILTER_FLAG_LOG"], "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_KILL"},'
                   ' {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,'
                   '  "args": [{"index": 1, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ"}]}]}')
    assert p is not None and p.architectures == ("x86_64",) and p.flags == ("SECCOMP_FILTER_FLAG_LOG",)
    assert p.rules == (Rule(("mkdir",), "kill_thread"),
                       Rule(("chmod",), "errno", 13, (Arg(1, "MASKED_EQ", 2048, 2048),)))
    r = resolve(p, frozenset(), "x86_64", (6, 1))
    assert r.flags == lx.SECCOMP_FILTER_FLAG_LOG and r.default_action == ALLOW
    assert r.calls == (Call("mkdir", lx.SCMP_ACT_KILL_THREAD), Call("chmod", lx.scmp_act_errno(13),
                                                                      (Arg(1, "MASKED_EQ", 2048, 2048),)))


@pytest.mark.parametrize("text,says", [
    ("[", "it is not JSON"),
    ("[]", "it must be a JSON object"),
    ('{"defaultAction": "SCMP_ACT_NOPE"}', "defaultAction: unknown action 'SCMP_ACT_NOPE'"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{}]}',
     "use either architectures or archMap"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}',
     "syscalls[0].name and names cannot both be given"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", '
     '"errnoRet": 1}]}', "syscalls[0].errnoRet goes only with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", '
     '"args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}', "syscalls[0].args[0].index must be 0 to 5"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", '
     '"args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}', "op 'SCMP_CMP_ALMOST' is not one of"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", '
     '"includes": {"minKernel": "0.0"}}]}', "syscalls[0].includes.minKernel '0.0' is not a kernel version"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_NOTIFY"}]}',
     "SCMP_ACT_NOTIFY needs a seccomp agent"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]}', "is not supported"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}', "syscalls must be a list"),
])
def test_json_errors(text: str, says: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_json(text)
    assert says in str(info.value)


def test_profile_of_follows_docker() -> None:
    assert seccomp.profile_of(None, privileged=False) is DOCKER_DEFAULT
    assert seccomp.profile_of(None, privileged=True) is None  # privileged: unconfined ...
    assert seccomp.profile_of("builtin", privileged=True) is DOCKER_DEFAULT  # ... unless a profile is named
    assert seccomp.profile_of("unconfined", privileged=False) is None


def test_libseccomp_builds_the_default() -> None:
    """The filter libseccomp makes: classic BPF; the names it does not know (newer than it) are skipped."""
    flt = seccomp.build(resolve(DOCKER_DEFAULT, DEFAULT_CAPS, "x86_64", (6, 1)))
    assert len(flt.program) % 8 == 0 and len(flt.program) > 8 * 400
    assert set(flt.unknown) <= {n for r in DOCKER_DEFAULT.rules for n in r.names}
    assert lx.seccomp_syscall("read", "x86_64") == 0 and lx.seccomp_syscall("read", "aarch64") == 63
    assert lx.seccomp_syscall("no_such_call") is None
    for name in ("keyctl", "unshare"):
        assert lx.seccomp_syscall(name) is not None  # known, hence refused by the default action


def _filters(program: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]


LD, JEQ, JGT, JSET, JA, RET = 0x20, 0x15, 0x25, 0x45, 0x05, 0x06
ENOSYS = lx.scmp_act_errno(errno.ENOSYS)


@pytest.mark.parametrize("highest,expected", [
    # aarch64 and arm: above 456 -> ENOSYS (second to last), else on to the program (after the last)
    ({"aarch64": 456, "arm": 456},
     [(LD, 0, 0, 4), (JEQ, 0, 2, 0xC00000B7), (LD, 0, 0, 0), (JGT, 4, 5, 456),
      (JEQ, 0, 2, 0x40000028), (LD, 0, 0, 0), (JGT, 1, 2, 456), (JA, 0, 0, 1), (RET, 0, 0, ENOSYS)]),
    # x86_64 with x32: the x32 bit picks which highest number applies
    ({"x86_64": 456, "x86": 456, "x32": 0x40000223},
     [(LD, 0, 0, 4), (JEQ, 0, 4, 0xC000003E), (LD, 0, 0, 0), (JSET, 1, 0, 0x40000000), (JGT, 5, 6, 456),
      (JGT, 4, 5, 0x40000223), (JEQ, 0, 2, 0x40000003), (LD, 0, 0, 0), (JGT, 1, 2, 456), (JA, 0, 0, 1),
      (RET, 0, 0, ENOSYS)]),
    # x86_64 alone: x32 numbers are left to the program
    ({"x86_64": 300},
     [(LD, 0, 0, 4), (JEQ, 0, 3, 0xC000003E), (LD, 0, 0, 0), (JSET, 3, 0, 0x40000000), (JGT, 1, 2, 300),
      (JA, 0, 0, 1), (RET, 0, 0, ENOSYS)]),
])
def test_enosys_stub(highest: dict[str, int], expected: list[tuple[int, int, int, int]]) -> None:
    assert _filters(seccomp.enosys_stub(highest)) == expected


def test_the_stub_goes_in_front_unless_the_default_allows() -> None:
    r = resolve(DOCKER_DEFAULT, DEFAULT_CAPS, "x86_64", (6, 1))
    assert seccomp.highest_numbers(r)["x86_64"] >= 435  # clone3 is named
    assert _filters(seccomp.build(r).program)[0] == (LD, 0, 0, 4)
    allowing = parse_json('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], '
                          '"action": "SCMP_ACT_ERRNO"}]}')
    assert allowing is not None
    plain = seccomp.build(resolve(allowing, frozenset(), "x86_64", (6, 1)))
    assert not seccomp._wants_stub(lx.SCMP_ACT_ALLOW) and not seccomp._wants_stub(ENOSYS)
    assert seccomp._wants_stub(lx.SCMP_ACT_KILL_PROCESS) and seccomp._wants_stub(EPERM)
    assert len(plain.program) < len(seccomp.build(r).program)
