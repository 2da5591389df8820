"""Merge compose files the way Docker Compose v2 does.

Mappings merge key by key; scalars are replaced; sequences are appended and
then de-duplicated by what identifies an entry (a volume by its target, an
environment entry by its name, a port by its whole mapping, …), a later entry
replacing an earlier one in place. Some keys have their own rule (``command``
is replaced, ``depends_on`` in list form becomes a mapping, …). ``!reset``
removes a key, ``!override`` replaces instead of merging.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from . import volumespec
from .forms import kv_to_dict, names_to_dict, scalar_str
from .markers import Override, Reset

Merger = Callable[[Any, Any, tuple[str, ...]], Any]


def _replace(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    return over


def _without_resets(merged: dict[str, Any], over: Any) -> dict[str, Any]:
    """Drop the keys that ``over`` marks ``!reset``."""
    if isinstance(over, dict):
        for key, value in over.items():
            if isinstance(value, Reset):
                merged.pop(key, None)
    return merged


def _merge_kv(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    merged = kv_to_dict(base)
    merged.update(kv_to_dict(strip(over)))
    return _without_resets(merged, over)


def _merge_names(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    left, right = names_to_dict(base), names_to_dict(strip(over))
    out = dict(left)
    for key, value in right.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = merge_values(out[key], value, path + (key,))
        elif value is not None or key not in out:
            out[key] = value
    return _without_resets(out, over)


def _merge_extra_hosts(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    """Entries are added, not replaced, as Compose merges them: both sides as ``host=ip`` / ``host:ip``
    strings (a mapping gives sorted ``host=ip``), the later ones not already written appended."""
    def as_strings(value: Any) -> list[str]:
        if isinstance(value, dict):
            out = []
            for host, ips in value.items():
                if ips is None:
                    out.append(str(host))
                else:
                    out.extend(f"{host}={scalar_str(ip)}" for ip in (ips if isinstance(ips, list) else [ips]))
            return sorted(out)
        return [scalar_str(v) for v in value or []]

    right = as_strings(base)
    return right + [entry for entry in as_strings(strip(over)) if entry not in right]


def _merge_build(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    def as_map(v: Any) -> Any:
        return {"context": v} if isinstance(v, str) else v

    return merge_values(as_map(base), as_map(over), path, top=False)


def _merge_logging(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    if not isinstance(base, dict) or not isinstance(over, dict):
        return strip(over)
    if base.get("driver") and over.get("driver") and base["driver"] != over["driver"]:
        return strip(over)
    return merge_values(base, over, path, top=False)


def _merge_ulimit(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **strip(over)}
    return strip(over)


def _merge_env_files(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    def as_list(v: Any) -> list[Any]:
        return [v] if isinstance(v, str | dict) else list(v or [])

    return _unique(as_list(base) + as_list(over), _env_file_key)


def _merge_sequence(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    """A string-or-list key (``dns: 8.8.8.8``): both sides as lists, appended, de-duplicated."""
    def as_list(v: Any) -> list[Any]:
        return [v] if isinstance(v, str) else list(v or [])

    return _unique(as_list(base) + as_list(over), scalar_str)


def _merge_to_sequence(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    """Both sides as ``KEY=VALUE`` lists (a mapping sorted), appended: the same entry twice stays
    twice, and is refused later, as Compose's schema refuses it."""
    def as_list(value: Any) -> list[str]:
        if isinstance(value, dict):
            return sorted(k if v is None else f"{k}={scalar_str(v)}" for k, v in value.items())
        return [scalar_str(v) for v in value or []]

    return as_list(base) + as_list(strip(over))


def _merge_ipam_config(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    """IPAM pools as Compose merges them: the later file's pools, each merged with an earlier one
    of the same subnet (pools only in the earlier file are dropped)."""
    if not isinstance(base, list) or not isinstance(over, list):
        return strip(over)
    result: list[dict[str, Any]] = []
    for original in base:
        right = dict(original) if isinstance(original, dict) else {}
        for override in strip(over):
            left = override if isinstance(override, dict) else {}
            if left.get("subnet") != right.get("subnet") \
                    and not any(c.get("subnet") == left.get("subnet") for c in result):
                result.append(left)
                continue
            for key, value in left.items():  # in place, as Compose's merge changes the earlier pool
                right[key] = merge_values(right[key], value, path + (key,)) if key in right else value
            same = next((i for i, c in enumerate(result) if c.get("subnet") == right.get("subnet")), None)
            if same is None:
                result.append(right)
            else:
                result[same] = right
    return result


# Rules by path; ``*`` matches one key. The first match wins.
_SPECIAL: list[tuple[tuple[str, ...], Merger]] = [
    (("services", "*", "command"), _replace),
    (("services", "*", "entrypoint"), _replace),
    (("services", "*", "healthcheck", "test"), _replace),
    (("services", "*", "environment"), _merge_kv),
    (("services", "*", "labels"), _merge_kv),
    (("services", "*", "annotations"), _merge_kv),
    (("services", "*", "sysctls"), _merge_kv),
    (("services", "*", "build", "args"), _merge_kv),
    (("services", "*", "build", "labels"), _merge_kv),
    (("services", "*", "build", "additional_contexts"), _merge_kv),
    (("services", "*", "build", "extra_hosts"), _merge_extra_hosts),
    (("services", "*", "deploy", "labels"), _merge_kv),
    (("services", "*", "extra_hosts"), _merge_extra_hosts),
    (("services", "*", "depends_on"), _merge_names),
    (("services", "*", "networks"), _merge_names),
    (("services", "*", "build"), _merge_build),
    (("services", "*", "logging"), _merge_logging),
    (("services", "*", "ulimits", "*"), _merge_ulimit),
    (("services", "*", "env_file"), _merge_env_files),
    (("services", "*", "tmpfs"), _merge_sequence),
    (("services", "*", "dns"), _merge_sequence),
    (("services", "*", "dns_search"), _merge_sequence),
    (("services", "*", "dns_opt"), _merge_sequence),
    (("services", "*", "label_file"), _merge_sequence),
    (("networks", "*", "labels"), _merge_kv),
    (("networks", "*", "ipam", "config"), _merge_ipam_config),
    (("volumes", "*", "labels"), _merge_to_sequence),
    (("configs", "*", "labels"), _merge_kv),
    (("secrets", "*", "labels"), _merge_kv),
]


def _port_key(item: Any) -> str:
    if isinstance(item, dict):
        return "{}:{}:{}/{}".format(
            scalar_str(item.get("host_ip", "")),
            scalar_str(item.get("published", "")),
            scalar_str(item.get("target", "")),
            scalar_str(item.get("protocol", "tcp")),
        )
    return scalar_str(item)


def volume_target(item: Any) -> str:
    """The container path of a short (``src:dst:mode``) or long volume entry."""
    if isinstance(item, dict):
        return scalar_str(item.get("target", ""))
    return volumespec.volume_target(scalar_str(item))


def _mount_key(default_dir: str) -> Callable[[Any], str]:
    def key(item: Any) -> str:
        if isinstance(item, dict):
            if item.get("target"):
                return scalar_str(item["target"])
            return f"{default_dir}/{item.get('source', '')}" if default_dir else str(item.get("source"))
        return f"{default_dir}/{item}" if default_dir else scalar_str(item)

    return key


def _env_file_key(item: Any) -> str:
    return scalar_str(item["path"]) if isinstance(item, dict) else scalar_str(item)


def _device_key(item: Any) -> str:
    if isinstance(item, dict):
        return scalar_str(item.get("target", item.get("source", "")))
    parts = scalar_str(item).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _kv_key(item: Any) -> str:
    """``KEY=VALUE`` or ``KEY`` in a list: entries with the same KEY are one entry."""
    return scalar_str(item).partition("=")[0]


# De-duplication of lists, as Compose enforces it after each file (later entries replace earlier
# ones in place). Lists not named here (security_opt, volumes_from …) keep their entries, and
# the schema refuses the same item twice, as Compose's does.
_UNIQUE: list[tuple[tuple[str, ...], Callable[[Any], str]]] = [
    (("services", "*", "ports"), _port_key),
    (("services", "*", "volumes"), volume_target),
    (("services", "*", "devices"), _device_key),
    (("services", "*", "secrets"), _mount_key("/run/secrets")),
    (("services", "*", "configs"), _mount_key("")),
    (("services", "*", "env_file"), _env_file_key),
    (("services", "*", "networks", "*", "aliases"), scalar_str),
    (("services", "*", "networks", "*", "link_local_ips"), scalar_str),
    (("services", "*", "expose"), scalar_str),
    (("services", "*", "environment"), _kv_key),
    (("services", "*", "labels"), _kv_key),
    (("services", "*", "annotations"), _kv_key),
    (("services", "*", "sysctls"), _kv_key),
    (("services", "*", "tmpfs"), _kv_key),
    (("services", "*", "build", "args"), _kv_key),
    (("services", "*", "build", "labels"), _kv_key),
    (("services", "*", "build", "additional_contexts"), _kv_key),
    (("services", "*", "build", "tags"), _kv_key),
    (("services", "*", "deploy", "labels"), _kv_key),
    (("services", "*", "cap_add"), _kv_key),
    (("services", "*", "cap_drop"), _kv_key),
    (("services", "*", "dns"), _kv_key),
    (("services", "*", "dns_search"), _kv_key),
    (("services", "*", "dns_opt"), _kv_key),
    (("services", "*", "links"), _kv_key),
    (("services", "*", "profiles"), _kv_key),
    (("networks", "*", "labels"), _kv_key),
    (("networks", "*", "ipam", "options"), _kv_key),
]


def _match(path: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    return len(path) == len(pattern) and all(
        p == "*" or fnmatch.fnmatchcase(k, p) for k, p in zip(path, pattern, strict=True)
    )


def _rule(path: tuple[str, ...]) -> Merger | None:
    for pattern, merger in _SPECIAL:
        if _match(path, pattern):
            return merger
    return None


def _unique_key(path: tuple[str, ...]) -> Callable[[Any], str] | None:
    for pattern, key in _UNIQUE:
        if _match(path, pattern):
            return key
    return None


def _unique(items: list[Any], key: Callable[[Any], str]) -> list[Any]:
    out: list[Any] = []
    index: dict[str, int] = {}
    for item in items:
        k = key(item)
        if k in index:
            out[index[k]] = item
        else:
            index[k] = len(out)
            out.append(item)
    return out


def merge_values(base: Any, over: Any, path: tuple[str, ...] = (), *, top: bool = True) -> Any:
    """``over`` merged onto ``base`` at ``path`` (keys from the file's root)."""
    if isinstance(over, Override):
        return strip(over.value)
    if top:
        rule = _rule(path)
        if rule is not None and base is not None and over is not None:
            return rule(strip(base), over if isinstance(over, dict) else strip(over), path)
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            if isinstance(value, Reset):
                out.pop(key, None)
            elif key in out:
                out[key] = merge_values(out[key], value, path + (key,))
            else:
                out[key] = strip(value)
        return out
    if isinstance(base, list) and isinstance(over, list):
        combined = base + strip(over)
        key = _unique_key(path)
        return _unique(combined, key) if key else combined
    return strip(over)


def strip(value: Any) -> Any:
    """Remove markers from a value that has nothing under it to merge with."""
    if isinstance(value, Override):
        return strip(value.value)
    if isinstance(value, Reset):
        return None
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [strip(v) for v in value if not isinstance(v, Reset)]
    return value


def merge_files(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge whole compose documents in order, later ones on top."""
    result: dict[str, Any] = {}
    for doc in documents:
        result = merge_values(result, doc)
    return dedupe_single(result)


def dedupe_single(doc: dict[str, Any]) -> dict[str, Any]:
    """Within one file, lists are de-duplicated too (Compose enforces unicity after each merge)."""

    def walk(value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, path + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            key = _unique_key(path)
            return _unique(value, key) if key else value
        return value

    return walk(doc, ())
