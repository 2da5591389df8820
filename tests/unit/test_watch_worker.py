"""watch: a service's worker over fake actions (what waits while it is busy), and the notifier's batches."""

from __future__ import annotations

import io
import os
import threading
import time
from dataclasses import dataclass

from compose.deploy.watch.feedback import Feedback
from compose.deploy.watch.notify import Notifier, watched
from compose.deploy.watch.rules import Rule
from compose.deploy.watch.work import Work
from compose.deploy.watch.worker import Actions, Worker


@dataclass(frozen=True)
class FakeContainer:
    id: str
    started_at: str
    running: bool = True
    name: str = "demo-web-1"


class Fakes:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.containers = [FakeContainer("c1", "t1")]
        self.rebuilding = threading.Event()
        self.release = threading.Event()

    def actions(self) -> Actions:
        def inject(c, changes):
            self.calls.append(f"inject {c.id} " + " ".join(sorted(ch.target for ch in changes)))
            return len(changes), 0, ()

        def rebuild():
            self.calls.append("rebuild")
            self.rebuilding.set()
            self.release.wait(10)
            return True

        return Actions(containers=lambda: list(self.containers), inject=inject,
                       restart=lambda: self.calls.append("restart"), exec=lambda c, rule: 0, rebuild=rebuild)


def wait_idle(worker: Worker) -> None:
    deadline = time.monotonic() + 10
    while not worker.idle() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.idle()


def test_a_change_during_a_rebuild_waits_and_is_carried_out_after_it(tmp_path):
    (tmp_path / "a").write_text("1")
    (tmp_path / "b").write_text("2")
    rules = [Rule("web", str(tmp_path), "sync", target="/app"), Rule("web", str(tmp_path), "rebuild")]
    fakes = Fakes()
    out = io.StringIO()
    worker = Worker("web", rules, fakes.actions(), Feedback(out))
    worker.start()
    worker.submit(Work(rebuild=True))
    assert fakes.rebuilding.wait(10)
    worker.submit(Work(paths={str(tmp_path / "a"): False}, after_sync_restart=True))  # while it builds
    worker.submit(Work(paths={str(tmp_path / "b"): False}, after_sync_restart=True))
    time.sleep(0.1)
    assert fakes.calls == ["rebuild"]
    fakes.release.set()
    wait_idle(worker)
    worker.close()
    assert fakes.calls == ["rebuild", "inject c1 /app/a /app/b", "restart"]  # both, once, after the rebuild
    assert [line.split(" (")[0] for line in out.getvalue().splitlines()] == ["web: synced 2 files", "web: restarted"]


def test_a_container_run_not_yet_seen_gets_the_files_changed_meanwhile(tmp_path):
    (tmp_path / "a").write_text("1")
    rules = [Rule("web", str(tmp_path), "sync", target="/app")]
    fakes = Fakes()
    fakes.containers = [FakeContainer("c1", "t1", running=False)]
    worker = Worker("web", rules, fakes.actions(), Feedback(io.StringIO()))
    worker.start()
    worker.submit(Work(paths={str(tmp_path / "a"): False}))  # stopped: nothing to write into
    wait_idle(worker)
    assert fakes.calls == []
    fakes.containers = [FakeContainer("c1", "t2")]  # started again
    worker.containers_changed()
    wait_idle(worker)
    worker.containers_changed()  # the same run: already up to date
    wait_idle(worker)
    fakes.containers = [FakeContainer("c2", "t3")]  # recreated
    worker.containers_changed()
    wait_idle(worker)
    worker.close()
    assert fakes.calls == ["inject c1 /app/a", "inject c2 /app/a"]


def test_a_burst_is_one_batch_and_a_save_by_rename_is_seen(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "one.json").write_text("{}")
    notifier = Notifier([str(tmp_path / "conf"), str(tmp_path / "one.json")])
    try:
        for i in range(2000):
            (tmp_path / "conf" / f"f{i}").write_text(str(i))
        batch = notifier.next(10)
        assert batch is not None and len(batch) == 2000
        assert notifier.next(0.5) is None
        temp = tmp_path / "one.json.tmp"
        temp.write_text('{"a": 1}')
        os.rename(temp, tmp_path / "one.json")
        batch = notifier.next(10)
        assert batch is not None and (str(tmp_path / "one.json"), True) in batch.changes
    finally:
        notifier.close()
    assert [t for t in threading.enumerate() if t.name.startswith("watch-")] == []


def test_watched_folders(tmp_path):
    for d in ("a/b", "c"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "c" / "f.json").write_text("")
    deep, alone = watched([str(tmp_path / "a"), str(tmp_path / "a" / "b"), str(tmp_path / "c" / "f.json"),
                           str(tmp_path / "a" / "b" / "x.txt"), str(tmp_path / "gone" / "deeper" / "y")])
    assert deep == [str(tmp_path / "a")]
    assert alone == [str(tmp_path), str(tmp_path / "c")]


def test_a_folder_that_appears_at_a_rules_path_later_is_watched_from_then_on(tmp_path):
    notifier = Notifier([str(tmp_path / "src")])
    try:
        (tmp_path / "src").mkdir()
        assert notifier.next(10).changes == ((str(tmp_path / "src"), True),)
        (tmp_path / "src" / "a.txt").write_text("1")
        assert notifier.next(10).changes == ((str(tmp_path / "src" / "a.txt"), True),)
    finally:
        notifier.close()


def test_folders_every_rule_ignores_are_not_watched(tmp_path):
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "lib").mkdir()
    notifier = Notifier([str(tmp_path)], skip=lambda folder: folder.endswith("/node_modules"))
    try:
        (tmp_path / "node_modules" / "x" / "big.js").write_text("1")
        (tmp_path / "lib" / "a.js").write_text("1")
        assert notifier.next(10).changes == ((str(tmp_path / "lib" / "a.js"), True),)
        assert notifier.next(0.3) is None
    finally:
        notifier.close()
