"""A service's resources and health: ``healthcheck``, ``deploy`` (resources, restart policy),
``ulimits``. Functions of the validated values; conversion errors go through ``c``, which
records them (all are reported together) and gives None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ConfigError, PathPart
from . import blocks
from . import coerce as cv
from .forms import scalar_str
from .model import Deploy, Healthcheck, Resources, RestartPolicy, Ulimit
from .units import parse_duration, parse_size

Path = tuple[PathPart, ...]
Conv = Callable[[Path, Callable[[Any], Any], Any], Any]
Fail = Callable[[Path, str], ConfigError]


def healthcheck(c: Conv, fail: Fail, p: Path, raw: Any) -> Healthcheck | None:
    if raw is None:
        return None
    test = raw.get("test")
    if isinstance(test, str):
        test_t: tuple[str, ...] | None = ("CMD-SHELL", test)
    elif test is not None:
        test_t = tuple(scalar_str(t) for t in test)
        if test_t and test_t[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise fail(p + ("test",), 'a list must start with "CMD", "CMD-SHELL" or "NONE"')
    else:
        test_t = None
    disable = bool(c(p + ("disable",), cv.to_bool, raw.get("disable")))
    return Healthcheck(
        test=test_t,
        interval=c(p + ("interval",), parse_duration, raw.get("interval")),
        timeout=c(p + ("timeout",), parse_duration, raw.get("timeout")),
        retries=c(p + ("retries",), cv.to_int, raw.get("retries")),
        start_period=c(p + ("start_period",), parse_duration, raw.get("start_period")),
        start_interval=c(p + ("start_interval",), parse_duration, raw.get("start_interval")),
        disable=disable,
    )

def resources(c: Conv, p: Path, raw: Any) -> Resources | None:
    if raw is None:
        return None
    return Resources(
        cpus=c(p + ("cpus",), cv.to_float, raw.get("cpus")),
        memory=c(p + ("memory",), parse_size, raw.get("memory")),
        pids=c(p + ("pids",), cv.to_int, raw.get("pids")),
        devices=tuple(c(p + ("devices", i), blocks.device_request, d) or {}
                      for i, d in enumerate(raw.get("devices") or ())),
        generic_resources=tuple(raw.get("generic_resources") or ()),
    )

def deploy(c: Conv, p: Path, raw: Any) -> Deploy | None:
    if raw is None:
        return None
    res = raw.get("resources") or {}
    rp = raw.get("restart_policy")
    policy = None
    if rp is not None:
        q = p + ("restart_policy",)
        policy = RestartPolicy(
            condition=cv.opt_str(rp.get("condition")),
            delay=c(q + ("delay",), parse_duration, rp.get("delay")),
            max_attempts=c(q + ("max_attempts",), cv.to_int, rp.get("max_attempts")),
            window=c(q + ("window",), parse_duration, rp.get("window")),
        )
    return Deploy(
        mode=cv.opt_str(raw.get("mode")),
        replicas=c(p + ("replicas",), cv.to_int, raw.get("replicas")),
        labels=cv.str_map(raw.get("labels")),
        resources_limits=resources(c, p + ("resources", "limits"), res.get("limits")),
        resources_reservations=resources(c, p + ("resources", "reservations"), res.get("reservations")),
        restart_policy=policy,
        endpoint_mode=cv.opt_str(raw.get("endpoint_mode")),
        placement=c(p + ("placement",), blocks.placement, raw.get("placement")),
        update_config=c(p + ("update_config",), blocks.rollout, raw.get("update_config")),
        rollback_config=c(p + ("rollback_config",), blocks.rollout, raw.get("rollback_config")),
    )

def ulimits(c: Conv, p: Path, raw: Any) -> dict[str, Ulimit]:
    out = {}
    for name, value in (raw or {}).items():
        if isinstance(value, dict):
            soft = c(p + (name, "soft"), cv.to_int, value.get("soft"))
            hard = c(p + (name, "hard"), cv.to_int, value.get("hard"))
            out[name] = Ulimit(soft=soft, hard=hard)
        else:
            n = c(p + (name,), cv.to_int, value)
            out[name] = Ulimit(soft=n, hard=n, single=True)
    return out


def check_restart(value: Any) -> str:
    text = scalar_str(value)
    name, _, count = text.partition(":")
    if name in ("no", "always", "unless-stopped") and not count:
        return text
    if name == "on-failure" and (not count or count.isdigit()):
        return text
    raise ValueError(f'"{text}" is not a restart policy (no, always, on-failure[:N], unless-stopped)')
