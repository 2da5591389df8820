"""Fixtures shared by the integration tests: real files under a temporary state root."""

import pytest

from engine.state import Root


@pytest.fixture
def state_root(tmp_path):
    """A fresh pycompose state root (``PYCOMPOSE_ROOT``) inside the test's temporary folder."""
    return Root(str(tmp_path / "root"))


@pytest.fixture(scope="session")
def debian_layers():
    """A bookworm minbase root (mmdebstrap, once per run or cached) cut into three uncompressed layer tars."""
    import shutil

    from tests.integration.debian import minbase, split

    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed (apt-get install -y mmdebstrap)")
    return split(minbase())


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A test CA with a server certificate for 127.0.0.1, localhost and registry.test, and a token-signing key."""
    from tests.integration.registries import Pki

    return Pki(tmp_path_factory.mktemp("pki"))
