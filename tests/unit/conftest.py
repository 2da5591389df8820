import os
import textwrap

import pytest

from compose.config.api import load
from compose.config.options import LoadOptions


class Project:
    """A folder of compose files written by a test, loaded with a controlled environment."""

    def __init__(self, root):
        self.root = root

    def write(self, files):
        for name, text in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        return self

    def load(self, env=None, cwd=None, **options):
        environ = {"HOME": "/home/tester", "PYCOMPOSE_NO_CACHE": "1", **(env or {})}
        opts = LoadOptions(cwd=str(cwd or self.root), **options)
        return load(opts, environ)

    def path(self, *parts):
        return os.path.join(str(self.root), *parts)


@pytest.fixture
def proj(tmp_path):
    root = tmp_path / "demo"
    root.mkdir()
    return Project(root)
