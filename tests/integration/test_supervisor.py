"""The supervisor never blocks, with real containers: a slow start stalls no one, restarts leak nothing.

Needs root (CI is root). After every test nothing of ours may remain: no
mounts, cgroups or supervisor processes of the test's state root. The
numbers measured here are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time

import pytest

from engine.errors import RuntimeFailure
from engine.runtime.containers import Runtime, new_id
from engine.runtime.spec import ContainerSpec, MountSpec
from engine.state import Root
from tests.integration.busybox import rootfs_tar, settled_leftovers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

COPY_UP_FILES = 30000  # files an image holds at /bigdata, copied into an empty volume at start
OUTPUT = 10 << 20  # bytes the other container writes meanwhile
LINE = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_\n"  # 64 bytes: OUTPUT is whole lines
RESTARTS = 200


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("PYCOMPOSE_SUPERVISOR_IDLE", "0.2")
    monkeypatch.setenv("PYCOMPOSE_RESTART_BACKOFF_MAX", "0.005")  # 200 restarts in seconds, not hours
    r = Root(str(tmp_path / "root"))
    r.ensure()
    yield r
    rt = Runtime(r)
    for c in rt.list():
        rt.remove(c.id, force=True)
    assert settled_leftovers(r.path, r.cgroup_name) == []


@pytest.fixture
def layers(root):
    from engine.images.store import ImageStore

    store = ImageStore(root)
    image = store.import_tarball(io.BytesIO(rootfs_tar()), "busybox:test", ['CMD ["sh"]'])
    return tuple(store.layer_dirs(image))


@pytest.fixture
def rt(root):
    return Runtime(root)


def make(rt: Runtime, layers: tuple[str, ...], argv: list[str], **kw) -> str:
    cid = new_id()
    kw.setdefault("env", ("PATH=/usr/sbin:/usr/bin:/sbin:/bin",))
    spec = ContainerSpec(id=cid, name=kw.pop("name", f"t-{cid[:8]}"), image_id="sha256:test", layers=layers,
                         argv=tuple(argv), group="test", **kw)
    rt.create(spec)
    return cid


def supervisor_pid(rt: Runtime, cid: str) -> int:
    pid = rt.records.state(cid).supervisor_pid
    assert pid
    return pid


def fd_table(pid: int) -> list[str]:
    """What the process has open, as ``fd -> target`` (for the message when counts differ)."""
    out = []
    for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        with contextlib.suppress(OSError):
            out.append(f"{fd} -> {os.readlink(f'/proc/{pid}/fd/{fd}')}")
    return out


def settled_fd_table(pid: int) -> list[str]:
    """fd_table once it holds still: a reply reaches the client just before the supervisor closes
    the connection, so a table read right after a request may still show it."""
    table = fd_table(pid)
    while True:
        time.sleep(0.1)
        again = fd_table(pid)
        if again == table:
            return table
        table = again


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def wait_for(predicate, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_a_slow_start_does_not_stall_another_containers_output(rt, layers, tmp_path):
    """While one container's start copies 30,000 files into its empty volume, another (already running)
    writes 10 MiB to stdout: it finishes long before that start does, and its log holds every byte."""
    big = tmp_path / "biglayer"
    (big / "bigdata").mkdir(parents=True)
    for i in range(COPY_UP_FILES):
        (big / "bigdata" / f"f{i:05d}").write_bytes(b"x" * 64)
    volume, ctl = tmp_path / "volume", tmp_path / "ctl"
    volume.mkdir()
    ctl.mkdir()
    script = ("while [ ! -e /ctl/go ]; do sleep 0.01; done; "
              f"yes {LINE.decode().strip()} | head -c {OUTPUT}; touch /ctl/done; sleep 300")
    writer = make(rt, layers, ["sh", "-c", script], log_max_size=64 << 20,
                  mounts=(MountSpec(type="bind", source=str(ctl), target="/ctl"),))
    rt.start(writer)
    slow = make(rt, (*layers, str(big)), ["sleep", "300"],
                mounts=(MountSpec(type="bind", source=str(volume), target="/bigdata", copy_up=True),))

    launch: dict[str, float] = {}

    def start_slow() -> None:
        t = time.monotonic()
        rt.start(slow)
        launch["took"], launch["ended"] = time.monotonic() - t, time.monotonic()

    starter = threading.Thread(target=start_slow)
    starter.start()
    wait_for(lambda: len(os.listdir(volume)) > 0, 30, "the copy-up to begin")  # the slow start is under way
    began = time.monotonic()
    (ctl / "go").touch()
    wait_for(lambda: (ctl / "done").exists(), 60, "the writer to finish")
    wrote = time.monotonic() - began
    copied_when_done = len(os.listdir(volume))
    starter.join(120)
    assert not starter.is_alive()
    print(f"\n10 MiB of output written in {wrote:.3f} s while a start took {launch['took']:.3f} s "
          f"({copied_when_done} of {COPY_UP_FILES} files copied when the output was done)")
    assert time.monotonic() > launch["ended"] and began + wrote < launch["ended"]  # done before the start ended
    assert copied_when_done < COPY_UP_FILES  # ... indeed while the copy-up was still going
    assert wrote < launch["took"] / 4
    assert sorted(os.listdir(volume))[:2] == ["f00000", "f00001"] and len(os.listdir(volume)) == COPY_UP_FILES
    assert rt.get(slow).status == "running"
    rt.stop(writer, timeout=0)  # its last partial line (none here) is flushed at exit
    entries = [e for e in rt.logs(writer) if e.stream == "stdout"]
    assert len(entries) == OUTPUT // len(LINE)
    assert sum(len(e.text) for e in entries) == OUTPUT
    assert {e.text for e in entries} == {LINE.decode()}


def test_a_stop_while_starting_kills_and_reaps_the_child(rt, layers, tmp_path):
    big = tmp_path / "biglayer"
    (big / "bigdata").mkdir(parents=True)
    for i in range(COPY_UP_FILES):
        (big / "bigdata" / f"f{i:05d}").write_bytes(b"")
    volume = tmp_path / "volume"
    volume.mkdir()
    keeper = make(rt, layers, ["sleep", "300"])  # keeps the supervisor up to count its fds
    rt.start(keeper)
    sup = supervisor_pid(rt, keeper)
    table_before = settled_fd_table(sup)
    slow = make(rt, (*layers, str(big)), ["sleep", "300"],
                mounts=(MountSpec(type="bind", source=str(volume), target="/bigdata", copy_up=True),))
    errors: list[str] = []

    def start_slow() -> None:
        try:
            rt.start(slow)
        except RuntimeFailure as exc:
            errors.append(str(exc))

    starter = threading.Thread(target=start_slow)
    starter.start()
    wait_for(lambda: len(os.listdir(volume)) > 0, 30, "the copy-up to begin")
    children = rt.cgroups.container(slow).pids()
    assert len(children) == 1
    t = time.monotonic()
    c = rt.stop(slow, timeout=10)
    stopped = time.monotonic() - t
    starter.join(30)
    assert errors == [f"container {c.name}: the container was stopped while it was starting"]
    assert (c.status, c.exit_code) == ("exited", 137) and stopped < 2
    assert len(os.listdir(volume)) < COPY_UP_FILES  # it was killed in the middle of the copy
    assert not os.path.exists(f"/proc/{children[0]}")  # reaped: not even a zombie
    assert rt.cgroups.container(slow).pids() == []
    assert settled_fd_table(sup) == table_before
    assert rt.get(keeper).status == "running"


def test_failing_restarts_leave_the_supervisors_fds_and_memory_flat(rt, layers, tmp_path):
    """200 restarts of a command that exits 1 at once (restart: always), and of one whose executable
    went away (each restart a failed start): the supervisor ends with the fds it had, and about the memory."""
    keeper = make(rt, layers, ["sleep", "300"])
    rt.start(keeper)
    sup = supervisor_pid(rt, keeper)
    table_idle = settled_fd_table(sup)
    fds_idle = len(table_idle)
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    exits = make(rt, layers, ["sh", "-c", "exit 1"], restart="always")
    vanishes = make(rt, layers, ["/scripts/run"], restart="always",
                    mounts=(MountSpec(type="bind", source=str(scripts), target="/scripts"),))

    def restart_until(count: int) -> None:
        for cid in (exits, vanishes):
            wait_for(lambda cid=cid: rt.get(cid).restart_count >= count, 120, f"{count} restarts")

    def settle() -> tuple[int, int]:
        for cid in (exits, vanishes):
            rt.stop(cid, timeout=0)
        table = settled_fd_table(sup)
        assert table == table_idle  # the same fds, one for one
        return len(table), rss_kib(sup)

    def start_both() -> None:
        (scripts / "run").write_text("#!/bin/sh\nexit 1\n")
        (scripts / "run").chmod(0o755)
        rt.start(exits)
        rt.start(vanishes)
        (scripts / "run").unlink()  # from now on each of its restarts fails to exec

    start_both()
    restart_until(20)  # warm up: imports, allocator pools
    assert (rt.get(vanishes).exit_code, rt.get(vanishes).error) == (
        127, 'exec: "/scripts/run": stat /scripts/run: no such file or directory')
    fds_warm, rss_warm = settle()
    start_both()
    t = time.monotonic()
    restart_until(RESTARTS)
    took = time.monotonic() - t
    fds_after, rss_after = settle()
    counts = (rt.get(exits).restart_count, rt.get(vanishes).restart_count)
    print(f"\nsupervisor after {counts[0]} restarts (exit 1) and {counts[1]} failed starts in {took:.1f} s: "
          f"fds {fds_warm} -> {fds_after} (idle {fds_idle}), VmRSS {rss_warm} KiB -> {rss_after} KiB "
          f"({rss_after - rss_warm:+d} KiB)")
    assert fds_warm == fds_after == fds_idle
    assert rss_after - rss_warm < 2048
    assert min(counts) >= RESTARTS
    assert rt.get(keeper).status == "running"


def test_sigterm_stops_every_container_then_the_supervisor_exits(rt, layers):
    """SIGTERM's handler only flags it: the loop then stops each container with its grace, and exits."""
    polite = make(rt, layers, ["sh", "-c", "trap 'echo got-term; exit 3' TERM; while true; do sleep 0.05; done"])
    deaf = make(rt, layers, ["sleep", "300"])
    for cid in (polite, deaf):
        rt.start(cid)
    sup = supervisor_pid(rt, polite)
    time.sleep(0.3)  # the trap is set
    os.kill(sup, 15)
    wait_for(lambda: not os.path.exists(f"/proc/{sup}") or open(f"/proc/{sup}/stat").read().split()[2] == "Z",
             10, "the supervisor to exit")
    assert [(rt.get(c).status, rt.get(c).exit_code) for c in (polite, deaf)] == [("exited", 3), ("exited", 137)]
    assert [e.text for e in rt.logs(polite)] == ["got-term\n"]


def test_attach_hands_over_the_terminal_and_logging_resumes_after(rt, layers):
    import select

    cid = make(rt, layers, ["sh", "-c", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.05; done"], tty=True)
    plain = make(rt, layers, ["sleep", "300"])
    rt.start(cid)
    rt.start(plain)
    with pytest.raises(RuntimeFailure, match="only a running container with a terminal"):
        rt.attach(plain)
    wait_for(lambda: len(list(rt.logs(cid))) >= 3, 5, "ticks in the log")
    master, conn = rt.attach(cid)
    seen = b""
    deadline = time.monotonic() + 5
    while seen.count(b"tick-") < 5 and time.monotonic() < deadline:
        if select.select([master], [], [], 0.5)[0]:
            seen += os.read(master, 4096)
    logged_while_attached = len(list(rt.logs(cid)))
    assert seen.count(b"tick-") >= 5 and b"\r\n" in seen  # the client reads the terminal itself
    time.sleep(0.3)
    assert len(list(rt.logs(cid))) <= logged_while_attached + 1  # at most one read in flight when it attached
    conn.close()
    os.close(master)
    wait_for(lambda: len(list(rt.logs(cid))) >= logged_while_attached + 3, 5, "logging to resume")
    assert list(rt.logs(cid))[-1].text.startswith("tick-")


def test_the_supervisor_keeps_none_of_its_callers_fds(rt, layers):
    """A pipe the command inherited (a shell's ``| tee``) must not stay open for the supervisor's life."""
    r, w = os.pipe()
    os.set_inheritable(r, True)
    os.set_inheritable(w, True)
    try:
        cid = make(rt, layers, ["sleep", "300"])
        rt.start(cid)
        pipe = f"pipe:[{os.fstat(w).st_ino}]"
        table = settled_fd_table(supervisor_pid(rt, cid))
        assert [entry for entry in table if entry.endswith(pipe)] == []
        assert [entry.split(" -> ")[0] for entry in table][:3] == ["0", "1", "2"]
    finally:
        os.close(r)
        os.close(w)


def test_a_flooding_container_keeps_other_containers_timers_on_time(rt, layers):
    """While one container prints as fast as it can (``yes``), another's healthcheck runs on its interval
    and a stop's grace period ends on time; the flood is logged meanwhile. (With a line-by-line log
    writer the supervisor fell behind: healthy after 2.1-2.3 s, the 1 s grace period 1.8-1.9 s; with
    no flood, 0.4 s and 1.0 s. What is left above those is the state records' fsyncs behind the
    flood's writes.)"""
    from engine.runtime.spec import Healthcheck

    flood = make(rt, layers, ["yes"], log_max_size=1 << 30)
    rt.start(flood)
    log = rt.log_path(flood)
    checked = make(rt, layers, ["sleep", "300"],
                   healthcheck=Healthcheck(test=("CMD", "true"), interval=0.2, timeout=2, retries=1,
                                           start_interval=0.2))
    stubborn = make(rt, layers, ["sh", "-c", "trap 'echo TERM' TERM; while true; do sleep 0.05; done"])
    size0, t0 = os.path.getsize(log), time.monotonic()
    rt.start(checked)
    rt.start(stubborn)
    wait_for(lambda: rt.health(checked) == "healthy", 3, "the healthcheck to pass")
    healthy_after = time.monotonic() - t0
    time.sleep(0.3)  # the shell has set its trap
    t = time.monotonic()
    rt.stop(stubborn, timeout=1)  # handled, not obeyed: SIGKILL after the 1 s grace period
    stop_took = time.monotonic() - t
    rate = (os.path.getsize(log) - size0) / (time.monotonic() - t0) / 1e6
    print(f"\nhealthy after {healthy_after:.2f} s, a 1 s grace period took {stop_took:.2f} s, "
          f"while the flood was logged at {rate:.0f} MB/s")
    assert healthy_after < 1.5
    assert 0.95 < stop_took < 1.75
    assert rt.get(stubborn).exit_code == 137
    assert rate > 5
    rt.stop(flood, timeout=0)
    entries = rt.logs(flood)
    first = next(entries)
    assert (first.stream, first.text) == ("stdout", "y\n")


def test_a_kill_during_the_grace_period_leaves_no_timer_behind(rt, layers):
    """A stop waiting out a 30 s grace period, then a SIGKILL (a second Ctrl-C): once the container is
    removed the supervisor leaves at once, not when the stop's timer would have fired."""
    cid = make(rt, layers, ["sh", "-c", "trap 'echo ignoring' TERM; while true; do sleep 0.05; done"])
    rt.start(cid)
    sup = supervisor_pid(rt, cid)
    time.sleep(0.3)  # the trap is set
    stopping = threading.Thread(target=rt.stop, args=(cid, 30.0))
    stopping.start()
    wait_for(lambda: any(e.text == "ignoring\n" for e in rt.logs(cid)), 5, "the TERM to be ignored")
    rt.kill(cid, "SIGKILL")
    stopping.join(10)
    assert not stopping.is_alive() and rt.get(cid).exit_code == 137
    rt.remove(cid)
    began = time.monotonic()
    wait_for(lambda: not os.path.exists(f"/proc/{sup}") or open(f"/proc/{sup}/stat").read().split()[2] == "Z",
             10, "the supervisor to exit")
    assert time.monotonic() - began < 5
