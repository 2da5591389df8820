import pytest

from engine.runtime import caps
from engine.runtime.spec import DEFAULT_PATH, ContainerSpec, merge_env, resolve_argv
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
    assert merge_env([], {}, "")[0] == f"PATH={DEFAULT_PATH}"


@pytest.mark.parametrize("add,drop,privileged,expected", [
    ((), (), False, caps.DOCKER_DEFAULT),
    (("NET_ADMIN", "cap_sys_time"), ("MKNOD",), False, caps.DOCKER_DEFAULT - {"MKNOD"} | {"NET_ADMIN", "SYS_TIME"}),
    (("NET_BIND_SERVICE",), ("ALL",), False, {"NET_BIND_SERVICE"}),
    (("ALL",), ("SYS_ADMIN",), False, set(caps.NAMES[: caps.last_cap() + 1]) - {"SYS_ADMIN"}),
])
def test_capability_sets(add, drop, privileged, expected):
    assert caps.effective_set(add, drop, privileged) == frozenset(expected)


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
