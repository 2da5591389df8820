"""The runtime, with real containers: each behaviour checked from inside the container.

Needs root (CI is root). After every test nothing of ours may remain: no
mounts, cgroups or supervisor processes of the test's state root.
"""

from __future__ import annotations

import io
import os
import signal
import time

import pytest

from engine.errors import Conflict, RuntimeFailure
from engine.runtime.cgroups import Limits
from engine.runtime.containers import Runtime, new_id
from engine.runtime.exec import ExecOptions, exec_container
from engine.runtime.spec import ContainerSpec, MountSpec
from engine.state import Root
from tests.integration.busybox import rootfs_tar, settled_leftovers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("PYCOMPOSE_SUPERVISOR_IDLE", "0.2")
    r = Root(str(tmp_path / "root"))
    r.ensure()
    yield r
    rt = Runtime(r)
    for c in rt.list():
        rt.remove(c.id, force=True)
    assert settled_leftovers(r.path, r.cgroup_name) == []


@pytest.fixture
def image(root):
    from engine.images.store import ImageStore

    return ImageStore(root).import_tarball(io.BytesIO(rootfs_tar()), "busybox:test", ["CMD [\"sh\"]"])


@pytest.fixture
def rt(root):
    return Runtime(root)


def make(rt, image, argv, **kw):
    from engine.images.store import ImageStore

    cid = new_id()
    kw.setdefault("env", ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",))
    spec = ContainerSpec(id=cid, name=kw.pop("name", f"t-{cid[:8]}"), image_id=image.id,
                         layers=tuple(ImageStore(rt.root).layer_dirs(image)), argv=tuple(argv),
                         group="test", **kw)
    rt.create(spec)
    return cid


def run(rt, image, script, **kw):
    """Run a shell script in a new container; (exit code, stdout, stderr)."""
    cid = make(rt, image, ["sh", "-c", script], **kw)
    rt.start(cid)
    code = rt.wait(cid, timeout=60)
    out = "".join(e.text for e in rt.logs(cid) if e.stream == "stdout")
    err = "".join(e.text for e in rt.logs(cid) if e.stream == "stderr")
    return code, out, err


def status_field(text, name):
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith(name + ":"))


# -- namespaces and identity ------------------------------------------------------------

def test_own_pid_namespace_hostname_and_exit_code(rt, image):
    code, out, _ = run(rt, image, "echo pids:$(ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '); hostname; "
                                  "cat /proc/sys/kernel/domainname; exit 7", hostname="web", domainname="example.org")
    assert code == 7
    pids = out.splitlines()[0].split(":")[1].split()
    assert pids[0] == "1" and len(pids) <= 6 and max(map(int, pids)) < 20  # the pipeline only
    assert out.splitlines()[1:] == ["web", "example.org"]


@pytest.mark.parametrize("kw,cap_eff", [
    ({}, "00000000a80425fb"),
    ({"cap_drop": ("ALL",)}, "0000000000000000"),
    ({"cap_add": ("NET_ADMIN",), "cap_drop": ("MKNOD",)}, "00000000a00435fb"),
])
def test_capabilities(rt, image, kw, cap_eff):
    code, out, _ = run(rt, image, "cat /proc/1/status", **kw)
    assert code == 0
    assert status_field(out, "CapEff") == cap_eff
    assert status_field(out, "CapBnd") == cap_eff


def test_privileged_gets_every_capability_the_host_allows(rt, image):
    _, out, _ = run(rt, image, "cat /proc/1/status", privileged=True)
    with open("/proc/self/status") as fh:
        assert status_field(out, "CapEff") == status_field(fh.read(), "CapBnd")


def test_non_root_user_has_no_effective_caps_and_its_groups(rt, image):
    _, out, _ = run(rt, image, "id; echo $HOME; grep CapEff /proc/self/status", user="app", group_add=("daemon",))
    lines = out.splitlines()
    assert lines[0].startswith("uid=1000(app) gid=1000(app) groups=")
    assert set(lines[0].split("groups=")[1].split(",")) == {"1(daemon)", "50(staff)", "1000(app)"}
    assert lines[1] == "/home/app"
    assert lines[2].split()[1] == "0000000000000000"


@pytest.mark.parametrize("user,expected", [("1000:50", "uid=1000(app) gid=50(staff)"),
                                           ("daemon", "uid=1(daemon) gid=1(daemon)"),
                                           ("4242", "uid=4242 gid=4242")])
def test_user_forms(rt, image, user, expected):
    _, out, _ = run(rt, image, "id", user=user)
    assert out.startswith(expected)


def test_unknown_user_fails_clearly(rt, image):
    cid = make(rt, image, ["true"], user="ghost")
    with pytest.raises(RuntimeFailure, match="unable to find user ghost"):
        rt.start(cid)
    assert rt.get(cid).status == "exited"


def test_env_working_dir_created_and_defaults(rt, image):
    _, out, _ = run(rt, image, "pwd; echo $FOO; echo $HOSTNAME; echo $HOME; echo $PATH",
                    env=("FOO=bar baz", "HOSTNAME=h1", "PATH=/bin:/usr/bin"), working_dir="/srv/app/data",
                    hostname="h1")
    assert out.splitlines() == ["/srv/app/data", "bar baz", "h1", "/root", "/bin:/usr/bin"]


def test_command_not_found_is_reported_with_exit_127(rt, image):
    cid = make(rt, image, ["no-such-command"])
    with pytest.raises(RuntimeFailure, match='exec: "no-such-command": executable file not found in \\$PATH'):
        rt.start(cid)
    assert (rt.get(cid).status, rt.get(cid).exit_code) == ("exited", 127)


# -- filesystem ---------------------------------------------------------------------------

DOCKER_MASKED = (  # moby's oci.DefaultLinuxSpec MaskedPaths
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
)


def test_masked_and_read_only_paths(rt, image):
    files = [p for p in DOCKER_MASKED if os.path.isfile(p)]
    dirs = [p for p in DOCKER_MASKED if os.path.isdir(p) and os.listdir(p)]
    assert files and dirs, "the host should have some of the paths Docker masks"
    script = ("".join(f"echo {p}=$(cat {p} | wc -c); " for p in files)
              + "".join(f"echo {p}=$(ls {p} | wc -l); " for p in dirs)
              + "echo 1 > /proc/sys/kernel/domainname && echo wrote-sysctl; "
              "echo x > /proc/sysrq-trigger && echo wrote-sysrq; touch /sys/x && echo wrote-sys; echo done")
    _, out, _ = run(rt, image, script)
    lines = out.splitlines()
    assert lines[-1] == "done" and not any(line.startswith("wrote") for line in lines)
    assert {line.split("=")[0]: line.split("=")[1] for line in lines[:-1]} == {p: "0" for p in files + dirs}


def test_read_only_root_with_writable_tmpfs(rt, image):
    script = "touch /blocked && echo wrote-root; touch /scratch/ok && echo tmpfs-ok; grep ' /scratch ' /proc/mounts"
    _, out, _ = run(rt, image, script, read_only=True,
                    mounts=(MountSpec(type="tmpfs", target="/scratch", tmpfs_size=1 << 20),))
    lines = out.splitlines()
    assert lines[0] == "tmpfs-ok" and "size=1024k" in lines[1]


def test_dev_shm_proc_and_devices(rt, image):
    _, out, _ = run(rt, image, "ls /dev | tr '\\n' ' '; echo; grep -E ' /dev/shm | /dev/pts | /dev/mqueue ' /proc/mounts",
                    shm_size=8 << 20)
    devs = out.splitlines()[0].split()
    for name in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx", "fd"):
        assert name in devs
    assert "size=8192k" in out


def test_bind_mounts_rw_ro_and_writes_stay_in_the_container(rt, image, tmp_path):
    from engine.images.store import ImageStore

    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "f").write_text("read me")
    script = ("echo hi > /data/out; cat /config/f; echo; echo x > /config/g && echo wrote-ro; "
              "echo layer > /etc/new; cat /etc/new")
    cid = make(rt, image, ["sh", "-c", script], mounts=(
        MountSpec(type="bind", source=str(rw), target="/data"),
        MountSpec(type="bind", source=str(ro), target="/config", read_only=True)))
    rt.start(cid)
    assert rt.wait(cid, timeout=60) == 0
    out = "".join(e.text for e in rt.logs(cid) if e.stream == "stdout")
    err = "".join(e.text for e in rt.logs(cid) if e.stream == "stderr")
    assert (rw / "out").read_text() == "hi\n"
    assert out.splitlines() == ["read me", "layer"]
    assert err == "sh: can't create /config/g: Read-only file system\n"
    assert not (ro / "g").exists()
    # the write to the image's /etc landed in the container's own layer, not in the image nor on the host
    with open(os.path.join(rt.records.dir(cid), "upper", "etc", "new")) as fh:
        assert fh.read() == "layer\n"
    assert [d for d in ImageStore(rt.root).layer_dirs(image) if os.path.exists(os.path.join(d, "etc", "new"))] == []
    assert not os.path.exists("/etc/new")


def test_image_symlinks_cannot_redirect_a_mount_onto_the_host(rt, root, tmp_path):
    import tarfile

    from engine.images.store import ImageStore

    buf = io.BytesIO(rootfs_tar())
    with tarfile.open(fileobj=buf, mode="a") as tar:
        for name, target in (("evil", "/etc"), ("evil2", "../../../../../etc")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    evil = ImageStore(root).import_tarball(io.BytesIO(buf.getvalue()), "evil:test")
    src = tmp_path / "vol"
    src.mkdir()
    (src / "marker").write_text("inside\n")
    name = f"pycompose-test-{os.getpid()}"
    code, out, _ = run(rt, evil, f"cat /etc/{name}/marker /etc/{name}2/marker", mounts=(
        MountSpec(type="bind", source=str(src), target=f"/evil/{name}"),
        MountSpec(type="bind", source=str(src), target=f"/evil2/{name}2")))
    assert out.split() == ["inside", "inside"]  # the mounts landed in the container's /etc
    assert not os.path.exists(f"/etc/{name}") and not os.path.exists(f"/etc/{name}2")


def test_hosts_hostname_resolv_conf_provided(rt, image):
    _, out, _ = run(rt, image, "cat /etc/hostname /etc/hosts /etc/resolv.conf", hostname="box",
                    hosts=(("db.local", "10.9.9.9"),), dns=("10.0.0.53",), dns_search=("corp",))
    assert "box" in out and "10.9.9.9\tdb.local" in out and "nameserver 10.0.0.53" in out and "search corp" in out


# -- limits --------------------------------------------------------------------------------

def test_memory_limit_kills_with_137_and_records_oom(rt, image):
    cid = make(rt, image, ["sh", "-c", "x=a; while true; do x=$x$x; done"], limits=Limits(memory=32 << 20))
    rt.start(cid)
    assert rt.wait(cid, timeout=60) == 137
    assert rt.get(cid).oom_killed


def test_oom_killed_is_of_the_last_run_only(rt, image, tmp_path):
    """The cgroup's OOM count covers every run of the container: a later clean exit is not oom_killed."""
    flag = tmp_path / "flag"
    flag.mkdir()
    cid = make(rt, image, ["sh", "-c", "[ -e /flag/once ] && exit 0; touch /flag/once; x=a; while true; do x=$x$x; done"],
               limits=Limits(memory=32 << 20), mounts=(MountSpec(type="bind", source=str(flag), target="/flag"),))
    rt.start(cid)
    assert rt.wait(cid, timeout=60) == 137 and rt.get(cid).oom_killed
    rt.start(cid)
    assert rt.wait(cid, timeout=60) == 0
    assert not rt.get(cid).oom_killed


def test_pids_limit_stops_a_fork_bomb(rt, image):
    cid = make(rt, image, ["sh", "-c", "i=0; while [ $i -lt 50 ]; do sleep 30 & i=$((i+1)); done; sleep 30"],
               limits=Limits(pids=10))
    rt.start(cid)
    deadline = time.monotonic() + 10
    while "can't fork" not in "".join(e.text for e in rt.logs(cid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "can't fork" in "".join(e.text for e in rt.logs(cid))
    assert rt.cgroups.container(cid).stats().pids_current <= 10
    rt.stop(cid, timeout=0)


def test_ulimits_and_sysctls_and_oom_score(rt, image):
    _, out, _ = run(rt, image, "ulimit -n; cat /proc/sys/net/core/somaxconn; cat /proc/self/oom_score_adj",
                    ulimits={"nofile": (1024, 2048)}, sysctls={"net.core.somaxconn": "1234"},
                    oom_score_adj=500)
    assert out.split() == ["1024", "1234", "500"]


def test_cgroup_limits_applied(rt, image):
    cid = make(rt, image, ["sleep", "30"], limits=Limits(memory=64 << 20, cpus=0.5, pids=50, cpu_shares=512))
    rt.start(cid)
    stats = rt.cgroups.container(cid).stats()
    assert stats.memory_limit == 64 << 20 and stats.pids_limit == 50
    rt.stop(cid, timeout=0)


# -- supervision -----------------------------------------------------------------------------

def test_logs_keep_streams_order_and_timestamps(rt, image):
    import re

    # Two pipes are read as they fill: lines written 0.2 s apart are logged in the order written.
    cid = make(rt, image, ["sh", "-c", "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three"])
    rt.start(cid)
    rt.wait(cid)
    entries = list(rt.logs(cid))
    assert [(e.stream, e.text) for e in entries] == [("stdout", "one\n"), ("stderr", "two\n"), ("stdout", "three\n")]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", e.time) for e in entries)
    assert [e.time for e in entries] == sorted(e.time for e in entries)


def test_stop_does_not_wait_for_a_signal_pid1_cannot_get(rt, image):
    cid = make(rt, image, ["sleep", "300"])
    rt.start(cid)
    t = time.monotonic()
    c = rt.stop(cid, timeout=30)
    assert time.monotonic() - t < 2
    assert (c.status, c.exit_code) == ("exited", 137)


def test_stop_signal_handled_exits_cleanly(rt, image):
    cid = make(rt, image, ["sh", "-c", "trap 'echo got-term; exit 0' TERM; while true; do sleep 0.1; done"])
    rt.start(cid)
    time.sleep(0.3)
    c = rt.stop(cid, timeout=10)
    assert c.exit_code == 0
    assert "got-term\n" in [e.text for e in rt.logs(cid)]


def test_stop_grace_period_then_kill(rt, image):
    cid = make(rt, image, ["sh", "-c", "trap 'echo ignoring' TERM; while true; do sleep 0.1; done"])
    rt.start(cid)
    time.sleep(0.3)
    t = time.monotonic()
    c = rt.stop(cid, timeout=1)
    elapsed = time.monotonic() - t
    assert 0.9 < elapsed < 5 and c.exit_code == 137


def test_custom_stop_signal(rt, image):
    cid = make(rt, image, ["sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done"], stop_signal="SIGUSR1")
    rt.start(cid)
    time.sleep(0.3)
    assert rt.stop(cid).exit_code == 42


@pytest.mark.parametrize("init,pid1,zombies", [
    (True, "/sbin/docker-init -- sh -c (sleep 0.1 &) ; sleep 300 ", "0"),  # tini reaps the orphan
    (False, "sleep 300 ", "1"),  # without it, PID 1 (sh exec'd sleep) leaves the orphan a zombie
])
def test_init_reaps_zombies_and_forwards_signals(rt, image, capfd, init, pid1, zombies):
    cid = make(rt, image, ["sh", "-c", "(sleep 0.1 &) ; sleep 300"], init=init)
    rt.start(cid)
    time.sleep(0.5)
    capfd.readouterr()
    code = exec_container(rt, cid, ExecOptions(argv=["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; "
                                                            "grep -l zombie /proc/*/status 2>/dev/null | wc -l"]))
    assert code == 0
    assert capfd.readouterr().out.splitlines() == [pid1, zombies]
    if not init:
        rt.stop(cid, timeout=0)
        return
    t = time.monotonic()
    c = rt.stop(cid, timeout=10)
    assert time.monotonic() - t < 3 and c.exit_code == 143  # tini passes SIGTERM on; sleep dies of it


@pytest.mark.parametrize("policy,script,restarts,code", [
    ("on-failure:2", "exit 3", 2, 3),
    ("on-failure", "exit 0", 0, 0),
    ("no", "exit 1", 0, 1),
])
def test_restart_policies_count_restarts(rt, image, policy, script, restarts, code):
    cid = make(rt, image, ["sh", "-c", script], restart=policy)
    rt.start(cid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        c = rt.get(cid)
        if c.status == "exited" and c.restart_count == restarts:
            break
        time.sleep(0.05)
    c = rt.get(cid)
    assert (c.status, c.restart_count, c.exit_code) == ("exited", restarts, code)


def test_always_restarts_until_stopped(rt, image):
    cid = make(rt, image, ["sh", "-c", "sleep 0.05; exit 1"], restart="always")
    rt.start(cid)
    deadline = time.monotonic() + 10
    while rt.get(cid).restart_count < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rt.get(cid).restart_count >= 2
    rt.stop(cid, timeout=1)
    count = rt.get(cid).restart_count
    time.sleep(0.5)
    assert rt.get(cid).status == "exited" and rt.get(cid).restart_count == count


def test_supervisor_death_is_noticed(rt, image):
    """A container that ends while no supervisor runs: the next look adopts it through a new supervisor,
    which records its end honestly (not our child: the exit code is unknown)."""
    cid = make(rt, image, ["sh", "-c", "sleep 0.5"])
    rt.start(cid)
    sup = rt.records.state(cid).supervisor_pid
    os.kill(sup, signal.SIGKILL)
    time.sleep(1.0)
    c = rt.get(cid)
    assert (c.status, c.exit_code) == ("exited", None) and "exit code is unknown" in (c.error or "")
    assert rt.records.state(cid).supervisor_pid != sup


def test_remove_running_needs_force_and_names_are_unique(rt, image):
    cid = make(rt, image, ["sleep", "30"], name="only-one")
    rt.start(cid)
    with pytest.raises(Conflict, match="stop it first"):
        rt.remove(cid)
    with pytest.raises(Conflict, match='"only-one" is already in use'):
        make(rt, image, ["true"], name="only-one")
    rt.remove("only-one", force=True)
    assert rt.list() == []


def test_pause_and_unpause(rt, image):
    cid = make(rt, image, ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done"])
    rt.start(cid)
    time.sleep(0.3)
    rt.pause(cid)
    assert rt.get(cid).status == "paused"
    n1 = open(f"/proc/{rt.get(cid).pid}/root/tmp/n").read()
    time.sleep(0.3)
    assert open(f"/proc/{rt.get(cid).pid}/root/tmp/n").read() == n1
    rt.unpause(cid)
    time.sleep(0.3)
    assert open(f"/proc/{rt.get(cid).pid}/root/tmp/n").read() != n1
    rt.stop(cid, timeout=0)


# -- exec -----------------------------------------------------------------------------------

def test_exec_runs_inside_with_user_env_workdir_and_exit_code(rt, image, capfd):
    cid = make(rt, image, ["sleep", "60"], env=("PATH=/bin", "FROM_SPEC=1"), hostname="exec-box")
    rt.start(cid)
    code = exec_container(rt, cid, ExecOptions(
        argv=["sh", "-c", "id -u; hostname; pwd; echo $FROM_SPEC$EXTRA; ls /proc | grep -c '^[0-9]'; exit 5"],
        env={"EXTRA": "2"}, user="app", working_dir="/tmp"))
    out = capfd.readouterr().out.splitlines()
    assert code == 5
    assert out[:4] == ["1000", "exec-box", "/tmp", "12"]
    assert int(out[4]) <= 4  # the container's processes only
    with pytest.raises(RuntimeFailure, match="executable file not found"):
        exec_container(rt, cid, ExecOptions(argv=["nope"]))
    rt.stop(cid, timeout=0)


def test_exec_in_stopped_container_is_refused(rt, image):
    cid = make(rt, image, ["true"])
    with pytest.raises(Conflict, match="is not running"):
        exec_container(rt, cid, ExecOptions(argv=["true"]))


def test_tty_container_and_tty_exec(rt, image, capfd):
    code, out, _ = run(rt, image, "tty; [ -t 1 ] && echo is-a-tty", tty=True)
    assert code == 0 and out.replace("\r", "").splitlines() == ["/dev/pts/0", "is-a-tty"]
    cid = make(rt, image, ["sleep", "60"])
    rt.start(cid)
    assert exec_container(rt, cid, ExecOptions(argv=["sh", "-c", "[ -t 0 ] && tty && exit 3"], tty=True)) == 3
    assert capfd.readouterr().out.replace("\r", "").strip() == "/dev/pts/0"
    rt.stop(cid, timeout=0)


def test_a_handed_terminal_keeps_what_the_process_wrote_before_it_exited(rt, image):
    # run on a terminal: the client reads the terminal late (the process has exited by then); what the
    # process wrote is the client's, not drained into the log when the supervisor sees the exit
    cid = make(rt, image, ["sh", "-c", "echo written-before-exit; exit 4"], tty=True)
    master, hold = rt.start_terminal(cid, (20, 70))
    try:
        assert rt.wait(cid, timeout=30) == 4
        time.sleep(0.2)  # the supervisor has handled the exit
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other side is closed and nothing is left
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        hold.close()
    assert out == b"written-before-exit\r\n"


def test_stdin_open_keeps_stdin_waiting(rt, image):
    cid = make(rt, image, ["sh", "-c", "read line; echo got:$line"], stdin_open=True)
    rt.start(cid)
    time.sleep(0.3)
    assert rt.get(cid).status == "running"  # read blocks: stdin is open, not /dev/null
    rt.stop(cid, timeout=0)


@pytest.mark.parametrize("name,kw,message", [
    ("vm.swappiness", {}, "not namespaced"),
    ("kernel.pid_max", {}, "not namespaced"),
    ("net.ipv4.ip_forward", {"network": "host"}, "host's network"),
    ("kernel.shmmax", {"ipc": "host"}, "own IPC namespace"),
])
def test_host_wide_sysctls_are_refused(rt, image, name, kw, message):
    with open("/proc/sys/" + name.replace(".", "/")) as fh:
        before = fh.read()
    with pytest.raises(RuntimeFailure, match=message):
        make(rt, image, ["true"], sysctls={name: "1"}, **kw)
    with open("/proc/sys/" + name.replace(".", "/")) as fh:
        assert fh.read() == before
    assert rt.list() == []


def test_no_new_privileges(rt, image):
    _, out, _ = run(rt, image, "grep NoNewPrivs /proc/self/status", no_new_privileges=True)
    assert out.split() == ["NoNewPrivs:", "1"]
    _, out, _ = run(rt, image, "grep NoNewPrivs /proc/self/status")
    assert out.split() == ["NoNewPrivs:", "0"]


def test_log_rotation_caps_size(rt, image):
    cid = make(rt, image, ["sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxx; "
                                       "i=$((i+1)); done"], log_max_size=16 << 10, log_max_files=2)
    rt.start(cid)
    rt.wait(cid)
    path = rt.log_path(cid)
    assert os.path.getsize(path) <= (16 << 10) + 200 and os.path.exists(path + ".1")
    assert not os.path.exists(path + ".2")
    texts = [e.text for e in rt.logs(cid)]
    assert texts[-1] == "line-2999-xxxxxxxxxxxxxxxxxxxxxxxxx\n" and len(texts) < 3000


def test_network_none_has_only_loopback_and_host_shares_the_hosts(rt, image):
    _, out, _ = run(rt, image, "ls /sys/class/net; ip -o link show lo | grep -c UP")
    assert out.split() == ["lo", "1"]
    _, out, _ = run(rt, image, "ls /sys/class/net", network="host")
    assert sorted(out.split()) == sorted(os.listdir("/sys/class/net"))


def test_healthcheck_states(rt, image):
    from engine.runtime.spec import Healthcheck

    cid = make(rt, image, ["sh", "-c", "sleep 0.6; touch /tmp/ready; sleep 60"],
               healthcheck=Healthcheck(test=("CMD-SHELL", "test -f /tmp/ready && echo ok"), interval=0.2,
                                       timeout=1, retries=2, start_period=5, start_interval=0.1))
    rt.start(cid)
    assert rt.health(cid) == "starting"
    deadline = time.monotonic() + 10
    while rt.health(cid) != "healthy" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rt.health(cid) == "healthy"
    assert rt.records.state(cid).health.log[-1].output == "ok\n"
    rt.stop(cid, timeout=0)
    bad = make(rt, image, ["sleep", "60"],
               healthcheck=Healthcheck(test=("CMD", "false"), interval=0.1, timeout=1, retries=2))
    rt.start(bad)
    deadline = time.monotonic() + 10
    while rt.health(bad) != "unhealthy" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rt.health(bad) == "unhealthy" and rt.records.state(bad).health.failing_streak >= 2
    slow = make(rt, image, ["sleep", "60"],
                healthcheck=Healthcheck(test=("CMD", "sleep", "30"), interval=0.1, timeout=0.3, retries=1))
    rt.start(slow)
    deadline = time.monotonic() + 10
    while rt.health(slow) != "unhealthy" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "exceeded timeout" in rt.records.state(slow).health.log[-1].output
    for c in (bad, slow):
        rt.stop(c, timeout=0)


def test_pause_changes_the_freezer_and_the_record_under_the_records_lock(rt, image):
    import threading

    cid = make(rt, image, ["sleep", "60"])
    rt.start(cid)
    cgroup = rt.cgroups.container(cid)
    with rt.records.lock(cid):  # as the supervisor holds it while it records an exit
        pausing = threading.Thread(target=rt.pause, args=(cid,))
        pausing.start()
        pausing.join(0.5)
        assert pausing.is_alive() and not cgroup.frozen() and rt.records.state(cid).status == "running"
    pausing.join(10)
    assert cgroup.frozen() and rt.get(cid).status == "paused"
    with pytest.raises(Conflict, match="is not running"):
        rt.pause(cid)
    rt.unpause(cid)
    assert not cgroup.frozen() and rt.get(cid).status == "running"
    with pytest.raises(Conflict, match="is not paused"):
        rt.unpause(cid)
    rt.stop(cid, timeout=0)
