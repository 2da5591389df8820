"""The ``x-kubernetes`` extension: what the compose file says for Kubernetes alone.

On a service::

    x-kubernetes:
      kind: StatefulSet            # Deployment, StatefulSet or Job instead of the one chosen
      workload: {spec: {...}}      # merged into the Deployment/StatefulSet/Job
      pod: {nodeSelector: {...}}   # merged into the pod template's spec
      container: {resources: ...}  # merged into the service's container
      service: {spec: {...}}       # merged into the service's Kubernetes Service

On a top-level volume, its mapping is merged into the claim (``spec: {storageClassName: fast}``).
Merging: mappings key by key, anything else replaced, ``null`` removes the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import PathPart
from .context import Context, Obj

EXTENSION = "x-kubernetes"
SERVICE_KEYS = ("kind", "workload", "pod", "container", "service")
KINDS = ("Deployment", "StatefulSet", "Job")


def deep_merge(base: Any, patch: Any) -> Any:
    if not isinstance(base, dict) or not isinstance(patch, Mapping):
        return patch
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = deep_merge(out.get(key), value)
    return out


def service_overrides(ctx: Context, name: str) -> dict[str, Any]:
    """The service's ``x-kubernetes``, checked: unknown keys and wrong shapes are refused."""
    raw = ctx.service(name).extensions.get(EXTENSION)
    if raw is None:
        return {}
    path: tuple[PathPart, ...] = ("services", name, EXTENSION)
    if not isinstance(raw, Mapping):
        ctx.refuse(path, "must be a mapping (kind, workload, pod, container, service)")
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in SERVICE_KEYS:
            ctx.refuse(path + (key,), f'unknown key "{key}" (one of {", ".join(SERVICE_KEYS)})')
        elif key == "kind":
            if value not in KINDS:
                ctx.refuse(path + (key,), f'"{value}" is not one of {", ".join(KINDS)}')
            else:
                out[key] = value
        elif not isinstance(value, Mapping):
            ctx.refuse(path + (key,), "must be a mapping, merged into the generated object")
        else:
            out[key] = value
    return out


def merge_extension(ctx: Context, path: tuple[PathPart, ...], extensions: Mapping[str, Any], obj: Obj) -> Obj:
    """``obj`` with the ``x-kubernetes`` mapping of a top-level element merged in."""
    raw = extensions.get(EXTENSION)
    if raw is None:
        return obj
    if not isinstance(raw, Mapping):
        ctx.refuse(path + (EXTENSION,), "must be a mapping, merged into the generated object")
        return obj
    merged: Obj = deep_merge(obj, raw)
    return merged
