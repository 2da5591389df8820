"""State that survives kills and full disks, without containers: lock files removed under their holders,
claims of containers being created, the reconciliation of what a crash left, writes that fail.

(The same with real containers and real kills: tests/e2e/test_faults.py.)
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time

import pytest

from engine.daemon import _LogStream
from engine.net.networks import Network, Networks
from engine.runtime import policy
from engine.runtime.containers import Runtime
from engine.runtime.logs import LogWriter
from engine.runtime.loop import Loop
from engine.runtime.protocol import bind, connect, socket_path
from engine.runtime.recorder import Recorder
from engine.runtime.records import Records
from engine.state import Root, locked, owner_exists, try_locked, unlink_lock
from engine.volumes import Volumes

CID = "c" * 64


@pytest.fixture
def root(tmp_path):
    r = Root(str(tmp_path / "root"))
    r.ensure()
    return r


def test_a_lock_file_removed_by_its_holder_is_taken_anew_by_whoever_waited(tmp_path):
    """The waiter had the removed file open: it must not hold that one (no one else would see it),
    but the new file at the path, which shuts out whoever comes next."""
    path = str(tmp_path / "locks" / "x.lock")
    seen = []
    with locked(path):
        def waiter():
            with locked(path):
                seen.append(try_locked(path) is None)
        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.1)
        unlink_lock(path)
    t.join(5)
    assert seen == [True]


def test_a_claim_owns_its_allocations_only_while_its_creator_lives(root):
    records = Records(root)
    inside = threading.Event()
    leave = threading.Event()

    def creator():
        with records.claim(CID):
            inside.set()
            leave.wait(5)
    t = threading.Thread(target=creator)
    t.start()
    assert inside.wait(5)
    assert owner_exists(root, CID) and list(records.leftovers()) == []
    leave.set()
    t.join(5)
    # the creator is gone and never wrote container.json: its folder is a leftover
    assert not owner_exists(root, CID) and list(records.leftovers()) == [CID]


def _network(root: Root, allocations: dict) -> None:
    Networks(root)._write(Network(name="n", id="1", bridge="pc-test", subnet="10.9.0.0/24", gateway="10.9.0.1",
                                  allocations=allocations))


def test_reconcile_gives_back_what_a_dead_creation_took_and_keeps_a_live_one(root):
    dead, live, whole = "d" * 64, "e" * 64, "f" * 64
    records = Records(root)
    os.makedirs(records.dir(dead))  # a creation killed after its claim: no record
    os.makedirs(records.dir(whole))
    with open(os.path.join(records.dir(whole), "container.json"), "w") as fh:
        json.dump({"spec": {"name": "whole"}}, fh)
    os.makedirs(os.path.join(root.containers, f".rm-{'a' * 64}"))  # a removal cut short
    vols = Volumes(root)
    vols.create("anon1", owner=dead)
    vols.create("anon2", owner=whole)
    _network(root, {"10.9.0.2": {"container": dead, "name": "x"}, "10.9.0.3": {"container": live, "name": "y"},
                    "10.9.0.4": {"container": whole, "name": "z"}, "10.9.0.5": {"container": "b" * 64}})
    with records.claim(live):  # being created right now, by this very process
        done = Runtime(root).reconcile()
    assert sorted(Networks(root).get("n").allocations) == ["10.9.0.3", "10.9.0.4"]
    assert sorted(os.listdir(root.containers)) == [live, whole]
    assert [v.name for v in vols.list()] == ["anon2"]
    assert len(done) == 3 and "address 10.9.0.5 on n" in done


def test_network_remove_frees_addresses_of_containers_that_never_were(root):
    from engine.errors import Conflict

    _network(root, {"10.9.0.2": {"container": CID, "name": "ghost"}})
    os.makedirs(Records(root).dir("a" * 64))
    assert Networks(root).reconcile() == ["address 10.9.0.2 on n"]
    _network(root, {"10.9.0.2": {"container": CID, "name": "ghost"}})
    with open(os.path.join(Records(root).dir("a" * 64), "creating"), "w"):
        pass
    records_dir = Records(root).dir(CID)
    os.makedirs(records_dir)
    with open(os.path.join(records_dir, "container.json"), "w") as fh:
        fh.write("{}")
    with pytest.raises(Conflict, match="has containers attached: ghost"):  # a whole record still holds it
        Networks(root).remove("n")


class Flaky:
    """A file whose writes fail with ENOSPC, after writing ``partial`` bytes, while ``full``."""

    def __init__(self, path):
        self.real = open(path, "ab", buffering=0)  # noqa: SIM115
        self.full = True
        self.partial = 10

    def write(self, data):
        if self.full:
            if self.partial:
                n, self.partial = self.real.write(bytes(data[:self.partial])), 0
                return n
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real.write(data)

    def fileno(self):
        return self.real.fileno()

    def tell(self):
        return self.real.tell()

    def close(self):
        self.real.close()


def test_a_log_write_that_fails_is_dropped_whole_counted_and_said_once_space_returns(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = LogWriter(path)
    w.write("stdout", b"before\n")
    w.fh = flaky = Flaky(path)
    w.write("stdout", b"lost 1\nlost 2\n")
    w.write("stderr", b"lost 3\n")
    flaky.full = False
    w.write("stdout", b"after\n")
    w.close()
    with open(path) as fh:
        entries = [json.loads(line) for line in fh]  # every line whole: the half write was cut off
    assert [(e["stream"], e["log"]) for e in entries] == [
        ("stdout", "before\n"),
        ("stderr", "pycompose: 3 lines of output were not logged: No space left on device\n"),
        ("stdout", "after\n")]


def test_a_daemon_log_write_that_fails_is_dropped_and_counted(tmp_path):
    stream = _LogStream(-1)  # no such fd: every write fails
    stream.write("traceback\n")
    stream.write("more\n")
    path = tmp_path / "log"
    stream.fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    stream.write("back\n")
    os.close(stream.fd)
    assert path.read_text() == "[2 writes to this log were dropped: no space]\nback\n"


class FailingRecords:
    def __init__(self):
        self.fail = 2
        self.written: list[dict] = []

    def update(self, cid, **changes):
        if self.fail:
            self.fail -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        self.written.append(changes)


def test_a_state_write_that_fails_is_tried_again_with_the_changes_since(capsys):
    now = [0.0]
    loop = Loop(clock=lambda: now[0])
    records = FailingRecords()
    rec = Recorder(loop, records)  # type: ignore[arg-type]
    rec.update(CID, status="running", pid=5)
    rec.update(CID, status="exited", exit_code=0)  # fails too: merged with the first
    assert rec.busy and records.written == []
    now[0] = 1.0
    loop.run_once(0)
    assert records.written == [{"status": "exited", "pid": 5, "exit_code": 0}] and not rec.busy
    loop.close()


def test_an_unknown_exit_code_counts_as_a_failure():
    assert policy.should_restart("on-failure", None, 0, False)
    assert not policy.should_restart("no", None, 0, False)
    assert not policy.should_restart("always", None, 0, True)


def test_the_control_socket_is_a_file_even_under_a_long_root(tmp_path):
    root = Root(str(tmp_path / ("deep" * 30) / "root"))
    assert len(socket_path(root, "proj")) > 108
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bind(listener, root, "proj")
    listener.listen(1)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connect(client, root, "proj")
    conn, _ = listener.accept()
    client.sendall(b"ping")
    assert conn.recv(4) == b"ping"
    for s in (conn, client, listener):
        s.close()
    assert os.stat(os.path.dirname(socket_path(root, "proj"))).st_mode & 0o777 == 0o700
    assert socket_path(root, "a/b").endswith(".sock") and "/a/b" not in socket_path(root, "a/b")
