"""``config --no-path-resolution`` and ``--no-normalize``: the rendered model with those steps taken back.

Pure functions of the rendered project (``render.project_dict``) and the
``Project`` it came from:

- ``relative_paths``: host paths inside the project folder are written
  relative to it again (``./data``, ``.`` for the folder itself), as a file
  that wrote them so would show them; paths outside it stay absolute.
- ``unnormalized``: what normalization adds that the files did not write is
  left out, as compose-go's ``WithNormalization(false)`` leaves it out: the
  ``default`` network of services that name no network (and the top-level
  ``default`` network when nothing wrote it), a build's default
  ``dockerfile: Dockerfile``, and dependencies only implied by ``links``,
  ``volumes_from`` or ``network_mode``.
"""

from __future__ import annotations

import os
from typing import Any

from .model import Project


def _relative(path: str, base: str) -> str:
    if not os.path.isabs(path):
        return path
    rel = os.path.relpath(path, base)
    if rel == ".":
        return "."
    if rel.startswith(".."):
        return path
    return "./" + rel


def relative_paths(data: dict[str, Any], project: Project) -> dict[str, Any]:
    base = project.working_dir
    for svc in (data.get("services") or {}).values():
        build = svc.get("build")
        if isinstance(build, dict) and isinstance(build.get("context"), str):
            build["context"] = _relative(build["context"], base)
        for mount in svc.get("volumes") or ():
            if isinstance(mount, dict) and mount.get("type") == "bind" and isinstance(mount.get("source"), str):
                mount["source"] = _relative(mount["source"], base)
        for ef in svc.get("env_file") or ():
            if isinstance(ef, dict) and isinstance(ef.get("path"), str):
                ef["path"] = _relative(ef["path"], base)
    for kind in ("secrets", "configs"):
        for obj in (data.get(kind) or {}).values():
            if isinstance(obj, dict) and isinstance(obj.get("file"), str):
                obj["file"] = _relative(obj["file"], base)
    return data


def unnormalized(data: dict[str, Any], project: Project) -> dict[str, Any]:
    written = project.locations
    named_networks = False
    for name, svc in (data.get("services") or {}).items():
        where = f"services.{name}"
        if f"{where}.networks" in written:
            named_networks = named_networks or "default" in (svc.get("networks") or {})
        else:
            svc.pop("networks", None)
        build = svc.get("build")
        if isinstance(build, dict) and build.get("dockerfile") == "Dockerfile" \
                and f"{where}.build.dockerfile" not in written:
            build.pop("dockerfile")
        depends = svc.get("depends_on")
        if isinstance(depends, dict) and f"{where}.depends_on" not in written:
            svc.pop("depends_on")
        elif isinstance(depends, dict):
            listed = any(key.startswith(f"{where}.depends_on.") for key in written)
            if listed:
                svc["depends_on"] = {dep: cond for dep, cond in depends.items()
                                     if f"{where}.depends_on.{dep}" in written or _by_index(written, where)}
    networks = data.get("networks")
    if isinstance(networks, dict) and "default" in networks and not named_networks \
            and "networks.default" not in written:
        networks.pop("default")
        if not networks:
            data.pop("networks")
    return data


def _by_index(written: Any, where: str) -> bool:
    """``depends_on`` written as a list: its entries are located by index, so each one counts as written."""
    return f"{where}.depends_on.0" in written
