"""Each layer of device confinement on its own, against the kernel: the v1 devices hierarchy, and a cgroup2
BPF program (on a cgroup2 filesystem the test mounts in a private mount namespace, so it works on hybrid,
v1-only and v2 hosts alike). A process in the cgroup opens device nodes; what the policy does not allow
is EPERM. Every cgroup made is removed, and the mount goes with its namespace.

Needs root (CI is root).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from engine import sys as lx
from engine.runtime import devices
from engine.runtime.cgroups import MOUNTINFO, Cgroups, Limits, parse_mountinfo
from engine.runtime.devices import Policy, Rule

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")

# null and zero fully, full read-only: /dev/full writes and /dev/random are refused
POLICY = Policy(False, (Rule(True, "c", 1, 3), Rule(True, "c", 1, 5), Rule(True, "c", 1, 7, "r")))
OPENS = [("/dev/null", "w"), ("/dev/zero", "r"), ("/dev/full", "r"), ("/dev/full", "w"), ("/dev/random", "r")]
EXPECTED = {"/dev/null w": 0, "/dev/zero r": 0, "/dev/full r": 0, "/dev/full w": 1, "/dev/random r": 1}

# run in a child placed in the cgroup: the errno of opening each node (0 when it opened)
OPEN_ALL = textwrap.dedent(f"""\
    import json, os
    out = {{}}
    for path, mode in {OPENS!r}:
        try:
            os.close(os.open(path, os.O_RDONLY if mode == "r" else os.O_WRONLY))
            out[path + " " + mode] = 0
        except OSError as e:
            out[path + " " + mode] = e.errno
    print(json.dumps(out))
    """)


@pytest.mark.parametrize("policy", [devices.DEFAULT, POLICY, devices.policy(False, [devices.parse("b 7:* r")]),
                                    Policy(True, (Rule(False, "c", 1, 3),))])
def test_the_kernel_verifier_accepts_the_programs(policy: Policy) -> None:
    os.close(lx.bpf_load_device_program(devices.program(policy)))


def test_v1_devices_alone() -> None:
    with open(MOUNTINFO, encoding="utf-8") as fh:
        v1, _ = parse_mountinfo(fh.read())
    if "devices" not in v1:
        pytest.skip("this cgroup setup has no v1 devices controller")
    groups = Cgroups(f"pycompose-test-{uuid.uuid4().hex[:8]}", 1, {"devices": v1["devices"]})
    cg = groups.container("c")
    cg.create(Limits(), POLICY)
    try:
        with open(os.path.join(cg.paths[0], "devices.list")) as fh:
            assert fh.read().split("\n")[:-1] == ["c 1:3 rwm", "c 1:5 rwm", "c 1:7 r"]
        out = subprocess.run([sys.executable, "-c", OPEN_ALL], preexec_fn=lambda: cg.add(os.getpid()),
                             capture_output=True, text=True, check=True).stdout
        assert json.loads(out) == EXPECTED
    finally:
        cg.remove()
        groups.prune()
    assert not os.path.exists(groups.parent_dirs[0])


# In a private mount namespace: mount cgroup2, make a cgroup with POLICY's program, run OPEN_ALL in it,
# then remove the cgroup. Prints OPEN_ALL's result and the program ids attached.
IN_PRIVATE_NAMESPACE = textwrap.dedent("""\
    import json, os, subprocess, sys, tempfile
    from engine import sys as lx
    from engine.runtime.cgroups import Cgroups, Limits
    from engine.runtime.devices import Policy, Rule
    lx.unshare(lx.CLONE_NEWNS)
    lx.mount(None, "/", None, lx.MS_REC | lx.MS_PRIVATE)
    mount = tempfile.mkdtemp()
    lx.mount("cgroup2", mount, "cgroup2")
    groups = Cgroups.v2(sys.argv[1], mount)
    cg = groups.container("c")
    cg.create(Limits(), eval(sys.argv[2]))
    try:
        fd = os.open(cg.paths[0], os.O_RDONLY | os.O_DIRECTORY)
        attached = lx.bpf_attached(fd, lx.BPF_CGROUP_DEVICE)
        os.close(fd)
        out = subprocess.run([sys.executable, "-c", sys.argv[3]], preexec_fn=lambda: cg.add(os.getpid()),
                             capture_output=True, text=True, check=True).stdout
    finally:
        cg.remove()
        groups.prune()
        left = os.path.exists(os.path.join(mount, sys.argv[1]))
        lx.umount(mount)
        os.rmdir(mount)
    print(json.dumps({"opened": json.loads(out), "attached": len(attached), "left": left}))
    """)


def test_cgroup2_program_alone() -> None:
    with open("/proc/filesystems") as fh:
        if "cgroup2" not in fh.read():
            pytest.skip("this cgroup setup has no cgroup2 in this kernel")
    parent = f"pycompose-test-{uuid.uuid4().hex[:8]}"
    r = subprocess.run([sys.executable, "-c", IN_PRIVATE_NAMESPACE, parent, repr(POLICY), OPEN_ALL],
                       capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                           os.path.abspath(__file__)))))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"opened": EXPECTED, "attached": 1, "left": False}
