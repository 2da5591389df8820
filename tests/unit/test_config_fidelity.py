"""What the loader does to match Docker Compose v2.40's config, one rule per test.

Expected values are what ``docker compose config`` printed for the same input (see also
tests/corpus_cases.yaml, which checks whole projects against Compose's recorded output).
"""

import pytest

from compose.config import blocks
from compose.config.dotenv import parse_raw_env
from compose.config.forms import extra_hosts_to_dict
from compose.config.paths import resolve, resolve_host
from compose.errors import ConfigError, ConfigErrors, UsageError

BASE = "/srv/app"
HOME = "/home/tester"


@pytest.mark.parametrize("path,resolved", [
    ("./rel//y/", "/srv/app/rel/y"),
    (".", "/srv/app"),
    ("sub/../x", "/srv/app/x"),
    ("/abs//p/", "/abs//p/"),  # absolute paths are kept exactly as written
    ("~", "/home/tester"),
    ("~/x//y/", "/home/tester/x/y"),
    ("~foo", "/home/tester/foo"),  # Compose joins whatever follows ~ to the home directory
])
def test_resolve(path, resolved):
    assert resolve(path, BASE, HOME) == resolved


@pytest.mark.parametrize("path,resolved", [
    ("", "/srv/app"),  # an unset bind source or device is the project directory
    ("C:\\docker\\project", "C:\\docker\\project"),
    ("\\\\server\\share", "\\\\server\\share"),
    ("./data", "/srv/app/data"),
])
def test_resolve_host(path, resolved):
    assert resolve_host(path, BASE, HOME) == resolved


@pytest.mark.parametrize("raw,canonical", [
    ({"driver": "nvidia", "count": "all", "capabilities": ["gpu"]},
     {"driver": "nvidia", "count": -1, "capabilities": ["gpu"]}),
    ({"capabilities": ["gpu"]}, {"capabilities": ["gpu"], "count": -1}),
    ({"count": "ALL"}, {"count": -1}),
    ({"count": "2", "options": {"a": 1}}, {"count": 2, "options": {"a": "1"}}),
    ({"count": 0, "capabilities": ["gpu"]}, {"capabilities": ["gpu"]}),
    ({"device_ids": ["0"], "capabilities": ["gpu"]}, {"device_ids": ["0"], "capabilities": ["gpu"]}),
])
def test_device_request(raw, canonical):
    assert blocks.device_request(raw) == canonical


def test_device_request_refuses_count_with_ids():
    with pytest.raises(ValueError, match='"count" and "device_ids" attributes are exclusive'):
        blocks.device_request({"count": 1, "device_ids": ["0"]})


def test_gpus_all():
    assert blocks.gpus("all") == [{"count": -1}]


def test_hooks_split_commands_and_keep_null_variables():
    assert blocks.hooks([{"command": "sh -c 'echo \"a b\"'", "environment": ["A=1", "B"], "privileged": "false"}]) \
        == [{"command": ["sh", "-c", 'echo "a b"'], "environment": {"A": "1", "B": None}}]


def test_develop_watch_always_has_exec():
    assert blocks.develop({"watch": [{"path": "/p", "action": "rebuild", "ignore": "node_modules/"}]}) == {
        "watch": [{"path": "/p", "action": "rebuild", "exec": {"command": None}, "ignore": ["node_modules/"]}]}


def test_develop_in_yaml_leaves_empty_exec_out_and_keeps_extensions():
    from compose.config.render import develop, to_yaml

    canonical = blocks.develop({"x-team": "web", "watch": [
        {"path": "/p", "action": "sync", "target": "/t", "x-note": 1},
        {"path": "/q", "action": "sync+exec", "target": "/u", "exec": {"command": "kill -HUP 1"}}]})
    assert to_yaml(develop(canonical, as_json=False)) == (
        "watch:\n"
        "  - path: /p\n    action: sync\n    target: /t\n    x-note: 1\n"
        "  - path: /q\n    action: sync+exec\n    target: /u\n    exec:\n      command:\n"
        "        - kill\n        - -HUP\n        - \"1\"\n"
        "x-team: web\n")
    assert develop(canonical, as_json=True) == {"watch": [
        {"path": "/p", "action": "sync", "target": "/t", "exec": {"command": None}},
        {"path": "/q", "action": "sync+exec", "target": "/u", "exec": {"command": ["kill", "-HUP", "1"]}}]}


def test_provider_options_are_lists():
    assert blocks.provider({"type": "model", "options": {"model": "ai/x", "n": 1, "tags": ["a", "b"]}}) == {
        "type": "model", "options": {"model": ["ai/x"], "n": ["1"], "tags": ["a", "b"]}}


@pytest.mark.parametrize("value,hosts", [
    (["a=1.1.1.1,2.2.2.2", "b:[::1]", "c=::1", "d:"], {"a": ["1.1.1.1", "2.2.2.2"], "b": ["::1"], "c": ["::1"],
                                                      "d": [""]}),
    ({"a": None, "b": ["1.1.1.1", "[::2]"]}, {"a": [""], "b": ["1.1.1.1", "::2"]}),
])
def test_extra_hosts(value, hosts):
    assert extra_hosts_to_dict(value, strict=True) == hosts


@pytest.mark.parametrize("value,message", [
    ([""], '"" is not a valid extra host: no IP address (like host=1.2.3.4)'),
    ([":1.1.1.1"], '"" is not a valid host name for extra_hosts'),
])
def test_extra_hosts_refused(value, message):
    with pytest.raises(ValueError) as info:
        extra_hosts_to_dict(value, strict=True)
    assert str(info.value) == message


def test_raw_env_file_takes_values_as_written():
    text = "\ufeffA='{\"k\": 1}'\n  # comment\nB=$NOT\nFROM_ENV\nUNSET\n\n"
    assert parse_raw_env(text, filename="e", lookup={"FROM_ENV": "v"}.get) == {
        "A": "'{\"k\": 1}'", "B": "$NOT", "FROM_ENV": "v"}


def test_raw_env_file_refuses_a_key_with_spaces():
    with pytest.raises(ConfigError, match='e:1:1: variable "A B" contains whitespaces'):
        parse_raw_env("A B=1\n", filename="e")


def test_duplicates_are_removed_before_the_schema(proj):
    proj.write({"compose.yaml": "services:\n  web:\n    image: x\n    environment: [A=1, A=2, B=1]\n"
                "    volumes: [./a:/d, ./b:/d]\n    cap_add: [X, X]\n"})
    web = proj.load().project.services["web"]
    assert (dict(web.environment), [m.source for m in web.volumes], web.cap_add) == \
        ({"A": "2", "B": "1"}, [proj.path("b")], ("X",))


def test_lists_compose_does_not_deduplicate_are_refused(proj):
    proj.write({"compose.yaml": "services:\n  web:\n    image: x\n    security_opt: [a, a]\n"})
    with pytest.raises(ConfigErrors) as info:
        proj.load()
    assert str(info.value) == "compose.yaml:4:19: services.web.security_opt: must not contain the same item twice"


def test_unset_volume_source_names_file_line_service_and_key(proj):
    proj.write({"compose.yaml": "services:\n  web:\n    image: x\n    volumes: [\"${DATA}:/data\"]\n"})
    with pytest.raises(ConfigErrors) as info:
        proj.load()
    assert str(info.value) == ('compose.yaml:4:15: services.web.volumes[0]: ":/data" is not a valid volume: '
                               "empty section between colons")


def test_home_comes_from_the_environment(proj):
    proj.write({"compose.yaml": "services:\n  web:\n    image: x\n    volumes: [\"~/data:/data\"]\n"})
    assert proj.load(env={"HOME": "/home/other"}).project.services["web"].volumes[0].source == "/home/other/data"


@pytest.mark.parametrize("written,name", [("My_App.Stack", "my_appstack"), ("${STACK}", "shop")])
def test_name_key_is_normalized(proj, written, name):
    proj.write({"compose.yaml": f"name: {written}\nservices:\n  web:\n    image: x\n"})
    assert proj.load(env={"STACK": "Shop"}).project.name == name


def test_name_key_that_interpolates_to_nothing_is_refused(proj):
    proj.write({"compose.yaml": "name: ${STACK}\nservices:\n  web:\n    image: x\n"})
    with pytest.raises(UsageError, match="empty project name"):
        proj.load()


def test_provider_service_needs_no_image_and_joins_no_network(proj):
    proj.write({"compose.yaml": "services:\n  db:\n    provider: {type: cloud}\n  web: {image: x, depends_on: [db]}\n"})
    db = proj.load().project.services["db"]
    assert (db.image, dict(db.networks), db.provider) == (None, {}, {"type": "cloud"})


@pytest.mark.parametrize("extra,message", [
    ("    cpus: 1.5\n    deploy: {resources: {limits: {cpus: 2}}}\n",
     "compose.yaml:4:11: services.web.cpus: can't set distinct values on 'cpus' and 'deploy.resources.limits.cpus'"),
    ("    tmpfs: [/run]\n    volumes: [/run]\n",
     "compose.yaml:5:15: services.web.volumes[0]: target /run already mounted as services.web.tmpfs[0]"),
    ("    scale: -1\n", "compose.yaml:4:12: services.web.scale: must be greater than or equal to 0"),
])
def test_consistency_checks(proj, extra, message):
    proj.write({"compose.yaml": "services:\n  web:\n    image: x\n" + extra})
    with pytest.raises(ConfigErrors) as info:
        proj.load()
    assert str(info.value) == message
