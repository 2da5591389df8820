"""Table-driven checks of schemas/compose-spec.json (JSON Schema draft-07).

The schema is applied after interpolation, so it must accept strings wherever
numbers or booleans go. Formats (ports, expose, volume, duration) are checked
by Python code, so these tests validate without a format checker, except one
that records which values each format name is asked about.
"""

import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator, FormatChecker

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def schema() -> dict:
    with SCHEMA_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def validator(schema: dict) -> Draft7Validator:
    return Draft7Validator(schema, format_checker=None)


def errors_of(validator: Draft7Validator, document: dict) -> list[str]:
    return [
        f"{'.'.join(map(str, err.absolute_path)) or '<root>'}: {err.message}"
        for err in validator.iter_errors(document)
    ]


def service(**attrs) -> dict:
    """A one-service document; `attrs` are added to (or replace) the service keys."""
    return {"services": {"web": {"image": "nginx", **attrs}}}


# ---------------------------------------------------------------------------
# A rich document: every service attribute at least once, and both syntaxes
# where an attribute has two. `web` mostly uses long forms, `worker` short ones.
# ---------------------------------------------------------------------------
RICH = {
    "version": "3.9",
    "name": "shop",
    "include": [
        "../common/compose.yaml",
        {
            "path": ["../db/compose.yaml", "../db/override.yaml"],
            "project_directory": "../db",
            "env_file": "../db/.env",
        },
        {"path": "../cache/compose.yaml", "env_file": ["a.env", "b.env"]},
    ],
    "x-common": {"restart": "always", "anything": [1, 2, {"goes": None}]},
    "services": {
        "web": {
            "x-team": "frontend",
            "annotations": {"com.example.owner": "web-team"},
            "attach": False,
            "blkio_config": {
                "weight": 300,
                "weight_device": [{"path": "/dev/sda", "weight": 400}],
                "device_read_bps": [{"path": "/dev/sdb", "rate": "12mb"}],
                "device_read_iops": [{"path": "/dev/sdb", "rate": 120}],
                "device_write_bps": [{"path": "/dev/sdb", "rate": 1024}],
                "device_write_iops": [{"path": "/dev/sdb", "rate": "30"}],
            },
            "build": {
                "x-note": "build extension",
                "context": ".",
                "dockerfile": "web.Dockerfile",
                "dockerfile_inline": "FROM alpine\nRUN true\n",
                "args": {"GIT_COMMIT": "cdc3b19", "DEBUG": None, "LEVEL": 3, "FAST": True},
                "ssh": ["default"],
                "labels": {"com.example.kind": "web"},
                "additional_contexts": {"resources": "../resources"},
                "cache_from": ["type=local,src=/tmp/cache"],
                "cache_to": ["type=local,dest=/tmp/cache"],
                "no_cache": "false",
                "pull": True,
                "network": "host",
                "target": "prod",
                "shm_size": "2gb",
                "extra_hosts": {"somehost": "162.242.195.82", "multi": ["10.0.0.1", "::1"]},
                "isolation": "default",
                "privileged": "true",
                "secrets": ["npm_token", {"source": "ssh_key", "target": "key", "mode": 256}],
                "tags": ["registry.example/web:1.0"],
                "platforms": ["linux/amd64", "linux/arm64"],
                "ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 512},
                "entitlements": ["network.host"],
                "provenance": "mode=max",
                "sbom": True,
            },
            "cap_add": ["NET_ADMIN"],
            "cap_drop": ["ALL"],
            "cgroup": "private",
            "cgroup_parent": "m-executor-abcd",
            "command": ["bundle", "exec", "thin", "-p", "3000"],
            "configs": [
                {
                    "source": "my_config",
                    "target": "/redis_config",
                    "uid": "103",
                    "gid": "103",
                    "mode": 0o440,
                    "x-meta": True,
                }
            ],
            "container_name": "shop-web",
            "cpu_count": 2,
            "cpu_percent": 50,
            "cpu_period": 100000,
            "cpu_quota": "50000",
            "cpu_rt_period": "1400us",
            "cpu_rt_runtime": 95000,
            "cpu_shares": 512,
            "cpus": 0.5,
            "cpuset": "0-3",
            "credential_spec": {"config": "my_credential_spec"},
            "depends_on": {
                "db": {"condition": "service_healthy", "restart": True, "x-why": "data"},
                "worker": {"condition": "service_started", "required": False},
                "migrate": {"condition": "service_completed_successfully", "restart": "true"},
            },
            "deploy": {
                "x-deploy": 1,
                "mode": "replicated",
                "replicas": 2,
                "endpoint_mode": "vip",
                "labels": ["com.example.description=web"],
                "resources": {
                    "limits": {"cpus": "0.50", "memory": "50M", "pids": 100},
                    "reservations": {
                        "cpus": 0.25,
                        "memory": "20M",
                        "devices": [
                            {
                                "capabilities": ["gpu"],
                                "driver": "nvidia",
                                "count": "all",
                                "options": {"virtualization": False},
                            },
                            {"capabilities": ["tpu"], "device_ids": ["0", "3"]},
                        ],
                        "generic_resources": [
                            {"discrete_resource_spec": {"kind": "gpu", "value": 2}}
                        ],
                    },
                },
                "restart_policy": {
                    "condition": "on-failure",
                    "delay": "5s",
                    "max_attempts": 3,
                    "window": "120s",
                },
                "placement": {
                    "constraints": ["node.role==manager"],
                    "preferences": [{"spread": "node.labels.zone"}],
                    "max_replicas_per_node": 1,
                    "x-aws-role": "arn:aws:iam::1:role/foo",
                },
                "update_config": {
                    "parallelism": 2,
                    "delay": "10s",
                    "failure_action": "rollback",
                    "monitor": "1m",
                    "max_failure_ratio": 0.1,
                    "order": "start-first",
                },
                "rollback_config": {"parallelism": "0", "order": "stop-first"},
            },
            "develop": {
                "watch": [
                    {"path": "./src", "action": "rebuild", "include": "*.go"},
                    {
                        "path": "./web",
                        "action": "sync+exec",
                        "target": "/app/web",
                        "ignore": ["node_modules/", "*.tmp"],
                        "initial_sync": True,
                        "exec": {"command": "app reload", "user": "root"},
                    },
                    {"path": "./conf", "action": "sync+restart", "target": "/etc/app"},
                    {"path": "./bin", "action": "restart"},
                    {"path": "./static", "action": "sync", "target": "/static"},
                ]
            },
            "device_cgroup_rules": ["c 1:3 mr", "a 7:* rmw"],
            "devices": [
                "/dev/ttyUSB0:/dev/ttyUSB0",
                "vendor1.com/device=gpu",
                {"source": "/dev/sda", "target": "/dev/xvda", "permissions": "rwm"},
            ],
            "dns": ["8.8.8.8", "9.9.9.9"],
            "dns_opt": ["use-vc", "no-tld-query"],
            "dns_search": ["dc1.example.com", "dc2.example.com"],
            "domainname": "example.com",
            "entrypoint": ["php", "-d", "memory_limit=-1"],
            "env_file": [
                "./a.env",
                {"path": "./default.env", "required": True},
                {"path": "./override.env", "required": "false", "format": "raw"},
            ],
            "environment": {"RACK_ENV": "development", "SHOW": True, "PORT": 8080, "EMPTY": None},
            "expose": ["3000", 8000, "8080-8085/tcp"],
            "extends": {"file": "common.yml", "service": "webapp"},
            "external_links": ["redis_1", "project_db_1:mysql"],
            "extra_hosts": {"somehost": "162.242.195.82", "myhostv6": "::1"},
            "gpus": [{"driver": "3dfx", "count": 2}],
            "group_add": ["mail", 42],
            "healthcheck": {
                "test": ["CMD", "curl", "-f", "http://localhost"],
                "interval": "1m30s",
                "timeout": "10s",
                "retries": 3,
                "start_period": "40s",
                "start_interval": "5s",
                "x-probe": "http",
            },
            "hostname": "web",
            "image": "example/web:1.0",
            "init": True,
            "ipc": "shareable",
            "isolation": "default",
            "label_file": ["./app.labels", "./extra.labels"],
            "labels": {"com.example.description": "Accounting webapp", "com.example.n": 1},
            "links": ["db", "db:database"],
            "logging": {
                "driver": "syslog",
                "options": {"syslog-address": "tcp://192.168.0.42:123", "max-file": 3},
                "x-log": None,
            },
            "mac_address": "02:42:ac:11:00:02",
            "mem_limit": "512m",
            "mem_reservation": 268435456,
            "mem_swappiness": 60,
            "memswap_limit": -1,
            "models": {"llm": {"endpoint_var": "AI_URL", "model_var": "AI_MODEL"}, "emb": None},
            "networks": {
                "front": {
                    "aliases": ["www", "shop"],
                    "interface_name": "eth0",
                    "ipv4_address": "172.16.238.10",
                    "ipv6_address": "2001:3984:3989::10",
                    "link_local_ips": ["57.123.22.11"],
                    "mac_address": "02:42:ac:11:00:03",
                    "driver_opts": {
                        "com.docker.network.bridge.host_binding_ipv4": "127.0.0.1",
                        "mtu": 1400,
                    },
                    "priority": 1000,
                    "gw_priority": 1,
                    "x-net": "extra",
                },
                "back": None,
            },
            "oom_kill_disable": "false",
            "oom_score_adj": -500,
            "pid": None,
            "pids_limit": 200,
            "platform": "linux/arm64/v8",
            "ports": [
                80,
                "3000",
                "127.0.0.1:8001:8001",
                "6060:6060/udp",
                {
                    "name": "web",
                    "target": 80,
                    "host_ip": "127.0.0.1",
                    "published": "8080",
                    "protocol": "tcp",
                    "app_protocol": "http",
                    "mode": "host",
                    "x-lb": "public",
                },
                {"target": "443", "published": 8443},
            ],
            "post_start": [
                {
                    "command": "./do_something_on_startup.sh",
                    "user": "root",
                    "privileged": True,
                    "working_dir": "/app",
                    "environment": ["FOO=BAR"],
                }
            ],
            "pre_stop": [{"command": ["./flush.sh"], "environment": {"FORCE": "1"}}],
            "privileged": False,
            "profiles": ["frontend", "debug"],
            "pull_policy": "every_12h",
            "pull_refresh_after": "12h",
            "read_only": "true",
            "restart": "on-failure:3",
            "runtime": "runc",
            "scale": "2",
            "secrets": [{"source": "server-certificate", "target": "server.cert", "mode": "0440"}],
            "security_opt": ["label=user:USER", "no-new-privileges:true"],
            "shm_size": 67108864,
            "stdin_open": True,
            "stop_grace_period": "1m30s",
            "stop_signal": "SIGUSR1",
            "storage_opt": {"size": "1G"},
            "sysctls": {"net.core.somaxconn": 1024, "net.ipv4.tcp_syncookies": "0"},
            "tmpfs": ["/run", "/tmp:size=64m"],
            "tty": "false",
            "ulimits": {"nproc": 65535, "nofile": {"soft": "20000", "hard": 40000}},
            "use_api_socket": True,
            "user": "1000:1000",
            "userns_mode": "host",
            "uts": "host",
            "volumes": [
                "db-data:/data",
                "./cache:/tmp/cache:ro,z",
                {
                    "type": "volume",
                    "source": "db-data",
                    "target": "/data2",
                    "read_only": "false",
                    "volume": {"nocopy": True, "subpath": "sub", "labels": ["a=b"]},
                    "x-mount": 1,
                },
                {
                    "type": "bind",
                    "source": "/var/run/postgres/postgres.sock",
                    "target": "/var/run/postgres/postgres.sock",
                    "consistency": "cached",
                    "bind": {
                        "propagation": "rprivate",
                        "create_host_path": False,
                        "recursive": "readonly",
                        "selinux": "Z",
                    },
                },
                {"type": "tmpfs", "target": "/scratch", "tmpfs": {"size": "64m", "mode": 1777}},
                {"type": "tmpfs", "target": "/scratch2", "tmpfs": {"size": 1048576}},
                {
                    "type": "image",
                    "source": "alpine:3",
                    "target": "/img",
                    "image": {"subpath": "etc"},
                },
                {"type": "npipe", "source": r"\\.\pipe\docker_engine", "target": r"\\.\pipe\de"},
                {"type": "cluster", "source": "vol", "target": "/cluster"},
            ],
            "volumes_from": ["worker:ro", "container:legacy:rw"],
            "working_dir": "/code",
        },
        "worker": {
            "build": "./worker",
            "annotations": ["com.example.foo=bar"],
            "attach": "true",
            "command": "bundle exec thin -p 3000",
            "configs": ["my_config"],
            "cpus": "1.5",
            "cpu_count": "2",
            "cpu_percent": "25",
            "oom_score_adj": "100",
            "credential_spec": {"file": "spec.json"},
            "depends_on": ["db"],
            "deploy": None,
            "develop": None,
            "dns": "8.8.8.8",
            "dns_search": "example.com",
            "entrypoint": "/code/entrypoint.sh",
            "env_file": ".env",
            "environment": ["RACK_ENV=development", "SHOW=true", "UNSET"],
            "extends": "base",
            "extra_hosts": ["somehost=162.242.195.82", "otherhost:50.31.209.229"],
            "gpus": "all",
            "healthcheck": {"test": "curl -f http://localhost || exit 1", "disable": "false"},
            "init": "true",
            "label_file": "./app.labels",
            "labels": ["com.example.department=Finance"],
            "logging": {"driver": "json-file", "options": {"max-size": "10m", "tag": None}},
            "mem_limit": 1073741824,
            "models": ["llm"],
            "network_mode": "service:web",
            "pid": "host",
            "ports": ["9090-9091:8080-8081", "[::1]:6001:6001"],
            "restart": "unless-stopped",
            "secrets": ["server-certificate"],
            "shm_size": "64m",
            "sysctls": ["net.core.somaxconn=1024"],
            "tmpfs": "/run",
            "ulimits": {"nofile": "1024"},
            "use_api_socket": False,
            "volumes": ["/data", "cache:/cache"],
        },
        "db": {
            "image": "postgres:16",
            "build": {"context": "https://github.com/example/db.git#main:docker", "args": ["A=1"]},
            "extends": {"service": "database"},
            "command": None,
            "entrypoint": None,
            "networks": ["back"],
            "healthcheck": {"test": ["NONE"]},
            "pull_policy": "missing",
            "deploy": {"mode": "global", "labels": {"tier": "data"}},
        },
        "migrate": {"image": "example/migrate", "restart": "no", "pull_policy": "build"},
        "database": {
            "provider": {
                "type": "awesomecloud",
                "options": {"type": "mysql", "size": 2, "tls": True, "tags": ["a", 1, False]},
                "x-provider": "meta",
            }
        },
    },
    "networks": {
        "x-net-note": {},
        "default": None,
        "front": {
            "driver": "bridge",
            "driver_opts": {"com.docker.network.bridge.name": "br-front", "mtu": 1400},
            "attachable": True,
            "enable_ipv4": "true",
            "enable_ipv6": False,
            "internal": "false",
            "labels": {"com.example.net": "front"},
            "ipam": {
                "driver": "default",
                "config": [
                    {
                        "subnet": "172.28.0.0/16",
                        "ip_range": "172.28.5.0/24",
                        "gateway": "172.28.5.254",
                        "aux_addresses": {"host1": "172.28.1.5"},
                        "x-ipam": 1,
                    }
                ],
                "options": {"foo": "bar"},
            },
            "x-network-level": {"any": "thing"},
        },
        "back": {},
        "outside": {"external": True, "name": "proxy-net"},
        "legacy": {"external": {"name": "legacy-net"}},
    },
    "volumes": {
        "data": None,
        "db-data": {
            "driver": "local",
            "driver_opts": {"type": "nfs", "o": "addr=10.40.0.199,nolock,soft,rw", "uid": 1000},
            "labels": ["com.example.vol=db"],
            "name": "shop-db-data",
            "x-backup": "nightly",
        },
        "cache": {"external": "true"},
    },
    "configs": {
        "my_config": {"file": "./httpd.conf", "name": "http-conf", "labels": {"a": "b"}},
        "app_config": {"content": "debug=${DEBUG}\n", "template_driver": "golang"},
        "env_config": {"environment": "APP_CONFIG"},
        "ext_config": {"external": True, "name": "ext", "x-cfg": 1},
    },
    "secrets": {
        "server-certificate": {"file": "./server.cert"},
        "token": {"environment": "OAUTH_TOKEN"},
        "npm_token": {"external": True},
        "ssh_key": {
            "name": "ssh-key",
            "file": "./id_rsa",
            "driver": "vault",
            "driver_opts": {"path": "kv/ssh", "version": 2},
            "template_driver": "golang",
            "labels": {"com.example.secret": "ssh"},
            "x-secret": True,
        },
    },
    "models": {
        "llm": {"model": "ai/smollm2", "context_size": 1024, "runtime_flags": ["--a-flag"]},
        "emb": {"model": "ai/embed", "name": "embedder", "context_size": 2048, "x-m": 1},
    },
}


def test_schema_is_valid_draft7(schema: dict) -> None:
    Draft7Validator.check_schema(schema)


def test_schema_top_level_is_closed(schema: dict) -> None:
    assert schema["additionalProperties"] is False
    assert schema["patternProperties"] == {"^x-": {}}
    assert set(schema["properties"]) == {
        "version",
        "name",
        "include",
        "services",
        "networks",
        "volumes",
        "configs",
        "secrets",
        "models",
    }


def test_rich_document_is_valid(validator: Draft7Validator) -> None:
    assert errors_of(validator, RICH) == []


def test_rich_document_uses_every_service_attribute(schema: dict) -> None:
    declared = set(schema["definitions"]["service"]["properties"])
    used = {key for svc in RICH["services"].values() for key in svc if not key.startswith("x-")}
    assert declared - used == set(), "service attributes missing from RICH"
    assert used - declared == set(), "RICH uses attributes the schema does not declare"


@pytest.mark.parametrize(
    "fmt, pointer",
    [
        ("ports", ("definitions", "portEntry", "else")),
        ("expose", ("definitions", "service", "properties", "expose", "items")),
        ("volume", ("definitions", "mountEntry", "else")),
        ("duration", ("definitions", "duration")),
    ],
)
def test_format_names_are_placed(schema: dict, fmt: str, pointer: tuple) -> None:
    node = schema
    for part in pointer:
        node = node[part]
    assert node["format"] == fmt


def test_formats_see_only_short_syntax_values(schema: dict) -> None:
    seen: dict[str, list] = {"ports": [], "expose": [], "volume": [], "duration": []}
    checker = FormatChecker(formats=())

    def recorder(values: list):
        def check(value) -> bool:
            values.append(value)
            return True

        return check

    for name, values in seen.items():
        checker.checks(name)(recorder(values))
    assert list(Draft7Validator(schema, format_checker=checker).iter_errors(RICH)) == []

    web, worker = RICH["services"]["web"], RICH["services"]["worker"]
    short_ports = [p for p in web["ports"] + worker["ports"] if not isinstance(p, dict)]
    short_volumes = [v for v in web["volumes"] + worker["volumes"] if isinstance(v, str)]
    assert sorted(map(str, seen["ports"])) == sorted(map(str, short_ports))
    assert seen["expose"] == web["expose"]
    assert sorted(seen["volume"]) == sorted(short_volumes)
    assert "1m30s" in seen["duration"] and "120s" in seen["duration"]
    assert all(isinstance(value, str) for value in seen["duration"])


def test_durations_use_the_duration_definition(schema: dict) -> None:
    defs = schema["definitions"]
    duration = {"$ref": "#/definitions/duration"}
    for key in ("interval", "timeout", "start_period", "start_interval"):
        assert defs["healthcheck"]["properties"][key] == duration
    assert defs["service"]["properties"]["stop_grace_period"] == duration
    for key in ("delay", "monitor"):
        assert defs["rolloutPolicy"]["properties"][key] == duration
    restart_policy = defs["deploy"]["properties"]["restart_policy"]["properties"]
    assert restart_policy["delay"] == duration
    assert restart_policy["window"] == duration


# ---------------------------------------------------------------------------
# Small valid documents: alternative syntaxes, nulls, interpolated strings and
# extensions at every level where the spec allows them.
# ---------------------------------------------------------------------------
VALID = [
    ("empty-document", {}),
    ("services-only", service()),
    ("x-top-level", {"x-anchors": {"env": ["A=1"]}, **service()}),
    ("x-service-level", service(**{"x-owner": {"team": "web"}})),
    ("x-network-level", {"networks": {"front": {"driver": "bridge", "x-meta": [1, 2]}}}),
    ("x-volume-level", {"volumes": {"data": {"x-backup": "daily"}}}),
    ("x-config-level", {"configs": {"c": {"file": "c.txt", "x-k": 1}}}),
    ("x-secret-level", {"secrets": {"s": {"file": "s.txt", "x-k": 1}}}),
    ("x-model-level", {"models": {"m": {"model": "ai/m", "x-k": 1}}}),
    ("x-build-level", service(build={"context": ".", "x-cache": "on"})),
    ("x-healthcheck-level", service(healthcheck={"test": "true", "x-k": 1})),
    ("x-logging-level", service(logging={"driver": "local", "x-k": 1})),
    ("x-long-port", service(ports=[{"target": 80, "x-k": 1}])),
    ("x-long-volume", service(volumes=[{"type": "bind", "source": ".", "target": "/s", "x-k": 1}])),
    ("x-depends-on", service(depends_on={"db": {"condition": "service_started", "x-k": 1}})),
    ("x-deploy-level", service(deploy={"x-k": 1, "resources": {"limits": {"x-k": 2}}})),
    ("version-only", {"version": "3.8"}),
    ("null-network-and-volume", {"networks": {"default": None}, "volumes": {"data": None}}),
    ("service-network-null", service(networks={"front": None})),
    ("environment-null-value", service(environment={"A": None})),
    ("interpolated-numbers", service(cpus="0.5", scale="3", mem_limit="1g", pids_limit="-1")),
    ("interpolated-booleans", service(tty="true", init="false", privileged="${PRIV}")),
    ("numeric-size", service(shm_size=1073741824, mem_reservation="512m")),
    ("float-cpus", service(cpus=0.5)),
    ("string-command", service(command="echo hello")),
    ("list-command", service(command=["echo", "hello"])),
    ("restart-always", service(restart="always")),
    ("gpus-all", service(gpus="all")),
    ("gpus-list", service(gpus=[{"capabilities": ["gpu"], "count": "1"}])),
    ("ulimit-int", service(ulimits={"nofile": 1024})),
    ("ulimit-soft-hard", service(ulimits={"nofile": {"soft": 1024, "hard": "2048"}})),
    ("devices-short", service(devices=["/dev/sda:/dev/xvda:rwm"])),
    ("devices-long", service(devices=[{"source": "/dev/sda"}])),
    ("depends-on-list", service(depends_on=["db", "cache"])),
    ("extends-string", service(extends="base")),
    ("extends-object", service(extends={"service": "base", "file": "base.yml"})),
    ("env-file-string", service(env_file=".env")),
    ("env-file-long", service(env_file=[{"path": ".env", "required": False}])),
    ("include-string", {"include": ["other/compose.yaml"]}),
    ("include-long", {"include": [{"path": "other/compose.yaml"}]}),
    ("external-flag-string", {"volumes": {"v": {"external": "true"}}}),
    ("pull-policy-daily", service(pull_policy="daily")),
    ("deploy-null", service(deploy=None)),
    ("develop-null", service(develop=None)),
]


@pytest.mark.parametrize("document", [doc for _, doc in VALID], ids=[name for name, _ in VALID])
def test_valid_documents(validator: Draft7Validator, document: dict) -> None:
    assert errors_of(validator, document) == []


# ---------------------------------------------------------------------------
# Invalid documents: each must be rejected with an error at `where` (dotted
# path of the offending node, "" for the document root) whose message
# contains `reason`. An unknown key is reported on the object that holds it.
# ---------------------------------------------------------------------------
TYPE = "is not of type"
ENUM = "is not one of"
UNIQUE = "non-unique elements"


def unknown(key: str) -> str:
    return f"'{key}' does not match any of the regexes"


def missing(key: str) -> str:
    return f"'{key}' is a required property"


INVALID = [
    # top level
    ("unknown-top-level-key", {"service": {}}, "", unknown("service")),
    ("version-as-number", {"version": 3.8}, "version", TYPE),
    ("name-as-number", {"name": 42}, "name", TYPE),
    ("services-is-a-list", {"services": []}, "services", TYPE),
    ("volumes-is-a-list", {"volumes": ["data"]}, "volumes", TYPE),
    ("include-is-a-string", {"include": "other.yaml"}, "include", TYPE),
    (
        "include-unknown-key",
        {"include": [{"path": "a.yaml", "file": "b.yaml"}]},
        "include.0",
        unknown("file"),
    ),
    ("include-without-path", {"include": [{"env_file": ".env"}]}, "include.0", missing("path")),
    # service shape
    ("service-is-a-string", {"services": {"web": "nginx"}}, "services.web", TYPE),
    ("service-is-null", {"services": {"web": None}}, "services.web", TYPE),
    (
        "bad-service-name",
        {"services": {"my web": {"image": "nginx"}}},
        "services",
        "does not match",
    ),
    ("unknown-service-key", service(workdir="/app"), "services.web", unknown("workdir")),
    # build / deploy / develop / healthcheck / logging
    (
        "unknown-build-key",
        service(build={"context": ".", "dockerfilename": "x"}),
        "services.web.build",
        unknown("dockerfilename"),
    ),
    ("build-is-a-list", service(build=["."]), "services.web.build", TYPE),
    (
        "unknown-deploy-key",
        service(deploy={"replica": 2}),
        "services.web.deploy",
        unknown("replica"),
    ),
    (
        "unknown-deploy-limits-key",
        service(deploy={"resources": {"limits": {"gpus": 1}}}),
        "services.web.deploy.resources.limits",
        unknown("gpus"),
    ),
    (
        "reservation-device-without-capabilities",
        service(deploy={"resources": {"reservations": {"devices": [{"count": 1}]}}}),
        "services.web.deploy.resources.reservations.devices.0",
        missing("capabilities"),
    ),
    (
        "update-config-bad-order",
        service(deploy={"update_config": {"order": "random"}}),
        "services.web.deploy.update_config.order",
        ENUM,
    ),
    (
        "watch-bad-action",
        service(develop={"watch": [{"path": ".", "action": "copy"}]}),
        "services.web.develop.watch.0.action",
        ENUM,
    ),
    (
        "watch-missing-path",
        service(develop={"watch": [{"action": "rebuild"}]}),
        "services.web.develop.watch.0",
        missing("path"),
    ),
    (
        "unknown-healthcheck-key",
        service(healthcheck={"test": "true", "every": "5s"}),
        "services.web.healthcheck",
        unknown("every"),
    ),
    (
        "healthcheck-test-is-a-map",
        service(healthcheck={"test": {"cmd": "x"}}),
        "services.web.healthcheck.test",
        TYPE,
    ),
    (
        "unknown-logging-key",
        service(logging={"driver": "local", "opts": {}}),
        "services.web.logging",
        unknown("opts"),
    ),
    # ports / volumes
    ("ports-is-a-string", service(ports="80:80"), "services.web.ports", TYPE),
    ("port-is-a-list", service(ports=[[80, 80]]), "services.web.ports.0", TYPE),
    (
        "unknown-long-port-key",
        service(ports=[{"target": 80, "host": "0.0.0.0"}]),
        "services.web.ports.0",
        unknown("host"),
    ),
    ("duplicate-ports", service(ports=["80:80", "80:80"]), "services.web.ports", UNIQUE),
    ("expose-is-a-string", service(expose="80"), "services.web.expose", TYPE),
    ("volumes-is-a-string", service(volumes="data:/data"), "services.web.volumes", TYPE),
    (
        "unknown-long-volume-key",
        service(volumes=[{"type": "bind", "source": ".", "target": "/a", "ro": True}]),
        "services.web.volumes.0",
        unknown("ro"),
    ),
    (
        "long-volume-without-type",
        service(volumes=[{"source": "data", "target": "/data"}]),
        "services.web.volumes.0",
        missing("type"),
    ),
    (
        "long-volume-bad-type",
        service(volumes=[{"type": "disk", "target": "/data"}]),
        "services.web.volumes.0.type",
        ENUM,
    ),
    (
        "long-volume-bind-unknown-key",
        service(volumes=[{"type": "bind", "target": "/a", "bind": {"mode": "x"}}]),
        "services.web.volumes.0.bind",
        unknown("mode"),
    ),
    # depends_on
    (
        "depends-on-bad-condition",
        service(depends_on={"db": {"condition": "service_ready"}}),
        "services.web.depends_on.db.condition",
        ENUM,
    ),
    (
        "depends-on-without-condition",
        service(depends_on={"db": {"restart": True}}),
        "services.web.depends_on.db",
        missing("condition"),
    ),
    (
        "depends-on-unknown-key",
        service(depends_on={"db": {"condition": "service_started", "wait": 1}}),
        "services.web.depends_on.db",
        unknown("wait"),
    ),
    ("depends-on-is-a-string", service(depends_on="db"), "services.web.depends_on", TYPE),
    # other service attributes
    ("environment-is-a-string", service(environment="A=1"), "services.web.environment", TYPE),
    (
        "environment-nested-value",
        service(environment={"A": {"B": 1}}),
        "services.web.environment.A",
        TYPE,
    ),
    ("labels-duplicate-items", service(labels=["a=1", "a=1"]), "services.web.labels", UNIQUE),
    ("command-is-a-map", service(command={"run": "x"}), "services.web.command", TYPE),
    (
        "unknown-service-network-key",
        service(networks={"front": {"alias": ["a"]}}),
        "services.web.networks.front",
        unknown("alias"),
    ),
    (
        "unknown-service-secret-key",
        service(secrets=[{"source": "s", "path": "/x"}]),
        "services.web.secrets.0",
        unknown("path"),
    ),
    (
        "env-file-unknown-key",
        service(env_file=[{"path": ".env", "optional": True}]),
        "services.web.env_file.0",
        unknown("optional"),
    ),
    (
        "extends-without-service",
        service(extends={"file": "base.yml"}),
        "services.web.extends",
        missing("service"),
    ),
    (
        "ulimit-missing-hard",
        service(ulimits={"nofile": {"soft": 1}}),
        "services.web.ulimits.nofile",
        missing("hard"),
    ),
    ("gpus-bad-string", service(gpus="some"), "services.web.gpus", "does not match"),
    ("cgroup-bad-value", service(cgroup="shared"), "services.web.cgroup", ENUM),
    (
        "pull-policy-bad-value",
        service(pull_policy="sometimes"),
        "services.web.pull_policy",
        "does not match",
    ),
    ("privileged-is-a-number", service(privileged=1), "services.web.privileged", TYPE),
    ("cpus-is-a-list", service(cpus=[1]), "services.web.cpus", TYPE),
    ("cpu-percent-out-of-range", service(cpu_percent=150), "services.web.cpu_percent", "maximum"),
    (
        "stop-grace-period-is-a-number",
        service(stop_grace_period=10),
        "services.web.stop_grace_period",
        TYPE,
    ),
    ("restart-is-a-bool", service(restart=False), "services.web.restart", TYPE),
    (
        "hook-without-command",
        service(post_start=[{"user": "root"}]),
        "services.web.post_start.0",
        missing("command"),
    ),
    (
        "provider-without-type",
        service(provider={"options": {}}),
        "services.web.provider",
        missing("type"),
    ),
    (
        "container-name-bad",
        service(container_name="-web"),
        "services.web.container_name",
        "does not match",
    ),
    # networks / volumes / configs / secrets / models
    (
        "unknown-network-key",
        {"networks": {"front": {"driver": "bridge", "mtu": 1400}}},
        "networks.front",
        unknown("mtu"),
    ),
    (
        "unknown-ipam-key",
        {"networks": {"n": {"ipam": {"subnet": "10.0.0.0/8"}}}},
        "networks.n.ipam",
        unknown("subnet"),
    ),
    ("network-is-a-string", {"networks": {"front": "bridge"}}, "networks.front", TYPE),
    (
        "unknown-external-key",
        {"networks": {"n": {"external": {"id": "x"}}}},
        "networks.n.external",
        unknown("id"),
    ),
    (
        "unknown-volume-key",
        {"volumes": {"data": {"driver": "local", "size": "1g"}}},
        "volumes.data",
        unknown("size"),
    ),
    (
        "unknown-secret-key",
        {"secrets": {"s": {"file": "s.txt", "path": "x"}}},
        "secrets.s",
        unknown("path"),
    ),
    ("secret-is-null", {"secrets": {"s": None}}, "secrets.s", TYPE),
    (
        "unknown-config-key",
        {"configs": {"c": {"file": "c.txt", "data": "x"}}},
        "configs.c",
        unknown("data"),
    ),
    ("model-without-model", {"models": {"m": {"context_size": 10}}}, "models.m", missing("model")),
    (
        "unknown-model-key",
        {"models": {"m": {"model": "ai/m", "size": 1}}},
        "models.m",
        unknown("size"),
    ),
]


@pytest.mark.parametrize(
    "document, where, reason",
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_documents(
    validator: Draft7Validator, document: dict, where: str, reason: str
) -> None:
    found = [
        (".".join(map(str, err.absolute_path)), err.message)
        for err in validator.iter_errors(document)
    ]
    assert found, "document should have been rejected"
    assert any(path == where and reason in message for path, message in found), found


def test_enough_invalid_cases() -> None:
    assert len(INVALID) >= 25
    assert len({case[0] for case in INVALID}) == len(INVALID)
