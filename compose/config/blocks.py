"""Blocks kept as plain data, in the canonical form Docker Compose prints them.

pycompose does not act on these (``up`` refuses what it cannot honour), but ``config`` prints
them as Compose does: lifecycle hooks (``post_start``, ``pre_stop``), ``develop.watch``, device
requests (``gpus``, ``deploy.resources.reservations.devices``) and ``provider``.
Each function takes the validated, interpolated value and returns the canonical one, raising
ValueError for what Compose refuses.
"""

from __future__ import annotations

from typing import Any

from . import coerce as cv
from .forms import scalar_str
from .units import format_duration, parse_duration


def _zero(value: Any) -> bool:
    return value is None or value is False or value == "" or value == [] or value == {}


def _omit_empty(d: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k in keep or not _zero(v)}


def _env(value: Any) -> dict[str, str | None]:
    """A MappingWithEquals: ``[A=1, B]`` or ``{A: 1, B: null}`` -> ``{"A": "1", "B": None}``."""
    return cv.opt_str_map(value)


def hook(raw: Any) -> dict[str, Any]:
    """One lifecycle hook (or a watch rule's ``exec``): the command always printed, as a list or null."""
    raw = raw or {}
    command = cv.command(raw.get("command"))
    return {"command": None if command is None else list(command)} | _omit_empty({
        "user": cv.opt_str(raw.get("user")),
        "privileged": bool(cv.to_bool(raw["privileged"])) if raw.get("privileged") is not None else False,
        "working_dir": cv.opt_str(raw.get("working_dir")),
        "environment": _env(raw.get("environment")),
    })


def hooks(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    return [hook(h) for h in raw]


def _str_list(value: Any) -> list[str]:
    return list(cv.str_tuple(value))


def _extensions(raw: Any) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if isinstance(k, str) and k.startswith("x-")}


def develop(raw: Any) -> dict[str, Any] | None:
    """``develop``: each watch rule with its path, action, exec (always) and lists; ``x-`` keys kept last
    (Compose's YAML prints them, its JSON does not: ``render`` drops them there)."""
    if raw is None:
        return None
    rules = []
    for rule in raw.get("watch") or []:
        out: dict[str, Any] = {"path": scalar_str(rule.get("path", "")), "action": scalar_str(rule.get("action", ""))}
        out |= _omit_empty({"target": cv.opt_str(rule.get("target"))})
        out["exec"] = hook(rule.get("exec"))
        out |= _omit_empty({
            "include": _str_list(rule.get("include")),
            "ignore": _str_list(rule.get("ignore")),
            "initial_sync": bool(cv.to_bool(rule["initial_sync"])) if rule.get("initial_sync") is not None else False,
        })
        if not out.get("target") and out["action"] not in ("rebuild", "restart"):
            raise ValueError("develop.watch: target is required for non-rebuild actions")
        rules.append(out | _extensions(rule))
    return _omit_empty({"watch": rules}) | _extensions(raw)


def _count(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = scalar_str(value)
    if text.lower() == "all":
        return -1
    try:
        return int(text)
    except ValueError:
        raise ValueError(f'invalid value "{text}" for count, the only value allowed is \'all\' or a number') from None


def device_request(raw: Any) -> dict[str, Any]:
    """A GPU or device reservation: ``count: all`` (or neither count nor device_ids) is -1."""
    if "count" in raw and "device_ids" in raw:
        raise ValueError('"count" and "device_ids" attributes are exclusive')
    count = _count(raw["count"]) if "count" in raw else (-1 if "device_ids" not in raw else 0)
    return _omit_empty({
        "capabilities": _str_list(raw.get("capabilities")),
        "driver": cv.opt_str(raw.get("driver")),
        "count": count or None,
        "device_ids": _str_list(raw.get("device_ids")),
        "options": cv.str_map(raw.get("options")),
    })


def gpus(raw: Any) -> list[dict[str, Any]] | None:
    """``gpus: all`` or a list of device requests."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return [{"count": -1}]
    return [device_request(r) for r in raw]


def provider(raw: Any) -> dict[str, Any] | None:
    """``provider``: its type and options (an option may be given several values)."""
    if raw is None:
        return None
    options = {}
    for key, value in (raw.get("options") or {}).items():
        options[key] = [scalar_str(v) for v in value] if isinstance(value, list) else [scalar_str(value)]
    return _omit_empty({"type": cv.opt_str(raw.get("type")), "options": options})


def rollout(raw: Any) -> dict[str, Any] | None:
    """``deploy.update_config`` / ``rollback_config``: numbers as numbers, durations as Go prints them."""
    if raw is None:
        return None
    parallelism = raw.get("parallelism")
    ratio = cv.to_float(raw["max_failure_ratio"]) if raw.get("max_failure_ratio") is not None else None
    return ({} if parallelism is None else {"parallelism": cv.to_int(parallelism)}) | _omit_empty({
        "delay": format_duration(parse_duration(raw["delay"])) if raw.get("delay") else None,
        "failure_action": cv.opt_str(raw.get("failure_action")),
        "monitor": format_duration(parse_duration(raw["monitor"])) if raw.get("monitor") else None,
        "max_failure_ratio": (int(ratio) if ratio.is_integer() else ratio) if ratio else None,
        "order": cv.opt_str(raw.get("order")),
    })


def placement(raw: Any) -> dict[str, Any] | None:
    """``deploy.placement``: constraints, preferences, and max_replicas_per_node as a number."""
    if raw is None:
        return None
    replicas = raw.get("max_replicas_per_node")
    return _omit_empty({
        "constraints": _str_list(raw.get("constraints")),
        "preferences": [{"spread": scalar_str(p.get("spread", ""))} for p in raw.get("preferences") or []],
        "max_replicas_per_node": cv.to_int(replicas) if replicas is not None else None,
    })
