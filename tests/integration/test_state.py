"""State records on a real filesystem: written atomically and durably, and where the locks live."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from engine.state import Root, read_json, write_json

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_lock_paths_are_under_the_roots_locks(tmp_path):
    root = Root(str(tmp_path / "r"))
    assert root.lock("volumes") == str(tmp_path / "r" / "locks" / "volumes.lock")
    assert root.lock("container-abc") == str(tmp_path / "r" / "locks" / "container-abc.lock")
    assert root.volumes == str(tmp_path / "r" / "volumes")


def test_write_json_replaces_whole_and_leaves_no_temporary_file(tmp_path):
    path = str(tmp_path / "state.json")
    write_json(path, {"status": "created"})
    write_json(path, {"status": "running", "pid": 7})
    assert read_json(path) == {"status": "running", "pid": 7}
    assert os.listdir(tmp_path) == ["state.json"]


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_write_json_fsyncs_the_file_then_the_folder_after_the_rename(tmp_path):
    """The rename itself must reach the disk: after it, the folder is opened and fsynced."""
    folder = tmp_path / "records"
    folder.mkdir()
    script = f"from engine.state import write_json; write_json({str(folder / 'x.json')!r}, {{'a': 1}})"
    trace = subprocess.run(["strace", "-f", "-e", "trace=openat,fsync,rename", sys.executable, "-c", script],
                           cwd=REPO, capture_output=True, text=True, check=True).stderr
    calls = [re.sub(r"^\[pid +\d+\] ", "", line) for line in trace.splitlines()]
    calls = [c for c in calls if c.startswith("fsync(") or str(folder) in c]
    opened_dir = next(i for i, c in enumerate(calls)
                      if c.startswith("openat") and f'"{folder}"' in c and "O_DIRECTORY" in c)
    renamed = next(i for i, c in enumerate(calls) if c.startswith("rename") and "x.json" in c)
    dir_fd = re.search(r"= (\d+)$", calls[opened_dir]).group(1)
    fsyncs = [(i, re.match(r"fsync\((\d+)\)", c).group(1)) for i, c in enumerate(calls) if c.startswith("fsync(")]
    assert [fd for i, fd in fsyncs if i < renamed] != []  # the file, before the rename
    assert renamed < opened_dir and (dir_fd in [fd for i, fd in fsyncs if i > opened_dir])
