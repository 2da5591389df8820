"""Pull and push against a real registry: Debian's docker-registry, started on 127.0.0.1 by each test.

Nothing here contacts any other host: docker.io references are checked with
the socket layer made to fail the test on any connection attempt.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import io
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compose.deploy.imaging import effective_pull_policy
from compose.errors import UpError
from engine.errors import ArchiveError, EngineError, NotFound
from engine.images import ImageStore, registry
from engine.images.distribution import Transfer, Unreachable
from engine.images.model import HOST_ARCH
from engine.images.push import push
from engine.net.ports import ephemeral
from engine.state import Root
from tests.integration.busybox import rootfs_tar, settled_leftovers
from tests.integration.registries import REGISTRY, Registry

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="layers keep ownership: needs root")


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    """No registries.conf, credentials or proxies of the host's: an empty registries.conf and HOME of the test's."""
    from tests.integration.registries import env_for

    env = env_for(tmp_path)
    for key in [k for k in os.environ if k not in env]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def reg(tmp_path):
    if not os.access(REGISTRY, os.X_OK):
        pytest.skip("docker-registry is not installed (apt-get install -y docker-registry)")
    server = Registry(tmp_path)
    try:
        if not server.wait_ready():
            server.stop()
            pytest.skip(f"docker-registry did not start: {server.log.read_text()[-500:]}")
        yield server
    finally:
        server.stop()
    assert server.proc.poll() is not None


def store(tmp_path, name):
    return ImageStore(Root(str(tmp_path / name)))


def pushed(tmp_path, reg, tag="busybox:latest"):
    """A busybox image imported into root "a" and pushed as ``<registry>/<tag>``; (store, image, ref)."""
    ref = f"{reg.host}/{tag}"
    src = store(tmp_path, "a")
    image = src.import_tarball(io.BytesIO(rootfs_tar()), ref)
    assert push(src, ref) == image.digest
    return src, image, ref


def tree(paths):
    """Every file of the layers (upper wins): relative path -> (type, mode, uid, gid, content hash or link)."""
    out = {}
    for top in paths:
        for base, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(base, name)
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    what = os.readlink(path)
                elif stat.S_ISREG(st.st_mode):
                    what = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                else:
                    what = ""
                out[os.path.relpath(path, top)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                                                   st.st_uid, st.st_gid, what)
    return out


def assert_empty(s):
    assert s.list() == []
    for sub in ("oci/blobs/sha256", "layers", "tmp"):
        path = os.path.join(s.root.images, sub)
        assert not os.path.isdir(path) or os.listdir(path) == [], sub


# -- pull and push through the API -----------------------------------------------------------

def test_push_then_pull_gives_the_same_image_and_files(tmp_path, reg):
    src, image, ref = pushed(tmp_path, reg)
    dst = store(tmp_path, "b")
    events = []
    started = time.monotonic()
    got = registry.pull(dst, ref, progress=events.append)
    took = time.monotonic() - started
    print(f"pulled busybox ({sum(d.size for d in got.layers)} bytes of layers) in {took:.3f}s")
    assert (got.id, got.digest, got.diff_ids, got.refs) == (image.id, image.digest, image.diff_ids, (ref,))
    assert got.config == image.config and got.size == image.size
    assert tree(dst.layer_dirs(got)) == tree(src.layer_dirs(image)) and tree(dst.layer_dirs(got))
    short = image.layers[0].hex[:12]
    size = image.layers[0].size
    assert [e for e in events if e.status not in ("Downloading", "Extracting")] == [
        Transfer(short, "Pulling fs layer"), Transfer(short, "Verifying Checksum"), Transfer(short, "Download complete"),
        Transfer(short, "Pull complete"), Transfer("", f"Digest: {image.digest}")]
    assert Transfer(short, "Downloading", size, size) in events and Transfer(short, "Extracting", size, size) in events
    assert os.listdir(os.path.join(dst.root.images, "tmp")) == []

    again = []
    assert registry.pull(dst, ref, progress=again.append).id == image.id
    assert again == [Transfer("", "Image is up to date")]
    assert push(src, ref) == image.digest  # every blob already there: only the manifest again


def test_pull_by_digest(tmp_path, reg):
    _, image, ref = pushed(tmp_path, reg)
    repo = ref.rsplit(":", 1)[0]
    dst = store(tmp_path, "b")
    got = registry.pull(dst, f"{repo}@{image.digest}")
    assert got.id == image.id and got.digest == image.digest and got.refs == ()
    tagged = registry.pull(dst, f"{repo}:v1@{image.digest}")  # tag and digest: the digest decides, the tag names
    assert tagged.id == image.id and tagged.refs == (f"{repo}:v1",)
    with pytest.raises(NotFound, match="manifest unknown"):
        registry.pull(dst, f"{repo}@sha256:{'0' * 64}")


def test_pull_follows_an_index_to_this_machines_platform(tmp_path, reg):
    _, image, ref = pushed(tmp_path, reg)
    repo = ref.rsplit(":", 1)[0]
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.digest,
             "size": image_manifest_size(tmp_path, image)}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {**entry, "platform": {"os": "unknown", "architecture": "unknown"}},  # like an attestation
        {**entry, "platform": {"os": "linux", "architecture": "s390x"}},
        {**entry, "platform": {"os": "linux", "architecture": HOST_ARCH}},
    ]}
    put_manifest(reg, "busybox", "multi", index)
    got = registry.pull(store(tmp_path, "b"), f"{repo}:multi")
    assert got.id == image.id and got.digest == image.digest and got.refs == (f"{repo}:multi",)

    put_manifest(reg, "busybox", "elsewhere", {**index, "manifests": index["manifests"][:2]})
    with pytest.raises(NotFound, match=f"no linux/{HOST_ARCH} image .*linux/s390x"):
        registry.pull(store(tmp_path, "c"), f"{repo}:elsewhere")


def image_manifest_size(tmp_path, image):
    return os.path.getsize(store(tmp_path, "a").layout.blob_path(image.digest))


def put_manifest(reg, repo, tag, body):
    conn = http.client.HTTPConnection(reg.host, timeout=10)
    conn.request("PUT", f"/v2/{repo}/manifests/{tag}", body=json.dumps(body).encode(),
                 headers={"Content-Type": body["mediaType"]})
    resp = conn.getresponse()
    assert resp.status == 201, resp.read()
    conn.close()


def test_missing_tag_or_repository_is_not_found_naming_the_reference(tmp_path, reg):
    _, _, ref = pushed(tmp_path, reg)
    dst = store(tmp_path, "b")
    for missing in (f"{reg.host}/busybox:nope", f"{reg.host}/nothing/here:latest"):
        with pytest.raises(NotFound) as info:
            registry.pull(dst, missing)
        assert missing in str(info.value) and "manifest unknown" in str(info.value)
    assert_empty(dst)


@pytest.mark.parametrize("which", ["layer", "config", "manifest"])
def test_tampered_blob_is_refused_and_nothing_kept(tmp_path, reg, which):
    src, image, ref = pushed(tmp_path, reg)
    manifest = json.loads(Path(src.layout.blob_path(image.digest)).read_bytes())
    digest = {"layer": image.layers[0].digest, "config": manifest["config"]["digest"], "manifest": image.digest}[which]
    path = reg.blob_file(digest)
    data = bytearray(path.read_bytes())
    if which == "manifest":  # still valid JSON, or the registry itself refuses to serve it
        hexpart = manifest["config"]["digest"][7:]
        data = bytearray(data.replace(hexpart.encode(), ("f" if hexpart[0] != "f" else "e").encode() + hexpart[1:].encode()))
    else:
        data[len(data) // 2] ^= 0x20  # same size, other bytes
    path.write_bytes(bytes(data))
    dst = store(tmp_path, "b")
    with pytest.raises(ArchiveError) as info:
        registry.pull(dst, ref)
    assert "sha256:" in str(info.value) and ("verification" in str(info.value) or "expected" in str(info.value))
    assert_empty(dst)


def test_docker_hub_references_go_to_registry_1_docker_io_and_fail_fast_without_network(tmp_path, monkeypatch):
    asked = []

    def no_dns(host, *args, **kwargs):
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    dst = store(tmp_path, "b")
    for ref in ("busybox", "busybox:1.36", "library/busybox", "docker.io/library/busybox:latest",
                "index.docker.io/foo/bar:1", "foo/bar@sha256:" + "a" * 64):
        started = time.monotonic()
        with pytest.raises(Unreachable) as info:
            registry.pull(dst, ref)
        assert time.monotonic() - started < 5
        assert str(info.value) == ("cannot reach registry registry-1.docker.io: name resolution failed for "
                                   "registry-1.docker.io")
    assert set(asked) == {"registry-1.docker.io"}
    assert_empty(dst)
    dst.import_tarball(io.BytesIO(rootfs_tar()), "busybox:latest")
    with pytest.raises(Unreachable, match="cannot reach registry registry-1.docker.io: name resolution failed"):
        push(dst, "busybox:latest")
    assert dst.get("busybox").refs == ("busybox:latest",)


def test_connection_refused_names_the_host(tmp_path):
    port = ephemeral("tcp", "127.0.0.1")  # nothing listens there
    with pytest.raises(EngineError) as info:
        registry.pull(store(tmp_path, "b"), f"127.0.0.1:{port}/busybox:latest")
    assert str(info.value) == f"cannot reach registry 127.0.0.1:{port}: connection refused (is it running?)"


@pytest.mark.parametrize(("flag", "service", "expected"), [
    ("missing", None, "missing"), (None, None, "missing"), ("always", None, "always"), ("never", None, "never"),
    ("missing", "always", "always"), ("missing", "never", "never"), ("missing", "build", "build"),
    ("missing", "if_not_present", "missing"), ("missing", "daily", "missing"), ("missing", "every_12h", "missing"),
    ("always", "never", "always"), ("never", "always", "never"),  # an explicit always/never wins, as in Compose
])
def test_effective_pull_policy(flag, service, expected):
    assert effective_pull_policy(flag, service) == expected


def test_invalid_pull_flag():
    with pytest.raises(UpError, match="invalid --pull option"):
        effective_pull_policy("sometimes", None)


# -- the commands --------------------------------------------------------------------------------

def pc(env, cwd, *args, check=True):
    r = subprocess.run([sys.executable, "-m", "compose.cli.main", *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, f"{args}: {r.stderr}"
    return r


def test_pull_push_and_up_pull_always_commands(tmp_path, reg):
    image_ref = f"{reg.host}/busybox:latest"
    project = tmp_path / "demo"
    project.mkdir()
    (project / "compose.yaml").write_text(json.dumps({"services": {
        "app": {"image": image_ref, "command": ["sleep", "3600"]},
        "built": {"build": {"context": "."}},  # nothing to pull: skipped
    }}))
    base = {**os.environ, "PYCOMPOSE_DNS_UPSTREAMS": "none", "PYCOMPOSE_SUPERVISOR_IDLE": "0.2",
            "PYCOMPOSE_NETD_IDLE": "0.2", "PYCOMPOSE_NO_CACHE": "1"}
    pusher = {**base, "PYCOMPOSE_ROOT": str(tmp_path / "a")}
    r = subprocess.run([sys.executable, "-m", "compose.cli.main", "image", "import", "-", image_ref],
                       input=rootfs_tar(), env=pusher, capture_output=True)
    assert r.returncode == 0, r.stderr
    pushed_lines = pc(pusher, project, "push", "app").stderr.splitlines()
    assert " app Pushing" in pushed_lines and " app Pushed" in pushed_lines

    root = tmp_path / "b"
    env = {**base, "PYCOMPOSE_ROOT": str(root)}
    try:
        lines = pc(env, project, "pull").stderr.splitlines()
        assert lines[:2] == [" built Skipped - No image to be pulled", " app Pulling"] and lines[-1] == " app Pulled"
        assert any(line.startswith(" ") and line.endswith(" Pull complete") for line in lines), lines
        assert pc(env, project, "pull", "-q", "app").stderr == ""
        assert json.loads(pc(env, project, "image", "inspect", image_ref).stdout)[0]["RepoTags"] == [image_ref]

        lines = pc(env, project, "up", "-d", "--pull", "always", "app").stderr.splitlines()
        assert " app Pulled" in lines and " Container demo-app-1  Started" in lines
        assert "Up" in pc(env, project, "ps").stdout
        pc(env, project, "down", "-v", "-t", "0")
        pc(env, project, "image", "rm", image_ref)

        lines = pc(env, project, "up", "-d", "--quiet-pull", "app").stderr.splitlines()  # missing: it is pulled
        assert " Container demo-app-1  Started" in lines and not any("Pull" in line for line in lines), lines
        lines = pc(env, project, "up", "-d", "--pull", "never", "app").stderr.splitlines()
        assert not any("Pull" in line for line in lines) and " Container demo-app-1  Running" in lines
    finally:
        pc(env, project, "down", "-v", "-t", "0", check=False)
    assert settled_leftovers(str(root), Root(str(root)).cgroup_name) == []


def test_up_says_why_a_missing_image_could_not_be_pulled(tmp_path):
    port = ephemeral("tcp", "127.0.0.1")  # nothing listens there
    (tmp_path / "registries.conf").write_text(f'[[registry]]\nprefix = "docker.io"\nlocation = "127.0.0.1:{port}"\n')
    project = tmp_path / "hub"
    project.mkdir()
    (project / "compose.yaml").write_text(json.dumps({"services": {"app": {"image": "alpine:3.20"}}}))
    env = {**os.environ, "PYCOMPOSE_ROOT": str(tmp_path / "root"), "PYCOMPOSE_DNS_UPSTREAMS": "none",
           "PYCOMPOSE_SUPERVISOR_IDLE": "0.2", "PYCOMPOSE_NETD_IDLE": "0.2"}
    r = pc(env, project, "up", "-d", check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1] == (f"service app: image alpine:3.20 not found locally, and pulling it failed: "
                                         f"cannot reach registry 127.0.0.1:{port}: connection refused (is it running?)")
    assert pc(env, project, "pull", "--ignore-pull-failures").returncode == 0
    assert pc(env, project, "pull", check=False).returncode == 1
    pc(env, project, "down", "-v", check=False)


def test_prune_during_a_pull_keeps_the_layers_it_committed(tmp_path, reg):
    _, image, ref = pushed(tmp_path, reg)
    dst = store(tmp_path, "b")
    pruned = []

    def prune_midway(event):
        if event.status == "Pull complete":  # the layer is in the store, the image not yet named
            pruned.append(dst.prune())
            assert os.listdir(os.path.join(dst.root.images, "tmp")) != []  # the pull's own folder stays

    got = registry.pull(dst, ref, progress=prune_midway)
    assert pruned == [[]] and got.id == image.id
    assert os.path.isdir(dst.layer_dirs(got)[0]) and os.path.exists(dst.layout.blob_path(got.layers[0].digest))
    assert os.listdir(os.path.join(dst.root.images, "tmp")) == []
    dst.remove(ref)
    assert_empty(dst)
