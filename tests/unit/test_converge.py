"""``up``, ``start``/``stop``/``restart`` and ``down`` over a fake engine: what they ask the engine, in what order.

The fakes record every call, so these tests check orchestration decisions
(create, keep, recreate, restart dependents, scale, give back what a failed
creation took) without root, containers or networks.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import pytest

from compose.deploy import lifecycle
from compose.deploy.converge import UpOptions, up
from compose.deploy.progress import Progress
from compose.deploy.session import Engine, Session
from compose.errors import UpError
from engine.errors import NotFound, RuntimeFailure
from engine.images.model import ImageConfig
from engine.net.networks import Endpoint
from engine.state import Root


@dataclass
class FakeContainer:
    id: str
    name: str
    spec: object
    status: str = "created"
    exit_code: int | None = None
    pid: int = 0
    stopping: bool = False

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")


class FakeRuntime:
    def __init__(self, nets, vols):
        self.nets, self.vols = nets, vols
        self.containers: dict[str, FakeContainer] = {}
        self.calls: list[tuple[str, str]] = []
        self.health_of: dict[str, str] = {}  # container name -> health
        self.fail_create: set[str] = set()  # container names whose creation fails

    def list(self):
        return list(self.containers.values())

    def get(self, ref):
        for c in self.containers.values():
            if ref in (c.id, c.name):
                return c
        raise NotFound(f"no such container: {ref}")

    @contextlib.contextmanager
    def creating(self, cid):
        """As the runtime does: what a failed creation took is given back."""
        try:
            yield
        except BaseException:
            self.nets.release(cid)
            self.vols.vols = {n: v for n, v in self.vols.vols.items() if self.vols.owners.get(n) != cid}
            raise

    def reconcile(self):
        return []

    def create(self, spec, files=None):
        if spec.name in self.fail_create:
            raise RuntimeFailure(f"container {spec.name}: the mount source /nowhere does not exist")
        self.calls.append(("create", spec.name))
        self.containers[spec.id] = FakeContainer(spec.id, spec.name, spec)

    def start(self, cid):
        c = self.get(cid)
        self.calls.append(("start", c.name))
        c.status = "running"

    def stop(self, cid, timeout=None):
        c = self.get(cid)
        self.calls.append(("stop", c.name))
        c.status, c.exit_code = "exited", 0

    def remove(self, cid, force=False):
        c = self.get(cid)
        self.calls.append(("remove", c.name))
        del self.containers[c.id]

    def rename(self, cid, name):
        c = self.get(cid)
        self.calls.append(("rename", name))
        c.name = name
        return c

    def health(self, cid):
        c = self.get(cid)
        return self.health_of.get(c.name) if c.spec.healthcheck else None

    def ensure_supervisor(self, group):
        pass

    def begin_supervisor(self, group):
        pass

    def settle(self):
        pass


@dataclass
class FakeImage:
    id: str
    config: ImageConfig = field(default_factory=ImageConfig)
    refs: tuple[str, ...] = ()


class FakeImages:
    config = ImageConfig()

    def get(self, ref):
        return FakeImage(id="sha256:" + "1" * 64, config=self.config, refs=(ref,))

    def layer_dirs(self, image):
        return ["/layers/1"]


@dataclass
class FakeNetwork:
    name: str
    internal: bool = False
    labels: dict = field(default_factory=dict)
    allocations: dict = field(default_factory=dict)


class FakeNets:
    deferred = False

    def __init__(self):
        self.nets: dict[str, FakeNetwork] = {}
        self.released: list[str] = []
        self.next = 2

    def sync_in_background(self):
        pass

    def wait_sync(self):
        pass

    def list(self):
        return list(self.nets.values())

    def get(self, name):
        return self.nets[name]

    def create(self, name, **kw):
        made = name not in self.nets
        self.nets.setdefault(name, FakeNetwork(name, internal=kw.get("internal", False),
                                               labels=kw.get("labels") or {}))
        return self.nets[name], made

    def allocate(self, name, cid, *, container_name="", address=None, names=()):
        address = address or f"10.9.0.{self.next}"
        self.next += 1
        self.nets[name].allocations[address] = cid
        return Endpoint(network=name, bridge="pc-fake", address=address, prefixlen=24, gateway="10.9.0.1",
                        mac="02:42:0a:09:00:02")

    def release(self, cid):
        self.released.append(cid)
        for net in self.nets.values():
            net.allocations = {a: c for a, c in net.allocations.items() if c != cid}

    def remove(self, name):
        del self.nets[name]


@dataclass
class FakeVolume:
    name: str
    labels: dict

    @property
    def anonymous(self) -> bool:
        return "com.docker.volume.anonymous" in self.labels


class FakeVolumes:
    def __init__(self):
        self.vols: dict[str, dict] = {}
        self.owners: dict[str, str] = {}

    def list(self):
        return [FakeVolume(n, v) for n, v in self.vols.items()]

    def get(self, name):
        if name not in self.vols:
            raise NotFound(f"volume {name} not found")
        return FakeVolume(name, self.vols[name])

    def create(self, name, labels=None, driver="local", options=None, owner=None):
        self.vols[name] = dict(labels or {})
        if owner:
            self.owners[name] = owner
        return self.get(name)

    def path(self, name):
        return f"/volumes/{name}/_data"

    def remove(self, name, force=False):
        self.vols.pop(name, None)


@pytest.fixture
def engine(tmp_path):
    nets, vols = FakeNets(), FakeVolumes()
    return Engine(root=Root(str(tmp_path / "root")), rt=FakeRuntime(nets, vols), images=FakeImages(), nets=nets,
                  vols=vols)


def session(proj, engine, yaml):
    proj.write({"compose.yaml": yaml})
    out = io.StringIO()
    return Session(proj.load().project, progress=Progress("plain", out), engine=engine), out


STACK = """\
name: shop
services:
  web:
    image: busybox
    depends_on:
      db: {condition: service_started, restart: true}
  db:
    image: busybox
    volumes: [data:/var/lib/db]
volumes:
  data:
"""


def test_first_up_creates_dependencies_first_and_a_second_up_changes_nothing(proj, engine):
    s, out = session(proj, engine, STACK)
    up(s, UpOptions())
    assert engine.rt.calls == [("create", "shop-db-1"), ("start", "shop-db-1"),
                               ("create", "shop-web-1"), ("start", "shop-web-1")]
    assert list(engine.nets.nets) == ["shop_default"] and list(engine.vols.vols) == ["shop_data"]
    assert out.getvalue().splitlines()[:5] == [" Network shop_default  Creating", " Network shop_default  Created",
                                               " Volume shop_data  Creating", " Volume shop_data  Created",
                                               " Container shop-db-1  Creating"]
    engine.rt.calls.clear()
    s, out = session(proj, engine, STACK)
    up(s, UpOptions())
    assert engine.rt.calls == []
    assert out.getvalue().splitlines() == [" Container shop-db-1  Running", " Container shop-web-1  Running"]


def test_a_changed_dependency_is_recreated_and_restart_true_restarts_its_dependent(proj, engine):
    s, _ = session(proj, engine, STACK)
    up(s, UpOptions())
    engine.rt.calls.clear()
    s, out = session(proj, engine, STACK.replace("    image: busybox\n    volumes", "    image: busybox\n"
                                                 "    user: postgres\n    volumes"))
    up(s, UpOptions())
    assert engine.rt.calls[0][0] == "create" and engine.rt.calls[0][1].endswith("_shop-db-1")  # new one first
    assert engine.rt.calls[1:] == [("stop", "shop-db-1"), ("remove", "shop-db-1"), ("rename", "shop-db-1"),
                                   ("start", "shop-db-1"), ("stop", "shop-web-1"), ("start", "shop-web-1")]

    assert " Container shop-web-1  Restarted" in out.getvalue().splitlines()


def test_scaling_down_removes_the_highest_numbers(proj, engine):
    yaml = "name: shop\nservices:\n  web: {image: busybox}\n"
    s, _ = session(proj, engine, yaml)
    up(s, UpOptions(scale={"web": 3}))
    engine.rt.calls.clear()
    s, _ = session(proj, engine, yaml)
    up(s, UpOptions(scale={"web": 1}))
    assert engine.rt.calls == [("stop", "shop-web-2"), ("remove", "shop-web-2"),
                               ("stop", "shop-web-3"), ("remove", "shop-web-3")]
    assert sorted(c.name for c in engine.rt.list()) == ["shop-web-1"]


def test_a_failed_creation_gives_back_its_address_and_anonymous_volume(proj, engine):
    s, _ = session(proj, engine, "name: shop\nservices:\n  web:\n    image: busybox\n    volumes: [/cache]\n")
    engine.rt.fail_create.add("shop-web-1")
    with pytest.raises(UpError, match="^service web: container shop-web-1: the mount source /nowhere does not"):
        up(s, UpOptions())
    assert len(engine.nets.released) == 1 and engine.nets.nets["shop_default"].allocations == {}
    assert engine.vols.vols == {}  # the anonymous volume made for /cache is gone again
    assert engine.rt.list() == []


def test_an_unhealthy_dependency_stops_up_before_its_dependents(proj, engine):
    yaml = """\
        name: shop
        services:
          web:
            image: busybox
            depends_on: {db: {condition: service_healthy}}
          db:
            image: busybox
            healthcheck: {test: ["CMD", "false"], interval: 1s}
        """
    s, _ = session(proj, engine, yaml)
    engine.rt.health_of["shop-db-1"] = "unhealthy"
    with pytest.raises(UpError, match="^dependency failed to start: container shop-db-1 is unhealthy$"):
        up(s, UpOptions())
    assert [name for _, name in engine.rt.calls] == ["shop-db-1", "shop-db-1"]  # web was never created


def test_stop_goes_dependents_first_and_start_dependencies_first(proj, engine):
    s, _ = session(proj, engine, STACK)
    up(s, UpOptions())
    engine.rt.calls.clear()
    lifecycle.stop(s)
    lifecycle.start(s)
    assert engine.rt.calls == [("stop", "shop-web-1"), ("stop", "shop-db-1"),
                               ("start", "shop-db-1"), ("start", "shop-web-1")]


def test_down_removes_containers_dependents_first_then_the_network(proj, engine):
    s, out = session(proj, engine, STACK)
    up(s, UpOptions())
    engine.rt.calls.clear()
    for net in engine.nets.nets.values():  # as the engine does: addresses go with their containers
        net.labels["com.docker.compose.project"] = "shop"
    engine.rt.remove = _releasing(engine.rt.remove, engine.nets)
    lifecycle.down(s)
    assert engine.rt.calls == [("stop", "shop-web-1"), ("remove", "shop-web-1"),
                               ("stop", "shop-db-1"), ("remove", "shop-db-1")]
    assert engine.nets.nets == {} and list(engine.vols.vols) == ["shop_data"]  # named volumes stay without -v


def _releasing(remove, nets):
    def wrapped(cid, force=False):
        remove(cid, force=force)
        nets.release(cid)
    return wrapped


def test_a_recreate_takes_over_anonymous_volumes_and_a_failed_one_leaves_the_old_container(proj, engine):
    yaml = "name: shop\nservices:\n  db:\n    image: busybox\n    volumes: [/var/lib/db]\n"
    s, _ = session(proj, engine, yaml)
    up(s, UpOptions())
    first = engine.rt.get("shop-db-1")
    folder = next(m.source for m in first.spec.mounts if m.target == "/var/lib/db")
    s, _ = session(proj, engine, yaml.replace("busybox\n", "busybox\n    user: nobody\n"))
    up(s, UpOptions())
    second = engine.rt.get("shop-db-1")
    assert second.id != first.id and next(m.source for m in second.spec.mounts if m.target == "/var/lib/db") == folder
    assert len(engine.vols.vols) == 1  # the same anonymous volume, not a new one
    s, _ = session(proj, engine, yaml.replace("busybox\n", "busybox\n    user: daemon\n"))
    engine.rt.create = _failing(engine.rt.create)
    with pytest.raises(UpError, match="^service db: "):
        up(s, UpOptions())
    assert [c.id for c in engine.rt.list()] == [second.id] and engine.rt.get(second.id).running
    s, _ = session(proj, engine, yaml)
    up(s, UpOptions(renew_anon_volumes=True, force_recreate=True))
    third = engine.rt.get("shop-db-1")
    assert next(m.source for m in third.spec.mounts if m.target == "/var/lib/db") != folder  # -V: a new one


def _failing(create):
    calls = {"n": 0}

    def wrapped(spec, files=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeFailure(f"container {spec.name}: no space left on device")
        return create(spec, files)
    return wrapped


def test_image_volumes_become_anonymous_volumes_unless_a_mount_covers_them(proj, engine):
    engine.images.config = ImageConfig(volumes=("/data", "/logs"))
    s, _ = session(proj, engine, "name: shop\nservices:\n  db:\n    image: busybox\n    volumes: [./logs:/logs]\n")
    up(s, UpOptions())
    mounts = {m.target: m for m in engine.rt.get("shop-db-1").spec.mounts}
    assert sorted(mounts) == ["/data", "/logs"]
    assert mounts["/data"].source.startswith("/volumes/") and mounts["/data"].copy_up  # filled from the image
    assert mounts["/logs"].source == proj.path("logs")  # the bind wins


def test_a_link_alias_is_a_name_of_the_linked_service(proj, engine):
    s, _ = session(proj, engine, "name: shop\nservices:\n  web:\n    image: busybox\n    links: [db:database]\n"
                                 "  db:\n    image: busybox\n")
    calls = []
    allocate = engine.nets.allocate
    engine.nets.allocate = lambda name, cid, **kw: calls.append((kw["container_name"], kw["names"])) or allocate(
        name, cid, **kw)
    up(s, UpOptions())
    names = dict(calls)
    assert "database" in names["shop-db-1"] and "database" not in names["shop-web-1"]
