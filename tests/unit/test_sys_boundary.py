"""Raw ioctls live in engine/sys.py only: the rest of the tree calls its named wrappers.

The check reads the source (ast), so it holds for code that no test runs.
"""

from __future__ import annotations

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALLOWED = {os.path.join("engine", "sys.py")}


def ioctl_calls(source: str) -> list[int]:
    """Line numbers where ``source`` calls ``ioctl`` (``fcntl.ioctl(...)``, ``ioctl(...)``) or imports it."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name == "ioctl":
                lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and any(a.name == "ioctl" for a in node.names):
            lines.append(node.lineno)
    return sorted(lines)


def python_files() -> list[str]:
    found = []
    for top in ("engine", "compose", "bench"):
        for base, dirs, files in os.walk(os.path.join(REPO, top)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            found += [os.path.relpath(os.path.join(base, f), REPO) for f in files if f.endswith(".py")]
    return sorted(found)


@pytest.mark.parametrize("source,expected", [
    ("import fcntl\nfcntl.ioctl(0, 1, 2)\n", [2]),
    ("from fcntl import ioctl\n\nioctl(0, 1)\n", [1, 3]),
    ("import fcntl as f\nx = 1\nf.ioctl(1, 2, b'')\n", [3]),
    ("def ioctl_name():\n    return 'ioctl'\n", []),
])
def test_the_scanner_finds_calls(source, expected):
    assert ioctl_calls(source) == expected


def test_only_engine_sys_calls_ioctl():
    files = python_files()
    assert os.path.join("engine", "runtime", "launch.py") in files  # the walk sees the tree
    offenders = {}
    for path in files:
        with open(os.path.join(REPO, path), encoding="utf-8") as fh:
            lines = ioctl_calls(fh.read())
        if lines and path not in ALLOWED:
            offenders[path] = lines
    assert offenders == {}
    with open(os.path.join(REPO, "engine", "sys.py"), encoding="utf-8") as fh:
        assert ioctl_calls(fh.read()) != []  # the one place they are made
