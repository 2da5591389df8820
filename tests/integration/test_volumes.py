"""Named volumes on real files: the store, its in-use rules, and ``pycompose volume`` as a user runs it.

Containers are stood in for by their records (``container.json`` whose
mounts name a volume's folder, ``state.json`` with a status): that is all the
volume store reads of them. Everything lives under the test's ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid

import pytest

from engine.errors import Conflict, EngineError, NotFound
from engine.state import Root, write_json
from engine.volumes import ANONYMOUS_LABEL, Volumes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def vols(state_root: Root) -> Volumes:
    return Volumes(state_root)


@pytest.fixture
def container(state_root: Root):
    """Make a fake container record mounting ``source`` at /data, with the given status."""

    def make(name: str, source: str, status: str = "exited") -> str:
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        folder = os.path.join(state_root.containers, cid)
        os.makedirs(folder)
        write_json(os.path.join(folder, "container.json"), {"spec": {
            "id": cid, "name": name, "mounts": [{"type": "bind", "source": source, "target": "/data"}]}})
        write_json(os.path.join(folder, "state.json"), {"status": status})
        return cid

    return make


def leftovers(vols: Volumes) -> list[str]:
    """Anything in the volumes folder besides whole volumes (staging or removal debris)."""
    try:
        return sorted(n for n in os.listdir(vols.dir) if n.startswith("."))
    except FileNotFoundError:
        return []


# -- the store ------------------------------------------------------------------


def test_create_lays_out_like_docker(vols: Volumes, state_root: Root) -> None:
    v = vols.create("data", labels={"com.example": "x"})
    folder = state_root.sub("volumes", "data")
    assert v.mountpoint == vols.path("data") == os.path.join(folder, "_data")
    assert stat.S_IMODE(os.stat(v.mountpoint).st_mode) == 0o755
    record = json.load(open(os.path.join(folder, "volume.json")))
    assert record["name"] == "data" and record["driver"] == "local"
    assert record["labels"] == {"com.example": "x"} and record["options"] == {}
    assert record["populated"] is False and record["mountpoint"] == v.mountpoint
    assert record["created"].endswith("Z") and record["created"][10] == "T"
    assert os.path.exists(state_root.sub("locks", "volumes.lock"))
    assert sorted(os.listdir(folder)) == ["_data", "volume.json"]


def test_get_list_and_idempotent_create(vols: Volumes) -> None:
    assert vols.list() == []
    first = vols.create("b-vol", labels={"a": "1"})
    vols.create("a.vol")
    again = vols.create("b-vol", labels={"a": "2"})  # kept as it was
    assert again == first and vols.get("b-vol").labels == {"a": "1"}
    assert [v.name for v in vols.list()] == ["a.vol", "b-vol"]
    with pytest.raises(NotFound, match="no such volume: nope"):
        vols.get("nope")
    with pytest.raises(NotFound, match="no such volume"):
        vols.get("../containers")


@pytest.mark.parametrize("name", ["a", "-x", ".hidden", "_x", "a/b", "a b", "..", "", "ü-vol"])
def test_bad_names_refused(vols: Volumes, name: str) -> None:
    with pytest.raises(EngineError, match="invalid volume name"):
        vols.create(name)
    assert vols.list() == [] and leftovers(vols) == []


def test_other_drivers_refused(vols: Volumes) -> None:
    with pytest.raises(EngineError, match="driver 'nfs-driver' is not supported"):
        vols.create("data", driver="nfs-driver")
    assert vols.list() == []


def test_mark_populated_and_size(vols: Volumes) -> None:
    vols.create("data")
    assert vols.size("data") == 0
    path = vols.path("data")
    with open(os.path.join(path, "f"), "wb") as fh:
        fh.write(b"x" * 1000)
    os.mkdir(os.path.join(path, "sub"))
    os.link(os.path.join(path, "f"), os.path.join(path, "sub", "hardlink"))  # counted once
    with open(os.path.join(path, "sub", "g"), "wb") as fh:
        fh.write(b"y" * 24)
    assert vols.size("data") == 1024
    assert vols.mark_populated("data").populated
    assert vols.get("data").populated and vols.mark_populated("data").populated


# -- driver_opts ----------------------------------------------------------------


def test_bind_options_use_the_device(vols: Volumes, tmp_path) -> None:
    device = tmp_path / "host"
    device.mkdir()
    (device / "hello").write_text("hi")
    v = vols.create("bound", options={"type": "none", "o": "bind", "device": str(device)})
    assert v.device == str(device) and vols.path("bound") == str(device)
    assert vols.get("bound").options == {"type": "none", "o": "bind", "device": str(device)}
    assert vols.size("bound") == 2
    device.joinpath("hello").unlink()
    device.rmdir()
    with pytest.raises(EngineError, match="does not exist"):
        vols.path("bound")


def test_bind_options_need_an_existing_device(vols: Volumes, tmp_path) -> None:
    with pytest.raises(EngineError, match=r"device .*missing does not exist"):
        vols.create("bound", options={"type": "none", "o": "bind", "device": str(tmp_path / "missing")})
    (tmp_path / "file").write_text("")
    with pytest.raises(EngineError, match="is not a folder"):
        vols.create("bound", options={"type": "none", "o": "bind", "device": str(tmp_path / "file")})
    with pytest.raises(EngineError, match="absolute"):
        vols.create("bound", options={"type": "none", "o": "bind", "device": "relative/dir"})
    assert vols.list() == [] and leftovers(vols) == []


@pytest.mark.parametrize("options, message", [
    ({"type": "tmpfs", "device": "tmpfs", "o": "size=100m"}, "type tmpfs are not supported"),
    ({"type": "nfs", "o": "addr=10.0.0.1", "device": ":/export"}, "type nfs are not supported"),
    ({"device": "/srv"}, "without a type"),
    ({"type": "none", "o": "ro", "device": "/"}, "o must be bind"),
    ({"type": "none", "device": "/"}, "o must be bind"),
    ({"type": "none", "o": "bind", "device": "/", "size": "1G"}, "invalid driver option 'size'"),
])
def test_unsupported_options_refused(vols: Volumes, options: dict[str, str], message: str) -> None:
    with pytest.raises(EngineError, match=message):
        vols.create("opts", options=options)
    assert vols.list() == [] and leftovers(vols) == []


# -- in use, remove, prune ------------------------------------------------------


def test_remove_unused(vols: Volumes) -> None:
    path = vols.create("data").mountpoint
    open(os.path.join(path, "f"), "w").close()
    vols.remove("data")
    assert vols.list() == [] and not os.path.exists(os.path.dirname(path)) and leftovers(vols) == []
    with pytest.raises(NotFound, match="no such volume: data"):
        vols.remove("data")
    vols.remove("data", force=True)  # as docker volume rm -f: a missing volume is no error


def test_remove_refused_while_used(vols: Volumes, container) -> None:
    path = vols.create("data").mountpoint
    container("web-1", path, "exited")
    container("worker", os.path.join(path, "sub"), "created")  # a subpath counts too
    with pytest.raises(Conflict, match="in use by container.* web-1, worker"):
        vols.remove("data")
    assert vols.get("data")
    vols.remove("data", force=True)  # nobody runs: force removes it
    assert vols.list() == []


@pytest.mark.parametrize("status", ["running", "paused", "restarting"])
def test_force_refused_while_a_container_runs(vols: Volumes, container, status: str) -> None:
    path = vols.create("data").mountpoint
    container("db", path, status)
    container("old", path, "exited")
    with pytest.raises(Conflict, match="in use by container"):
        vols.remove("data")
    with pytest.raises(Conflict, match="running container.*db; stop"):
        vols.remove("data", force=True)
    assert os.path.isdir(path)


def test_bind_volume_used_through_its_device(vols: Volumes, container, tmp_path) -> None:
    device = tmp_path / "host"
    device.mkdir()
    vols.create("bound", options={"type": "none", "o": "bind", "device": str(device)})
    container("app", vols.path("bound"), "running")
    assert [u.name for u in vols.users("bound")] == ["app"]
    with pytest.raises(Conflict, match="app"):
        vols.remove("bound", force=True)


def test_prune_anonymous_by_default_all_on_request(vols: Volumes, container) -> None:
    anon = {ANONYMOUS_LABEL: ""}
    vols.create("anon-free", labels=anon)
    used = vols.create("anon-used", labels=anon)
    vols.create("named-free")
    named_used = vols.create("named-used")
    container("a", used.mountpoint, "exited")
    container("b", named_used.mountpoint, "running")
    assert vols.prune() == ["anon-free"]
    assert [v.name for v in vols.list()] == ["anon-used", "named-free", "named-used"]
    assert vols.prune(all=True) == ["named-free"]
    assert [v.name for v in vols.list()] == ["anon-used", "named-used"]
    assert vols.prune(all=True) == [] and leftovers(vols) == []


def test_crash_debris_swept(vols: Volumes) -> None:
    vols.create("data")
    os.makedirs(os.path.join(vols.dir, ".new-crashed", "_data"))
    assert [v.name for v in vols.list()] == ["data"]
    vols.create("other")
    assert leftovers(vols) == []


# -- the command line -----------------------------------------------------------


def cli(root: Root, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "PYCOMPOSE_ROOT": root.path, "PYCOMPOSE_NO_CACHE": "1"}
    return subprocess.run([sys.executable, "-m", "compose.cli.main", "volume", *args], cwd=REPO,
                          env=env, input=stdin, capture_output=True, text=True, timeout=60)


def test_cli_create_ls_inspect(state_root: Root, tmp_path) -> None:
    r = cli(state_root, "create", "--label", "tier=db", "--label", "bare", "data")
    assert (r.returncode, r.stdout, r.stderr) == (0, "data\n", "")
    device = tmp_path / "host"
    device.mkdir()
    r = cli(state_root, "create", "--opt", "type=none", "--opt", "o=bind", "--opt", f"device={device}", "bound")
    assert r.returncode == 0, r.stderr
    r = cli(state_root, "ls")
    assert r.stdout.splitlines() == ["DRIVER    VOLUME NAME", "local     bound", "local     data"]
    assert cli(state_root, "ls", "-q", "--filter", "label=tier=db").stdout == "data\n"
    assert cli(state_root, "ls", "-q", "--filter", "label=bare").stdout == "data\n"
    assert cli(state_root, "ls", "-q", "--filter", "label=tier=web").stdout == ""
    assert cli(state_root, "ls", "-q", "--filter", "dangling=true").stdout == "bound\ndata\n"
    lines = [json.loads(line) for line in cli(state_root, "ls", "--format", "json").stdout.splitlines()]
    assert [(x["Name"], x["Driver"], x["Scope"]) for x in lines] == [("bound", "local", "local"),
                                                                     ("data", "local", "local")]
    r = cli(state_root, "inspect", "data", "bound")
    data, bound = json.loads(r.stdout)
    assert data["Name"] == "data" and data["Driver"] == "local" and data["Scope"] == "local"
    assert data["Labels"] == {"tier": "db", "bare": ""} and data["Options"] is None
    assert data["Mountpoint"] == state_root.sub("volumes", "data", "_data") and data["CreatedAt"].endswith("Z")
    assert bound["Options"] == {"type": "none", "o": "bind", "device": str(device)}


def test_cli_rm_and_errors(state_root: Root, container) -> None:
    assert cli(state_root, "create", "data").returncode == 0
    assert cli(state_root, "create", "spare").returncode == 0
    cid = container("web-1", state_root.sub("volumes", "data", "_data"), "running")
    assert cli(state_root, "ls", "-q", "-f", "dangling=true").stdout == "spare\n"
    r = cli(state_root, "rm", "data")
    assert r.returncode == 1 and "web-1" in r.stderr and r.stdout == ""
    r = cli(state_root, "rm", "-f", "data")
    assert r.returncode == 1 and "running container(s) web-1" in r.stderr
    write_json(os.path.join(state_root.containers, cid, "state.json"), {"status": "exited"})
    r = cli(state_root, "rm", "-f", "data", "spare")
    assert (r.returncode, r.stdout) == (0, "data\nspare\n")
    r = cli(state_root, "rm", "data")
    assert (r.returncode, r.stderr) == (1, "no such volume: data\n")
    r = cli(state_root, "inspect", "nope")
    assert r.returncode == 1 and r.stderr == "no such volume: nope\n" and json.loads(r.stdout) == []
    r = cli(state_root, "create", "x")
    assert r.returncode == 1 and "invalid volume name" in r.stderr
    r = cli(state_root, "create", "--driver", "nfs", "good")
    assert r.returncode == 1 and "driver 'nfs' is not supported" in r.stderr
    r = cli(state_root, "create", "--opt", "type=tmpfs", "good")
    assert r.returncode == 1 and "type tmpfs are not supported" in r.stderr
    r = cli(state_root, "create", "--opt", "novalue", "good")
    assert r.returncode == 1 and "expected key=value" in r.stderr
    r = cli(state_root, "ls", "--filter", "colour=red")
    assert r.returncode == 1 and "invalid filter" in r.stderr
    assert cli(state_root, "ls", "-q").stdout == ""


def test_cli_prune(state_root: Root, container) -> None:
    vols = Volumes(state_root)
    vols.create("anon", labels={ANONYMOUS_LABEL: ""})
    vols.create("named")
    kept = vols.create("kept")
    container("c", kept.mountpoint, "exited")
    r = cli(state_root, "prune", stdin="n\n")  # declined: nothing removed
    assert r.returncode == 0 and "WARNING!" in r.stdout and len(vols.list()) == 3
    r = cli(state_root, "prune", "-f")
    assert (r.returncode, r.stdout) == (0, "Deleted Volumes:\nanon\n")
    r = cli(state_root, "prune", stdin="y\n")
    assert r.returncode == 0 and "Deleted" not in r.stdout
    r = cli(state_root, "prune", "-f", "--all")
    assert (r.returncode, r.stdout) == (0, "Deleted Volumes:\nnamed\n")
    assert [v.name for v in vols.list()] == ["kept"]


# -- volumes and the containers that mount them ------------------------------------


def _spec(name: str, source: str):
    from engine.runtime.containers import new_id
    from engine.runtime.spec import ContainerSpec, MountSpec

    return ContainerSpec(id=new_id(), name=name, image_id="sha256:none", layers=(), argv=("true",),
                         mounts=(MountSpec(type="bind", source=source, target="/data", copy_up=True),))


def test_creating_a_container_that_binds_a_folder_waits_for_the_volumes_lock(vols: Volumes,
                                                                               state_root: Root) -> None:
    import threading

    from engine.runtime.containers import Runtime
    from engine.state import locked

    rt = Runtime(state_root)
    path = vols.create("data").mountpoint
    done: list[str] = []
    with locked(state_root.lock("volumes")):  # as a volume removal holds it
        worker = threading.Thread(target=lambda: done.append(rt.create(_spec("web-1", path)).name))
        worker.start()
        worker.join(0.5)
        assert worker.is_alive() and done == [] and rt.list() == []
    worker.join(10)
    assert done == ["web-1"]
    with pytest.raises(Conflict, match="volume data is in use by container\\(s\\) web-1"):
        vols.remove("data")


def test_a_container_whose_volume_is_gone_is_not_recorded(vols: Volumes, state_root: Root) -> None:
    from engine.errors import RuntimeFailure
    from engine.runtime.containers import Runtime

    rt = Runtime(state_root)
    path = vols.create("data").mountpoint
    vols.remove("data")
    with pytest.raises(RuntimeFailure, match=f"container web-1: the mount source {path} does not exist"):
        rt.create(_spec("web-1", path))
    assert rt.list() == [] and os.listdir(state_root.containers) == []
    assert not os.path.exists(path)


def test_volume_removal_and_container_creation_never_interleave(vols: Volumes, state_root: Root) -> None:
    """Two threads race: one creates a container mounting the volume (then removes it), one removes the
    volume. Each creation either fails cleanly or finds the volume there and in use; never a record
    of a container whose volume is gone."""
    import random
    import threading
    import time

    from engine.errors import RuntimeFailure
    from engine.runtime.containers import Runtime

    rt = Runtime(state_root)
    rounds, outcomes, problems = 150, {"created": 0, "refused": 0, "removed": 0, "in use": 0}, []
    stop = threading.Event()

    def create_containers() -> None:
        try:
            for i in range(rounds):
                path = vols.create("data").mountpoint
                try:
                    c = rt.create(_spec(f"c-{i}", path))
                except RuntimeFailure as exc:
                    if "does not exist" not in str(exc):
                        problems.append(f"round {i}: {exc}")
                    outcomes["refused"] += 1
                    continue
                outcomes["created"] += 1
                if not os.path.isdir(path) or [u.name for u in vols.users("data")] != [f"c-{i}"]:
                    problems.append(f"round {i}: c-{i} recorded, but its volume is gone or not in use")
                rt.remove(c.id)
                time.sleep(random.uniform(0, 0.002))  # flock is not fair: give the remover its turns
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            problems.append(f"creator: {type(exc).__name__}: {exc}")
        finally:
            stop.set()

    def remove_volumes() -> None:
        while not stop.is_set():
            try:
                vols.remove("data")
                outcomes["removed"] += 1
            except Conflict:
                outcomes["in use"] += 1
            except NotFound:
                pass
            time.sleep(random.uniform(0, 0.002))

    threads = [threading.Thread(target=create_containers), threading.Thread(target=remove_volumes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    print(f"\n{outcomes}")
    assert problems == []
    assert outcomes["created"] + outcomes["refused"] == rounds
    assert outcomes["created"] > 0 and outcomes["removed"] > 0  # both sides really ran
    for c in rt.list():
        for m in c.spec.mounts:
            assert m.source is None or os.path.isdir(m.source), f"{c.name} mounts a deleted volume"
    assert leftovers(vols) == []
