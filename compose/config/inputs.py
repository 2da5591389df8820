"""Everything the loader reads from outside, recorded.

The loader reads files and environment variables only through an ``Inputs``.
What it saw is kept, so a cached result can later be checked against the
same files and variables, and reused only when none of them changed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ConfigError


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Inputs:
    environ: Mapping[str, str]
    stdin: str | None = None
    files: dict[str, str | None] = field(default_factory=dict)  # path -> sha256, None if absent
    variables: dict[str, str | None] = field(default_factory=dict)

    def getenv(self, name: str) -> str | None:
        value = self.environ.get(name)
        self.variables[name] = value
        return value

    def read_text(self, path: str) -> str:
        if path == "-":
            return self.stdin or ""
        with open(path, "rb") as fh:
            data = fh.read()
        self.files[path] = digest(data)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise ConfigError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
                              file=path, line=line, column=column) from None

    def isfile(self, path: str) -> bool:
        if path in self.files:
            return self.files[path] is not None
        if not os.path.isfile(path):
            self.files[path] = None
            return False
        with open(path, "rb") as fh:
            self.files[path] = digest(fh.read())
        return True


def unchanged(files: Mapping[str, str | None], variables: Mapping[str, str | None],
              environ: Mapping[str, str]) -> bool:
    """True when every recorded file and variable still has the value it had."""
    for name, value in variables.items():
        if environ.get(name) != value:
            return False
    for path, sha in files.items():
        try:
            with open(path, "rb") as fh:
                if sha is None or digest(fh.read()) != sha:
                    return False
        except OSError:
            if sha is not None:
                return False
    return True
