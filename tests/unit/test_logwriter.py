"""The json-file log: the same bytes whether a read holds plain ASCII lines (made in one go) or anything else."""

from __future__ import annotations

import os

import pytest

from engine.runtime import logs
from engine.runtime.logs import LogWriter

NOW = "2026-01-02T03:04:05.000000006Z"


@pytest.fixture(autouse=True)
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "timestamp", lambda ns=None: NOW)


def entry(text: str, stream: str = "stdout") -> str:
    return f'{{"log": "{text}", "stream": "{stream}", "time": "{NOW}"}}\n'


@pytest.mark.parametrize(("chunks", "expected"), [
    ([b"y\ny\n"], entry("y\\n") * 2),
    ([b"a b\n", b"c"], entry("a b\\n") + entry("c")),  # the tail is written when the log closes
    ([b"ab", b"c\nd\n"], entry("abc\\n") + entry("d\\n")),
    ([b'say "hi"\n'], entry('say \\"hi\\"\\n')),
    ([b"tab\there\n"], entry("tab\\there\\n")),
    ([b"back\\slash\n"], entry("back\\\\slash\\n")),
    (["caf\u00e9\n".encode()], entry("caf\u00e9\\n")),
    ([b"bad \xff\n"], entry("bad \ufffd\\n")),
    ([b"\n"], entry("\\n")),
    ([b"x" * 16385], entry("x" * 16385)),  # a line longer than 16 KiB is split there
])
def test_entries(tmp_path: str, chunks: list[bytes], expected: str) -> None:
    path = os.path.join(tmp_path, "c-json.log")
    w = LogWriter(path)
    for chunk in chunks:
        w.write("stdout", chunk)
    w.close()
    with open(path, encoding="utf-8") as fh:
        assert fh.read() == expected


@pytest.mark.parametrize("chunk", [b"yes\n" * 100, b"yes\n" * 99 + b"y\xe9s\n"])
def test_rotation_after_the_entry_that_reaches_max_size(tmp_path: str, chunk: bytes) -> None:
    path = os.path.join(tmp_path, "c-json.log")
    w = LogWriter(path, max_size=1024, max_files=3)
    w.write("stderr", chunk)
    w.close()
    assert len(entry("yes\\n", "stderr")) == 79  # the 13th entry reaches 1024 bytes: 7 rotations, 9 left
    for name in (path + ".2", path + ".1"):
        with open(name, encoding="utf-8") as fh:
            assert fh.read() == entry("yes\\n", "stderr") * 13
    with open(path, encoding="utf-8") as fh:
        assert len(fh.read().splitlines()) == 9
    assert not os.path.exists(path + ".3")
