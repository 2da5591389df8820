"""``NetworkManager``: a network made while ``deferred`` gets its firewall and netd from a forked child that
``up`` joins; the child's error reaches the caller."""

from __future__ import annotations

import os

import pytest

from engine.errors import EngineError
from engine.net import manage
from engine.net.manage import NetworkManager
from engine.net.networks import Networks
from engine.state import Root


@pytest.fixture
def nm(tmp_path, monkeypatch):
    monkeypatch.setattr(Networks, "create", lambda self, name, **kw: (name, True))  # no bridge, no root
    return NetworkManager(Root(str(tmp_path / "root")))


def test_deferred_creation_syncs_in_a_child_that_wait_sync_joins(nm, tmp_path, monkeypatch):
    marker = tmp_path / "synced"
    monkeypatch.setattr(NetworkManager, "sync", lambda self: marker.write_text(str(os.getpid())))
    nm.deferred = True
    assert nm.create("p_default") == ("p_default", True)
    assert not marker.exists()  # nothing yet: the caller starts the child when it is ready
    nm.sync_in_background()
    nm.wait_sync()
    assert marker.read_text() != str(os.getpid())  # it ran, in another process
    nm.wait_sync()  # joined already: nothing to wait for


def test_the_childs_error_is_raised_by_wait_sync(nm, monkeypatch):
    def fail(self):
        raise EngineError("nft: cannot apply the ruleset")

    monkeypatch.setattr(NetworkManager, "sync", fail)
    nm.deferred = True
    nm.create("p_default")
    nm.sync_in_background()
    with pytest.raises(EngineError, match=r"^nft: cannot apply the ruleset$"):
        nm.wait_sync()


def test_nothing_made_nothing_to_sync(nm, monkeypatch):
    monkeypatch.setattr(manage.os, "fork", lambda: pytest.fail("no child without a new network"))
    nm.sync_in_background()
    nm.wait_sync()


def test_not_deferred_syncs_at_once(nm, monkeypatch):
    calls = []
    monkeypatch.setattr(NetworkManager, "sync", lambda self: calls.append("sync"))
    nm.create("p_default")
    assert calls == ["sync"]
