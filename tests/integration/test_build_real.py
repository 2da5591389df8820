"""Dockerfiles as real projects write them: pip from an index, cache and secret mounts, heredocs, downloads.

Everything a RUN step downloads is served by the test itself on 127.0.0.1
(RUN steps run in the host's network namespace). The Python app builds on
a Debian root made by mmdebstrap once per run; the rest on busybox. After
each test nothing of the builds may remain: containers, mounts, cgroups,
supervisors, temporary files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re

import pytest

from engine.builder import BuildError, BuildOptions, build
from engine.images.commit import raw_config
from engine.images.store import ImageStore
from engine.runtime.containers import Runtime
from engine.state import Root
from tests.integration.buildfixtures import MMDEBSTRAP, Served, debian_tar, serve, tarball, wheel
from tests.integration.busybox import rootfs_tar, settled_leftovers
from tests.integration.test_build import run_image, write

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.fixture(scope="module")
def module_root(tmp_path_factory):
    old = os.environ.get("PYCOMPOSE_SUPERVISOR_IDLE")
    os.environ["PYCOMPOSE_SUPERVISOR_IDLE"] = "0.2"
    r = Root(str(tmp_path_factory.mktemp("build-real") / "root"))
    r.ensure()
    s = ImageStore(r)
    s.import_tarball(io.BytesIO(rootfs_tar()), "busybox:latest", ['CMD ["sh"]'])
    yield r
    if old is None:
        os.environ.pop("PYCOMPOSE_SUPERVISOR_IDLE", None)
    else:
        os.environ["PYCOMPOSE_SUPERVISOR_IDLE"] = old


@pytest.fixture
def root(module_root):
    yield module_root
    rt = Runtime(module_root)
    records = rt.list()
    for c in records:
        rt.remove(c.id, force=True)
    assert records == [], "a build or a test left containers behind"
    assert settled_leftovers(module_root.path, module_root.cgroup_name) == []
    tmp = module_root.sub("build", "tmp")
    assert not os.path.isdir(tmp) or os.listdir(tmp) == []


@pytest.fixture
def store(root):
    return ImageStore(root)


@pytest.fixture
def rt(root):
    return Runtime(root)


@pytest.fixture
def ctx(tmp_path):
    path = tmp_path / "ctx"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def debian(module_root, tmp_path_factory):
    if MMDEBSTRAP is None and not os.environ.get("PYCOMPOSE_TEST_DEBIAN_TAR"):
        pytest.skip("mmdebstrap is not installed (apt-get install mmdebstrap)")
    path = debian_tar(str(tmp_path_factory.mktemp("debian") / "bookworm-python.tar"))
    with open(path, "rb") as fh:
        ImageStore(module_root).import_tarball(fh, "debian-python:bookworm", ['CMD ["bash"]'])
    return "debian-python:bookworm"


@pytest.fixture
def files():
    with serve(Served()) as served:
        yield served


def do_build(store, rt, ctx, dockerfile, lines=None, **kw):
    (ctx / "Dockerfile").write_text(dockerfile)
    out = lines if lines is not None else []
    return build(store, rt, str(ctx), progress=out.append, **kw)


def layer_files(store, image, index):
    """Paths in one layer of ``image`` (its unpacked folder), sorted."""
    top = store.layer_dirs(image)[index]
    return sorted(os.path.relpath(os.path.join(b, n), top) for b, ds, fs in os.walk(top) for n in ds + fs)


# -- a Python app: pip from a local index, with a cache mount -------------------------------------

PYAPP = """\
# syntax=docker/dockerfile:1
FROM debian-python:bookworm
ENV PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
WORKDIR /app
COPY requirements.txt .
ARG INDEX
RUN --mount=type=cache,target=/root/.cache/pip pip install --index-url "$INDEX" --trusted-host 127.0.0.1 -r requirements.txt
COPY app.py .
CMD ["python3", "app.py"]
"""


def test_python_app_installs_from_an_index_and_reuses_the_pip_cache(debian, store, rt, ctx, files, root):
    name, data = wheel("tinygreet", "1.0", "def greet():\n    return 'hello from tinygreet'\n")
    files.add_index("tinygreet", name, data)
    write(ctx, {"requirements.txt": "tinygreet==1.0\n", "app.py": "import tinygreet\nprint(tinygreet.greet())\n"})
    index = files.url("/simple/")
    lines: list[str] = []
    image = do_build(store, rt, ctx, PYAPP, lines, args={"INDEX": index}, tag="pyapp:1")
    assert run_image(rt, store, image) == (0, "hello from tinygreet\n")
    assert files.hits[f"/packages/{name}"] == 1
    assert "#4 [4/5] RUN --mount=type=cache,target=/root/.cache/pip pip install --index-url \"$INDEX\" " \
           "--trusted-host 127.0.0.1 -r requirements.txt" in lines
    assert any(line.startswith("#4 ") and "Successfully installed tinygreet-1.0" in line for line in lines)
    run_layer = layer_files(store, image, 2)
    assert "usr/local/lib/python3.11/dist-packages/tinygreet.py" in run_layer
    assert not any(p.startswith("root/.cache") for p in run_layer)  # the cache mount is not in the layer
    history = [h["created_by"] for h in raw_config(store, image)["history"]]
    assert f"RUN |1 INDEX={index} /bin/sh -c pip install --index-url \"$INDEX\" --trusted-host 127.0.0.1 " \
           "-r requirements.txt" in history

    lines = []
    again = do_build(store, rt, ctx, PYAPP, lines, args={"INDEX": index}, tag="pyapp:1", no_cache=True)
    assert run_image(rt, store, again) == (0, "hello from tinygreet\n")
    assert files.hits[f"/packages/{name}"] == 1  # the second install took the wheel from the cache mount
    assert any(line.endswith(f"Using cached {files.url('/packages/' + name)} (987 bytes)") for line in lines)


# -- secrets ----------------------------------------------------------------------------------------

SECRET = b"s3cr3t-Value-8d1f"


def test_a_secret_is_read_but_never_in_a_layer_the_history_or_the_state(store, rt, ctx, root):
    digest = hashlib.sha256(SECRET).hexdigest()
    dockerfile = ("FROM busybox\n"
                  "RUN --mount=type=secret,id=token,required test \"$(sha256sum < /run/secrets/token)\" = "
                  f"\"{digest}  -\" && echo checked > /checked\n"
                  "RUN --mount=type=secret,id=token,env=TOKEN,target=/etc/token,mode=0440,uid=1000 "
                  f"test \"$(printf %s \"$TOKEN\" | sha256sum)\" = \"{digest}  -\" && stat -c '%u %a' /etc/token > /stat\n")
    image = do_build(store, rt, ctx, dockerfile, options=BuildOptions(secrets={"token": SECRET}))
    assert run_image(rt, store, image, "cat /checked /stat; ls /run/secrets 2>&1; ls /etc/token 2>&1") == \
        (1, "checked\n1000 440\nls: /run/secrets: No such file or directory\n"
            "ls: /etc/token: No such file or directory\n")
    assert layer_files(store, image, 1) == ["checked"] and layer_files(store, image, 2) == ["stat"]
    assert SECRET.decode() not in json.dumps(raw_config(store, image))
    found = []
    for base, _, names in os.walk(root.path):
        for n in names:
            path = os.path.join(base, n)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as fh:
                    if SECRET in fh.read():
                        found.append(path)
    assert found == []
    with pytest.raises(BuildError, match='^Dockerfile:2: RUN: secret "token" not found: give it in the build\'s '
                                         r"secrets \(compose: build.secrets\)$"):
        do_build(store, rt, ctx, dockerfile)


# -- downloads ---------------------------------------------------------------------------------------

def test_add_url_with_checksum_and_a_tarball_fetched_in_run(store, rt, ctx, files):
    data = b"payload\n"
    files.add("/files/data.txt", data)
    files.add("/files/plain.bin", b"\x00\x01")
    files.add("/files/tool.tgz", tarball({"hello-tool": b"#!/bin/sh\necho tool ran\n"}))
    good = "sha256:" + hashlib.sha256(data).hexdigest()
    dockerfile = (f"FROM busybox\nADD --checksum={good} --chmod=644 {files.url('/files/data.txt')} /srv/\n"
                  f"ADD {files.url('/files/plain.bin')} /srv/plain.bin\n"
                  f"RUN wget -q -O /tmp/tool.tgz {files.url('/files/tool.tgz')} && mkdir -p /usr/local/bin && "
                  "tar xzf /tmp/tool.tgz -C /usr/local/bin && rm /tmp/tool.tgz\n")
    image = do_build(store, rt, ctx, dockerfile)
    code, out = run_image(rt, store, image, "cat /srv/data.txt; stat -c '%a %Y' /srv/data.txt /srv/plain.bin; "
                                            "hello-tool")
    assert (code, out) == (0, "payload\n644 1445412480\n600 1445412480\ntool ran\n")
    hits = dict(files.hits)
    lines: list[str] = []
    do_build(store, rt, ctx, dockerfile, lines)
    assert lines.count("#2 CACHED") == 1 and files.hits["/files/data.txt"] == hits["/files/data.txt"]
    bad = "sha256:" + "0" * 64
    with pytest.raises(BuildError, match=f'^Dockerfile:2: ADD: the checksum of "{files.url("/files/data.txt")}" '
                                         f"is {good}, not {bad} as --checksum says$"):
        do_build(store, rt, ctx, f"FROM busybox\nADD --checksum={bad} {files.url('/files/data.txt')} /srv/\n")
    with pytest.raises(BuildError, match="^Dockerfile:2: ADD: cannot download .*/files/missing.txt\": HTTP 404"):
        do_build(store, rt, ctx, f"FROM busybox\nADD {files.url('/files/missing.txt')} /srv/\n")


def test_network_modes_extra_hosts_and_proxy_args(store, rt, ctx, files):
    files.add("/files/data.txt", b"reachable\n")
    url = files.url("/files/data.txt")
    dockerfile = (f"FROM busybox\nRUN wget -q -O /default {url}\n"
                  f"RUN --network=none sh -c 'wget -q -T 2 -O /none {url} || echo unreachable > /none'\n"
                  "RUN grep mirror.internal /etc/hosts > /hosts\n")
    image = do_build(store, rt, ctx, dockerfile,
                     options=BuildOptions(extra_hosts=(("mirror.internal", "10.99.0.7"),)))
    assert run_image(rt, store, image, "cat /default /none /hosts") == \
        (0, "reachable\nunreachable\n10.99.0.7\tmirror.internal\n")
    with pytest.raises(BuildError, match="^Dockerfile:2: RUN: .*returned a non-zero code: 1$"):
        do_build(store, rt, ctx, f"FROM busybox\nRUN wget -q -O /x {url}\n",
                 options=BuildOptions(network="none"))
    lines: list[str] = []
    proxied = do_build(store, rt, ctx, "FROM busybox\nARG DECLARED\nRUN echo \"$HTTP_PROXY|$no_proxy|$DECLARED\" > /p\n",
                       lines, args={"HTTP_PROXY": "http://proxy.invalid:3128", "no_proxy": "localhost",
                                    "DECLARED": "d"})
    assert run_image(rt, store, proxied, "cat /p") == (0, "http://proxy.invalid:3128|localhost|d\n")
    history = json.dumps(raw_config(store, proxied)["history"])
    assert "proxy.invalid" not in history and "localhost" not in history and "DECLARED=d" in history
    assert not any("not used by any ARG" in line for line in lines)


# -- heredocs, stages, ONBUILD -------------------------------------------------------------------------

MULTI = """\
FROM busybox AS build
ARG APP=demo
WORKDIR /src
COPY <<EOF config.ini
[app]
name=${APP}
EOF
COPY <<"RAW" /src/raw.txt
kept as ${written}
RAW
RUN <<EOT
set -e
mkdir -p /out
cat config.ini raw.txt > /out/config
EOT
RUN <<-EOT
	#!/bin/sh
	echo "script $0" > /out/script
	EOT
RUN cat <<A > /out/a && cat <<B > /out/b
first
A
second
B

FROM busybox
COPY --from=build /out/ /app/
CMD ["sh", "-c", "cat /app/config /app/script /app/a /app/b"]
"""


def test_multi_stage_with_heredocs(store, rt, ctx):
    lines: list[str] = []
    image = do_build(store, rt, ctx, MULTI, lines)
    assert run_image(rt, store, image) == (0, "[app]\nname=demo\nkept as ${written}\nscript /dev/pipes/EOT\n"
                                              "first\nsecond\n")
    assert "#5 [build 5/7] RUN <<EOT" in lines and "#8 [stage-1 1/2] FROM busybox" in lines
    assert layer_files(store, image, 1) == ["app", "app/a", "app/b", "app/config", "app/script"]


def test_onbuild_triggers_run_in_the_image_built_from_it(store, rt, ctx):
    write(ctx, {"app.txt": "from the child's context\n"})
    base = do_build(store, rt, ctx, "FROM busybox\nONBUILD COPY app.txt /app/\nONBUILD RUN wc -c < /app/app.txt > "
                                    "/app/size\n", tag="onbuild-base:1")
    assert raw_config(store, base)["config"]["OnBuild"] == ["COPY app.txt /app/", "RUN wc -c < /app/app.txt > /app/size"]
    lines: list[str] = []
    child = do_build(store, rt, ctx, "FROM onbuild-base:1\nCMD cat /app/app.txt /app/size\n", lines)
    assert run_image(rt, store, child) == (0, "from the child's context\n25\n")
    assert "#2 [ONBUILD] COPY app.txt /app/" in lines
    assert "OnBuild" not in raw_config(store, child)["config"]  # triggers do not pass to grandchildren


# -- mounts and cache keys ---------------------------------------------------------------------------

MOUNTS = """\
FROM busybox AS tools
RUN mkdir /tools && echo tool-v1 > /tools/version

FROM busybox
RUN --mount=type=bind,source=src,target=/src --mount=type=bind,from=tools,source=/tools,target=/t \\
    --mount=type=tmpfs,target=/scratch --mount=type=cache,target=/var/cache/c,uid=1000,gid=50,mode=0750 \\
    cat /src/a.txt /t/version > /result && echo junk > /scratch/junk && ! touch /src/new 2>/dev/null \\
    && test ! -e /src/ignored.txt && stat -c '%u:%g:%a' /var/cache/c >> /result
"""


def test_bind_tmpfs_and_cache_mounts_leave_nothing_and_binds_key_the_cache(store, rt, ctx):
    write(ctx, {"src/a.txt": "a-v1\n", "src/ignored.txt": "no\n", ".dockerignore": "src/ignored.txt\n"})
    image = do_build(store, rt, ctx, MOUNTS)
    assert run_image(rt, store, image, "cat /result") == (0, "a-v1\ntool-v1\n1000:50:750\n")
    assert layer_files(store, image, 1) == ["result"]
    lines: list[str] = []
    do_build(store, rt, ctx, MOUNTS, lines)
    assert "#4 CACHED" in lines
    write(ctx, {"src/ignored.txt": "changed but ignored\n"})
    lines = []
    do_build(store, rt, ctx, MOUNTS, lines)
    assert "#4 CACHED" in lines
    write(ctx, {"src/a.txt": "a-v2\n"})
    lines = []
    changed = do_build(store, rt, ctx, MOUNTS, lines)
    assert "#4 CACHED" not in lines
    assert run_image(rt, store, changed, "head -1 /result") == (0, "a-v2\n")


def test_copy_parents_exclude_and_content_keys_ignore_mtimes(store, rt, ctx):
    write(ctx, {"src/a/main.py": "a", "src/b/main.py": "b", "src/b/util.py": "u", "lib/x.py": "x",
                "lib/x.pyc": "c", "lib/tests/t.py": "t"})
    dockerfile = ("FROM busybox\nCOPY --parents src/*/main.py /app/\nCOPY --parents ./src/./b/util.py /pivot/\n"
                  "COPY --exclude=*.pyc --exclude=tests lib /lib/\nCOPY --link lib/x.py /linked.py\n")
    image = do_build(store, rt, ctx, dockerfile)
    _, out = run_image(rt, store, image, "cd /; find app pivot lib -type f | sort; cat linked.py")
    assert out.split() == ["app/src/a/main.py", "app/src/b/main.py", "lib/x.py", "pivot/b/util.py", "x"]
    os.utime(ctx / "lib" / "x.py", (1_000_000, 1_000_000))  # same content, another mtime
    lines: list[str] = []
    again = do_build(store, rt, ctx, dockerfile, lines)
    assert again.id == image.id and [line for line in lines if line.endswith("CACHED")] == \
        ["#2 CACHED", "#3 CACHED", "#4 CACHED", "#5 CACHED"]


def test_independent_stages_build_in_parallel(store, rt, ctx):
    dockerfile = ("FROM busybox AS one\nRUN sleep 1.5; echo one > /one\n"
                  "FROM busybox AS two\nRUN sleep 1.5; echo two > /two\n"
                  "FROM busybox AS unused\nRUN exit 1\n"
                  "FROM busybox\nCOPY --from=one /one /\nCOPY --from=two /two /\n")
    lines: list[str] = []
    image = do_build(store, rt, ctx, dockerfile, lines)
    assert run_image(rt, store, image, "cat /one /two") == (0, "one\ntwo\n")
    runs = [i for i, line in enumerate(lines) if re.fullmatch(r"#\d+ \[(one|two) 2/2\] RUN sleep 1\.5; .*", line)]
    done = [i for i, line in enumerate(lines) if re.fullmatch(r"#\d+ DONE \d+\.\ds", line)]
    assert len(runs) == 2 and max(runs) < min(done), lines  # both stages' steps started before either ended
    assert not any("RUN exit 1" in line for line in lines)


def test_platform_args_and_a_foreign_platform(store, rt, ctx):
    from engine.images.model import HOST_ARCH

    image = do_build(store, rt, ctx, "FROM --platform=$BUILDPLATFORM busybox\nARG TARGETARCH\nARG TARGETPLATFORM\n"
                                     "RUN echo $TARGETPLATFORM $TARGETARCH > /p\n")
    assert run_image(rt, store, image, "cat /p") == (0, f"linux/{HOST_ARCH} {HOST_ARCH}\n")
    with pytest.raises(BuildError, match=r"^Dockerfile:1: FROM: --platform=linux/s390x: pycompose builds for "
                                         rf"this host's platform only \(linux/{HOST_ARCH}\)$"):
        do_build(store, rt, ctx, "FROM --platform=linux/s390x busybox\nRUN true\n")
