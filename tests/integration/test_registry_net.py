"""Pulls through the network's detours, on 127.0.0.1: a docker.io mirror from registries.conf, an HTTP proxy,
a registry that says 429, one that drops a blob halfway; parallel layers, shared layers fetched once, pushes
that skip and mount blobs, and the pull command's options.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.errors import EngineError
from engine.images import ImageStore, registry
from engine.images.distribution import Transfer, Unreachable
from engine.images.push import push
from engine.state import Root
from tests.integration.busybox import rootfs_tar, settled_leftovers
from tests.integration.debian import files_layer, oci_archive
from tests.integration.proxy import Proxy
from tests.integration.registries import REGISTRY, Front, Registry, env_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="layers keep ownership: needs root")


@pytest.fixture
def reg(tmp_path):
    if not os.access(REGISTRY, os.X_OK):
        pytest.skip("docker-registry is not installed (apt-get install -y docker-registry)")
    server = Registry(tmp_path)
    try:
        if not server.wait_ready():
            pytest.skip(f"docker-registry did not start: {server.log.read_text()[-500:]}")
        yield server
    finally:
        server.stop()


@pytest.fixture
def front_of():
    fronts = []

    def make(upstream: str, **kw) -> Front:
        fronts.append(Front(upstream, **kw).start())
        return fronts[-1]

    yield make
    for front in fronts:
        front.stop()


def store(tmp_path: Path, name: str) -> ImageStore:
    return ImageStore(Root(str(tmp_path / name)))


def ctx(env):
    return registry.Context.from_env(env)


APP_FILES = {"app/run.sh": b"#!/bin/sh\necho app\n", "app/data.bin": os.urandom(600_000)}


def images(tmp_path, layers, host, *, base="library/postgres:15", app="team/app:1"):
    """The Debian base pushed as ``host/base``, and an image of it plus one layer as ``host/app``."""
    src = store(tmp_path, "src")
    env = env_for(tmp_path)
    for ref, stack in ((f"{host}/{base}", layers), (f"{host}/{app}", [*layers, files_layer(APP_FILES)])):
        src.load(io.BytesIO(oci_archive(stack, ref, ["/bin/sh", "-c", "cat /etc/debian_version; sleep 3600"])))
        push(src, ref, context=ctx(env))
    return src


def blob_gets(front: Front) -> list[str]:
    return [path.rsplit("/", 1)[1] for method, path, status, _ in front.log
            if method == "GET" and "/blobs/" in path and status in (200, 206)]


# -- layers: parallel, shared ones fetched once; pushes skip and mount -------------------------------

def test_parallel_layers_and_shared_base_layers_fetched_once(tmp_path, reg, front_of, debian_layers):
    src = images(tmp_path, debian_layers, reg.host)
    front = front_of(reg.host, blob_delay=0.5)
    base, app = src.get(f"{reg.host}/library/postgres:15"), src.get(f"{reg.host}/team/app:1")
    dst, env = store(tmp_path, "dst"), env_for(tmp_path)
    events: list[Transfer] = []
    got = registry.pull(dst, f"{front.host}/library/postgres:15", context=ctx(env), progress=events.append)
    assert got.id == base.id and got.diff_ids == base.diff_ids
    config = json.loads(Path(src.layout.blob_path(base.digest)).read_text())["config"]["digest"]
    assert sorted(blob_gets(front)) == sorted([config, *(d.digest for d in base.layers)])
    assert front.most_active == 3  # the three layers at once (the config came first, alone)
    front.log.clear()
    front.most_active = 0
    events.clear()
    got = registry.pull(dst, f"{front.host}/team/app:1", context=ctx(env), progress=events.append)
    own = app.layers[-1]
    app_config = json.loads(Path(src.layout.blob_path(app.digest)).read_text())["config"]["digest"]
    assert sorted(blob_gets(front)) == sorted([app_config, own.digest])  # only its own layer and config
    assert [e for e in events if e.status in ("Already exists", "Pull complete")] == [
        *(Transfer(d.hex[:12], "Already exists") for d in base.layers), Transfer(own.hex[:12], "Pull complete")]
    assert got.id == app.id and front.most_active == 1
    assert os.listdir(os.path.join(dst.root.images, "tmp")) == []
    front.most_active = 0
    assert registry.pull(store(tmp_path, "dst2"), f"{front.host}/team/app:1", context=ctx(env)).id == app.id
    assert front.most_active == 3  # four layers, three at a time


def test_push_skips_blobs_the_registry_has_and_mounts_from_other_repositories(tmp_path, reg):
    src = store(tmp_path, "src")
    env = env_for(tmp_path)
    ref = f"{reg.host}/one/busybox:1"
    image = src.import_tarball(io.BytesIO(rootfs_tar()), ref)
    push(src, ref, context=ctx(env))
    src.tag(ref, f"{reg.host}/two/busybox:1")
    events: list[Transfer] = []
    push(src, f"{reg.host}/two/busybox:1", context=ctx(env), progress=events.append)
    config = image.id
    assert sorted((e.id, e.status) for e in events if e.status.startswith("Mounted")) == sorted(
        [(image.layers[0].hex[:12], "Mounted from one/busybox"), (config[7:19], "Mounted from one/busybox")])
    events.clear()
    push(src, f"{reg.host}/two/busybox:1", context=ctx(env), progress=events.append)
    assert sorted((e.id, e.status) for e in events if e.status not in ("Preparing",) and e.id) == sorted(
        [(image.layers[0].hex[:12], "Layer already exists"), (config[7:19], "Layer already exists")])
    assert registry.pull(store(tmp_path, "dst"), f"{reg.host}/two/busybox:1", context=ctx(env)).id == image.id


# -- (e) 429 with Retry-After, (f) a blob dropped halfway ------------------------------------------

def test_429_is_retried_after_the_time_it_asks(tmp_path, reg, front_of):
    ref = f"{reg.host}/busybox:latest"
    src = store(tmp_path, "src")
    image = src.import_tarball(io.BytesIO(rootfs_tar()), ref)
    push(src, ref, context=ctx(env_for(tmp_path)))
    front = front_of(reg.host, busy=2)
    got = registry.pull(store(tmp_path, "dst"), f"{front.host}/busybox:latest", context=ctx(env_for(tmp_path)))
    assert got.id == image.id
    assert [status for _, _, status, _ in front.log[:3]] == [429, 429, 200]
    assert front.times[1] - front.times[0] >= 1.0 and front.times[2] - front.times[1] >= 1.0


def test_a_blob_dropped_halfway_resumes_with_a_range_request(tmp_path, reg, front_of, debian_layers):
    src = images(tmp_path, debian_layers, reg.host)
    base = src.get(f"{reg.host}/library/postgres:15")
    front = front_of(reg.host, drop_blob_at=300_000)
    got = registry.pull(store(tmp_path, "dst"), f"{front.host}/library/postgres:15", context=ctx(env_for(tmp_path)))
    assert got.id == base.id and front.dropped
    resumed = [(path, status, rng) for method, path, status, rng in front.log if rng]
    assert len(resumed) == 1 and resumed[0][1:] == (206, "bytes=300000-")
    assert resumed[0][0].rsplit("/", 1)[1] in {d.digest for d in base.layers}


def test_a_registry_that_keeps_failing_gives_up_and_leaves_no_image(tmp_path, reg, front_of):
    ref = f"{reg.host}/busybox:latest"
    src = store(tmp_path, "src")
    src.import_tarball(io.BytesIO(rootfs_tar()), ref)
    push(src, ref, context=ctx(env_for(tmp_path)))
    front = front_of(reg.host, busy=100)
    dst = store(tmp_path, "dst")
    transport = ctx(env_for(tmp_path))
    transport.transport.sleep = lambda s: None  # the back-off, without the waiting
    with pytest.raises(EngineError) as info:
        registry.pull(dst, f"{front.host}/busybox:latest", context=transport)
    assert str(info.value).startswith(f"registry {front.host}: registry answered HTTP 429 Too Many Requests "
                                      "(TOOMANYREQUESTS: slow down)")
    assert len(front.log) == 5 and dst.list() == []


# -- (d) an HTTP proxy -------------------------------------------------------------------------------

def test_https_proxy_carries_the_pull_and_no_proxy_bypasses_it(tmp_path, pki):
    if not os.access(REGISTRY, os.X_OK):
        pytest.skip("docker-registry is not installed (apt-get install -y docker-registry)")
    reg = Registry(tmp_path, tls=pki)
    proxy = Proxy({"registry.test": "127.0.0.1"}).start()
    try:
        assert reg.wait_ready()
        name = f"registry.test:{reg.port}"  # a name only the proxy can resolve
        pki.certs_dir(tmp_path / "certs.d", name)
        env = env_for(tmp_path, HTTPS_PROXY=f"http://{proxy.host}", NO_PROXY="example.org")
        src = store(tmp_path, "src")
        image = src.import_tarball(io.BytesIO(rootfs_tar()), f"{name}/busybox:1")
        push(src, f"{name}/busybox:1", context=ctx(env))
        got = registry.pull(store(tmp_path, "dst"), f"{name}/busybox:1", context=ctx(env))
        assert got.id == image.id and got.refs == (f"{name}/busybox:1",)
        assert proxy.seen and set(proxy.seen) == {f"CONNECT {name}"}
        proxy.seen.clear()
        with pytest.raises(Unreachable) as info:
            registry.pull(store(tmp_path, "dst2"), f"{name}/busybox:1",
                          context=ctx({**env, "NO_PROXY": "registry.test"}))
        assert str(info.value) == f"cannot reach registry {name}: name resolution failed for registry.test"
        assert proxy.seen == []
    finally:
        proxy.stop()
        reg.stop()


def test_http_proxy_for_an_insecure_plain_registry(tmp_path, reg):
    proxy = Proxy({"plain.test": "127.0.0.1"}).start()
    try:
        name = f"plain.test:{reg.port}"
        (tmp_path / "registries.conf").write_text(f'[[registry]]\nlocation = "{name}"\ninsecure = true\n')
        env = env_for(tmp_path, HTTPS_PROXY=f"http://{proxy.host}", HTTP_PROXY=f"http://{proxy.host}")
        src = store(tmp_path, "src")
        image = src.import_tarball(io.BytesIO(rootfs_tar()), f"{name}/busybox:1")
        push(src, f"{name}/busybox:1", context=ctx(env))
        assert registry.pull(store(tmp_path, "dst"), f"{name}/busybox:1", context=ctx(env)).id == image.id
        assert f"GET http://{name}/v2/" in proxy.seen
        assert {line.split()[0] for line in proxy.seen} >= {"GET", "HEAD", "POST", "PUT"}
    finally:
        proxy.stop()


# -- (c) a mirror for docker.io: `image: postgres:15` runs unchanged ------------------------------------

def pc(env, cwd, *args, check=True):
    r = subprocess.run([sys.executable, "-m", "compose.cli.main", *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=180)
    if check:
        assert r.returncode == 0, f"{args}: {r.stderr}"
    return r


def test_docker_io_mirror_runs_an_unchanged_compose_file(tmp_path, reg, debian_layers):
    src = images(tmp_path, debian_layers, reg.host)
    (tmp_path / "registries.conf").write_text(
        'unqualified-search-registries = ["docker.io"]\n\n[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n'
        f'[[registry.mirror]]\nlocation = "{reg.host}"\n')
    project = tmp_path / "shop"
    project.mkdir()
    (project / "compose.yaml").write_text("services:\n  db:\n    image: postgres:15\n")
    root = tmp_path / "root"
    env = {**env_for(tmp_path), "PYCOMPOSE_ROOT": str(root), "PYCOMPOSE_DNS_UPSTREAMS": "none",
           "PYCOMPOSE_SUPERVISOR_IDLE": "0.2", "PYCOMPOSE_NETD_IDLE": "0.2", "PYCOMPOSE_NO_CACHE": "1"}
    try:
        started = time.monotonic()
        lines = pc(env, project, "up", "-d").stderr.splitlines()
        print(f"up -d of a {len(debian_layers)}-layer Debian image from the mirror: {time.monotonic() - started:.1f}s")
        assert lines[0] == " db Pulling" and " db Pulled" in lines and " Container shop-db-1  Started" in lines
        assert sum(line.endswith(" Pull complete") for line in lines) == len(debian_layers)
        tags = json.loads(pc(env, project, "image", "inspect", "postgres:15").stdout)[0]["RepoTags"]
        assert tags == ["postgres:15"]
        assert json.loads(pc(env, project, "image", "inspect", "postgres:15").stdout)[0]["Id"] == src.get(
            f"{reg.host}/library/postgres:15").id
        deadline = time.monotonic() + 10
        while "12." not in (logs := pc(env, project, "logs", "db").stdout) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert logs.split("|", 1)[1].strip().startswith("12.")
    finally:
        pc(env, project, "down", "-v", "-t", "0", check=False)
    assert settled_leftovers(str(root), Root(str(root)).cgroup_name) == []


def test_pull_command_options(tmp_path, reg, front_of):
    env = {**env_for(tmp_path), "PYCOMPOSE_ROOT": str(tmp_path / "root"), "PYCOMPOSE_NO_CACHE": "1"}
    pusher = {**env, "PYCOMPOSE_ROOT": str(tmp_path / "pusher")}
    for name in ("web", "db"):
        r = subprocess.run([sys.executable, "-m", "compose.cli.main", "image", "import", "-", f"{reg.host}/{name}:1"],
                           input=rootfs_tar(), env=pusher, capture_output=True)
        assert r.returncode == 0, r.stderr
    project = tmp_path / "p"
    project.mkdir()
    (project / "compose.yaml").write_text(json.dumps({"services": {
        "web": {"image": f"{reg.host}/web:1", "depends_on": ["db"]}, "db": {"image": f"{reg.host}/db:1"},
        "gone": {"image": f"{reg.host}/gone:1", "profiles": ["extra"]}}}))
    assert pc(pusher, project, "push", "-q").stderr == ""
    short = layer(pusher, reg, "web")  # an imported layer is kept uncompressed: its blob is its diff id
    lines = pc(env, project, "pull", "web").stderr.splitlines()
    assert [line for line in lines if " Downloading [" not in line and " Extracting [" not in line] == [
        " web Pulling", f" {short} Pulling fs layer", f" {short} Verifying Checksum", f" {short} Download complete",
        f" {short} Pull complete", " web Pulled"]
    assert f" {short} Downloading [" in "\n".join(lines) and f" {short} Extracting [" in "\n".join(lines)
    lines = pc(env, project, "pull", "--include-deps", "--policy", "missing", "web").stderr.splitlines()
    assert " web Skipped - Image is already present locally" in lines and " db Pulled" in lines
    r = pc(env, project, "--progress", "json", "pull", "--policy", "always")
    records = [json.loads(line) for line in r.stderr.splitlines()]
    assert {"id": "web", "status": "Pulled"} in records and {"id": "db", "status": "Pulled"} in records
    assert [r for r in records if "web" in (r["id"], r.get("parent_id"))] == [
        {"id": "web", "status": "Pulling"}, {"id": "web", "status": "Pulled"}]  # up to date: no layer to fetch
    assert pc(env, project, "pull", "-q", "--policy", "always").stderr == ""
    r = pc(env, project, "--profile", "extra", "pull", "--ignore-pull-failures")
    assert f" gone Error manifest unknown: {reg.host}/gone:1 is not in registry {reg.host}" in r.stderr.splitlines()
    r = pc(env, project, "--profile", "extra", "pull", check=False)
    assert r.returncode == 1 and r.stderr.splitlines()[-1] == (
        f"manifest unknown: {reg.host}/gone:1 is not in registry {reg.host}")
    r = pc(env, project, "pull", "--policy", "sometimes", check=False)
    assert (r.returncode, r.stderr) == (1, 'invalid --policy "sometimes": missing or always\n')


def layer(env, reg, name):
    out = subprocess.run([sys.executable, "-m", "compose.cli.main", "image", "inspect", f"{reg.host}/{name}:1"],
                         env=env, capture_output=True, text=True).stdout
    return json.loads(out)[0]["RootFS"]["Layers"][0][7:19]


def test_services_are_pulled_in_parallel(tmp_path, reg, front_of):
    env = {**env_for(tmp_path), "PYCOMPOSE_ROOT": str(tmp_path / "root"), "PYCOMPOSE_NO_CACHE": "1"}
    src = store(tmp_path, "src")
    for name in ("one", "two"):
        tar = rootfs_tar() + name.encode().ljust(512, b"\0")  # a different layer each
        src.import_tarball(io.BytesIO(tar), f"{reg.host}/{name}:1")
        push(src, f"{reg.host}/{name}:1", context=ctx(env))
    front = front_of(reg.host, blob_delay=1.0)
    project = tmp_path / "p"
    project.mkdir()
    (project / "compose.yaml").write_text(json.dumps({"services": {
        "one": {"image": f"{front.host}/one:1"}, "two": {"image": f"{front.host}/two:1"}}}))
    lines = pc(env, project, "pull").stderr.splitlines()
    assert front.most_active == 2  # both images' blobs were being served at once
    assert sorted(line for line in lines if not line.startswith("  ") and line.split()[0] in ("one", "two")) == [
        " one Pulled", " one Pulling", " two Pulled", " two Pulling"]
    assert lines.index(" two Pulling") < lines.index(" one Pulled") and lines.index(" one Pulling") < lines.index(
        " two Pulled")
