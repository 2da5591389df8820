"""mem_swappiness and blkio_config as cgroup settings, v1 and v2 (engine.runtime.limits), and from compose."""

import pytest

from engine.errors import RuntimeFailure
from engine.runtime.limits import DeviceLimit, Limits, settings


def devnum(path: str) -> str:
    return {"/dev/vda": "254:0", "/dev/loop3": "7:3"}[path]


def written(lim: Limits, version: int) -> list[tuple[str, str]]:
    return [(s.file, s.value) for s in settings(lim, version, devnum)]


LIM = Limits(memory_swappiness=10, blkio_weight=300, blkio_weight_device=(DeviceLimit("/dev/vda", 400),),
             device_read_bps=(DeviceLimit("/dev/vda", 1048576),), device_write_iops=(DeviceLimit("/dev/loop3", 120),))


def test_v1_files():
    assert written(LIM, 1) == [
        ("memory.swappiness", "10"), ("blkio.weight", "300"), ("blkio.weight_device", "254:0 400"),
        ("blkio.throttle.read_bps_device", "254:0 1048576"), ("blkio.throttle.write_iops_device", "7:3 120")]


def test_v2_files():
    lim = Limits(blkio_weight=300, device_read_bps=(DeviceLimit("/dev/vda", 1048576),),
                 device_write_iops=(DeviceLimit("/dev/loop3", 120),))
    assert written(lim, 2) == [("io.weight", "default 300"), ("io.max", "254:0 rbps=1048576"),
                               ("io.max", "7:3 wiops=120")]


@pytest.mark.parametrize("lim,version,message", [
    (Limits(memory_swappiness=10), 2, "mem_swappiness is not supported on cgroup v2"),
    (Limits(memory_swappiness=101), 1, "mem_swappiness must be between 0 and 100, not 101"),
    (Limits(blkio_weight=5), 1, "blkio_config: weight must be between 10 and 1000, not 5"),
])
def test_refused_values(lim, version, message):
    with pytest.raises(RuntimeFailure, match=f"^{message}"):
        settings(lim, version, devnum)


def test_a_path_that_is_not_a_block_device_is_named():
    with pytest.raises(RuntimeFailure, match="^blkio_config: /dev/null is not a block device$"):
        settings(Limits(device_read_bps=(DeviceLimit("/dev/null", 1),)), 1)


def test_compose_blkio_config_reaches_the_spec(proj):
    from compose.deploy.translate import _limits

    proj.write({"compose.yaml": """\
        services:
          app:
            image: x
            mem_swappiness: 10
            blkio_config:
              weight: 300
              device_read_bps: [{path: /dev/vda, rate: 1mb}]
              device_write_iops: [{path: /dev/loop3, rate: 120}]
        """})
    lim = _limits(proj.load().project.services["app"])
    assert (lim.memory_swappiness, lim.blkio_weight) == (10, 300)
    assert lim.device_read_bps == (DeviceLimit("/dev/vda", 1048576),)
    assert lim.device_write_iops == (DeviceLimit("/dev/loop3", 120),)
