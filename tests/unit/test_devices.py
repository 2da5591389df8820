"""engine.runtime.devices without a kernel: rules as Docker writes them, the policy they reduce to, the v1
lines and the v2 BPF program's instructions, byte for byte."""

from __future__ import annotations

import re

import pytest

from engine.runtime import devices
from engine.runtime.devices import Policy, Rule, parse

DOCKER_EFFECTIVE = ["b *:* m", "c *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 10:200 rwm", "c 136:* rwm"]


@pytest.mark.parametrize("text,rule", [
    ("c 1:3 rwm", Rule(True, "c", 1, 3, "rwm")),
    ("b 7:* r", Rule(True, "b", 7, None, "r")),
    ("c *:* m", Rule(True, "c", None, None, "m")),
    ("c 10:200 wr", Rule(True, "c", 10, 200, "rw")),  # access in the kernel's order
    ("a *:* rwm", Rule(True, "a", None, None, "rwm")),
])
def test_parse(text: str, rule: Rule) -> None:
    assert parse(text) == rule


@pytest.mark.parametrize("text,says", [
    ("c 1:3", "invalid device cgroup rule format: 'c 1:3'"),
    ("c 1:3 rwmx", "invalid device cgroup rule format"),
    ("d 1:3 r", "invalid device cgroup rule format"),
    ("c 1 r", "invalid device cgroup rule format"),
    (" c 1:3 r", "invalid device cgroup rule format"),
    ("c 4096:0 r", "a major number is at most 4095"),
    ("c 1:1048576 r", "a minor at most 1048575"),
    ("a 1:3 r", "type a (all devices) goes only with *:* rwm"),
])
def test_parse_refuses_what_docker_refuses(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        parse(text)


@pytest.mark.parametrize("perms", ["", "x", "rwx", "rr", "rwmr"])
def test_device_permissions(perms: str) -> None:
    with pytest.raises(ValueError, match="invalid device permissions"):
        devices.check_permissions(perms)


def test_docker_default_reduces_to_runcs_effective_list() -> None:
    """Docker's deny-all, allows and fuse deny, then runc's additions: the 12 exceptions of an allow-list."""
    assert not devices.DEFAULT.allow_all
    assert [str(r) for r in devices.DEFAULT.exceptions] == DOCKER_EFFECTIVE
    assert all(r.allow for r in devices.DEFAULT.exceptions)
    assert "c 10:229 rwm" not in [str(r) for r in devices.DEFAULT.exceptions]  # fuse: mknod (c *:* m) only


def test_extra_rules_add_exceptions_and_merge_access() -> None:
    p = devices.policy(False, [parse("b 7:0 r"), parse("b 7:0 w"), parse("c 10:229 rwm")])
    listed = [str(r) for r in p.exceptions]
    assert "b 7:0 rw" in listed and "c 10:229 rwm" in listed
    assert listed.index("c 1:3 rwm") < listed.index("b 7:0 rw") < listed.index("c 10:200 rwm")  # runc's order


def test_privileged_and_allow_all_rules() -> None:
    assert devices.policy(True) == Policy(True) and Policy(True).unrestricted
    assert devices.policy(False, [parse("a *:* rwm")]) == Policy(True)  # runc's later allows add nothing


def test_deny_rules_remove_access_and_cannot_punch_holes() -> None:
    deny = Rule(False, "c", 1, 3, "w")
    assert devices.reduce([Rule(False, "a", None, None), Rule(True, "c", 1, 3), deny]).exceptions == (
        Rule(True, "c", 1, 3, "rm"),)
    assert devices.reduce([Rule(True, "a", None, None), Rule(False, "b", 8, None, "rw")]) == Policy(
        True, (Rule(False, "b", 8, None, "rw"),))
    with pytest.raises(ValueError, match="cannot punch a hole"):
        devices.reduce([Rule(False, "a", None, None), Rule(True, "c", None, None, "rw"), Rule(False, "c", 1, 3, "r")])


def test_v1_writes() -> None:
    assert devices.v1_writes(devices.DEFAULT) == [("devices.deny", "a *:* rwm")] + [
        ("devices.allow", line) for line in DOCKER_EFFECTIVE]
    assert devices.v1_writes(Policy(True)) == [("devices.allow", "a *:* rwm")]
    assert devices.v1_listing(Policy(True)) == ["a *:* rwm"]


def test_host_device(tmp_path) -> None:
    rule = devices.host_device("/dev/null", "rw")
    assert rule == Rule(True, "c", 1, 3, "rw")
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match="is not a device node"):
        devices.host_device(str(tmp_path / "f"))
    with pytest.raises(FileNotFoundError):
        devices.host_device(str(tmp_path / "missing"))


PROLOGUE = ["61120000 00000000", "5402 0000 ffff0000", "6113 0000 00000000", "7403 0000 10000000",
            "6114 0400 00000000", "6115 0800 00000000"]


def _hex(program: bytes) -> list[str]:
    return [program[i:i + 8].hex() for i in range(0, len(program), 8)]


@pytest.mark.parametrize("policy,blocks", [
    # allow c 1:3 rwm, deny the rest: type, major, minor checks jump to the next block (the epilogue)
    (Policy(False, (Rule(True, "c", 1, 3),)),
     ["5502 0400 02000000", "5504 0300 01000000", "5505 0200 03000000", "b400 0000 01000000", "9500 0000 00000000",
      "b400 0000 00000000", "9500 0000 00000000"]),
    # c *:* m: the access asked for (r3) must lie within m: r1 = r3 & 1, r1 != r3 -> next
    (Policy(False, (Rule(True, "c", None, None, "m"),)),
     ["5502 0500 02000000", "bc31 0000 00000000", "5401 0000 01000000", "5d31 0200 00000000", "b400 0000 01000000",
      "9500 0000 00000000", "b400 0000 00000000", "9500 0000 00000000"]),
    # an allow-all with one deny exception (b 8:* rw): that block returns 0, the default 1
    (Policy(True, (Rule(False, "b", 8, None, "rw"),)),
     ["5502 0600 01000000", "bc31 0000 00000000", "5401 0000 06000000", "5d31 0300 00000000", "5504 0200 08000000",
      "b400 0000 00000000", "9500 0000 00000000", "b400 0000 01000000", "9500 0000 00000000"]),
    # type a: no type check
    (Policy(True, (Rule(False, "a", 5, 1, "rwm"),)),
     ["5504 0300 05000000", "5505 0200 01000000", "b400 0000 00000000", "9500 0000 00000000",
      "b400 0000 01000000", "9500 0000 00000000"]),
])
def test_program_bytes(policy: Policy, blocks: list[str]) -> None:
    expected = [h.replace(" ", "") for h in PROLOGUE + blocks]
    assert _hex(devices.program(policy)) == expected


def test_dockers_default_program_has_69_instructions() -> None:
    insns = devices.instructions(devices.DEFAULT)
    assert len(insns) == 69 and len(devices.program(devices.DEFAULT)) == 69 * 8
    assert insns[-2:] == [(devices.MOV32_K, 0, 0, 0, 0), (devices.EXIT, 0, 0, 0, 0)]  # default: deny
    for i, (op, _, _, off, _) in enumerate(insns):  # every jump lands inside the program
        if op in (devices.JNE_K, devices.JNE_X):
            assert 0 < i + 1 + off < len(insns)


def test_policy_for_names_the_device(tmp_path) -> None:
    from engine.errors import RuntimeFailure
    from engine.runtime.spec import ContainerSpec, Device

    spec = ContainerSpec(id="x" * 64, name="web-1", image_id="i", layers=(), argv=("sh",),
                         devices=(Device(str(tmp_path / "nope"), "/dev/nope"),))
    with pytest.raises(RuntimeFailure, match=f"^device {tmp_path}/nope: No such file"):
        devices.policy_for(spec)
    ok = ContainerSpec(id="x" * 64, name="web-1", image_id="i", layers=(), argv=("sh",),
                       devices=(Device("/dev/null", "/dev/n", "r"),), device_rules=("b 7:0 r",))
    listed = [str(r) for r in devices.policy_for(ok).exceptions]
    assert "b 7:0 r" in listed and "c 1:3 rwm" in listed  # /dev/null: r merged into the default rwm
