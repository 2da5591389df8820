"""What the conversion reads besides the model: project files (for ConfigMaps and Secrets) and
the variables that secrets and configs name. A protocol, so tests can hand in their own."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

Kind = Literal["file", "dir", "missing", "other"]


@dataclass(frozen=True)
class Entry:
    relpath: str  # below the folder walked, with / between parts
    size: int


class Sources(Protocol):
    def kind(self, path: str) -> Kind: ...
    def read(self, path: str) -> bytes: ...
    def executable(self, path: str) -> bool: ...
    def walk(self, path: str) -> list[Entry]:
        """Every regular file below a folder, sorted (symbolic links to files followed, others skipped)."""
        ...
    def getenv(self, name: str) -> str | None: ...


class Disk:
    """The real files and the process's environment."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def kind(self, path: str) -> Kind:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return "missing"
        if stat.S_ISREG(mode):
            return "file"
        if stat.S_ISDIR(mode):
            return "dir"
        return "other"

    def read(self, path: str) -> bytes:
        with open(path, "rb") as fh:
            return fh.read()

    def executable(self, path: str) -> bool:
        try:
            return bool(os.stat(path).st_mode & 0o111)
        except OSError:
            return False

    def walk(self, path: str) -> list[Entry]:
        out: list[Entry] = []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in files:
                full = os.path.join(root, name)
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    out.append(Entry(os.path.relpath(full, path).replace(os.sep, "/"), st.st_size))
        return sorted(out, key=lambda e: e.relpath)

    def getenv(self, name: str) -> str | None:
        return self.environ.get(name)
