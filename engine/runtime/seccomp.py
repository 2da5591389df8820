"""A container's seccomp filter: which profile, what it means for this container, and the BPF program.

``ContainerSpec.seccomp`` says which profile: None (Docker's default, or none
for a privileged container, as Docker does), "default"/"builtin",
"unconfined", or a profile in Docker's JSON form. ``resolve`` keeps the rules
whose conditions hold for the container's bounding set, this machine's
architecture and kernel (Docker's ``includes``/``excludes``), as pure values;
``filter_for`` has libseccomp build the program, which the container's
first process (and every process exec'd into it) installs before it drops
its capabilities, with no_new_privs left as the container asks (runc's order).
"""

from __future__ import annotations

import errno
import functools
import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from .. import sys as lx
from ..errors import RuntimeFailure
from . import caps as capabilities
from .seccomp_profile import DOCKER_DEFAULT, Arg, Profile, Rule
from .spec import ContainerSpec

# Docker's short names for the architectures (its conditions use them)
SHORT_NAMES = {"x86_64": "amd64", "aarch64": "arm64"}
_ACTIONS = {"SCMP_ACT_ALLOW": "allow", "SCMP_ACT_ERRNO": "errno", "SCMP_ACT_KILL": "kill_thread",
            "SCMP_ACT_KILL_THREAD": "kill_thread", "SCMP_ACT_KILL_PROCESS": "kill_process",
            "SCMP_ACT_TRAP": "trap", "SCMP_ACT_TRACE": "trace", "SCMP_ACT_LOG": "log"}
_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": lx.SECCOMP_FILTER_FLAG_TSYNC,
          "SECCOMP_FILTER_FLAG_LOG": lx.SECCOMP_FILTER_FLAG_LOG,
          "SECCOMP_FILTER_FLAG_SPEC_ALLOW": lx.SECCOMP_FILTER_FLAG_SPEC_ALLOW}
_OPS = ("NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ")


@dataclass(frozen=True)
class Call:
    """One libseccomp rule: ``action`` (libseccomp's number) for ``name`` when every check holds."""

    name: str
    action: int
    args: tuple[Arg, ...] = ()


@dataclass(frozen=True)
class Resolved:
    """A profile as it applies to one container here: what libseccomp is given."""

    default_action: int
    architectures: tuple[str, ...]  # libseccomp's names; the native one is always in
    calls: tuple[Call, ...]
    flags: int = 0


@dataclass(frozen=True)
class Filter:
    """A built filter: the classic BPF program, the seccomp() flags, and the names libseccomp did not know."""

    program: bytes
    flags: int
    unknown: tuple[str, ...] = ()


def action_number(action: str, err: int | None) -> int:
    if action == "allow":
        return lx.SCMP_ACT_ALLOW
    if action == "errno":
        return lx.scmp_act_errno(errno.EPERM if err is None else err)
    if action == "trace":
        return lx.scmp_act_trace(errno.EPERM if err is None else err)
    return {"kill_thread": lx.SCMP_ACT_KILL_THREAD, "kill_process": lx.SCMP_ACT_KILL_PROCESS,
            "trap": lx.SCMP_ACT_TRAP, "log": lx.SCMP_ACT_LOG}[action]


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of ``uname -r`` ("6.18.44-fc" -> (6, 18))."""
    parts = (release or os.uname().release).split(".")
    digits = ["".join(c for c in p[:4] if c.isdigit()) or "0" for p in parts[:2]]
    return int(digits[0]), int(digits[1]) if len(digits) > 1 else 0


def _applies(rule: Rule, caps: frozenset[str], short: str, kernel: tuple[int, int]) -> bool:
    """Docker's conditions: every cap of ``caps`` held, none of ``unless_caps``; the arch listed or not
    excluded; the kernel at least ``min_kernel`` and below ``below_kernel``."""
    return (rule.caps <= caps and not rule.unless_caps & caps
            and (not rule.arches or short in rule.arches) and short not in rule.unless_arches
            and (rule.min_kernel is None or kernel >= rule.min_kernel)
            and (rule.below_kernel is None or kernel < rule.below_kernel))


def resolve(profile: Profile, caps: frozenset[str], machine: str | None = None,
            kernel: tuple[int, int] | None = None) -> Resolved:
    """The rules of ``profile`` that apply to a container with bounding set ``caps`` on ``machine``.

    As runc does: a rule whose action is the default one is left out (libseccomp
    refuses it), and a rule checking one argument twice becomes one rule per check.
    """
    machine = lx.architecture(machine or lx.MACHINE)
    kernel = kernel or kernel_version()
    default = action_number(profile.default_action, profile.default_errno)
    if profile.architectures is not None:
        arches = profile.architectures
    else:
        arches = profile.arch_map.get(machine, (machine,))
    calls: dict[Call, None] = {}
    for rule in profile.rules:
        if not _applies(rule, caps, SHORT_NAMES[machine], kernel):
            continue
        action = action_number(rule.action, rule.errno)
        if action == default:
            continue
        indexes = [a.index for a in rule.args]
        groups = [(a,) for a in rule.args] if len(set(indexes)) < len(indexes) else [rule.args]
        for name in rule.names:
            for args in groups:
                calls[Call(name, action, args)] = None
    flags = 0
    for flag in profile.flags:
        flags |= _FLAGS[flag]
    return Resolved(default, tuple(dict.fromkeys((machine, *arches))), tuple(calls), flags)


def build(resolved: Resolved) -> Filter:
    """The BPF program libseccomp makes of ``resolved``, behind runc's ENOSYS stub where it applies."""
    ops = {op: lx.SCMP_CMP["SCMP_CMP_" + op] for op in _OPS}
    program, unknown = lx.seccomp_program(
        resolved.default_action, resolved.architectures,
        [(c.action, c.name, [(a.index, ops[a.op], a.value, a.value_two) for a in c.args]) for c in resolved.calls])
    if _wants_stub(resolved.default_action):
        program = enosys_stub(highest_numbers(resolved)) + program
    return Filter(program, resolved.flags, tuple(dict.fromkeys(unknown)))


# -- the ENOSYS stub -------------------------------------------------------------------
#
# As runc does: a system call numbered above the highest one the profile names (for its architecture)
# is newer than the profile, so it answers ENOSYS ("not implemented", which makes libc fall back)
# rather than the default errno. A few classic BPF instructions go in front of libseccomp's program,
# which still decides everything else.

AUDIT_ARCH = {"x86_64": 0xC000003E, "x86": 0x40000003, "aarch64": 0xC00000B7, "arm": 0x40000028}
X32_BIT = 0x40000000  # x32 calls come as x86_64's, with this bit in the number

_LD_ABS_W, _JEQ, _JGT, _JSET, _JA, _RET = 0x20, 0x15, 0x25, 0x45, 0x05, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|...
_ENOSYS = "enosys"
_PROGRAM = "program"


def _wants_stub(default_action: int) -> bool:
    """Not when the default allows (allow, log, trace), nor when it answers ENOSYS already."""
    kind = default_action & 0xFFFF0000
    return kind not in (lx.SCMP_ACT_ALLOW, lx.SCMP_ACT_LOG, lx.scmp_act_trace(0)) and \
        default_action != lx.scmp_act_errno(errno.ENOSYS)


def highest_numbers(resolved: Resolved) -> dict[str, int]:
    """Per architecture of the filter (libseccomp's names), the highest system call number it names."""
    names = {c.name for c in resolved.calls}
    out = {}
    for arch in resolved.architectures:
        numbers = [n for n in (lx.seccomp_syscall(name, arch) for name in names) if n is not None and n >= 0]
        if numbers:
            out[arch] = max(numbers)
    return out


def enosys_stub(highest: Mapping[str, int]) -> bytes:
    """Classic BPF (struct sock_filter each) that returns ENOSYS for a number above ``highest[arch]``
    and goes on to the program that follows for everything else (and for other architectures)."""
    code: list[tuple[int, int | str, int | str, int]] = [(_LD_ABS_W, 0, 0, 4)]  # A = seccomp_data.arch
    for arch, audit in AUDIT_ARCH.items():
        if arch not in highest:
            continue
        checks: list[tuple[int, int | str, int | str, int]] = [(_LD_ABS_W, 0, 0, 0)]  # A = seccomp_data.nr
        if arch == "x86_64" and "x32" in highest:
            checks += [(_JSET, 1, 0, X32_BIT), (_JGT, _ENOSYS, _PROGRAM, highest[arch]),
                       (_JGT, _ENOSYS, _PROGRAM, highest["x32"])]
        elif arch == "x86_64":  # x32 calls not filtered as such: the program decides
            checks += [(_JSET, _PROGRAM, 0, X32_BIT), (_JGT, _ENOSYS, _PROGRAM, highest[arch])]
        else:
            checks.append((_JGT, _ENOSYS, _PROGRAM, highest[arch]))
        code += [(_JEQ, 0, len(checks), audit), *checks]
    code += [(_JA, 0, 0, 1), (_RET, 0, 0, lx.scmp_act_errno(errno.ENOSYS))]  # other architectures: the program
    labels = {_ENOSYS: len(code) - 1, _PROGRAM: len(code)}

    def offset(i: int, target: int | str) -> int:
        return labels[target] - i - 1 if isinstance(target, str) else target

    return b"".join(struct.pack("=HBBI", op, offset(i, jt), offset(i, jf), k) for i, (op, jt, jf, k) in enumerate(code))


def profile_of(seccomp: str | None, privileged: bool) -> Profile | None:
    """The profile ``ContainerSpec.seccomp`` names; None for no filter at all."""
    if seccomp is None:
        return None if privileged else DOCKER_DEFAULT
    if seccomp in ("default", "builtin"):
        return DOCKER_DEFAULT
    if seccomp == "unconfined":
        return None
    return parse_json(seccomp)


@functools.lru_cache(maxsize=16)
def _built(seccomp: str | None, privileged: bool, caps: frozenset[str]) -> Filter | None:
    profile = profile_of(seccomp, privileged)
    return None if profile is None else build(resolve(profile, caps))


def filter_for(spec: ContainerSpec) -> Filter | None:
    """The filter of ``spec``'s container (shared by its exec'd processes and probes); None: unconfined.

    Raises RuntimeFailure (a bad profile, libseccomp missing or failing) in the caller, before it forks;
    the caller names the container. On a machine whose system calls pycompose does not know: OSError.
    """
    lx.architecture()
    try:
        return _built(spec.seccomp, spec.privileged,
                      capabilities.effective_set(spec.cap_add, spec.cap_drop, spec.privileged))
    except (OSError, ValueError) as exc:
        raise RuntimeFailure(f"seccomp profile: {_why(exc)}") from None


def filter_for_defaults(caps: frozenset[str]) -> Filter | None:
    """The filter of a container with no ``security_opt`` and ``caps`` (built once; errors are the caller's)."""
    return _built(None, False, caps)


def _why(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def install(flt: Filter | None) -> None:
    if flt is not None:
        lx.seccomp_install(flt.program, flt.flags)


# -- Docker's JSON form --------------------------------------------------------------


class ProfileError(ValueError):
    pass


def _field(obj: Mapping[str, object], key: str, kind: type, where: str) -> object:
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise ProfileError(f"{where}{key} must be a {kind.__name__}")
    return value


def _strings(obj: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = _field(obj, key, list, where) or []
    assert isinstance(value, list)
    if not all(isinstance(v, str) for v in value):
        raise ProfileError(f"{where}{key} must be a list of strings")
    return tuple(str(v) for v in value)


def _uint(obj: Mapping[str, object], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProfileError(f"{where}{key} must be a number >= 0")
    return value


def _arch(name: str) -> str:
    """SCMP_ARCH_X86_64 -> x86_64 (libseccomp's name)."""
    return name.removeprefix("SCMP_ARCH_").lower()


def _action(name: object, where: str) -> str:
    if name == "SCMP_ACT_NOTIFY":
        raise ProfileError(f"{where}action SCMP_ACT_NOTIFY needs a seccomp agent, which pycompose does not have")
    if not isinstance(name, str) or name not in _ACTIONS:
        raise ProfileError(f"{where}unknown action {name!r} (one of {', '.join(_ACTIONS)})")
    return _ACTIONS[name]


def _kernel(text: object, where: str) -> tuple[int, int] | None:
    if text is None:
        return None
    major, dot, minor = str(text).partition(".")
    if not (dot and major.isdigit() and minor.isdigit()) or (int(major), int(minor)) == (0, 0):
        raise ProfileError(f"{where}minKernel {text!r} is not a kernel version like \"5.8\"")
    return int(major), int(minor)


def _conditions(obj: object, where: str) -> tuple[frozenset[str], frozenset[str], tuple[int, int] | None]:
    """(caps without the CAP_ prefix, arches, minKernel) of an ``includes``/``excludes`` object."""
    if obj is None:
        return frozenset(), frozenset(), None
    if not isinstance(obj, dict):
        raise ProfileError(f"{where} must be an object")
    caps = frozenset(c.upper().removeprefix("CAP_") for c in _strings(obj, "caps", where + "."))
    return caps, frozenset(_strings(obj, "arches", where + ".")), _kernel(obj.get("minKernel"), where + ".")


def _args(raw: object, where: str) -> tuple[Arg, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ProfileError(f"{where}args must be a list")
    out = []
    for j, item in enumerate(raw):
        at = f"{where}args[{j}]."
        if not isinstance(item, dict):
            raise ProfileError(f"{at[:-1]} must be an object")
        index, value, two = _uint(item, "index", at), _uint(item, "value", at), _uint(item, "valueTwo", at)
        op = item.get("op")
        if index is None or index > 5:
            raise ProfileError(f"{at}index must be 0 to 5")
        if not isinstance(op, str) or op.removeprefix("SCMP_CMP_") not in _OPS:
            raise ProfileError(f"{at}op {op!r} is not one of SCMP_CMP_{', SCMP_CMP_'.join(_OPS)}")
        out.append(Arg(index, op.removeprefix("SCMP_CMP_"), value or 0, two or 0))
    return tuple(out)


def _rule(raw: object, i: int) -> Rule:
    where = f"syscalls[{i}]."
    if not isinstance(raw, dict):
        raise ProfileError(f"syscalls[{i}] must be an object")
    names = _strings(raw, "names", where)
    if raw.get("name") is not None:
        if names:
            raise ProfileError(f"{where}name and names cannot both be given")
        names = (str(raw["name"]),)
    action = _action(raw.get("action"), where)
    err = _uint(raw, "errnoRet", where)
    if err is not None and action not in ("errno", "trace"):
        raise ProfileError(f"{where}errnoRet goes only with SCMP_ACT_ERRNO or SCMP_ACT_TRACE")
    caps, arches, min_kernel = _conditions(raw.get("includes"), where + "includes")
    no_caps, no_arches, below = _conditions(raw.get("excludes"), where + "excludes")
    return Rule(names, action, err, _args(raw.get("args"), where), caps, no_caps, arches, no_arches,
                min_kernel, below)


def parse_json(text: str) -> Profile | None:
    """A profile in Docker's JSON form (``--security-opt seccomp=profile.json``); ProfileError says why not.

    None when it has neither a default action nor rules: Docker then runs unconfined.
    """
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ProfileError(f"it is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ProfileError("it must be a JSON object")
    rules = raw.get("syscalls")
    rules = [] if rules is None else rules
    if not isinstance(rules, list):
        raise ProfileError("syscalls must be a list")
    if not raw.get("defaultAction") and not rules:
        return None
    if raw.get("listenerPath"):
        raise ProfileError("listenerPath needs a seccomp agent, which pycompose does not have")
    default = _action(raw.get("defaultAction"), "defaultAction: ")
    architectures = _strings(raw, "architectures", "")
    arch_map = raw.get("archMap") or []
    if architectures and arch_map:
        raise ProfileError("use either architectures or archMap, not both")
    if not isinstance(arch_map, list) or not all(isinstance(m, dict) for m in arch_map):
        raise ProfileError("archMap must be a list of objects")
    mapped = {_arch(str(m.get("architecture", ""))): (_arch(str(m.get("architecture", ""))),
                                                       *map(_arch, _strings(m, "subArchitectures", "archMap.")))
              for m in arch_map}
    flags = _strings(raw, "flags", "")
    for flag in flags:
        if flag not in _FLAGS:
            raise ProfileError(f"flag {flag!r} is not supported (only {', '.join(_FLAGS)})")
    return Profile(default_action=default, default_errno=_uint(raw, "defaultErrnoRet", ""),
                   architectures=tuple(map(_arch, architectures)) if architectures else None,
                   arch_map=mapped, rules=tuple(_rule(r, i) for i, r in enumerate(rules)), flags=flags)


def check(text: str) -> None:
    """Raise ProfileError if the JSON profile ``text`` cannot be used here: libseccomp builds it once,
    so an unknown architecture shows now rather than when a container starts."""
    profile = parse_json(text)
    if profile is not None:
        try:
            build(resolve(profile, frozenset()))
        except OSError as exc:
            raise ProfileError(_why(exc)) from None

