"""The local image store on real files: import, load, save, tags, removal, and hostile archives."""

import gzip
import hashlib
import io
import json
import lzma
import os
import stat
import subprocess
import sys
import tarfile

import pytest
import zstandard

from engine.errors import ArchiveError, Conflict, EngineError, NotFound
from engine.images import ImageStore

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="layers keep ownership and device nodes: needs root")

BUSYBOX = "/bin/busybox"
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\n"


# -- building tarballs ----------------------------------------------------------

def entry(name, kind=tarfile.REGTYPE, data=b"", linkname="", mode=None, uid=0, gid=0, mtime=1_600_000_000,
          dev=(0, 0), xattrs=None):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.uid, info.gid, info.mtime = kind, linkname, uid, gid, mtime
    info.mode = mode if mode is not None else (0o755 if kind == tarfile.DIRTYPE else 0o644)
    info.devmajor, info.devminor = dev
    if xattrs:
        info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
    if kind == tarfile.REGTYPE:
        info.size = len(data)
    return info, data


def make_tar(entries, compression="none"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return compress(buf.getvalue(), compression)


def compress(raw, compression):
    return {
        "none": lambda b: b,
        "gzip": gzip.compress,
        "xz": lzma.compress,
        "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
    }[compression](raw)


def busybox_entries():
    with open(BUSYBOX, "rb") as fh:
        busybox = fh.read()
    return [
        entry("bin", tarfile.DIRTYPE), entry("etc", tarfile.DIRTYPE), entry("tmp", tarfile.DIRTYPE, mode=0o1777),
        entry("bin/busybox", data=busybox, mode=0o755),
        entry("bin/sh", tarfile.SYMTYPE, linkname="busybox"),
        entry("bin/ls", tarfile.SYMTYPE, linkname="busybox"),
        entry("etc/passwd", data=PASSWD), entry("etc/group", data=GROUP),
    ]


def busybox_tar(compression="none"):
    return make_tar(busybox_entries(), compression)


class Pipe:
    """A stream with read() only, like stdin: no seek, no tell."""

    def __init__(self, data):
        self._buf = io.BytesIO(data)

    def read(self, n=-1):
        return self._buf.read(min(n, 4096) if n > 0 else 4096)


@pytest.fixture
def store(state_root):
    return ImageStore(state_root)


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def snapshot(path):
    """Everything about a tree that a layer must keep, by relative path."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            info = (stat.S_IMODE(st.st_mode), stat.S_IFMT(st.st_mode), st.st_uid, st.st_gid, st.st_rdev,
                    sorted((x, os.getxattr(full, x, follow_symlinks=False))
                           for x in os.listxattr(full, follow_symlinks=False)))
            if stat.S_ISLNK(st.st_mode):
                info += (os.readlink(full), st.st_mtime_ns)
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as fh:
                    info += (hashlib.sha256(fh.read()).hexdigest(), st.st_mtime_ns)
            out[os.path.relpath(full, path)] = info
    return out


def assert_nothing_stored(root):
    images = root.images
    assert os.listdir(os.path.join(images, "layers")) == []
    assert os.listdir(os.path.join(images, "tmp")) == []
    assert os.listdir(os.path.join(images, "oci", "blobs", "sha256")) == []
    with open(os.path.join(images, "oci", "index.json")) as fh:
        assert json.load(fh)["manifests"] == []


# -- import -------------------------------------------------------------------------

@pytest.mark.parametrize("compression", ["none", "gzip", "xz", "zstd"])
def test_import_any_compression(store, compression):
    plain = busybox_tar()
    image = store.import_tarball(io.BytesIO(compress(plain, compression)), "busybox")
    assert image.refs == ("busybox:latest",)
    assert image.diff_ids == (digest(plain),)
    (layer,) = store.layer_dirs(image)
    with open(os.path.join(layer, "bin/busybox"), "rb") as fh, open(BUSYBOX, "rb") as ref:
        assert fh.read() == ref.read()
    assert os.readlink(os.path.join(layer, "bin/sh")) == "busybox"
    assert stat.S_IMODE(os.stat(os.path.join(layer, "tmp")).st_mode) == 0o1777
    kept = {"none": "tar", "gzip": "tar+gzip", "zstd": "tar+zstd", "xz": "tar"}[compression]
    assert image.layers[0].media_type == f"application/vnd.oci.image.layer.v1.{kept}"
    assert image.size == os.path.getsize(BUSYBOX) + len(PASSWD) + len(GROUP)
    assert store.get("busybox:latest") == image


def test_import_from_a_pipe_untagged(store):
    image = store.import_tarball(Pipe(busybox_tar("gzip")), None)
    assert image.refs == ()
    assert store.get(image.id) == image
    assert store.get(image.short_id) == image


@pytest.mark.parametrize("change,field,expected", [
    ('CMD ["sh", "-c", "echo hi"]', "cmd", ("sh", "-c", "echo hi")),
    ("CMD echo hi", "cmd", ("/bin/sh", "-c", "echo hi")),
    ('ENTRYPOINT ["/bin/busybox"]', "entrypoint", ("/bin/busybox",)),
    ("ENTRYPOINT exec top", "entrypoint", ("/bin/sh", "-c", "exec top")),
    ('ENV A=1 B="two words"', "env", ("A=1", "B=two words")),
    ("ENV GREETING hello there", "env", ("GREETING=hello there",)),
    ("WORKDIR /srv/app", "working_dir", "/srv/app"),
    ("USER 65534:65534", "user", "65534:65534"),
    ("EXPOSE 80 53/udp 8000-8001", "exposed_ports", ("53/udp", "80/tcp", "8000/tcp", "8001/tcp")),
    ('LABEL org.example.team="core infra" tier=db', "labels", {"org.example.team": "core infra", "tier": "db"}),
    ("STOPSIGNAL SIGQUIT", "stop_signal", "SIGQUIT"),
    ('VOLUME ["/data", "/logs"]', "volumes", ("/data", "/logs")),
    ("VOLUME /cache", "volumes", ("/cache",)),
])
def test_import_changes(store, change, field, expected):
    image = store.import_tarball(io.BytesIO(busybox_tar()), "x:1", [change])
    assert getattr(image.config, field) == expected
    assert store.get("x:1").config == image.config


def test_changes_apply_in_order(store):
    image = store.import_tarball(io.BytesIO(busybox_tar()), "x", ["ENV A=1", "ENV A=2 B=3", "WORKDIR /a", "WORKDIR b"])
    assert image.config.env == ("A=2", "B=3")
    assert image.config.working_dir == "/a/b"


@pytest.mark.parametrize("change,words", [
    ("RUN rm -rf /", "RUN"), ("HEALTHCHECK CMD true", "HEALTHCHECK"), ("EXPOSE 99999", "99999"),
    ("STOPSIGNAL SIGNOPE", "SIGNOPE"), ("CMD", "CMD requires"), ("ENV LONELY", "ENV"),
])
def test_bad_change_is_refused_before_reading(store, state_root, change, words):
    source = io.BytesIO(busybox_tar())
    with pytest.raises(EngineError, match=words):
        store.import_tarball(source, "x", [change])
    assert source.tell() == 0
    assert store.list() == []


def test_bad_reference_is_refused(store):
    with pytest.raises(EngineError, match="lowercase"):
        store.import_tarball(io.BytesIO(busybox_tar()), "BusyBox")


# -- tags, listing, removal ---------------------------------------------------------------

def test_tag_ls_inspect_rm(store):
    image = store.import_tarball(io.BytesIO(busybox_tar()), "docker.io/library/busybox:1.36")
    assert image.refs == ("busybox:1.36",)
    store.tag("busybox:1.36", "localhost:5000/tools/bb")
    assert store.get("localhost:5000/tools/bb:latest").id == image.id
    assert set(store.get(image.id).refs) == {"busybox:1.36", "localhost:5000/tools/bb:latest"}
    data = store.get(image.id).inspect()
    assert data["Id"] == image.id and data["RootFS"] == {"Type": "layers", "Layers": list(image.diff_ids)}
    with pytest.raises(Conflict, match="must be forced"):
        store.remove(image.id)  # two tags: by ID only with force
    assert store.remove("busybox:1.36") == ["Untagged: busybox:1.36"]
    lines = store.remove("localhost:5000/tools/bb")
    assert lines[:2] == ["Untagged: localhost:5000/tools/bb:latest", f"Deleted: {image.id}"]
    assert f"Deleted: {image.diff_ids[0]}" in lines
    assert store.list() == []
    with pytest.raises(NotFound, match="No such image: busybox:1.36"):
        store.get("busybox:1.36")
    assert_nothing_stored(store.root)


def test_moving_a_tag_leaves_a_dangling_image_that_prune_removes(store):
    old = store.import_tarball(io.BytesIO(busybox_tar()), "app")
    new = store.import_tarball(io.BytesIO(busybox_tar("gzip")), "app", ["CMD sh"])
    assert store.get("app").id == new.id
    assert store.get(old.id).refs == ()
    assert {i.id for i in store.list()} == {old.id, new.id}
    assert store.prune() == [f"Deleted: {old.id}"]  # the layer stays: "app" uses it
    assert [i.id for i in store.list()] == [new.id]
    assert os.path.isdir(store.layer_dirs(new)[0])


def write_container(root, cid, name, image_id):
    os.makedirs(os.path.join(root.containers, cid))
    with open(os.path.join(root.containers, cid, "container.json"), "w") as fh:
        json.dump({"id": cid, "name": name, "image_id": image_id}, fh)


def test_remove_refused_while_a_container_uses_the_image(store, state_root):
    image = store.import_tarball(io.BytesIO(busybox_tar()), "busybox")
    write_container(state_root, "c1", "web-1", image.id)
    with pytest.raises(Conflict, match="web-1"):
        store.remove("busybox")
    assert store.get("busybox").id == image.id
    assert store.remove("busybox", force=True) == ["Untagged: busybox:latest"]
    assert store.get(image.id).refs == ()  # kept, dangling, for the container
    assert store.prune() == []
    assert os.path.isdir(store.layer_dirs(image)[0])
    os.unlink(os.path.join(state_root.containers, "c1", "container.json"))
    assert store.prune()[0] == f"Deleted: {image.id}"
    assert_nothing_stored(state_root)


def test_a_shared_layer_is_unpacked_once_and_removed_with_the_last_image(store):
    a = store.import_tarball(io.BytesIO(busybox_tar()), "a")
    (layer,) = store.layer_dirs(a)
    inode = os.stat(os.path.join(layer, "bin/busybox")).st_ino
    b = store.import_tarball(io.BytesIO(busybox_tar("zstd")), "b", ["USER nobody"])
    assert a.id != b.id and store.layer_dirs(b) == [layer]
    assert os.stat(os.path.join(layer, "bin/busybox")).st_ino == inode  # not unpacked again
    assert len(os.listdir(os.path.dirname(layer))) == 2  # the folder and its size record
    store.remove("a")
    assert os.path.isdir(layer)
    store.remove("b")
    assert not os.path.exists(layer)
    assert_nothing_stored(store.root)


# -- save and load -----------------------------------------------------------------------

def test_save_rm_load_round_trip(store, tmp_path):
    image = store.import_tarball(io.BytesIO(busybox_tar("gzip")), "busybox:rt", ["CMD sh", "ENV A=1"])
    before = snapshot(store.layer_dirs(image)[0])
    archive = io.BytesIO()
    store.save(["busybox:rt"], archive)
    with tarfile.open(fileobj=io.BytesIO(archive.getvalue())) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
        repositories = json.load(tar.extractfile("repositories"))
    assert {"manifest.json", "repositories", "oci-layout", "index.json"} <= names
    assert manifest == [{"Config": f"blobs/sha256/{image.id[7:]}", "RepoTags": ["busybox:rt"],
                         "Layers": [f"blobs/sha256/{image.layers[0].hex}"]}]
    assert repositories == {"busybox": {"rt": image.layers[0].hex}}
    store.remove("busybox:rt")
    assert_nothing_stored(store.root)
    assert store.load(Pipe(archive.getvalue())) == ["busybox:rt"]
    loaded = store.get("busybox:rt")
    assert (loaded.id, loaded.digest, loaded.config) == (image.id, image.digest, image.config)
    assert snapshot(store.layer_dirs(loaded)[0]) == before


def config_json(diff_ids, **config):
    return json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05.123456789Z",
                       "config": config, "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def test_load_a_docker_save_archive(store):
    base = make_tar(busybox_entries())
    top = make_tar([entry("etc", tarfile.DIRTYPE), entry("etc/.wh.group"), entry("etc/motd", data=b"hi\n")])
    config = config_json([digest(base), digest(top)], Cmd=["sh"], Healthcheck={
        "Test": ["CMD", "true"], "Interval": 30_000_000_000, "Retries": 3})
    files = [entry("aaaa", tarfile.DIRTYPE), entry("aaaa/layer.tar", data=base), entry("aaaa/VERSION", data=b"1.0"),
             entry("bbbb", tarfile.DIRTYPE), entry("bbbb/layer.tar", data=top),
             entry(f"{digest(config)[7:]}.json", data=config),
             entry("manifest.json", data=json.dumps([{"Config": f"{digest(config)[7:]}.json",
                                                      "RepoTags": ["example/app:2"],
                                                      "Layers": ["aaaa/layer.tar", "bbbb/layer.tar"]}]).encode()),
             entry("repositories", data=b'{"example/app": {"2": "bbbb"}}')]
    assert store.load(io.BytesIO(make_tar(files, "gzip"))) == ["example/app:2"]
    image = store.get("example/app:2")
    assert image.id == digest(config) and image.created == "2024-01-02T03:04:05.123456789Z"
    assert image.config.healthcheck.interval == 30.0 and image.config.healthcheck.retries == 3
    bottom, upper = store.layer_dirs(image)
    assert os.path.isfile(os.path.join(bottom, "bin/busybox"))
    assert os.stat(os.path.join(upper, "etc/group"), follow_symlinks=False).st_rdev == os.makedev(0, 0)


def blob(files, data, media_type):
    files.append(entry(f"blobs/sha256/{digest(data)[7:]}", data=data))
    return {"mediaType": media_type, "digest": digest(data), "size": len(data)}


def test_load_an_oci_archive_with_a_nested_index(store):
    files = []
    manifests = []
    for arch, body in (("arm64", b"arm\n"), ("amd64", b"amd\n")):
        plain = make_tar([entry("etc", tarfile.DIRTYPE), entry("etc/arch", data=body)])
        layer = blob(files, gzip.compress(plain), "application/vnd.oci.image.layer.v1.tar+gzip")
        config = blob(files, config_json([digest(plain)], Entrypoint=["/app"]),
                      "application/vnd.oci.image.config.v1+json")
        manifest = blob(files, json.dumps({"schemaVersion": 2, "config": config, "layers": [layer]}).encode(),
                        "application/vnd.oci.image.manifest.v1+json")
        manifests.append({**manifest, "platform": {"os": "linux", "architecture": arch}})
    nested = blob(files, json.dumps({"schemaVersion": 2, "manifests": manifests}).encode(),
                  "application/vnd.oci.image.index.v1+json")
    index = {"schemaVersion": 2, "manifests": [
        {**nested, "annotations": {"org.opencontainers.image.ref.name": "example.com/team/app:1.0"}}]}
    files += [entry("oci-layout", data=b'{"imageLayoutVersion": "1.0.0"}'),
              entry("index.json", data=json.dumps(index).encode())]
    assert store.load(io.BytesIO(make_tar(files))) == ["example.com/team/app:1.0"]
    image = store.get("example.com/team/app:1.0")
    assert image.digest == manifests[1]["digest"]  # the archive's own manifest, kept
    assert image.config.entrypoint == ("/app",)
    with open(os.path.join(store.layer_dirs(image)[0], "etc/arch")) as fh:
        assert fh.read() == "amd\n"


def test_a_layer_that_does_not_match_its_diff_id_is_refused(store, state_root):
    layer = make_tar([entry("f", data=b"real")])
    config = config_json([digest(b"something else")])
    files = [entry("l.tar", data=layer), entry("c.json", data=config),
             entry("manifest.json", data=json.dumps([{"Config": "c.json", "RepoTags": ["x:1"],
                                                      "Layers": ["l.tar"]}]).encode())]
    with pytest.raises(ArchiveError, match="image config says"):
        store.load(io.BytesIO(make_tar(files)))
    assert_nothing_stored(state_root)


# -- hostile layers ----------------------------------------------------------------------

GOOD = [entry("ok", tarfile.DIRTYPE), entry("ok/file", data=b"fine")]


@pytest.mark.parametrize("bad,named", [
    ([entry("/etc/evil", data=b"x")], "/etc/evil"),
    ([entry("../x", data=b"x")], "../x"),
    ([entry("a/../../x", data=b"x")], "a/../../x"),
    ([entry("evil", tarfile.SYMTYPE, linkname="/etc"), entry("evil/passwd", data=b"x")], "evil/passwd"),
    ([entry("evil", tarfile.SYMTYPE, linkname="../../.."), entry("evil/x", data=b"x")], "evil/x"),
    ([entry("ok/link", tarfile.SYMTYPE, linkname="/"), entry("ok/link/etc/x", data=b"x")], "ok/link/etc/x"),
    ([entry("h", tarfile.LNKTYPE, linkname="/etc/passwd")], '"h"'),
    ([entry("h", tarfile.LNKTYPE, linkname="../../etc/passwd")], '"h"'),
    ([entry("lnk", tarfile.SYMTYPE, linkname="/etc"), entry("h", tarfile.LNKTYPE, linkname="lnk/passwd")], '"h"'),
    ([entry("h", tarfile.LNKTYPE, linkname="missing")], '"h"'),
    ([entry("weird", b"V")], "weird"),
])
def test_hostile_layers_are_refused_and_leave_nothing(store, state_root, tmp_path, bad, named):
    with pytest.raises(ArchiveError) as caught:
        store.import_tarball(io.BytesIO(make_tar(GOOD + bad)), "evil")
    assert named in str(caught.value)
    assert_nothing_stored(state_root)
    assert not os.path.exists(tmp_path / "x") and not os.path.exists("/x")


def test_a_hostile_layer_in_an_archive_leaves_nothing(store, state_root):
    good = make_tar(busybox_entries())
    bad = make_tar([entry("evil", tarfile.SYMTYPE, linkname="/etc"), entry("evil/shadow", data=b"x")])
    config = config_json([digest(good), digest(bad)])
    files = [entry("good.tar", data=good), entry("bad.tar", data=bad), entry("c.json", data=config),
             entry("manifest.json", data=json.dumps([{"Config": "c.json", "RepoTags": ["x:1"],
                                                      "Layers": ["good.tar", "bad.tar"]}]).encode())]
    with pytest.raises(ArchiveError, match="evil/shadow"):
        store.load(io.BytesIO(make_tar(files)))
    assert_nothing_stored(state_root)


def test_a_symlink_target_is_kept_and_never_followed(store):
    entries = [entry("up", tarfile.SYMTYPE, linkname="../../../../etc/passwd", uid=7, gid=8),
               entry("up", data=b"replaced, not written through")]
    image = store.import_tarball(io.BytesIO(make_tar([entries[0]])), "a")
    link = os.path.join(store.layer_dirs(image)[0], "up")
    assert os.readlink(link) == "../../../../etc/passwd"
    assert (os.lstat(link).st_uid, os.lstat(link).st_gid) == (7, 8)
    image = store.import_tarball(io.BytesIO(make_tar(entries)), "b")
    with open(os.path.join(store.layer_dirs(image)[0], "up"), "rb") as fh:
        assert fh.read() == b"replaced, not written through"


def test_metadata_devices_and_links_are_kept(store):
    entries = [
        entry("dev", tarfile.DIRTYPE, mtime=1_000_000_000, uid=3, gid=4),
        entry("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
        entry("dev/loop0", tarfile.BLKTYPE, mode=0o660, dev=(7, 0), gid=6),
        entry("dev/pipe", tarfile.FIFOTYPE, mode=0o600),
        entry("bin", tarfile.DIRTYPE),
        entry("bin/su", data=b"#!/bin/sh\n", mode=0o4755, uid=0, gid=0),
        entry("bin/wall", data=b"w", mode=0o2755, gid=5),
        entry("bin/ping", data=b"p", mode=0o755, uid=1234, gid=5678, mtime=1_234_567_890,
              xattrs={"user.origin": "test", "trusted.note": "kept"}),
        entry("bin/ping2", tarfile.LNKTYPE, linkname="bin/ping"),
        entry("shared", tarfile.DIRTYPE, mode=0o1777, xattrs={"user.dir": "yes"}),
    ]
    image = store.import_tarball(io.BytesIO(make_tar(entries, "xz")), "meta")
    root = store.layer_dirs(image)[0]

    def st(p):
        return os.lstat(os.path.join(root, p))

    assert stat.S_ISCHR(st("dev/null").st_mode) and st("dev/null").st_rdev == os.makedev(1, 3)
    assert stat.S_ISBLK(st("dev/loop0").st_mode) and st("dev/loop0").st_rdev == os.makedev(7, 0)
    assert stat.S_IMODE(st("dev/loop0").st_mode) == 0o660 and st("dev/loop0").st_gid == 6
    assert stat.S_ISFIFO(st("dev/pipe").st_mode)
    assert (st("dev").st_uid, st("dev").st_gid, st("dev").st_mtime) == (3, 4, 1_000_000_000)
    assert stat.S_IMODE(st("bin/su").st_mode) == 0o4755
    assert stat.S_IMODE(st("bin/wall").st_mode) == 0o2755 and st("bin/wall").st_gid == 5
    assert stat.S_IMODE(st("shared").st_mode) == 0o1777
    ping = st("bin/ping")
    assert (ping.st_uid, ping.st_gid, ping.st_mtime) == (1234, 5678, 1_234_567_890)
    assert os.getxattr(os.path.join(root, "bin/ping"), "user.origin") == b"test"
    assert os.getxattr(os.path.join(root, "bin/ping"), "trusted.note") == b"kept"
    assert os.getxattr(os.path.join(root, "shared"), "user.dir") == b"yes"
    assert st("bin/ping2").st_ino == ping.st_ino


def test_whiteouts_become_overlayfs_whiteouts(store):
    entries = [entry("etc", tarfile.DIRTYPE), entry("etc/.wh.passwd"), entry("var", tarfile.DIRTYPE),
               entry("var/cache", tarfile.DIRTYPE), entry("var/cache/.wh..wh..opq"),
               entry("var/cache/new", data=b"n"),
               entry("etc/.wh..wh.plnk", tarfile.DIRTYPE),
               entry("var/cache", tarfile.DIRTYPE, xattrs={"trusted.overlay.redirect": "/elsewhere"})]
    image = store.import_tarball(io.BytesIO(make_tar(entries)), "wh")
    root = store.layer_dirs(image)[0]
    whiteout = os.lstat(os.path.join(root, "etc/passwd"))
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == os.makedev(0, 0)
    assert sorted(os.listdir(os.path.join(root, "etc"))) == ["passwd"]
    cache = os.path.join(root, "var/cache")
    assert os.getxattr(cache, "trusted.overlay.opaque") == b"y"
    assert "trusted.overlay.redirect" not in os.listxattr(cache)  # the archive may not steer overlayfs
    assert os.listdir(cache) == ["new"]


def test_a_corrupt_or_non_tar_stream_is_refused(store, state_root):
    with pytest.raises(ArchiveError, match="corrupt gzip"):
        store.import_tarball(io.BytesIO(busybox_tar("gzip")[:5000]), "x")
    with pytest.raises(ArchiveError):
        store.import_tarball(io.BytesIO(b"this is not a tarball at all" * 40), "x")
    assert_nothing_stored(state_root)


# -- the command line -------------------------------------------------------------------

def cli(root, *args, stdin=None):
    env = {"PATH": os.environ["PATH"], "PYCOMPOSE_ROOT": root.path}
    return subprocess.run([sys.executable, "-m", "compose.cli.main", "image", *args], input=stdin,
                          capture_output=True, env=env, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                              os.path.abspath(__file__)))))


def test_cli_import_ls_inspect_rm(state_root, tmp_path):
    tarball = tmp_path / "rootfs.tar.gz"
    tarball.write_bytes(busybox_tar("gzip"))
    r = cli(state_root, "import", str(tarball), "busybox:cli", "-c", "CMD [\"sh\"]", "--change", "ENV A=1")
    assert r.returncode == 0, r.stderr
    image_id = r.stdout.decode().strip()
    assert image_id.startswith("sha256:")
    r = cli(state_root, "import", "-", "piped", stdin=busybox_tar("zstd"))
    assert r.returncode == 0, r.stderr

    out = cli(state_root, "ls").stdout.decode().splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    row = next(line for line in out if line.startswith("busybox "))
    assert row.split()[:3] == ["busybox", "cli", image_id[7:19]] and row.endswith("MB")
    lines = cli(state_root, "ls", "--format", "json").stdout.decode().splitlines()
    assert {json.loads(line)["Repository"] for line in lines} == {"busybox", "piped"}
    assert cli(state_root, "ls", "-q", "busybox").stdout.decode().split() == [image_id[7:19]]

    data = json.loads(cli(state_root, "inspect", "busybox:cli").stdout)
    assert data[0]["Id"] == image_id and data[0]["RepoTags"] == ["busybox:cli"]
    assert data[0]["Config"]["Cmd"] == ["sh"] and data[0]["Config"]["Env"] == ["A=1"]
    assert data[0]["RootFS"]["Type"] == "layers" and data[0]["Size"] > 1_000_000

    archive = tmp_path / "out.tar"
    assert cli(state_root, "save", "busybox:cli", "-o", str(archive)).returncode == 0
    r = cli(state_root, "rm", "busybox:cli", "piped")
    assert r.returncode == 0 and "Untagged: busybox:cli" in r.stdout.decode()
    assert f"Deleted: {image_id}" in r.stdout.decode()
    r = cli(state_root, "load", "-i", str(archive))
    assert (r.returncode, r.stdout.decode()) == (0, "Loaded image: busybox:cli\n")
    assert cli(state_root, "rm", "busybox:cli").returncode == 0
    assert cli(state_root, "ls", "-q").stdout == b""


@pytest.mark.parametrize("args,message", [
    (["import", "/nonexistent/rootfs.tar", "x"], "cannot read /nonexistent/rootfs.tar"),
    (["import", "-", "x", "-c", "RUN make"], 'unsupported --change instruction "RUN"'),
    (["inspect", "nothing:here"], "No such image: nothing:here"),
    (["rm", "nothing"], "No such image: nothing"),
    (["tag", "nothing", "other"], "No such image: nothing"),
])
def test_cli_errors_exit_1_with_a_clear_message(state_root, args, message):
    r = cli(state_root, *args, stdin=b"")
    assert r.returncode == 1
    assert message in r.stderr.decode()
    assert "Traceback" not in r.stderr.decode()


def test_cli_refuses_a_hostile_tarball(state_root):
    r = cli(state_root, "import", "-", "evil", stdin=make_tar([entry("../../escape", data=b"x")]))
    assert r.returncode == 1 and '"../../escape"' in r.stderr.decode()
    assert_nothing_stored(state_root)
