"""The quick schema check never passes a document jsonschema refuses.

``validate_document`` trusts the quick check's "valid" and asks jsonschema
about everything else, so what matters is: quick True implies jsonschema
valid. The tables say what each verdict is; the mutation test compares both on
thousands of documents derived from valid ones.
"""

import copy
import random

import pytest

from compose.config import validate
from compose.config.schemacheck import Unsupported, compile_schema

BASE = {
    "name": "shop",
    "services": {
        "web": {
            "image": "nginx:1.27",
            "ports": ["8080:80", {"target": 443, "published": "8443", "protocol": "tcp"}],
            "environment": {"A": "1", "B": None},
            "depends_on": {"db": {"condition": "service_healthy", "restart": True}},
            "healthcheck": {"test": ["CMD", "true"], "interval": "5s", "retries": 3},
            "volumes": ["./html:/usr/share/nginx/html:ro", {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 1024}}],
            "deploy": {"resources": {"limits": {"cpus": "0.5", "memory": "64m"}}, "replicas": 2},
            "expose": ["3000", 4000],
            "labels": ["a=b"],
            "networks": {"front": {"aliases": ["www"]}, "back": None},
            "x-extra": {"anything": [1, 2]},
        },
        "db": {"build": {"context": ".", "args": ["A=1"]}, "command": "postgres -c x=1", "restart": "always",
               "ulimits": {"nofile": {"soft": 10, "hard": 20}, "nproc": 5}, "oom_score_adj": -500},
    },
    "networks": {"front": {}, "back": {"driver": "bridge", "ipam": {"config": [{"subnet": "10.5.0.0/16"}]}}},
    "volumes": {"data": None, "ext": {"external": True}},
    "configs": {"conf": {"file": "./c.txt"}},
    "secrets": {"token": {"environment": "TOKEN"}},
}


def verdicts(doc):
    return validate._quick()(doc), validate._validator().is_valid(doc)


def test_the_compose_schema_compiles():
    assert validate._quick() is not None


@pytest.mark.parametrize(("path", "value", "valid"), [
    ((), None, True),  # the base document itself
    (("services", "web", "image"), 5, False),
    (("services", "web", "imgae"), "x", False),
    (("services", "web", "ports"), ["80:abc"], False),  # the ports format
    (("services", "web", "ports"), ["8080:80", "8080:80"], False),  # uniqueItems
    (("services", "web", "healthcheck", "interval"), "5 parsecs", False),  # the duration format
    (("services", "web", "expose"), ["80-90/udp"], True),
    (("services", "web", "volumes"), [{"type": "tmpfs", "target": "/t", "tmpfs": {"size": -1}}], False),
    (("services", "db", "oom_score_adj"), -1001, False),
    (("services", "db", "oom_score_adj"), "-1001", True),  # strings pass: checked after interpolation
    (("services", "db", "restart"), True, False),
    (("services", "db", "ulimits", "NOFILE"), 3, False),  # propertyNames pattern
    (("services", "db", "container_name"), "-bad", False),
    (("services", "db", "pull_policy"), "every_2d", True),
    (("services", "db", "pull_policy"), "sometimes", False),
    (("services", "bad name"), {"image": "x"}, False),
    (("x-anything",), {"free": "form"}, True),
    (("networks", "back", "driver"), None, False),
    (("volumes", "data"), {"driver_opts": {"o": 1}}, True),
])
def test_verdicts(path, value, valid):
    doc = copy.deepcopy(BASE)
    if path:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    assert verdicts(doc) == (valid, valid)


def test_non_string_keys_are_left_to_jsonschema():
    doc = copy.deepcopy(BASE)
    doc["services"]["web"]["environment"] = {1: "one"}
    assert verdicts(doc)[0] is False


def test_an_unknown_keyword_refuses_to_compile():
    with pytest.raises(Unsupported):
        compile_schema({"type": "object", "dependentRequired": {"a": ["b"]}}, {})


_VALUES = [None, True, False, 0, 1, -5, 1.5, 2.0, "", "x", "80", "80:80", "1s", "abc", "/a:/b", [], [1], ["a"],
           ["a", "a"], [1, True], {}, {"a": 1}, {"x-y": 1}, {"image": "x"}, -1001, 101, "./a:/b:ro", "a:b:c:d"]


def _nodes(x, path=()):
    yield path, x
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _nodes(v, (*path, i))


def test_mutated_documents_never_pass_where_jsonschema_refuses():
    rng = random.Random(16)
    passed = refused = 0
    for _ in range(3000):
        doc = copy.deepcopy(BASE)
        for _ in range(rng.randint(1, 3)):
            path, node = rng.choice(list(_nodes(doc)))
            roll = rng.random()
            if roll < 0.5 and path:
                target = doc
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = copy.deepcopy(rng.choice(_VALUES))
            elif roll < 0.8 and isinstance(node, dict):
                node[rng.choice(["image", "x-a", "ports", "build", "deploy", "Image", "a b"])] = \
                    copy.deepcopy(rng.choice(_VALUES))
            elif isinstance(node, list):
                node.append(copy.deepcopy(rng.choice(_VALUES)))
        quick, full = verdicts(doc)
        assert not (quick and not full), doc
        passed += quick
        refused += not full
    assert passed > 500 and refused > 500  # both kinds were tried
