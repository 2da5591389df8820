"""Which devices a container may use: Docker's device cgroup rules, and how a cgroup gets them.

Docker puts a deny-all first, then allows /dev/null, zero, full, random,
urandom, tty, console, ptmx and the pts terminals, mknod of any character or
block device (a node made is still unusable), /dev/net/tun, and denies
/dev/fuse; ``devices:`` and ``device_cgroup_rules`` allow exactly what they
name; a privileged container may use everything. As runc does, the rules
are first reduced to a ``Policy`` (a default and its exceptions, the last
matching rule winning), which is then written as cgroup v1 ``devices.deny`` /
``devices.allow`` lines or compiled to a cgroup v2 BPF program.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.errors import RuntimeFailure

from .cgroupfs import Fs
from .spec import ContainerSpec

_ACCESS = "rwm"
_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")  # Docker's --device-cgroup-rule


@dataclass(frozen=True)
class Rule:
    """Allow or deny ``access`` (letters of "rwm") to devices of ``type`` a (all), b or c; None is "*"."""

    allow: bool
    type: str
    major: int | None
    minor: int | None
    access: str = _ACCESS

    def __str__(self) -> str:
        """The cgroup v1 line: ``c 1:3 rwm``, ``b *:* m``."""
        def number(n: int | None) -> str:
            return "*" if n is None else str(n)
        return f"{self.type} {number(self.major)}:{number(self.minor)} {self.access}"

    @property
    def key(self) -> tuple[str, int | None, int | None]:
        return self.type, self.major, self.minor


def _rule(allow: bool, text: str) -> Rule:
    kind, numbers, access = text.split()
    major, minor = numbers.split(":")
    return Rule(allow, kind, None if major == "*" else int(major), None if minor == "*" else int(minor),
                _normal(access))


def _normal(access: str) -> str:
    return "".join(c for c in _ACCESS if c in access)


def parse(text: str) -> Rule:
    """An allow rule as ``device_cgroup_rules`` writes it (``c 10:200 rwm``); ValueError as Docker words it."""
    m = _RULE.match(text)
    if m is None:
        raise ValueError(f"invalid device cgroup rule format: '{text}' (like 'c 10:200 rwm': a, b or c, "
                         "MAJOR:MINOR with * for any, and letters of rwm)")
    if any(n != "*" and int(n) > limit for n, limit in ((m[2], 4095), (m[3], 0xFFFFF))):
        raise ValueError(f"invalid device cgroup rule '{text}': a major number is at most 4095, a minor "
                         "at most 1048575")
    if m[1] == "a" and (m[2], m[3], _normal(m[4])) != ("*", "*", _ACCESS):
        raise ValueError(f"invalid device cgroup rule '{text}': type a (all devices) goes only with *:* rwm")
    return _rule(True, text)


def check_permissions(permissions: str) -> None:
    """Refuse ``devices:`` permissions that are not letters of rwm (Docker's ValidDeviceMode)."""
    if not permissions or any(c not in _ACCESS for c in permissions) or len(set(permissions)) != len(permissions):
        raise ValueError(f'invalid device permissions "{permissions}": use letters of rwm, each once')


# Docker's own list (a deny-all, its allows, and a deny of /dev/fuse), then the ones runc appends.
DOCKER_RULES = (_rule(False, "a *:* rwm"), *(_rule(True, f"c {n} rwm") for n in ("1:5", "1:3", "1:9", "1:8", "5:0",
                                                                                  "5:1")),
                _rule(False, "c 10:229 rwm"))
RUNC_RULES = tuple(_rule(True, t) for t in ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm",
                                            "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm",
                                            "c 10:200 rwm"))


@dataclass(frozen=True)
class Policy:
    """A default (allow everything, or nothing) and the exceptions to it, sorted as runc sorts them."""

    allow_all: bool
    exceptions: tuple[Rule, ...] = ()

    @property
    def unrestricted(self) -> bool:
        return self.allow_all and not self.exceptions


def _covers(wide: Rule, narrow: Rule) -> bool:
    return (wide.type in ("a", narrow.type) and wide.major in (None, narrow.major)
            and wide.minor in (None, narrow.minor))


def reduce(rules: Iterable[Rule]) -> Policy:
    """The policy ``rules`` make, applied in order (runc's emulator).

    ``a *:* rwm`` resets the default; a rule of the other kind adds an
    exception; one of the default's kind takes its access away from the
    exception it names, and cannot take it from a wider one (the kernel's v1
    code cannot punch such a hole, so runc refuses it too).
    """
    allow_all = True
    found: dict[tuple[str, int | None, int | None], str] = {}
    for rule in rules:
        if rule.type == "a" and rule.major is None and rule.minor is None and rule.access == _ACCESS:
            allow_all, found = rule.allow, {}
        elif rule.allow != allow_all:
            found[rule.key] = _normal(found.get(rule.key, "") + rule.access)
        else:
            for key, access in list(found.items()):
                other = Rule(not allow_all, *key, access)
                if key == rule.key:
                    left = "".join(c for c in access if c not in rule.access)
                    if left:
                        found[key] = left
                    else:
                        del found[key]
                elif _covers(other, rule) and set(access) & set(rule.access):
                    raise ValueError(f"device rule '{rule}' cannot punch a hole in the wider rule '{other}'")
    exceptions = sorted((Rule(not allow_all, *key, access) for key, access in found.items()),
                        key=lambda r: (-1 if r.major is None else r.major, -1 if r.minor is None else r.minor, r.type))
    return Policy(allow_all, tuple(exceptions))


def policy(privileged: bool, extra: Sequence[Rule] = ()) -> Policy:
    """Docker's rules plus ``extra`` (from ``devices:`` and ``device_cgroup_rules``); everything if privileged."""
    if privileged:
        return Policy(True)
    return reduce((*DOCKER_RULES, *extra, *RUNC_RULES))


DEFAULT = policy(False)


def host_device(path: str, permissions: str = _ACCESS) -> Rule:
    """An allow rule for the host's device node ``path`` (symlinks followed)."""
    check_permissions(permissions)
    st = os.stat(path)
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise ValueError(f"{path} is not a device node")
    return Rule(True, "c" if stat.S_ISCHR(st.st_mode) else "b", os.major(st.st_rdev), os.minor(st.st_rdev),
                _normal(permissions))


def policy_for(spec: ContainerSpec) -> Policy:
    """The policy of ``spec``'s container; RuntimeFailure naming the device or rule that is wrong (the
    caller names the container)."""
    extra = []
    try:
        for d in spec.devices:
            extra.append(host_device(d.source, d.permissions))
        extra += [parse(text) for text in spec.device_rules]
        return policy(spec.privileged, extra)
    except OSError as exc:
        raise RuntimeFailure(f"device {exc.filename}: {exc.strerror}") from None
    except ValueError as exc:
        raise RuntimeFailure(str(exc)) from None


def v1_writes(p: Policy) -> list[tuple[str, str]]:
    """(file, line) to write, in order, to a fresh v1 devices cgroup (which allows everything)."""
    if p.allow_all:
        return [("devices.allow", "a *:* rwm"), *(("devices.deny", str(r)) for r in p.exceptions)]
    return [("devices.deny", "a *:* rwm"), *(("devices.allow", str(r)) for r in p.exceptions)]


def v1_listing(p: Policy) -> list[str]:
    """What devices.list shows once ``p`` is written."""
    return ["a *:* rwm"] if p.allow_all else [str(r) for r in p.exceptions]


# -- cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program, as runc and crun make it ----------
#
# The kernel runs it on every open and mknod of a device node by a process of
# the cgroup, with a struct bpf_cgroup_dev_ctx: u32 access_type (the device
# type in the low 16 bits, the access in the high 16), u32 major, u32 minor;
# a return of 0 refuses with EPERM. The program loads the four into r2 (type),
# r3 (access), r4 (major) and r5 (minor), then has one block per exception:
# each check that fails jumps to the next block, and a block whose checks all
# pass returns the exception's verdict. The last two instructions return the default.

_TYPE_BITS = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACCESS_BITS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

# opcodes (linux/bpf.h): class | size/op | source
LDX_W = 0x61  # BPF_LDX | BPF_W | BPF_MEM: dst = *(u32 *)(src + off)
AND32_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
RSH32_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
MOV32_K = 0xB4  # BPF_ALU | BPF_MOV | BPF_K
MOV32_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X
JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
JNE_X = 0x5D  # BPF_JMP | BPF_JNE | BPF_X
EXIT = 0x95  # BPF_JMP | BPF_EXIT

Insn = tuple[int, int, int, int, int]  # (opcode, dst, src, off, imm)

PROLOGUE: tuple[Insn, ...] = (
    (LDX_W, 2, 1, 0, 0), (AND32_K, 2, 0, 0, 0xFFFF),  # r2 = type
    (LDX_W, 3, 1, 0, 0), (RSH32_K, 3, 0, 0, 16),  # r3 = access
    (LDX_W, 4, 1, 4, 0),  # r4 = major
    (LDX_W, 5, 1, 8, 0),  # r5 = minor
)
_NEXT = -1  # an offset to fill in: the start of the next block


def _block(rule: Rule) -> list[Insn]:
    checks: list[Insn] = []
    if rule.type != "a":
        checks.append((JNE_K, 2, 0, _NEXT, _TYPE_BITS[rule.type]))
    if rule.access != "rwm":  # the access asked for must lie within the rule's
        bits = sum(_ACCESS_BITS[c] for c in rule.access)
        checks += [(MOV32_X, 1, 3, 0, 0), (AND32_K, 1, 0, 0, bits), (JNE_X, 1, 3, _NEXT, 0)]
    if rule.major is not None:
        checks.append((JNE_K, 4, 0, _NEXT, rule.major))
    if rule.minor is not None:
        checks.append((JNE_K, 5, 0, _NEXT, rule.minor))
    block = [*checks, (MOV32_K, 0, 0, 0, 1 if rule.allow else 0), (EXIT, 0, 0, 0, 0)]
    return [(op, dst, src, len(block) - i - 1 if off == _NEXT else off, imm)
            for i, (op, dst, src, off, imm) in enumerate(block)]


def instructions(policy: Policy) -> list[Insn]:
    out = list(PROLOGUE)
    for rule in policy.exceptions:
        out += _block(rule)
    return out + [(MOV32_K, 0, 0, 0, 1 if policy.allow_all else 0), (EXIT, 0, 0, 0, 0)]


def encode(insns: list[Insn]) -> bytes:
    """``struct bpf_insn`` each: u8 opcode, u8 registers (src << 4 | dst on little-endian), s16 off, s32 imm."""
    if sys.byteorder != "little":  # pragma: no cover - pycompose runs on x86_64 and aarch64 (little-endian)
        raise OSError("BPF device programs are encoded for little-endian machines only")
    return b"".join(struct.pack("<BBhi", op, (src << 4) | dst, off, imm if imm < 1 << 31 else imm - (1 << 32))
                    for op, dst, src, off, imm in insns)


def program(policy: Policy) -> bytes:
    """The BPF_PROG_TYPE_CGROUP_DEVICE program of ``policy``."""
    return encode(instructions(policy))


def confine(fs: Fs, v1_dir: str | None, v2_dir: str | None, policy: Policy) -> None:
    """Give a fresh cgroup ``policy``: in its v1 devices folder ``v1_dir`` (devices.deny, devices.allow,
    then devices.list checked), and as a BPF program on its cgroup2 folder ``v2_dir``."""
    if v1_dir is None and v2_dir is None and not policy.unrestricted:
        raise RuntimeFailure("cannot confine the container's devices: this host has neither a devices "
                             "cgroup hierarchy nor cgroup2")
    if v1_dir is not None:
        for file, line in v1_writes(policy):
            fs.write(os.path.join(v1_dir, file), line)
        listed = sorted(filter(None, fs.read(os.path.join(v1_dir, "devices.list")).split("\n")))
        if listed != sorted(v1_listing(policy)):
            raise RuntimeFailure(f"the devices cgroup {v1_dir} lists {listed} after the rules were written, "
                                 f"not {sorted(v1_listing(policy))}")
    if v2_dir is not None and not policy.unrestricted:
        try:
            fs.attach_device_program(v2_dir, program(policy))
        except OSError as e:
            raise RuntimeFailure(f"cannot confine the devices of cgroup {v2_dir}: {e.strerror or e}") from None
