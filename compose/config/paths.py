"""Make the relative paths of one compose document absolute.

Paths in the files of ``-f`` are relative to the project directory; paths in
a file reached through ``extends`` or ``include`` are relative to that file's
own folder. So each document is resolved against its base before merging.
"""

from __future__ import annotations

import os
from typing import Any

from .forms import scalar_str
from .merge import split_volume
from .syntax import is_path

_REMOTE = ("http://", "https://", "git://", "git@", "ssh://", "github.com/")


def is_remote(context: str) -> bool:
    return context.startswith(_REMOTE) or "://" in context


def resolve(path: str, base: str, home: str | None = None) -> str:
    """``path`` made absolute against ``base``; ``~`` is the home directory."""
    if path == "~" or path.startswith("~/"):
        return os.path.normpath((home or os.path.expanduser("~")) + path[1:])
    return os.path.normpath(os.path.join(base, path))


def _volume(entry: Any, base: str, home: str | None) -> Any:
    if isinstance(entry, dict):
        if entry.get("type") == "bind" and isinstance(entry.get("source"), str):
            return {**entry, "source": resolve(entry["source"], base, home)}
        return entry
    if not isinstance(entry, str):
        return entry
    parts = split_volume(entry)
    if len(parts) >= 2 and parts[0] and is_path(parts[0]):
        parts[0] = resolve(parts[0], base, home)
        return ":".join(parts)
    return entry


def _env_files(value: Any, base: str, home: str | None) -> Any:
    def one(item: Any) -> Any:
        if isinstance(item, dict) and "path" in item:
            return {**item, "path": resolve(scalar_str(item["path"]), base, home)}
        if isinstance(item, str):
            return resolve(item, base, home)
        return item

    if isinstance(value, list):
        return [one(v) for v in value]
    return one(value)


def _build(value: Any, base: str, home: str | None) -> Any:
    if isinstance(value, str):
        return value if is_remote(value) else resolve(value, base, home)
    if not isinstance(value, dict):
        return value
    out = dict(value)
    context = scalar_str(out.get("context", "."))
    if not is_remote(context):
        out["context"] = resolve(context, base, home)
    contexts = out.get("additional_contexts")
    if isinstance(contexts, dict):
        out["additional_contexts"] = {
            k: v if not isinstance(v, str) or is_remote(v) or ":" in v.split("/")[0] else resolve(v, base, home)
            for k, v in contexts.items()
        }
    return out


def resolve_document(doc: dict[str, Any], base: str, home: str | None = None) -> dict[str, Any]:
    """A copy of ``doc`` with its relative host paths made absolute against ``base``."""
    out = dict(doc)
    services = doc.get("services")
    if isinstance(services, dict):
        out["services"] = {
            name: resolve_service(svc, base, home) if isinstance(svc, dict) else svc
            for name, svc in services.items()
        }
    for kind in ("secrets", "configs"):
        objects = doc.get(kind)
        if isinstance(objects, dict):
            out[kind] = {
                name: {**obj, "file": resolve(scalar_str(obj["file"]), base, home)}
                if isinstance(obj, dict) and isinstance(obj.get("file"), str) else obj
                for name, obj in objects.items()
            }
    return out


def resolve_service(svc: dict[str, Any], base: str, home: str | None = None) -> dict[str, Any]:
    out = dict(svc)
    if "build" in out:
        out["build"] = _build(out["build"], base, home)
    if "env_file" in out:
        out["env_file"] = _env_files(out["env_file"], base, home)
    if "label_file" in out:
        out["label_file"] = _env_files(out["label_file"], base, home)
    if isinstance(out.get("volumes"), list):
        out["volumes"] = [_volume(v, base, home) for v in out["volumes"]]
    extends = out.get("extends")
    if isinstance(extends, dict) and isinstance(extends.get("file"), str):
        out["extends"] = {**extends, "file": resolve(extends["file"], base, home)}
    return out
