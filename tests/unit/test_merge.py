import pytest

from compose.config.markers import Override, Reset
from compose.config.merge import merge_files


def svc(base, over):
    merged = merge_files([{"services": {"s": base}}, {"services": {"s": over}}])
    return merged["services"]["s"]


@pytest.mark.parametrize("base,over,expected", [
    # scalars replaced, mappings merged recursively
    ({"image": "a", "user": "u"}, {"image": "b"}, {"image": "b", "user": "u"}),
    ({"build": {"context": ".", "args": {"A": "1"}}}, {"build": {"target": "t"}},
     {"build": {"context": ".", "args": {"A": "1"}, "target": "t"}}),
    # build as a string merges with build as a mapping
    ({"build": "./app"}, {"build": {"dockerfile": "D"}}, {"build": {"context": "./app", "dockerfile": "D"}}),
    # command, entrypoint, healthcheck.test replaced
    ({"command": ["a", "b"]}, {"command": ["c"]}, {"command": ["c"]}),
    ({"entrypoint": "x y"}, {"entrypoint": ["z"]}, {"entrypoint": ["z"]}),
    ({"healthcheck": {"test": ["CMD", "a"], "retries": 3}}, {"healthcheck": {"test": ["CMD", "b"]}},
     {"healthcheck": {"test": ["CMD", "b"], "retries": 3}}),
    # environment / labels merged by key whichever form each side uses
    ({"environment": ["A=1", "B=2"]}, {"environment": {"B": "3", "C": None}},
     {"environment": {"A": "1", "B": "3", "C": None}}),
    ({"labels": {"a": "1"}}, {"labels": ["a=2", "b=3"]}, {"labels": {"a": "2", "b": "3"}}),
    ({"extra_hosts": ["db:10.0.0.1"]}, {"extra_hosts": {"db": "10.0.0.2", "x": "1.1.1.1"}},
     {"extra_hosts": ["db:10.0.0.1", "db=10.0.0.2", "x=1.1.1.1"]}),  # added, as Compose does
    # volumes by container path, later wins in place
    ({"volumes": ["./a:/data", "/cache"]}, {"volumes": ["./b:/data", "logs:/logs"]},
     {"volumes": ["./b:/data", "/cache", "logs:/logs"]}),
    ({"volumes": [{"type": "volume", "source": "v", "target": "/x"}]}, {"volumes": ["w:/x:ro"]},
     {"volumes": ["w:/x:ro"]}),
    # ports: appended, identical entries collapse (as Compose does; !override replaces)
    ({"ports": ["80:80", "443:443"]}, {"ports": ["80:80", "8080:8080"]}, {"ports": ["80:80", "443:443", "8080:8080"]}),
    # expose, dns, cap_add: appended and de-duplicated
    ({"expose": ["80"]}, {"expose": ["80", "81"]}, {"expose": ["80", "81"]}),
    ({"cap_add": ["NET_ADMIN"]}, {"cap_add": ["SYS_TIME", "NET_ADMIN"]}, {"cap_add": ["NET_ADMIN", "SYS_TIME"]}),
    # secrets/configs by target
    ({"secrets": ["a", {"source": "b", "target": "t"}]}, {"secrets": [{"source": "c", "target": "t"}, "a"]},
     {"secrets": ["a", {"source": "c", "target": "t"}]}),
    # depends_on and networks: list and map forms merged by name
    ({"depends_on": ["db"]}, {"depends_on": {"cache": {"condition": "service_healthy"}}},
     {"depends_on": {"db": None, "cache": {"condition": "service_healthy"}}}),
    ({"networks": ["front"]}, {"networks": {"front": {"aliases": ["w"]}, "back": None}},
     {"networks": {"front": {"aliases": ["w"]}, "back": None}}),
    # ulimits: a single value replaces, soft/hard merge
    ({"ulimits": {"nofile": {"soft": 1, "hard": 2}}}, {"ulimits": {"nofile": {"hard": 3}}},
     {"ulimits": {"nofile": {"soft": 1, "hard": 3}}}),
    # logging: another driver replaces options; the same driver merges them
    ({"logging": {"driver": "json-file", "options": {"a": "1"}}}, {"logging": {"driver": "syslog"}},
     {"logging": {"driver": "syslog"}}),
    ({"logging": {"driver": "json-file", "options": {"a": "1"}}}, {"logging": {"options": {"b": "2"}}},
     {"logging": {"driver": "json-file", "options": {"a": "1", "b": "2"}}}),
    # !reset removes, !override replaces
    ({"ports": ["80:80"], "image": "a"}, {"ports": Reset([])}, {"image": "a"}),
    ({"ports": ["80:80"]}, {"ports": Override(["90:90"])}, {"ports": ["90:90"]}),
    ({"environment": {"A": "1"}}, {"environment": Override({"B": "2"})}, {"environment": {"B": "2"}}),
])
def test_merge_rules(base, over, expected):
    assert svc(base, over) == expected


def test_top_level_resources_merge_and_name_replaced():
    merged = merge_files([
        {"name": "a", "networks": {"n": {"driver": "bridge"}}, "volumes": {"v": None}},
        {"name": "b", "networks": {"n": {"internal": True}, "m": None}},
    ])
    assert merged["name"] == "b"
    assert merged["networks"] == {"n": {"driver": "bridge", "internal": True}, "m": None}
    assert merged["volumes"] == {"v": None}


def test_single_file_lists_deduplicated_by_target():
    merged = merge_files([{"services": {"s": {"volumes": ["./a:/x", "./b:/x"]}}}])
    assert merged["services"]["s"]["volumes"] == ["./b:/x"]


def test_three_files_in_order():
    merged = merge_files([{"services": {"s": {"image": str(i), "environment": {f"V{i}": "1"}}}} for i in range(3)])
    assert merged["services"]["s"] == {"image": "2", "environment": {"V0": "1", "V1": "1", "V2": "1"}}
