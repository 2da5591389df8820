import pytest

from engine.runtime import caps
from engine.runtime.spec import ContainerSpec, merge_env, resolve_argv
from engine.runtime.users import resolve


@pytest.mark.parametrize("image_ep,image_cmd,ep,cmd,expected", [
    (None, ["sh"], None, None, ["sh"]),
    (["/entry.sh"], ["serve"], None, None, ["/entry.sh", "serve"]),
    (["/entry.sh"], ["serve"], None, ["migrate"], ["/entry.sh", "migrate"]),
    (["/entry.sh"], ["serve"], ["python"], None, ["python"]),  # entrypoint drops the image's CMD
    (["/entry.sh"], ["serve"], ["python"], ["app.py"], ["python", "app.py"]),
    (["/entry.sh"], ["serve"], [], None, []),  # entrypoint: [] clears it (and CMD)
    (None, ["sh"], None, [], []),
])
def test_entrypoint_and_command_rules(image_ep, image_cmd, ep, cmd, expected):
    assert resolve_argv(image_ep, image_cmd, ep, cmd) == expected


def test_env_order_and_defaults():
    env = merge_env(["PATH=/img/bin", "A=image", "B=image"], {"B": "mine", "C": None, "D": ""}, "web")
    assert env == ["HOSTNAME=web", "PATH=/img/bin", "A=image", "B=mine", "D="]
    assert merge_env([], {}, "") == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


# Docker's default capabilities (moby's caps.DefaultCapabilities), written out.
DOCKER_DEFAULT = {
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
    "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
}
# Every capability Linux defines, by number (linux/capability.h).
LINUX_CAPS = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
]


def kernel_caps() -> set[str]:
    with open("/proc/sys/kernel/cap_last_cap") as fh:
        return set(LINUX_CAPS[: int(fh.read()) + 1])


@pytest.mark.parametrize("add,drop,privileged,expected", [
    ((), (), False, DOCKER_DEFAULT),
    (("NET_ADMIN", "cap_sys_time"), ("MKNOD",), False,
     {"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
      "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE", "NET_ADMIN", "SYS_TIME"}),
    (("NET_BIND_SERVICE",), ("ALL",), False, {"NET_BIND_SERVICE"}),
    ((), ("ALL",), False, set()),
    ((), ("CHOWN", "KILL", "SETUID", "SETGID"), False,
     {"DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE",
      "SYS_CHROOT", "AUDIT_WRITE"}),
])
def test_capability_sets(add, drop, privileged, expected):
    assert caps.effective_set(add, drop, privileged) == frozenset(expected)


def test_all_capabilities_are_the_kernels():
    everything = kernel_caps()
    assert "CHOWN" in everything and "SYS_ADMIN" in everything and len(everything) >= 38
    assert caps.effective_set(("ALL",), ("SYS_ADMIN",)) == frozenset(everything - {"SYS_ADMIN"})
    assert caps.effective_set((), (), privileged=True) == frozenset(everything)
    assert caps.effective_set((), (), privileged=False) == frozenset(DOCKER_DEFAULT)


def test_capability_bits():
    assert caps.mask(DOCKER_DEFAULT) == 0xA80425FB  # Docker's CapEff
    assert caps.mask(["CHOWN"]) == 1 and caps.mask(["CHECKPOINT_RESTORE"]) == 1 << 40


def test_docker_masked_and_read_only_paths():
    from engine.runtime.rootfs import DOCKER_MASKED, DOCKER_READONLY

    assert DOCKER_MASKED == (
        "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
        "/sys/devices/virtual/powercap",
    )
    assert DOCKER_READONLY == ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def test_unknown_capability():
    with pytest.raises(ValueError, match='unknown capability "CAP_FLY"'):
        caps.effective_set(["CAP_FLY"])


def test_users_resolved_from_the_containers_files(tmp_path):
    (tmp_path / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (tmp_path / "group").write_text("root:x:0:\nstaff:x:50:app\napp:x:1000:\n")
    files = {"passwd": str(tmp_path / "passwd"), "group": str(tmp_path / "group")}
    assert resolve("app", **files).groups == (1000, 50)
    assert resolve("app:staff", **files).gid == 50
    assert resolve("0:1000", ["staff"], **files).groups == (1000, 50)
    assert resolve(None, **files).home == "/root"
    with pytest.raises(ValueError, match="unable to find user bob"):
        resolve("bob", **files)
    with pytest.raises(ValueError, match="unable to find group wheel"):
        resolve("app:wheel", **files)


def test_spec_round_trips_through_json():
    import json

    from engine.runtime.cgroups import Limits
    from engine.runtime.spec import MountSpec

    spec = ContainerSpec(id="x", name="n", image_id="i", layers=("/a",), argv=("sh",),
                         mounts=(MountSpec(type="tmpfs", target="/t", tmpfs_size=5),),
                         limits=Limits(memory=5), ulimits={"nofile": (1, 2)}, hosts=(("h", "1.2.3.4"),))
    assert ContainerSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_a_full_spec_round_trips_through_json():
    import json

    from engine.runtime.cgroups import Limits
    from engine.runtime.spec import Device, EndpointSpec, Healthcheck, MountSpec, PortSpec

    spec = ContainerSpec(
        id="x", name="n", image_id="i", layers=("/a", "/b"), argv=("sh", "-c", "true"), env=("A=1",),
        group_add=("staff",), mounts=(MountSpec(type="bind", source="/s", target="/t", read_only=True,
                                                copy_up=True),),
        devices=(Device(source="/dev/fuse", target="/dev/fuse"),), cap_add=("NET_ADMIN",), cap_drop=("MKNOD",),
        sysctls={"net.core.somaxconn": "1024"}, ulimits={"nofile": (1, 2)}, limits=Limits(memory=5, cpus=0.5),
        network="bridge", endpoints=(EndpointSpec(network="n", bridge="pc-1", address="172.18.0.2", prefixlen=16,
                                                  gateway="172.18.0.1", mac="02:42:ac:12:00:02"),),
        ports=(PortSpec(container_port=80, host_port=8080, host_ip="127.0.0.1"),), labels={"a": "b"},
        hosts=(("h", "1.2.3.4"),), dns=("10.0.0.53",), healthcheck=Healthcheck(test=("CMD", "true"), retries=5),
        masked_paths=("/proc/kcore",), readonly_paths=())
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["healthcheck"]["test"] == ["CMD", "true"] and data["ulimits"] == {"nofile": [1, 2]}
    assert ContainerSpec.from_dict(data) == spec
    assert ContainerSpec.from_dict({**data, "from_a_newer_version": 1}) == spec


def test_container_state_keeps_its_json_shape():
    from engine.runtime.records import ContainerState, HealthResult, HealthState

    on_disk = {"status": "running", "pid": 42, "pid_starttime": 7, "exit_code": None, "started_at": "t0",
               "finished_at": None, "restart_count": 2, "oom_killed": False, "oom_kills": 1, "stopping": True,
               "error": None,
               "supervisor_pid": 9, "supervisor_starttime": 8, "someone_elses": [1],
               "health": {"status": "healthy", "failing_streak": 0,
                          "log": [{"start": "a", "end": "b", "exit_code": 0, "output": "ok\n"}]}}
    state = ContainerState.from_dict(on_disk)
    assert state == ContainerState(status="running", pid=42, pid_starttime=7, started_at="t0", restart_count=2,
                                   oom_kills=1, stopping=True, supervisor_pid=9, supervisor_starttime=8, extra={"someone_elses": [1]},
                                   health=HealthState("healthy", 0, (HealthResult("a", "b", 0, "ok\n"),)))
    assert state.to_dict() == on_disk
    assert ContainerState.from_dict({}) == ContainerState(status="created", pid=0, restart_count=0)
    assert ContainerState.from_dict({"pid": "12", "oom_killed": 1}).pid == 0  # wrong types are not trusted
