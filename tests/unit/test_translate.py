"""The service -> container translation, without running anything."""

import io
from types import SimpleNamespace

import pytest

from compose.deploy.progress import Progress
from compose.deploy.translate import Resolved, config_hash, spec_for
from compose.errors import ConfigError


def image(**kw):
    base = dict(env=["PATH=/usr/bin:/bin", "LANG=C"], entrypoint=None, cmd=["sh"], working_dir="/srv",
                user=None, stop_signal=None, healthcheck=None)
    base.update(kw)
    return SimpleNamespace(**base)


def spec(proj, yaml, service="app", number=1, **resolved):
    proj.write({"compose.yaml": yaml})
    project = proj.load().project
    r = Resolved(image_id="sha256:x", image_config=resolved.pop("image", image()), layers=("/l",), **resolved)
    return spec_for(project, project.services[service], number, "c" * 64, r)


def test_argv_env_workdir_and_labels(proj):
    s = spec(proj, "name: shop\nservices:\n  app:\n    image: x\n    command: serve --port 80\n"
                   "    environment: {LANG: en, EMPTY: ''}\n    labels: {team: web}\n")
    assert s.argv == ("serve", "--port", "80")
    assert s.env == ("HOSTNAME=cccccccccccc", "PATH=/usr/bin:/bin", "LANG=en", "EMPTY=")
    assert s.working_dir == "/srv" and s.name == "shop-app-1" and s.group == "shop"
    assert s.labels["com.docker.compose.service"] == "app" and s.labels["team"] == "web"
    # pinned: a change here recreates every user's containers at their next `up` after an upgrade
    assert s.labels["com.docker.compose.config-hash"] == \
        "b8ecc10b42d9d0384bdcfe2248159c422bbaf693f7bc99d1598982e408e762d7"


@pytest.mark.parametrize("service_yaml,restart", [
    ("restart: always", "always"),
    ("deploy: {restart_policy: {condition: on-failure, max_attempts: 3}}", "on-failure:3"),
    ("deploy: {restart_policy: {condition: any}}", "always"),
    ("user: x", "no"),
])
def test_restart_policies(proj, service_yaml, restart):
    assert spec(proj, f"services:\n  app:\n    image: x\n    {service_yaml}\n").restart == restart


def test_limits_from_service_and_deploy(proj):
    s = spec(proj, "services:\n  app:\n    image: x\n    mem_limit: 64m\n    pids_limit: 50\n"
                   "    deploy: {resources: {limits: {cpus: '0.5', memory: 64m, pids: 50}}}\n")  # Compose refuses any that disagree
    assert (s.limits.memory, s.limits.cpus, s.limits.pids) == (64 << 20, 0.5, 50)


def test_healthcheck_from_image_and_disable(proj):
    hc = SimpleNamespace(test=["CMD-SHELL", "true"], interval=5.0, timeout=None, retries=2, start_period=None,
                         start_interval=None)
    s = spec(proj, "services:\n  app:\n    image: x\n", image=image(healthcheck=hc))
    assert (s.healthcheck.test, s.healthcheck.interval, s.healthcheck.retries) == (("CMD-SHELL", "true"), 5.0, 2)
    s = spec(proj, "services:\n  app:\n    image: x\n    healthcheck: {disable: true}\n", image=image(healthcheck=hc))
    assert s.healthcheck is None


def test_network_modes(proj):
    s = spec(proj, "services:\n  app:\n    image: x\n    network_mode: service:db\n  db: {image: x}\n",
             peers={"db": "d" * 64})
    assert s.network == "container:" + "d" * 64
    with pytest.raises(ConfigError, match='service:db: there is no container to share with'):
        spec(proj, "services:\n  app:\n    image: x\n    network_mode: service:db\n  db: {image: x}\n")
    assert spec(proj, "services:\n  app:\n    image: x\n    network_mode: host\n").network == "host"


def test_scale_does_not_change_the_hash(proj):
    proj.write({"compose.yaml": "services:\n  app: {image: x}\n"})
    one = config_hash(proj.load().project.services["app"])
    proj.write({"compose.yaml": "services:\n  app: {image: x, scale: 3}\n"})
    assert config_hash(proj.load().project.services["app"]) == one
    proj.write({"compose.yaml": "services:\n  app: {image: x, user: y}\n"})
    assert config_hash(proj.load().project.services["app"]) != one


@pytest.mark.parametrize("mode,expected", [
    ("plain", " Container demo-db-1  Started\n"),
    ("json", '{"id":"Container demo-db-1","status":"Started"}\n'),
    ("quiet", ""),
])
def test_progress_modes(mode, expected):
    out = io.StringIO()
    Progress(mode, out).event("Container", "demo-db-1", "Started")
    assert out.getvalue() == expected


@pytest.mark.parametrize("opts,no_new_privileges,seccomp", [
    ('["no-new-privileges"]', True, None),
    ('["no-new-privileges:true"]', True, None),
    ('["no-new-privileges=false"]', False, None),
    ('["seccomp=unconfined", "label=disable", "apparmor=unconfined"]', False, "unconfined"),
    ('["seccomp:builtin"]', False, "builtin"),
])
def test_security_opt(proj, opts, no_new_privileges, seccomp):
    s = spec(proj, f"services:\n  app:\n    image: x\n    security_opt: {opts}\n")
    assert (s.no_new_privileges, s.seccomp) == (no_new_privileges, seccomp)


def test_a_seccomp_profile_file_is_read_and_checked(proj):
    profile = '{"defaultAction": "SCMP_ACT_ALLOW",\n "syscalls": []}'
    s = spec(proj, 'services:\n  app:\n    image: x\n    security_opt: ["seccomp=p.json"]\n', seccomp_profile=profile)
    assert s.seccomp == '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}'
    with pytest.raises(ConfigError) as info:
        spec(proj, 'services:\n  app:\n    image: x\n    security_opt: ["label=disable", "seccomp=p.json"]\n',
             seccomp_profile='{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"]}')
    assert str(info.value).startswith("services.app.security_opt[1]: seccomp profile ")
    assert str(info.value).endswith("p.json: libseccomp does not know the architecture 'nope'")


@pytest.mark.parametrize("yaml,where,says", [
    ('security_opt: ["apparmor=x"]', "security_opt[0]", "only apparmor=unconfined is accepted"),
    ('security_opt: ["no-new-privileges", "seccomp"]', "security_opt[1]", 'security_opt "seccomp" is not supported'),
    ('device_cgroup_rules: ["c 1:3 rwm", "c 1 rwm"]', "device_cgroup_rules[1]", "invalid device cgroup rule format"),
    ('devices: ["/dev/null:/dev/n:rwz"]', "devices[0]", 'invalid device permissions "rwz"'),
    ('volumes: ["/srv:/proc/sys"]', "volumes[0]", 'the volume "/srv:/proc/sys" of service app cannot be mounted: '
                                                  '"/proc/sys" cannot be mounted because it is inside /proc'),
    ('volumes: ["/srv:/"]', "volumes[0]", "the destination cannot be '/'"),
    ('volumes: ["/a:/a", "data:/proc/sys/net"]\nvolumes: {data: {}}', "volumes[1]",
     'the volume "data:/proc/sys/net" of service app cannot be mounted'),
    ('tmpfs: ["/proc/acpi"]', "tmpfs[0]", '"/proc/acpi" cannot be mounted because it is inside /proc'),
])
def test_what_docker_refuses_is_one_located_line(proj, yaml, where, says):
    with pytest.raises(ConfigError) as info:
        spec(proj, f"services:\n  app:\n    image: x\n    {yaml}\n", volume_paths={"data": "/vols/data"})
    assert str(info.value).startswith(f"services.app.{where}: ") and says in str(info.value)


def test_devices_and_rules_reach_the_spec(proj):
    s = spec(proj, 'services:\n  app:\n    image: x\n    devices: ["/dev/fuse"]\n'
                   '    device_cgroup_rules: ["c 10:229 rwm"]\n    volumes: ["/srv/info:/proc/meminfo:ro"]\n')
    assert [(d.source, d.target, d.permissions) for d in s.devices] == [("/dev/fuse", "/dev/fuse", "rwm")]
    assert s.device_rules == ("c 10:229 rwm",) and s.seccomp is None
    assert [m.target for m in s.mounts] == ["/proc/meminfo"]  # one of lxcfs's files: allowed
