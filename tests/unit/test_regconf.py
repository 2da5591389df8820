"""References as Docker resolves them, and registries.conf: mirrors, locations, search, blocking, errors."""

from __future__ import annotations

import tomllib

import pytest

from engine.errors import EngineError
from engine.images.distribution import RemoteRef, parse_remote
from engine.images.regconf import Endpoint, RegistriesConf, RegistriesConfError, conf_path, parse

D = "sha256:" + "b" * 64


@pytest.mark.parametrize(("text", "expected", "local_tag"), [
    ("postgres:16", RemoteRef("docker.io", "library/postgres", "16", None, False), "postgres:16"),
    ("postgres", RemoteRef("docker.io", "library/postgres", "latest", None, False), "postgres:latest"),
    ("user/app", RemoteRef("docker.io", "user/app", "latest", None, False), "user/app:latest"),
    ("docker.io/postgres", RemoteRef("docker.io", "library/postgres", "latest", None), "postgres:latest"),
    ("index.docker.io/user/app:2", RemoteRef("docker.io", "user/app", "2", None), "user/app:2"),
    ("ghcr.io/org/app:2", RemoteRef("ghcr.io", "org/app", "2", None), "ghcr.io/org/app:2"),
    ("localhost/x", RemoteRef("localhost", "x", "latest", None), "localhost/x:latest"),
    ("localhost:5000/x", RemoteRef("localhost:5000", "x", "latest", None), "localhost:5000/x:latest"),
    ("127.0.0.1:5000/a/b:1.0", RemoteRef("127.0.0.1:5000", "a/b", "1.0", None), "127.0.0.1:5000/a/b:1.0"),
    (f"reg.example.com/x@{D}", RemoteRef("reg.example.com", "x", None, D), None),
    (f"nginx:1.27-alpine@{D}", RemoteRef("docker.io", "library/nginx", "1.27-alpine", D, False), "nginx:1.27-alpine"),
    ("[::1]:5000/x:t", RemoteRef("[::1]:5000", "x", "t", None), "[::1]:5000/x:t"),
])
def test_references_resolve_as_docker_resolves_them(text, expected, local_tag):
    ref = parse_remote(text)
    assert ref == expected and ref.local_tag == local_tag


@pytest.mark.parametrize(("text", "message"), [
    ("Postgres", 'invalid reference format: repository name "Postgres" must be lowercase'),
    ("x@sha256:12", 'invalid reference format: "x@sha256:12": bad digest (sha256:<64 hex digits> expected)'),
    ("a:b:c", 'invalid reference format: "a:b:c"'),
])
def test_malformed_references(text, message):
    with pytest.raises(EngineError) as info:
        parse_remote(text)
    assert str(info.value) == message


CONF = """
unqualified-search-registries = ["quay.io", "docker.io"]

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "127.0.0.1:5001"
[[registry.mirror]]
location = "mirror.lan/hub"
insecure = true
pull-from-mirror = "digest-only"

[[registry]]
prefix = "docker.io/org/app"
location = "internal.lan:5000/apps/app"
insecure = true

[[registry]]
prefix = "*.blocked.example"
blocked = true

[[registry]]
location = "quay.io"
[[registry.mirror]]
location = "quaymirror.lan"
pull-from-mirror = "tag-only"
"""


def conf() -> RegistriesConf:
    return parse(tomllib.loads(CONF), "/etc/containers/registries.conf", frozenset({"old.lan:5000"}))


@pytest.mark.parametrize(("text", "expected"), [
    ("docker.io/library/postgres:15", [Endpoint("127.0.0.1:5001", "library/postgres", False, True),
                                       Endpoint("registry-1.docker.io", "library/postgres", False, False)]),
    (f"docker.io/library/postgres@{D}", [Endpoint("127.0.0.1:5001", "library/postgres", False, True),
                                         Endpoint("mirror.lan", "hub/library/postgres", True, True),
                                         Endpoint("registry-1.docker.io", "library/postgres", False, False)]),
    ("docker.io/org/app:1", [Endpoint("internal.lan:5000", "apps/app", True, False)]),
    ("docker.io/org/application:1", [Endpoint("127.0.0.1:5001", "org/application", False, True),
                                     Endpoint("registry-1.docker.io", "org/application", False, False)]),
    ("quay.io/x/y:1", [Endpoint("quaymirror.lan", "x/y", False, True), Endpoint("quay.io", "x/y", False, False)]),
    (f"quay.io/x/y@{D}", [Endpoint("quay.io", "x/y", False, False)]),
    ("old.lan:5000/x", [Endpoint("old.lan:5000", "x", True, False)]),
    ("ghcr.io/org/app:2", [Endpoint("ghcr.io", "org/app", False, False)]),
])
def test_endpoints_mirrors_first_then_the_registry(text, expected):
    assert conf().endpoints(parse_remote(text)) == expected


def test_short_names_try_each_search_registry_in_order():
    assert conf().candidates(parse_remote("postgres:15")) == [
        RemoteRef("quay.io", "postgres", "15", None, False), RemoteRef("docker.io", "library/postgres", "15", None, False)]
    assert conf().candidates(parse_remote("docker.io/postgres:15")) == [parse_remote("docker.io/postgres:15")]
    assert RegistriesConf().candidates(parse_remote("user/app")) == [RemoteRef("docker.io", "user/app", "latest", None, False)]
    with pytest.raises(RegistriesConfError, match="lists no unqualified-search-registries; write the registry out"):
        parse({"unqualified-search-registries": []}, "r.conf").candidates(parse_remote("postgres"))


def test_blocked_registry_is_refused_naming_the_file():
    with pytest.raises(RegistriesConfError) as info:
        conf().endpoints(parse_remote("a.blocked.example/x:1"))
    assert str(info.value) == ("a.blocked.example/x:1: registry *.blocked.example is blocked in "
                               "/etc/containers/registries.conf")


def test_loopback_may_speak_plain_http_others_only_when_insecure():
    assert Endpoint("127.0.0.1:5000", "x").plain_http_allowed and Endpoint("localhost:5000", "x").plain_http_allowed
    assert Endpoint("[::1]:5000", "x").plain_http_allowed and Endpoint("reg.lan", "x", insecure=True).plain_http_allowed
    assert not Endpoint("registry.example.com", "x").plain_http_allowed


@pytest.mark.parametrize(("text", "message"), [
    ("[registries.search]\nregistries = ['x']", "r.conf: the version 1 format ([registries.search] ...) is not "
                                                "supported; use version 2 ([[registry]] tables)"),
    ('unqualified-search-registries = "docker.io"', "r.conf: unqualified-search-registries must be a list of "
                                                    "registry names"),
    ("[[registry]]\ninsecure = true", "r.conf: [[registry]] #1: needs a location or a prefix"),
    ('[[registry]]\nlocation = "a"\n[[registry]]\nlocation = "b"\ninsecure = "yes"',
     "r.conf: [[registry]] #2: insecure must be true or false"),
    ('[[registry]]\nlocation = "a"\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "some"',
     'r.conf: [[registry]] #1 mirror #1: pull-from-mirror must be one of all, digest-only, tag-only, not "some"'),
    ('[[registry]]\nprefix = "*.x.com"\nlocation = "y"', "r.conf: [[registry]] #1: a wildcard prefix (*.x.com) "
                                                         "cannot have a location"),
    ('[[registry]]\nlocation = "a"\n[[registry]]\nlocation = "a"', "r.conf: two [[registry]] entries have the "
                                                                    "prefix a"),
])
def test_bad_registries_conf_is_one_line_naming_file_and_entry(text, message):
    with pytest.raises(RegistriesConfError) as info:
        parse(tomllib.loads(text), "r.conf")
    assert str(info.value) == message


def test_file_chosen_by_environment_then_user_then_system(tmp_path):
    (tmp_path / "mine.conf").write_text("unqualified-search-registries = ['a.io']\n")
    assert conf_path({"CONTAINERS_REGISTRIES_CONF": str(tmp_path / "mine.conf")}) == str(tmp_path / "mine.conf")
    user = tmp_path / "home/.config/containers/registries.conf"
    user.parent.mkdir(parents=True)
    user.write_text("")
    assert conf_path({"HOME": str(tmp_path / "home")}) == str(user)
    loaded = RegistriesConf.from_env({"CONTAINERS_REGISTRIES_CONF": str(tmp_path / "mine.conf"),
                                     "PYCOMPOSE_CERTS_DIRS": "/a:/b"})
    assert loaded.search == ("a.io",) and loaded.certs_dirs == ("/a", "/b")
    (tmp_path / "bad.conf").write_text("[[registry]\n")
    with pytest.raises(RegistriesConfError, match=r"^.*bad.conf: not valid TOML: .*line 1"):
        RegistriesConf.from_env({"CONTAINERS_REGISTRIES_CONF": str(tmp_path / "bad.conf")})
