"""Builds as the compose layer asks for them (pure): the build section to a BuildSpec, --print, progress, stale checks."""

from __future__ import annotations

import io
import json
import os

import pytest

from compose.config.model import Build, FileObject, FileRef, Project, Service, Ulimit
from compose.deploy.building import BuildEvents
from compose.deploy.buildspec import HOST_PLATFORM, BuildSpec, build_spec, print_json, read_secrets
from compose.deploy.progress import Progress
from compose.errors import ConfigError, UpError
from engine.builder.digest import Hasher
from engine.builder.inputs import changes, record
from engine.builder.progress import Event
from engine.state import Root


def project(build: Build, **top) -> Project:
    svc = Service(name="web", build=build)
    return Project(name="demo", working_dir="/p", config_files=("/p/compose.yaml",), services={"web": svc}, **top)


def test_every_key_reaches_the_spec():
    b = Build(context="/p/app", dockerfile="Dockerfile.dev", args={"A": "1", "B": None}, labels={"l": "v"},
              target="runtime", tags=("extra:1",), no_cache=True, pull=True, network="host",
              extra_hosts={"mirror": ("10.0.0.1", "10.0.0.2")}, shm_size=1 << 27,
              ulimits={"nofile": Ulimit(1024, 2048)}, platforms=(HOST_PLATFORM,),
              additional_contexts={"shared": "/p/shared", "img": "docker-image://busybox:latest"},
              secrets=(FileRef("tok"), FileRef("env", target="renamed")))
    p = project(b, secrets={"tok": FileObject("tok", file="/p/tok.txt"), "env": FileObject("env", environment="TOK")})
    spec = build_spec(p, p.services["web"], extra_args={"B": "2"}, memory=64 << 20)
    assert spec == BuildSpec(
        service="web", image="demo-web", context="/p/app", dockerfile="Dockerfile.dev", dockerfile_inline=None,
        args={"A": "1", "B": "2"}, target="runtime", labels={"l": "v"}, tags=("extra:1",), no_cache=True, pull=True,
        network="host", extra_hosts=(("mirror", "10.0.0.1"), ("mirror", "10.0.0.2")),
        secrets=(("tok", "file", "/p/tok.txt"), ("renamed", "env", "TOK")),
        contexts={"shared": "/p/shared", "img": "docker-image://busybox:latest"}, shm_size=1 << 27,
        ulimits=(("nofile", 1024, 2048),), memory=64 << 20, platforms=(HOST_PLATFORM,))


@pytest.mark.parametrize("build,message", [
    (Build(context="https://github.com/x/y.git"), 'services.web.build.context: "https://github.com/x/y.git" is a '
                                                 "remote context"),
    (Build(context="/p", ssh=("default",)), "services.web.build.ssh: SSH agent forwarding is not supported"),
    (Build(context="/p", privileged=True), "services.web.build.privileged: privileged builds are not supported"),
    (Build(context="/p", isolation="hyperv"), 'services.web.build.isolation: "hyperv" is not supported'),
    (Build(context="/p", network="backend"), 'services.web.build.network: "backend": a build runs in the host\'s '
                                             "network or none"),
    (Build(context="/p", platforms=("linux/riscv64",)), 'services.web.build.platforms: "linux/riscv64": pycompose '
                                                        "builds for this host's platform only"),
    (Build(context="/p", cache_to=("type=local,dest=/c",)), 'services.web.build.cache_to: "type=local,dest=/c": '
                                                            "only image references are accepted"),
    (Build(context="/p", additional_contexts={"x": "service:nope"}),
     'services.web.build.additional_contexts.x: "service:nope" does not name a service with a build section'),
    (Build(context="/p", additional_contexts={"x": "oci-layout:///tmp/l"}),
     'services.web.build.additional_contexts.x: "oci-layout:///tmp/l": only folders, service:NAME and '
     "docker-image://REF are supported"),
    (Build(context="/p", secrets=(FileRef("missing"),)), 'services.web.build.secrets: secret "missing" is not '
                                                         "defined in the top-level secrets"),
])
def test_refused_keys_name_the_service_and_the_key(build, message):
    p = project(build)
    with pytest.raises(ConfigError) as info:
        build_spec(p, p.services["web"])
    assert str(info.value).startswith(message), str(info.value)


def test_cache_from_an_image_is_accepted_with_a_note():
    p = project(Build(context="/p", cache_from=("registry.example/app:cache",)))
    assert build_spec(p, p.services["web"]).notes == (
        "service web: build.cache_from registry.example/app:cache is not used: pycompose's layer cache is local",)


def test_secrets_are_read_from_files_and_the_environment(tmp_path):
    (tmp_path / "tok").write_bytes(b"file-secret")
    spec = BuildSpec(service="web", image="i", context="/p",
                     secrets=(("a", "file", str(tmp_path / "tok")), ("b", "env", "TOK")))
    assert read_secrets(spec, {"TOK": "env-secret"}) == {"a": b"file-secret", "b": b"env-secret"}
    with pytest.raises(UpError, match=r'^service web: build.secrets: secret "b": the environment variable TOK is '
                                      r"not set$"):
        read_secrets(spec, {})


def test_print_is_bake_shaped_json():
    spec = BuildSpec(service="web", image="demo-web", context="/p", args={"A": "1", "U": None},
                     contexts={"base": "service:base"}, secrets=(("tok", "file", "/p/t"),))
    assert json.loads(print_json([spec])) == {
        "group": {"default": {"targets": ["web"]}},
        "target": {"web": {"context": "/p", "dockerfile": "Dockerfile", "args": {"A": "1"},
                           "contexts": {"base": "target:base"}, "labels": {}, "tags": ["demo-web"],
                           "network": "default", "secret": ["id=tok,src=/p/t"], "no-cache": False, "pull": False}}}


# -- progress -----------------------------------------------------------------------------------------

EVENTS = [("web", Event(1, "step", "[web 1/2] FROM busybox")), ("api", Event(1, "step", "[api 1/2] FROM busybox")),
          ("web", Event(2, "step", "[web 2/2] RUN make")), ("web", Event(2, "log", "compiling", 0.25)),
          ("api", Event(2, "cached")), ("web", Event(2, "error", "the command 'make' returned a non-zero code: 2",
                                                   1.5)), ("web", Event(0, "note", "[warning] x"))]


@pytest.mark.parametrize("mode,expected", [
    ("plain", ["#1 [web 1/2] FROM busybox", "#2 [api 1/2] FROM busybox", "#3 [web 2/2] RUN make",
               "#3 0.250 compiling", "#4 CACHED", "#3 ERROR: the command 'make' returned a non-zero code: 2",
               "[warning] x"]),
    ("tty", ["#1 [web 1/2] FROM busybox", "#2 [api 1/2] FROM busybox", "#3 [web 2/2] RUN make", "#4 CACHED",
             "#3 ERROR: the command 'make' returned a non-zero code: 2", "#3 compiling", "[warning] x"]),
    ("quiet", []),
])
def test_progress_numbers_steps_across_builds_and_folds_output_in_tty_mode(mode, expected):
    out = io.StringIO()
    events = BuildEvents(Progress(mode, out))
    for service, event in EVENTS:
        events.show(service, event)
    assert out.getvalue().splitlines() == expected


# -- stale images ------------------------------------------------------------------------------------------

class CountingHasher(Hasher):
    def __init__(self) -> None:
        super().__init__(None)
        self.reads = 0

    def path_digest(self, path: str) -> str:
        self.reads += 1
        return super().path_digest(path)


def test_stale_check_reads_only_files_whose_size_or_mtime_moved(tmp_path):
    ctx = tmp_path / "ctx"
    for i in range(200):
        (ctx / "src").mkdir(parents=True, exist_ok=True)
        (ctx / "src" / f"m{i}.py").write_text(f"print({i})\n")
    (ctx / ".dockerignore").write_text("*.log\n")
    root = Root(str(tmp_path / "root"))
    record(root, "sha256:abc", str(ctx), "FROM x\n", {"A": "1"}, None, Hasher(None))
    hasher = CountingHasher()
    assert not changes(root, "sha256:abc", str(ctx), "FROM x\n", {"A": "1"}, None, hasher)
    assert hasher.reads == 0
    os.utime(ctx / "src" / "m1.py", (1, 1))  # touched, same content: read, and found unchanged
    (ctx / "debug.log").write_text("ignored")
    assert not changes(root, "sha256:abc", str(ctx), "FROM x\n", {"A": "1"}, None, hasher)
    assert hasher.reads == 1
    (ctx / "src" / "m2.py").write_text("changed\n")
    (ctx / "src" / "m3.py").unlink()
    found = changes(root, "sha256:abc", str(ctx), "FROM y\n", {"A": "2"}, "t", hasher)
    assert found is not None and (found.files, found.dockerfile, found.args, found.target) == (
        ("src/m2.py", "src/m3.py"), True, True, True)
    assert changes(root, "sha256:other", str(ctx), "FROM x\n", {}, None) is None  # no record: unknown
