"""Building images from Dockerfiles, with real containers: each result checked by running it.

Needs root (CI is root). After every test nothing of the build may remain:
no container records, mounts, cgroups or supervisor processes of the test's
state root, and no temporary build files.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
import time

import pytest

from engine.builder import BuildError, build
from engine.images.store import ImageStore
from engine.runtime.containers import Runtime, new_id
from engine.runtime.spec import ContainerSpec, merge_env, resolve_argv
from engine.state import Root
from tests.integration.busybox import PASSWD, rootfs_tar, settled_leftovers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("PYCOMPOSE_SUPERVISOR_IDLE", "0.2")
    r = Root(str(tmp_path / "root"))
    r.ensure()
    yield r
    rt = Runtime(r)
    records = rt.list()
    for c in records:
        rt.remove(c.id, force=True)
    assert records == [], "a build or a test left containers behind"
    assert settled_leftovers(r.path, r.cgroup_name) == []
    assert not os.listdir(r.containers)
    tmp = r.sub("build", "tmp")
    assert not os.path.isdir(tmp) or os.listdir(tmp) == []


@pytest.fixture
def store(root):
    s = ImageStore(root)
    s.import_tarball(io.BytesIO(rootfs_tar()), "busybox:latest", ['CMD ["sh"]'])
    return s


@pytest.fixture
def rt(root):
    return Runtime(root)


@pytest.fixture
def ctx(tmp_path):
    path = tmp_path / "ctx"
    path.mkdir()
    return path


def write(ctx, files):
    for name, content in files.items():
        target = ctx / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)


def do_build(store, rt, ctx, dockerfile, lines=None, **kw):
    (ctx / "Dockerfile").write_text(dockerfile)
    out = lines if lines is not None else []
    return build(store, rt, str(ctx), progress=out.append, **kw)


def run_image(rt, store, image, script=None, **kw):
    """Run the image (its CMD, or ``sh -c script``) as Compose would; (exit code, stdout + stderr)."""
    cfg = image.config
    argv = resolve_argv(list(cfg.entrypoint) if cfg.entrypoint is not None else None,
                        list(cfg.cmd) if cfg.cmd is not None else None, None,
                        ["sh", "-c", script] if script is not None else None)
    cid = new_id()
    spec = ContainerSpec(id=cid, name=f"t-{cid[:8]}", image_id=image.id, layers=tuple(store.layer_dirs(image)),
                         argv=tuple(argv), env=tuple(merge_env(list(cfg.env), {}, "")),
                         working_dir=cfg.working_dir or "/", user=cfg.user or None, group="test", **kw)
    rt.create(spec)
    try:
        rt.start(cid)
        code = rt.wait(cid, timeout=60)
        return code, "".join(e.text for e in rt.logs(cid))
    finally:
        rt.remove(cid, force=True)


# -- a full Dockerfile ------------------------------------------------------------------------

FULL = """\
# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE}
ARG GREETING=hello
ARG UNSET_ARG
ENV APP_HOME=/srv/app \\
    MESSAGE="${GREETING} world"
WORKDIR $APP_HOME
WORKDIR data
COPY --chown=app:staff app.txt conf/ ./
COPY --chmod=755 run.sh /usr/local/bin/
RUN echo "built by $(id -un) in $(pwd) with ${GREETING:-none}/${UNSET_ARG:-unset}" > built.txt \\
 && chown app built.txt && mkdir -p /var/empty
USER app
CMD ["sh", "-c", "id -un; pwd; echo $MESSAGE; cat built.txt app.txt; ls -ln; cat /etc/app.conf || true"]
LABEL org.example.title="demo app" version=1
EXPOSE 8080 53/udp
STOPSIGNAL SIGINT
VOLUME /data
HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD test -f built.txt
"""


def test_full_dockerfile_builds_and_runs(store, rt, ctx):
    write(ctx, {"app.txt": "app file\n", "conf/app.conf": "k=v\n", "run.sh": "#!/bin/sh\necho run\n"})
    lines: list[str] = []
    image = do_build(store, rt, ctx, FULL, lines, tag="demo:1", args={"GREETING": "hi"}, labels={"extra": "yes"})
    assert image.refs == ("demo:1",) and store.get("demo:1").id == image.id
    cfg = image.config
    assert "APP_HOME=/srv/app" in cfg.env and "MESSAGE=hi world" in cfg.env
    assert not any(e.startswith(("GREETING=", "UNSET_ARG=")) for e in cfg.env)  # ARGs are not kept
    assert (cfg.working_dir, cfg.user, cfg.stop_signal) == ("/srv/app/data", "app", "SIGINT")
    assert cfg.labels == {"org.example.title": "demo app", "version": "1", "extra": "yes"}
    assert cfg.exposed_ports == ("53/udp", "8080/tcp") and cfg.volumes == ("/data",)
    assert cfg.healthcheck is not None and cfg.healthcheck.test == ("CMD-SHELL", "test -f built.txt")
    assert (cfg.healthcheck.interval, cfg.healthcheck.timeout, cfg.healthcheck.retries) == (5.0, 2.0, 3)
    assert lines[0] == ("[note] # syntax=docker/dockerfile:1: read by pycompose's own Dockerfile frontend, "
                        "nothing is fetched")
    assert lines[1] == "#1 [1/6] FROM ${BASE}"  # as BuildKit counts: FROM, WORKDIR, COPY, ADD and RUN
    assert lines[2:4] == ["#2 [2/6] WORKDIR $APP_HOME", "#3 [3/6] WORKDIR data"]
    assert "#6 [6/6] RUN echo \"built by $(id -un) in $(pwd) with ${GREETING:-none}/${UNSET_ARG:-unset}\" " \
           "> built.txt  && chown app built.txt && mkdir -p /var/empty" in lines

    code, out = run_image(rt, store, image)
    assert code == 0, out
    got = out.splitlines()
    assert got[:5] == ["app", "/srv/app/data", "hi world", "built by root in /srv/app/data with hi/unset",
                       "app file"]
    listing = {line.split()[-1]: line.split() for line in got[5:] if line.startswith(("-", "d"))}
    assert listing["app.txt"][2:4] == ["1000", "50"] and listing["app.conf"][2:4] == ["1000", "50"]
    assert listing["built.txt"][2] == "1000"

    code, out = run_image(rt, store, image, "ls -l /usr/local/bin/run.sh; run.sh; ls -d /var/empty")
    assert out.split()[0] == "-rwxr-xr-x" and out.splitlines()[1:] == ["run", "/var/empty"]


def test_runtime_mount_points_do_not_leak_into_layers(store, rt, ctx):
    image = do_build(store, rt, ctx, "FROM busybox\nRUN true\nRUN echo x > /tmp/x\n")
    base = store.get("busybox")
    run_true, run_x = (store.layer_dirs(image)[i] for i in (1, 2))
    assert image.diff_ids[0] == base.diff_ids[0]
    assert os.listdir(run_true) == []  # no /proc, /dev, /sys or /etc/hosts from the runtime
    found = sorted(os.path.relpath(os.path.join(b, n), run_x) for b, ds, fs in os.walk(run_x) for n in ds + fs)
    assert found == ["tmp", "tmp/x"]
    assert oct(os.stat(os.path.join(run_x, "tmp")).st_mode) == oct(0o41777)  # copied up as it was


def test_steps_that_change_nothing_make_one_empty_layer_each_and_the_image_still_runs(store, rt, ctx):
    image = do_build(store, rt, ctx, "FROM busybox\nRUN true\nRUN echo same\nRUN echo x > /x\nRUN true\n")
    assert image.diff_ids[1] == image.diff_ids[2] == image.diff_ids[4]  # the same empty layer, three times
    assert len(store.layer_dirs(image)) == 3  # overlayfs refuses a folder twice: listed once, at its top place
    assert run_image(rt, store, image, "cat /x") == (0, "x\n")


def test_run_deleting_files_makes_whiteouts(store, rt, ctx):
    image = do_build(store, rt, ctx, "FROM busybox\nRUN rm /bin/vi /etc/group\n"
                                     "RUN rm -rf /home/app && mkdir /home/app && touch /home/app/new\n")
    code, out = run_image(rt, store, image, "ls /bin/vi /etc/group 2>&1; ls -A /home/app; ls /bin/sh")
    assert "/bin/vi: No such file" in out and "/etc/group: No such file" in out
    assert out.splitlines()[-2:] == ["new", "/bin/sh"]
    with tarfile.open(fileobj=io.BytesIO(_saved_layer(store, image, 1))) as tar:
        assert sorted(tar.getnames()) == ["bin", "bin/.wh.vi", "etc", "etc/.wh.group"]
    with tarfile.open(fileobj=io.BytesIO(_saved_layer(store, image, 2))) as tar:
        assert "home/app/.wh..wh..opq" in tar.getnames()


def _saved_layer(store, image, index):
    with open(store.layout.blob_path(image.layers[index].digest), "rb") as fh:
        return fh.read()


def test_shell_entrypoint_and_exec_form(store, rt, ctx):
    with pytest.raises(BuildError, match="returned a non-zero code: 1"):
        do_build(store, rt, ctx, 'FROM busybox\nSHELL ["/bin/sh", "-ec"]\nRUN false; echo not reached\n')
    image = do_build(store, rt, ctx, 'FROM busybox\nSHELL ["/bin/sh", "-ec"]\nRUN ["sh", "-c", "echo exec > /e"]\n'
                                     'ENTRYPOINT ["cat"]\nCMD ["/e"]\n')
    assert image.config.entrypoint == ("cat",) and image.config.cmd == ("/e",)
    assert run_image(rt, store, image) == (0, "exec\n")
    derived = do_build(store, rt, ctx, f"FROM {image.id}\nENTRYPOINT []\nRUN echo $0 $- > /shell\n"
                                       "CMD cat /shell\n")
    assert derived.config.cmd == ("/bin/sh", "-ec", "cat /shell")  # the SHELL carries over in the image
    assert derived.config.entrypoint == ()
    code, out = run_image(rt, store, derived)
    assert code == 0 and out.split()[0] == "/bin/sh" and "e" in out.split()[1]  # RUN used sh -ec


# -- stages and arguments ------------------------------------------------------------------------

MULTI = """\
ARG VARIANT=release
FROM busybox AS base
RUN mkdir /out && echo base > /out/base.txt

FROM base AS builder
ARG VARIANT
RUN echo "artifact-$VARIANT" > /out/artifact && chown 1000:50 /out/artifact

FROM busybox AS broken
RUN exit 9

FROM busybox
COPY --from=builder /out/ /app/
COPY --from=0 /out/base.txt /from-index.txt
COPY --from=busybox:latest /etc/group /from-image-group
CMD ["cat", "/app/artifact"]
"""


def test_multi_stage_copy_from_and_target(store, rt, ctx):
    lines: list[str] = []
    final = do_build(store, rt, ctx, MULTI, lines, args={"VARIANT": "debug"})
    assert not any("RUN exit 9" in line for line in lines)  # an unused stage is not built
    assert any("[builder 2/2] RUN echo" in line for line in lines)
    assert run_image(rt, store, final) == (0, "artifact-debug\n")
    _, out = run_image(rt, store, final, "ls -ln /app/artifact; cat /app/base.txt /from-index.txt; ls /out")
    assert out.split()[2:4] == ["1000", "50"]  # --from keeps owners
    assert "base\nbase\n" in out and "No such file" in out
    _, out = run_image(rt, store, final, "cat /from-image-group")
    assert out.startswith("root:x:0:")
    with pytest.raises(BuildError, match="Dockerfile:2: COPY: --from=nothere: no stage of that name, and the image "
                                         "nothere:latest not found locally"):
        do_build(store, rt, ctx, "FROM busybox\nCOPY --from=nothere /a /b\n")

    builder = do_build(store, rt, ctx, MULTI, target="builder")
    _, out = run_image(rt, store, builder, "cat /out/artifact /out/base.txt")
    assert out == "artifact-release\nbase\n"
    with pytest.raises(BuildError, match='Dockerfile:10: RUN: .*returned a non-zero code: 9'):
        do_build(store, rt, ctx, MULTI, target="broken")
    with pytest.raises(BuildError, match='target stage "nope" could not be found'):
        do_build(store, rt, ctx, MULTI, target="nope")


def test_args_defaults_build_args_and_substitution(store, rt, ctx):
    dockerfile = ("ARG TAG=latest\nFROM busybox:${TAG}\nARG A=default-a\nARG B\nARG C=${A}-c\n"
                  "ENV FROM_ENV=${B:-b-unset} ALT=${A:+a-is-set}\n"
                  "RUN echo \"$A|$B|$C|${TAG:-no-tag}\" > /args\nCMD cat /args; echo $FROM_ENV $ALT\n")
    image = do_build(store, rt, ctx, dockerfile)
    assert run_image(rt, store, image) == (0, "default-a||default-a-c|no-tag\nb-unset a-is-set\n")
    lines: list[str] = []
    image = do_build(store, rt, ctx, dockerfile, lines, args={"A": "x", "B": "y", "TAG": "latest", "EXTRA": "1"})
    assert run_image(rt, store, image) == (0, "x|y|x-c|no-tag\ny a-is-set\n")
    assert any("not used by any ARG: EXTRA" in line for line in lines)
    with pytest.raises(BuildError, match="Dockerfile:2: FROM: base image busybox:nope not found locally; "
                                         "import or load it first"):
        do_build(store, rt, ctx, dockerfile, args={"TAG": "nope"})


def test_dockerignore_with_exceptions(store, rt, ctx):
    write(ctx, {"keep.txt": "k", "secret.env": "s", "logs/a.log": "a", "logs/keep.log": "kl",
                "node_modules/m/i.js": "m", "src/x.py": "x", "src/y.tmp": "t", ".dockerignore": "", })
    (ctx / ".dockerignore").write_text("*.env\nlogs\n!logs/keep.log\nnode_modules\n**/*.tmp\n.dockerignore\n")
    image = do_build(store, rt, ctx, "FROM busybox\nCOPY . /ctx/\n")
    _, out = run_image(rt, store, image, "cd /ctx && find . | sort")
    assert out.split() == [".", "./Dockerfile", "./keep.txt", "./logs", "./logs/keep.log", "./src", "./src/x.py"]
    with pytest.raises(BuildError, match='Dockerfile:2: COPY: "secret.env": excluded from the build context by '
                                         ".dockerignore"):
        do_build(store, rt, ctx, "FROM busybox\nCOPY secret.env /\n")
    with pytest.raises(BuildError, match="Dockerfile:2: COPY: no source files were specified"):
        do_build(store, rt, ctx, "FROM busybox\nCOPY *.env /\n")


def test_copy_rules_globs_and_trailing_slashes(store, rt, ctx):
    write(ctx, {"a.txt": "a", "b.txt": "b", "c.md": "c", "dir/sub/f": "f"})
    image = do_build(store, rt, ctx, "FROM busybox\nCOPY *.txt /multi/\nCOPY a.txt /renamed\nCOPY dir /contents\n"
                                     "COPY dir/ /etc/\nWORKDIR /w\nCOPY c.md rel/\nCOPY [\"b.txt\", \"json.txt\"]\n")
    _, out = run_image(rt, store, image, "cd /; ls multi; cat renamed; echo; ls -R contents | tr '\\n' ' '; echo;"
                                         "cat /etc/sub/f /w/rel/c.md /w/json.txt; ls /etc/passwd")
    lines = out.splitlines()
    assert lines[:3] == ["a.txt", "b.txt", "a"]
    assert lines[3].split() == ["contents:", "sub", "contents/sub:", "f"]
    assert lines[4:] == ["fcb/etc/passwd"]
    with pytest.raises(BuildError, match="Dockerfile:2: COPY: when using COPY with more than one source file, "
                                         "the destination must be a directory and end with a /"):
        do_build(store, rt, ctx, "FROM busybox\nCOPY a.txt b.txt /dest\n")
    with pytest.raises(BuildError, match='Dockerfile:2: COPY: "missing.txt": not found in the build context'):
        do_build(store, rt, ctx, "FROM busybox\nCOPY missing.txt /\n")


# -- cache ----------------------------------------------------------------------------------------

CACHED = "FROM busybox\nCOPY app.txt /app.txt\nRUN sleep 0.3; cat /app.txt > /copy.txt\nCMD cat /copy.txt\n"


def test_cache_hit_then_miss_after_a_context_change(store, rt, ctx):
    write(ctx, {"app.txt": "v1\n"})
    t = time.monotonic()
    first = do_build(store, rt, ctx, CACHED, tag="cached:1")
    cold = time.monotonic() - t
    lines: list[str] = []
    t = time.monotonic()
    second = do_build(store, rt, ctx, CACHED, lines, tag="cached:1")
    warm = time.monotonic() - t
    assert second.id == first.id and warm < cold and warm < 0.3
    assert lines.count("#2 CACHED") == 1 and lines.count("#3 CACHED") == 1

    write(ctx, {"app.txt": "v2\n"})
    lines = []
    third = do_build(store, rt, ctx, CACHED, lines, tag="cached:1")
    assert third.id != first.id and not any("CACHED" in line for line in lines)
    assert run_image(rt, store, third) == (0, "v2\n")
    assert store.get("cached:1").id == third.id

    lines = []
    fourth = do_build(store, rt, ctx, CACHED, lines, no_cache=True)
    assert not any("CACHED" in line for line in lines) and fourth.id != third.id


# -- failures and hostile contexts -------------------------------------------------------------------

def test_failing_run_stops_with_exit_code_and_output_and_leaves_nothing(store, rt, ctx, root):
    images_before = {i.id for i in store.list()}
    lines: list[str] = []
    with pytest.raises(BuildError) as info:
        do_build(store, rt, ctx, "FROM busybox\nENV X=1\nRUN echo boom-out; echo boom-err >&2; exit 3\nRUN true\n",
                 lines, tag="never:1")
    err = info.value
    assert str(err) == ("Dockerfile:3: RUN: the command '/bin/sh -c echo boom-out; echo boom-err >&2; exit 3' "
                        "returned a non-zero code: 3")
    assert err.run_exit_code == 3 and "boom-out" in err.output and "boom-err" in err.output
    assert lines[:2] == ["#1 [1/3] FROM busybox", "#2 [2/3] RUN echo boom-out; echo boom-err >&2; exit 3"]
    logged = [line.split(" ", 2) for line in lines[2:4]]
    assert sorted(text for _, _, text in logged) == ["boom-err", "boom-out"]  # live, with seconds into the step
    assert all(vertex == "#2" and re.fullmatch(r"\d+\.\d{3}", seconds) for vertex, seconds, _ in logged)
    assert lines[4:] == ["#2 ERROR: the command '/bin/sh -c echo boom-out; echo boom-err >&2; exit 3' returned a "
                         "non-zero code: 3"]
    assert not any("RUN true" in line for line in lines)
    assert {i.id for i in store.list()} == images_before  # nothing committed, no tag
    with pytest.raises(BuildError, match=r"Dockerfile:2: RUN: the command '\[\"no-such-cmd\"\]' could not be started: "
                                         r"exec: \"no-such-cmd\": executable file not found in \$PATH \(exit code 127\)"):
        do_build(store, rt, ctx, 'FROM busybox\nRUN ["no-such-cmd"]\n')
    assert Runtime(root).list() == []


def test_context_escapes_are_refused(store, rt, ctx, tmp_path):
    (tmp_path / "outside.txt").write_text("outside")
    for dockerfile, message in [
        ("COPY ../outside.txt /x", 'forbidden path outside the build context: "../outside.txt"'),
        ("COPY sub/../../outside.txt /x", "forbidden path outside the build context"),
        ("ADD git@example.com:org/repo.git /f", '"git@example.com:org/repo.git": only http and https sources '
                                                 "can be downloaded"),
        ("COPY https://example.com/f /f", "source can't be a URL for COPY"),
    ]:
        with pytest.raises(BuildError, match=f"Dockerfile:2: (COPY|ADD): .*{message}"):
            do_build(store, rt, ctx, f"FROM busybox\n{dockerfile}\n")
    # an absolute source is relative to the context root
    write(ctx, {"etc/passwd": "from-context\n"})
    image = do_build(store, rt, ctx, "FROM busybox\nCOPY /etc/passwd /ctx-passwd\n")
    assert run_image(rt, store, image, "cat /ctx-passwd") == (0, "from-context\n")


def test_symlinks_in_the_context_never_reach_the_host(store, rt, ctx):
    with open("/etc/passwd") as fh:
        host = fh.read()
    (ctx / "dir").mkdir()
    os.symlink("/etc/passwd", ctx / "link")
    os.symlink("/etc/passwd", ctx / "dir" / "link")
    os.symlink("/etc", ctx / "etcdir")
    os.symlink("../../../../../../etc/passwd", ctx / "dir" / "rel")
    with pytest.raises(BuildError, match='Dockerfile:2: COPY: "link" is a symbolic link to "/etc/passwd", which '
                                         "is not in the build context"):
        do_build(store, rt, ctx, "FROM busybox\nCOPY link /x\n")
    with pytest.raises(BuildError, match="not found in the build context"):
        do_build(store, rt, ctx, "FROM busybox\nCOPY etcdir/passwd /x\n")
    image = do_build(store, rt, ctx, "FROM busybox\nCOPY dir /d/\nCOPY . /all/\n")
    _, out = run_image(rt, store, image, "for l in /d/link /d/rel /all/link /all/etcdir; do readlink $l; done; "
                                         "cat /d/link")
    assert out.splitlines()[:4] == ["/etc/passwd", "../../../../../../etc/passwd", "/etc/passwd", "/etc"]
    assert out.endswith(PASSWD)  # the image's own /etc/passwd, through the copied symlink
    for layer in store.layer_dirs(image)[1:]:
        for base, _, files in os.walk(layer):
            for name in files:
                path = os.path.join(base, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    with open(path, errors="replace") as fh:
                        assert fh.read() != host


def test_copy_through_an_image_symlink_stays_in_the_image(store, rt, ctx, root):
    buf = io.BytesIO(rootfs_tar())
    with tarfile.open(fileobj=buf, mode="a") as tar:
        for name, target in (("evil", "/etc"), ("evil2", "../../../../../etc")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    store.import_tarball(io.BytesIO(buf.getvalue()), "evil:test")
    name = f"pycompose-build-test-{os.getpid()}"
    write(ctx, {"marker": "inside\n"})
    with open("/etc/passwd", "rb") as fh:
        host_passwd = fh.read()
    image = do_build(store, rt, ctx, f"FROM evil:test\nCOPY marker /evil/{name}\nCOPY marker /evil2/{name}2\n"
                                     f"COPY marker /evil/passwd\nWORKDIR /evil\nCOPY marker ./rel-{name}\n")
    assert not os.path.exists(f"/etc/{name}") and not os.path.exists(f"/etc/{name}2")
    assert not os.path.exists(f"/etc/rel-{name}")
    with open("/etc/passwd", "rb") as fh:
        assert fh.read() == host_passwd
    _, out = run_image(rt, store, image, f"cat /etc/{name} /etc/{name}2 /etc/passwd /etc/rel-{name}; "
                                         "readlink /evil; readlink /evil2")
    assert out.splitlines() == ["inside"] * 4 + ["/etc", "../../../../../etc"]


def test_add_extracts_local_archives(store, rt, ctx):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("pkg/bin/tool", b"#!/bin/sh\necho tool\n"), ("pkg/README", b"readme\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), 0o755, 1000, 1000
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("pkg/link")
        info.type, info.linkname = tarfile.SYMTYPE, "bin/tool"
        tar.addfile(info)
    (ctx / "pkg.tar.gz").write_bytes(gzip.compress(buf.getvalue()))
    (ctx / "plain.gz").write_bytes(gzip.compress(b"not a tar\n"))
    image = do_build(store, rt, ctx, "FROM busybox\nADD pkg.tar.gz /opt/\nADD plain.gz /data/\n"
                                     "COPY pkg.tar.gz /copied/\n")
    _, out = run_image(rt, store, image, "/opt/pkg/link; ls -ln /opt/pkg/README; ls /data; ls /copied")
    lines = out.splitlines()
    assert lines[0] == "tool" and lines[1].split()[2:4] == ["1000", "1000"]
    assert lines[2:] == ["plain.gz", "pkg.tar.gz"]  # not a tar: copied as is; COPY never extracts


def test_add_refuses_hostile_archives(store, rt, ctx):
    for members, message in [
        ([("../escape", tarfile.REGTYPE, "")], '".." in path'),
        ([("/abs", tarfile.REGTYPE, "")], "absolute path"),
        ([("x/.wh.passwd", tarfile.REGTYPE, "")], "reserved for layer whiteouts"),
        ([("up", tarfile.SYMTYPE, "/etc"), ("up/passwd", tarfile.REGTYPE, "")], 'passes through "/x/up", which'),
    ]:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, kind, link in members:
                info = tarfile.TarInfo(name)
                info.type, info.linkname = kind, link
                tar.addfile(info, io.BytesIO(b""))
        (ctx / "bad.tar").write_bytes(buf.getvalue())
        with pytest.raises(BuildError, match=f"Dockerfile:2: ADD: .*{message}"):
            do_build(store, rt, ctx, "FROM busybox\nADD bad.tar /x/\n")
    assert not os.path.exists("/etc/passwd.wh") and not os.path.exists("/x")
