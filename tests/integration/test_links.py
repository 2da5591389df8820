"""Bridges through plain rtnetlink requests: made, made again, refused with the kernel's reason, removed."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from engine.errors import EngineError
from engine.net import links

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="bridges need root")

NAME = f"pclk{os.getpid() % 100000}"


@pytest.fixture
def bridge():
    yield NAME
    links.delete(NAME)
    assert not links.exists(NAME)


def test_a_bridge_with_its_gateway_alias_and_up(bridge):
    links.create_bridge(bridge, "10.252.7.1", 24, "pycompose test")
    links.create_bridge(bridge, "10.252.7.1", 24, "pycompose test")  # again: nothing changes, no error
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", bridge], capture_output=True, text=True,
                           check=True).stdout
    assert shown.count("inet 10.252.7.1/24 ") == 1
    assert links.bridge_alias(bridge) == "pycompose test"
    with open(f"/sys/class/net/{bridge}/operstate") as fh:
        assert fh.read().strip() in ("up", "unknown")  # a bridge without ports says unknown
    assert os.path.isdir(f"/sys/class/net/{bridge}/bridge")


def test_a_refused_bridge_says_why_and_leaves_nothing(bridge):
    with pytest.raises(EngineError, match=rf"^cannot create bridge {bridge} \(10.252.8.1/33\): Invalid argument$"):
        links.create_bridge(bridge, "10.252.8.1", 33, "pycompose test")
    assert not links.exists(bridge)


def test_deleting_what_is_not_there_is_no_error(bridge):
    links.delete(bridge)
    assert links.bridge_alias(bridge) is None


def test_a_stale_veth_gone_before_it_is_deleted_is_no_error(bridge, monkeypatch):
    # a restarted container's old veth goes with its old namespace, which the kernel tears down in the
    # background: it can vanish between the lookup and the delete (the kernel then answers ENODEV)
    links.create_bridge(bridge, "10.252.9.1", 24, "pycompose test")
    child = subprocess.Popen(["unshare", "-n", "sleep", "30"])
    host = f"pv{os.getpid() % 100000}t"
    real = links._ifindex
    monkeypatch.setattr(links, "_ifindex", lambda name: 2**31 - 1 if name == host else real(name))
    try:
        for _ in range(50):  # until unshare has made the namespace and exec'd sleep
            if os.readlink(f"/proc/{child.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.02)
        links.plug(child.pid, [links.Plug(bridge=bridge, host=host, peer="pctmp0")])
        with open(f"/sys/class/net/{host}/master/ifindex") as fh, open(f"/sys/class/net/{bridge}/ifindex") as br:
            assert fh.read() == br.read()
        inside = subprocess.run(["nsenter", "-t", str(child.pid), "-n", "ip", "-o", "link", "show", "pctmp0"],
                                capture_output=True, text=True)
        assert inside.returncode == 0 and "pctmp0@" in inside.stdout
    finally:
        links.delete(host)
        child.kill()
        child.wait()
    assert not links.exists(host)
