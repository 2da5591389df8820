"""Fixtures shared by the integration tests: real files under a temporary state root."""

import pytest

from engine.state import Root


@pytest.fixture
def state_root(tmp_path):
    """A fresh pycompose state root (``PYCOMPOSE_ROOT``) inside the test's temporary folder."""
    return Root(str(tmp_path / "root"))
