"""Data in an image's VOLUME and in anonymous volumes, across recreate and down, as Docker Compose keeps it."""

from __future__ import annotations

import os

import pytest

from tests.e2e.test_commands import Cli, cli  # noqa: F401 - the fixture
from tests.integration.busybox import rootfs_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

STACK = """\
    services:
      db:
        image: withvolume:1
        command: ["sh", "-c", "[ -f /data/seed ] && echo seeded; exec sleep 3600"]
        volumes: [/cache]
        stop_grace_period: 0s
    """


def volumes(c: Cli) -> list[str]:
    return sorted(v for v in os.listdir(os.path.join(c.root, "volumes")) if not v.startswith("."))


def test_image_volume_and_anonymous_volume_keep_data_across_recreate(cli: Cli) -> None:  # noqa: F811
    layer = rootfs_tar(extra={"data/seed": b"from the image\n"})
    r = cli("image", "import", "-", "withvolume:1", "-c", "VOLUME /data", input=layer, text=False)
    assert r.returncode == 0, r.stderr
    cli.write(STACK)
    cli("up", "-d", check=True)
    assert cli("exec", "-T", "db", "cat", "/data/seed", check=True).stdout == "from the image\n"  # copied up
    cli("exec", "-T", "db", "sh", "-c", "echo kept > /data/mine; echo kept > /cache/mine", check=True)
    assert len(volumes(cli)) == 2  # /data (from the image) and /cache

    cli("up", "-d", "--force-recreate", check=True)
    assert cli("exec", "-T", "db", "cat", "/data/mine", "/cache/mine", check=True).stdout == "kept\nkept\n"
    assert len(volumes(cli)) == 2  # the same two, moved to the new container

    cli.write(STACK.replace("volumes: [/cache]", "volumes: [/cache, {type: bind, source: ./absent, target: /x}]"))
    r = cli("up", "-d")
    assert r.returncode == 1 and "the mount source" in r.stderr and "absent does not exist" in r.stderr
    assert cli("exec", "-T", "db", "cat", "/data/mine", check=True).stdout == "kept\n"  # the old one still runs

    cli.write(STACK)
    cli("up", "-d", "-V", "--force-recreate", check=True)  # renew: fresh anonymous volumes, seeded again
    assert cli("exec", "-T", "db", "sh", "-c", "cat /data/seed; ls /cache", check=True).stdout == "from the image\n"

    cli("down", check=True)
    assert len(volumes(cli)) == 4  # down keeps anonymous volumes (as Docker does); -V left the old two too
    cli("down", "-v", check=True)
    assert volumes(cli) == []
