"""Keys the engine cannot honour are refused by up/create/run, one located error each (deploy.support)."""

import pytest

from compose.deploy import support
from compose.errors import ConfigErrors


@pytest.mark.parametrize("service_yaml,expected", [
    ("userns_mode: host", "services.app.userns_mode: userns_mode is not supported: user namespaces are not "
                          "supported yet"),
    ("cgroup_parent: /custom", "services.app.cgroup_parent: cgroup_parent is not supported: containers always "
                               "live under pycompose's own cgroup"),
    ("gpus: all", "services.app.gpus: gpus is not supported: GPUs are not supported"),
    ("runtime: runsc", "services.app.runtime: runtime is not supported: pycompose runs containers itself; other "
                       "OCI runtimes cannot be chosen"),
    ("cgroup: private", "services.app.cgroup: cgroup: private is not supported yet: containers share the host's "
                        "cgroup namespace (as on a cgroup v1 host)"),
    ("oom_kill_disable: true", "services.app.oom_kill_disable: oom_kill_disable is not supported: the OOM killer "
                               "always applies"),
    ("platform: linux/s390x", "services.app.platform: platform linux/s390x is not this machine's"),
    ("logging: {driver: syslog}", 'services.app.logging.driver: logging driver "syslog" is not supported'),
    ("logging: {options: {compress: 'true'}}", 'services.app.logging.options.compress: logging option "compress" '
                                               "is not supported (only max-size, max-file)"),
    ("deploy: {resources: {reservations: {devices: [{capabilities: [gpu]}]}}}",
     "services.app.deploy.resources.reservations.devices: device reservations (GPUs) are not supported"),
    ("networks: {default: {ipv6_address: 'fd00::5'}}", "services.app.networks.default.ipv6_address: IPv6 is not "
                                                       "supported yet"),
])
def test_a_key_the_engine_cannot_honour_is_refused_with_its_place(proj, service_yaml, expected):
    proj.write({"compose.yaml": f"services:\n  app:\n    image: x\n    {service_yaml}\n"})
    project = proj.load().project
    with pytest.raises(ConfigErrors) as info:
        support.check(project, ["app"])
    line = str(info.value)
    assert line.startswith("compose.yaml:4:") and expected in line


def test_every_refused_key_is_reported_together(proj):
    proj.write({"compose.yaml": "services:\n  app:\n    image: x\n    gpus: all\n    runtime: runsc\n"})
    with pytest.raises(ConfigErrors) as info:
        support.check(proj.load().project, ["app"])
    assert [e.path for e in info.value.errors] == [("services", "app", "gpus"), ("services", "app", "runtime")]
    assert [e.line for e in info.value.errors] == [4, 5]


def test_what_a_dev_stack_uses_passes(proj):
    proj.write({"compose.yaml": """\
        services:
          app:
            image: x
            ports: ["8080:80"]
            volumes: [./src:/src, data:/data, /cache]
            environment: {A: b}
            healthcheck: {test: [CMD, "true"]}
            deploy: {resources: {limits: {memory: 64m}}, restart_policy: {condition: on-failure}}
            logging: {driver: json-file, options: {max-size: 10m, max-file: "3"}}
            platform: linux/amd64
            annotations: {a: b}
            develop: {watch: [{path: ./src, action: sync, target: /src}]}
        volumes:
          data:
        """})
    support.check(proj.load().project, ["app"])
