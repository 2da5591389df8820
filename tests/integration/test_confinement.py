"""Confinement beside Docker's defaults, probed in real containers through the CLI as a user writes it.

Each probe's expected result is what a default Docker container gets (its
seccomp profile, device cgroup rules and descriptor hygiene), and, where the
test also runs it unconfined, what the kernel alone gives. README's table
"Confinement, beside Docker's defaults" lists the same probes.

Devices are probed on a loop device each test makes over a small file of its
own (read-only, detached afterwards): never a real disk. System calls are
made by a small static helper (``probe.c``) built here with gcc, since
busybox cannot make most of them. The helper runs only inside containers.

Needs root (CI is root). After every test nothing of ours may remain.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import pty
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import termios
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.state import Root
from tests.integration.busybox import rootfs_tar, settled_leftovers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

HERE = Path(__file__).parent
EPERM, ENOSYS = errno.EPERM, errno.ENOSYS
ANY = None  # the kernel's own answer varies by host: only seccomp's EPERM is ruled out

# probe: (Docker's default profile, seccomp=unconfined); an errno, 0 for success
SYSCALL_PROBES: dict[str, tuple[int, int | None]] = {
    "unshare-user": (EPERM, 0),
    "userns-mount": (EPERM, 0),  # a user and mount namespace, then a tmpfs in it
    "userns-cgroup-mount": (EPERM, 0),  # ... and a cgroup2 filesystem
    "clone-newuser": (EPERM, 0),
    "clone-newns": (EPERM, EPERM),  # no CAP_SYS_ADMIN: the kernel refuses too
    "unshare-mount": (EPERM, EPERM),
    "mount": (EPERM, EPERM),
    "clone": (0, 0),
    "clone3": (ENOSYS, 0),  # libc falls back to clone
    "keyctl": (EPERM, 0),
    "add_key": (EPERM, 0),
    "perf_event_open": (EPERM, ANY),  # perf_event_paranoid may refuse with EACCES
    "bpf": (EPERM, ANY),
    "userfaultfd": (EPERM, ANY),
    "io_uring_setup": (EPERM, ANY),
    "newer-call": (ENOSYS, ANY),  # file_getattr, newer than the profile: runc's stub says ENOSYS
    "personality-query": (0, 0),
    "personality-linux32": (0, 0),
    "personality-no-aslr": (EPERM, 0),
    "socket-vsock": (EPERM, ANY),
    "socket-unix": (0, 0),
    "ptrace": (0, 0),
    "chroot": (0, 0),
    "pty": (0, 0),  # /dev/ptmx and /dev/pts/N
    "dev-null": (0, 0), "dev-zero": (0, 0), "dev-full": (0, 0), "dev-random": (0, 0), "dev-urandom": (0, 0),
}


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (apt-get install gcc libc6-dev)")
    out = tmp_path_factory.mktemp("probe") / "probe"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(HERE / "probe.c")], check=True, timeout=120)
    return str(out)


@dataclass(frozen=True)
class Loop:
    path: str  # /dev/loopN, over a file of the test's own
    major: int
    minor: int
    data: bytes  # what the file holds


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Loop]:
    if shutil.which("losetup") is None:
        pytest.skip("losetup is not installed (apt-get install util-linux)")
    backing = tmp_path / "disk.img"
    data = b"pycompose-loop-probe" * 3277  # 64 KiB
    backing.write_bytes(data)
    path = subprocess.run(["losetup", "--find", "--show", "--read-only", str(backing)], capture_output=True,
                          text=True, check=True).stdout.strip()
    try:
        rdev = os.stat(path).st_rdev
        yield Loop(path, os.major(rdev), os.minor(rdev), data)
    finally:
        subprocess.run(["losetup", "-d", path], check=True)


class Project:
    """A compose project in a fresh state root, driven through the CLI."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = str(tmp_path / "root")
        self.env = {**os.environ, "PYCOMPOSE_ROOT": self.root, "PYCOMPOSE_DNS_UPSTREAMS": "none",
                    "PYCOMPOSE_NO_CACHE": "1", "PYCOMPOSE_SUPERVISOR_IDLE": "0.2", "PYCOMPOSE_NETD_IDLE": "0.2"}
        self.dir = tmp_path / "proj"
        self.dir.mkdir()
        self.fd7 = tmp_path / "fd7-target"  # the file a caller holds open on fd 7
        self.fd7.write_text("host secret\n")
        self.import_image("busybox:latest", rootfs_tar())

    def import_image(self, ref: str, tar: bytes) -> None:
        r = self("image", "import", "-", ref, input=tar, text=False)
        assert r.returncode == 0, r.stderr

    def write(self, text: str) -> None:
        (self.dir / "compose.yaml").write_text(textwrap.dedent(text))

    def argv(self, *args: str, fd7: bool = False) -> list[str]:
        cli = [sys.executable, "-m", "compose.cli.main", *args]
        # fd 7 open on a host file, inheritable, as a shell's `exec 7>>file` leaves it
        return ["bash", "-c", 'exec 7>>"$0"; exec "$@"', str(self.fd7), *cli] if fd7 else cli

    def __call__(self, *args: str, input: bytes | str | None = None, text: bool = True, check: bool = False,
                 fd7: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(self.argv(*args, fd7=fd7), cwd=self.dir, env=self.env, input=input,
                           capture_output=True, text=text, timeout=timeout)
        if check:
            assert r.returncode == 0, f"{args}: {r.stderr}"
        return r

    def run(self, service: str, *command: str) -> str:
        """``run --rm -T service command``: its output."""
        return self("run", "--rm", "-T", service, *command, check=True).stdout

    def daemons(self) -> list[int]:
        """PIDs of the supervisor and netd processes of this state root."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read().split(b"\0")
            except OSError:
                continue
            if self.root.encode() in cmd and {b"engine.runtime.supervisor", b"engine.net.netd"} & set(cmd):
                found.append(int(pid))
        return found


@pytest.fixture
def proj(tmp_path: Path) -> Iterator[Project]:
    p = Project(tmp_path)
    yield p
    p("down", "-v", "-t", "0", "--remove-orphans")
    assert settled_leftovers(p.root, Root(p.root).cgroup_name) == []


def probed(output: str) -> dict[str, int]:
    return {name: int(err) for name, err in (line.split() for line in output.splitlines() if line.strip())}


def service(name: str, probe: str, *extra: str) -> str:
    lines = [f"  {name}:", "    image: busybox:latest", f'    volumes: ["{probe}:/probe:ro"]']
    return "\n".join([*lines, *(f"    {e}" for e in extra)]) + "\n"


# -- seccomp --------------------------------------------------------------------------


def test_seccomp_default_blocks_what_dockers_blocks_and_unconfined_does_not(proj: Project, probe: str) -> None:
    proj.write("services:\n" + service("default", probe) + service("unconfined", probe,
                                                                       'security_opt: ["seccomp=unconfined"]'))
    names = list(SYSCALL_PROBES)
    default = probed(proj.run("default", "/probe", *names))
    assert default == {n: docker for n, (docker, _) in SYSCALL_PROBES.items()}
    unconfined = probed(proj.run("unconfined", "/probe", *names))
    for name, (_, kernel) in SYSCALL_PROBES.items():
        if kernel is ANY:
            assert unconfined[name] != EPERM or SYSCALL_PROBES[name][0] != EPERM, name
        else:
            assert unconfined[name] == kernel, (name, unconfined[name])
    assert proj.run("default", "grep", "^Seccomp:", "/proc/self/status").split() == ["Seccomp:", "2"]
    assert proj.run("unconfined", "grep", "^Seccomp:", "/proc/self/status").split() == ["Seccomp:", "0"]


def test_privileged_runs_unconfined_unless_a_profile_is_given(proj: Project, probe: str) -> None:
    (proj.dir / "allow-all.json").write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES}]}))
    proj.write("services:\n" + service("priv", probe, "privileged: true")
               + service("profiled", probe, "privileged: true", 'security_opt: ["seccomp=allow-all.json"]'))
    assert probed(proj.run("priv", "/probe", "unshare-mount", "keyctl", "clone-newns")) == {
        "unshare-mount": 0, "keyctl": 0, "clone-newns": 0}
    assert probed(proj.run("profiled", "/probe", "unshare-mount", "keyctl")) == {
        "unshare-mount": 0, "keyctl": errno.EACCES}


def test_a_custom_profile_refuses_with_the_errno_it_names(proj: Project) -> None:
    profiles = proj.dir / "profiles"
    profiles.mkdir()
    (profiles / "no-mkdir.json").write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS}]}))
    (profiles / "bad.json").write_text('{"defaultAction": "SCMP_ACT_NOPE"}')
    proj.write("""\
        services:
          app:
            image: busybox:latest
            security_opt: ["no-new-privileges", "seccomp=profiles/no-mkdir.json"]
        """)
    r = proj("run", "--rm", "-T", "app", "mkdir", "/tmp/x")
    assert r.returncode == 1 and "Read-only file system" in r.stdout + r.stderr
    assert proj.run("app", "sh", "-c", "touch /tmp/y && echo made") == "made\n"  # only mkdir is refused

    for opt, words in [("seccomp=profiles/bad.json", [f"seccomp profile {profiles / 'bad.json'}",
                                                      "unknown action 'SCMP_ACT_NOPE'"]),
                       ("seccomp=profiles/missing.json", [f"opening seccomp profile ({profiles / 'missing.json'})",
                                                          "No such file or directory"])]:
        proj.write(f'services:\n  app:\n    image: busybox:latest\n    security_opt: ["{opt}"]\n')
        r = proj("up", "-d")
        errors = [line for line in r.stderr.splitlines() if "security_opt" in line]
        assert r.returncode == 1 and "Traceback" not in r.stderr and len(errors) == 1, r.stderr
        assert errors[0].startswith("services.app.security_opt[0]: ") and all(w in errors[0] for w in words)


@pytest.mark.parametrize("opt,says", [
    ("apparmor=docker-default", "only apparmor=unconfined is accepted"),
    ("label=user:USER", "only label=disable is accepted"),
    ("systempaths=unconfined", "is not supported (use no-new-privileges"),
    ("seccomp", "is not supported (use no-new-privileges"),
])
def test_security_opts_that_cannot_be_honoured_are_refused(proj: Project, opt: str, says: str) -> None:
    proj.write(f'services:\n  app:\n    image: busybox:latest\n    security_opt: ["{opt}"]\n')
    r = proj("up", "-d")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    line = next(ln for ln in r.stderr.splitlines() if "security_opt" in ln)
    assert line.startswith(f'services.app.security_opt[0]: security_opt "{opt}"') and says in line
    assert proj("ps", "-a", "-q", check=True).stdout.split() == []


# -- devices --------------------------------------------------------------------------


def device_probes(loop: Loop) -> dict[str, tuple[int, int | None]]:
    """probe: (a default container, as Docker's; a privileged one, where only the driver may refuse)."""
    disk = f"{loop.major}:{loop.minor}"
    return {
        f"mknod-b:{disk}:/tmp/disk": (0, 0),  # any node may be made ...
        "open-r:/tmp/disk": (EPERM, 0),  # ... a block device not opened
        "open-w:/tmp/disk": (EPERM, ANY),  # (the loop device is read-only: the driver refuses)
        "mknod-c:7:0:/tmp/vcs": (0, 0), "open-r:/tmp/vcs": (EPERM, ANY),  # the console's memory
        "mknod-c:10:232:/tmp/kvm": (0, 0), "open-r:/tmp/kvm": (EPERM, ANY),
        "mknod-c:10:229:/tmp/fuse": (0, 0), "open-r:/tmp/fuse": (EPERM, ANY),  # fuse only with devices:
        "dev-null": (0, 0), "dev-zero": (0, 0), "dev-full": (0, 0), "dev-random": (0, 0), "dev-urandom": (0, 0),
        "pty": (0, 0),  # /dev/ptmx, then /dev/pts/N
        "open-r:/dev/tty": (errno.ENXIO, errno.ENXIO),  # allowed; no controlling terminal here
    }


def test_default_devices_are_dockers_and_privileged_opens_all(proj: Project, probe: str, loop: Loop) -> None:
    proj.write("services:\n" + service("app", probe) + service("priv", probe, "privileged: true")
               + service("tty", probe, "tty: true", 'command: ["/probe", "open-r:/dev/tty", "pty"]'))
    table = device_probes(loop)
    assert probed(proj.run("app", "/probe", *table)) == {n: default for n, (default, _) in table.items()}
    privileged = probed(proj.run("priv", "/probe", *table))
    for name, (_, expected) in table.items():
        assert privileged[name] == expected if expected is not ANY else privileged[name] != EPERM, name
    proj("up", "-d", "tty", check=True)
    proj("wait", "tty", check=True)
    assert probed(proj("logs", "--no-log-prefix", "tty", check=True).stdout) == {"open-r:/dev/tty": 0, "pty": 0}


def test_devices_and_rules_open_exactly_what_they_name(proj: Project, probe: str, loop: Loop) -> None:
    disk, other = f"{loop.major}:{loop.minor}", f"{loop.major}:{loop.minor + 1}"  # another loop device
    proj.write("services:\n" + service("dev", probe, f'devices: ["{loop.path}"]')
               + service("rule", probe, f'device_cgroup_rules: ["b {disk} r"]'))
    made = [f"mknod-b:{disk}:/tmp/disk", f"mknod-b:{other}:/tmp/other"]
    assert probed(proj.run("dev", "/probe", *made, f"open-r:{loop.path}", "open-r:/tmp/disk", "open-r:/tmp/other")) \
        == {made[0]: 0, made[1]: 0, f"open-r:{loop.path}": 0, "open-r:/tmp/disk": 0, "open-r:/tmp/other": EPERM}
    assert proj.run("dev", "head", "-c", "20", loop.path).strip() == loop.data[:20].decode()
    assert probed(proj.run("rule", "/probe", *made, "open-r:/tmp/disk", "open-w:/tmp/disk", "open-r:/tmp/other")) \
        == {made[0]: 0, made[1]: 0, "open-r:/tmp/disk": 0, "open-w:/tmp/disk": EPERM,  # the rule says r only
            "open-r:/tmp/other": EPERM}


@pytest.mark.parametrize("key,value,says", [
    ("device_cgroup_rules", '["c 1:3"]', "invalid device cgroup rule format: 'c 1:3'"),
    ("device_cgroup_rules", '["x 1:3 rwm"]', "invalid device cgroup rule format: 'x 1:3 rwm'"),
    ("device_cgroup_rules", '["a 1:3 r"]', "type a (all devices) goes only with *:* rwm"),
    ("devices", '["/dev/null:/dev/n:rwx"]', 'invalid device permissions "rwx"'),
])
def test_bad_device_settings_are_one_line(proj: Project, key: str, value: str, says: str) -> None:
    proj.write(f"services:\n  app:\n    image: busybox:latest\n    {key}: {value}\n")
    r = proj("up", "-d")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    line = next(ln for ln in r.stderr.splitlines() if key in ln)
    assert line.startswith(f"services.app.{key}[0]: ") and says in line


def busybox_with(*extra: tarfile.TarInfo) -> bytes:
    """The busybox root plus ``extra`` entries (no contents: folders, nodes, links)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(rootfs_tar())) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        for info in extra:
            dst.addfile(info)
    return out.getvalue()


def entry(name: str, kind: bytes, **attrs: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def device_image(loop: Loop) -> bytes:
    """busybox plus /srv/disk: a block device node of mode 0666 for the test's loop device."""
    return busybox_with(entry("srv", tarfile.DIRTYPE, mode=0o755),
                        entry("srv/disk", tarfile.BLKTYPE, mode=0o666, devmajor=loop.major, devminor=loop.minor))


def test_a_device_node_shipped_in_an_image_cannot_be_opened(proj: Project, loop: Loop) -> None:
    proj.import_image("disky:1", device_image(loop))
    proj.write("""\
        services:
          app:
            image: disky:1
            user: "65534:65534"
            cap_drop: [ALL]
        """)
    r = proj("run", "--rm", "-T", "app", "sh", "-c", "ls -l /srv/disk; head -c 20 /srv/disk")
    assert r.stdout.startswith("brw-rw-rw-") and "/srv/disk: Operation not permitted" in r.stdout + r.stderr, r


def test_a_build_step_is_confined_too(proj: Project, loop: Loop) -> None:
    ctx = proj.dir / "ctx"
    ctx.mkdir()
    proj.write("services:\n  app:\n    build: ./ctx\n    image: built:1\n")
    (ctx / "Dockerfile").write_text("FROM busybox:latest\nRUN ls /proc/self/fd && grep ^Seccomp: /proc/self/status\n")
    r = proj("--progress", "plain", "build", fd7=True)
    assert r.returncode == 0, r.stderr
    # BuildKit's plain lines: "#2 0.153 3" is step 2's output "3", 0.153 s into the step
    fds = [line.split()[2] for line in r.stderr.splitlines() if re.fullmatch(r"#\d+ \d+\.\d{3} \d+", line)]
    assert fds == ["0", "1", "2", "3"] and "Seccomp:\t2" in r.stderr, r.stderr  # 3: ls's own listing
    (ctx / "Dockerfile").write_text(f"FROM busybox:latest\nRUN mknod /tmp/disk b {loop.major} {loop.minor} && "
                                    "head -c 20 /tmp/disk\n")
    r = proj("--progress", "plain", "build")
    assert r.returncode == 1 and "/tmp/disk: Operation not permitted" in r.stderr, r.stderr


# -- descriptors ----------------------------------------------------------------------


def fd_numbers(listing: str) -> list[str]:
    return sorted(listing.split(), key=int)


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()  # state ppid pgrp session tty_nr ...


def test_only_0_1_2_reach_container_processes(proj: Project) -> None:
    """The caller holds fd 7 on a host file (and a terminal): no container process, probe or daemon gets it."""
    proj.write("""\
        services:
          app:
            image: busybox:latest
            command: ["sh", "-c", "ls /proc/self/fd > /tmp/pid1-fds; exec sleep 600"]
            healthcheck: {test: ["CMD-SHELL", "ls /proc/self/fd > /tmp/probe-fds"], interval: 0.2s}
        """)
    master, slave = pty.openpty()  # `up` runs on a terminal of its own, as from an interactive shell
    try:
        up = subprocess.run(proj.argv("up", "-d", fd7=True), cwd=proj.dir, env=proj.env, stdin=slave, stdout=slave,
                            stderr=slave, start_new_session=True, timeout=120,
                            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    finally:
        os.close(slave)
    os.close(master)
    assert up.returncode == 0
    deadline = time.monotonic() + 10
    while proj("exec", "-T", "app", "test", "-s", "/tmp/probe-fds").returncode and time.monotonic() < deadline:
        time.sleep(0.1)
    for what in ("/tmp/pid1-fds", "/tmp/probe-fds"):  # ls's own listing of /proc/self/fd is 3
        assert fd_numbers(proj("exec", "-T", "app", "cat", what, check=True).stdout) == ["0", "1", "2", "3"], what
    assert fd_numbers(proj("exec", "-T", "app", "ls", "/proc/self/fd", fd7=True, check=True).stdout) == [
        "0", "1", "2", "3"]
    assert fd_numbers(proj("run", "--rm", "-T", "app", "ls", "/proc/self/fd", fd7=True, check=True).stdout) == [
        "0", "1", "2", "3"]
    daemons = proj.daemons()
    assert daemons, "no supervisor found"
    for pid in daemons:
        targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        fields = _stat_fields(pid)
        assert str(proj.fd7) not in targets, targets
        assert int(fields[3]) != os.getsid(0) and int(fields[4]) == 0, fields  # own session, no terminal


# -- mount targets --------------------------------------------------------------------


@pytest.mark.parametrize("volume,says", [
    ("./data:/proc/sys", '"/proc/sys" cannot be mounted because it is inside /proc'),
    ("./data:/proc/sys/net/ipv4", '"/proc/sys/net/ipv4" cannot be mounted because it is inside /proc'),
    ("./data:/proc/../proc/sysrq-trigger", "cannot be mounted because it is inside /proc"),
    ("./data:/proc", "cannot be mounted because it is the container's procfs"),
    ("./data:/", "the destination cannot be '/'"),
])
def test_kernel_paths_are_refused_as_mount_targets(proj: Project, volume: str, says: str) -> None:
    (proj.dir / "data").mkdir()
    proj.write(f'services:\n  app:\n    image: busybox:latest\n    volumes: ["{volume}"]\n')
    r = proj("up", "-d")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    line = next(ln for ln in r.stderr.splitlines() if "services.app.volumes[0]" in ln)
    assert line.startswith('services.app.volumes[0]: the volume "') and "of service app" in line and says in line


def test_lxcfs_paths_stay_mountable_and_symlinks_into_proc_are_refused(proj: Project) -> None:
    (proj.dir / "cpuinfo").write_text("processor : lxcfs-like\n")
    (proj.dir / "data").mkdir()
    proj.import_image("linky:1", busybox_with(entry("sysctl", tarfile.SYMTYPE, linkname="/proc/sys")))
    proj.write("""\
        services:
          fine:
            image: busybox:latest
            volumes: ["./cpuinfo:/proc/cpuinfo:ro"]
          linky:
            image: linky:1
            volumes: ["./data:/sysctl"]
        """)
    assert proj.run("fine", "cat", "/proc/cpuinfo") == "processor : lxcfs-like\n"
    r = proj("up", "-d", "linky")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "mount /sysctl: \"/proc/sys\" cannot be mounted because it is inside /proc" in r.stderr, r.stderr


def test_the_device_nodes_made_by_default_are_character_devices() -> None:
    """The rootfs makes null, zero, full, random, urandom and tty: each one Docker's rules allow."""
    from engine.runtime import devices, rootfs

    allowed = {(r.major, r.minor) for r in devices.DEFAULT.exceptions if r.type == "c" and r.access == "rwm"}
    assert set(rootfs._DEVICES.values()) <= allowed
    assert all(stat.S_ISCHR(os.stat(f"/dev/{n}").st_mode) for n in rootfs._DEVICES)
