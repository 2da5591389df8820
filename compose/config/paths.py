"""Make the relative paths of one compose document absolute, as Compose does.

Paths in the files of ``-f`` are relative to the project directory; paths in
a file reached through ``extends`` or ``include`` are relative to that file's
own folder. So each document is resolved against its base before merging.

A relative path is joined to its base and cleaned (``./a//b/`` -> ``<base>/a/b``);
``~`` and ``~/…`` start from the home directory (``$HOME``); an absolute path is kept
exactly as written (``/data//x/`` stays so), as Compose keeps it.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

from .forms import scalar_str
from .volumespec import is_path, split_volume

_REMOTE = ("http://", "https://", "git://", "git@", "ssh://", "github.com/")


def is_remote(context: str) -> bool:
    return context.startswith(_REMOTE) or "://" in context


def resolve(path: str, base: str, home: str | None = None) -> str:
    """``path`` made absolute against ``base``; ``~`` is the home directory."""
    if path.startswith("~"):
        return posixpath.normpath(posixpath.join(home or os.path.expanduser("~"), path[1:].lstrip("/")))
    if path.startswith("/"):
        return path
    return posixpath.normpath(posixpath.join(base, path)) if path else path


def _is_windows_absolute(path: str) -> bool:
    return path.startswith("\\\\") or (len(path) > 2 and path[0].isalpha() and path[1] == ":" and path[2] in "\\/")


def resolve_host(path: str, base: str, home: str | None = None) -> str:
    """A bind source or a secret's file: like ``resolve``, but a Windows absolute path is kept
    and an empty path is the base itself (Compose's ``maybeUnixPath``)."""
    if _is_windows_absolute(path):
        return path
    return resolve(path, base, home) if path else base


def _volume(entry: Any, base: str, home: str | None) -> Any:
    if isinstance(entry, dict):
        if entry.get("type") == "bind" and isinstance(entry.get("source"), str):
            return {**entry, "source": resolve_host(entry["source"], base, home)}
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


def _context(value: str, base: str, home: str | None) -> str:
    if is_remote(value) or value.startswith("service:"):
        return value
    return resolve(value, base, home)


def _build(value: Any, base: str, home: str | None) -> Any:
    if isinstance(value, str):
        return _context(value, base, home)
    if not isinstance(value, dict):
        return value
    out = dict(value)
    out["context"] = _context(scalar_str(out.get("context", ".")), base, home)
    contexts = out.get("additional_contexts")
    if isinstance(contexts, dict):
        out["additional_contexts"] = {
            k: _context(v, base, home) if isinstance(v, str) else v for k, v in contexts.items()
        }
    elif isinstance(contexts, list):
        out["additional_contexts"] = [_kv_context(v, base, home) for v in contexts]
    ssh = out.get("ssh")
    if isinstance(ssh, dict):
        out["ssh"] = {k: resolve(v, base, home) if isinstance(v, str) else v for k, v in ssh.items()}
    elif isinstance(ssh, list):
        out["ssh"] = [_kv_path(v, base, home) for v in ssh]
    return out


def _kv_context(item: Any, base: str, home: str | None) -> Any:
    if not isinstance(item, str) or "=" not in item:
        return item
    key, _, value = item.partition("=")
    return f"{key}={_context(value, base, home)}"


def _kv_path(item: Any, base: str, home: str | None) -> Any:
    if not isinstance(item, str) or "=" not in item:
        return item
    key, _, value = item.partition("=")
    return f"{key}={resolve(value, base, home)}"


def _develop(value: Any, base: str, home: str | None) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get("watch"), list):
        return value
    watch = [{**w, "path": resolve(w["path"], base, home)} if isinstance(w, dict) and isinstance(w.get("path"), str)
             else w for w in value["watch"]]
    return {**value, "watch": watch}


def _volume_object(value: Any, base: str, home: str | None) -> Any:
    """A local volume with ``o: bind`` is a bind mount in disguise: its ``device`` is a host path."""
    if not isinstance(value, dict) or value.get("driver") != "local":
        return value
    opts = value.get("driver_opts")
    if not isinstance(opts, dict) or opts.get("o") != "bind" or not isinstance(opts.get("device"), str):
        return value
    return {**value, "driver_opts": {**opts, "device": resolve_host(opts["device"], base, home)}}


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
                name: {**obj, "file": resolve_host(scalar_str(obj["file"]), base, home)}
                if isinstance(obj, dict) and isinstance(obj.get("file"), str) else obj
                for name, obj in objects.items()
            }
    volumes = doc.get("volumes")
    if isinstance(volumes, dict):
        out["volumes"] = {name: _volume_object(v, base, home) for name, v in volumes.items()}
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
    if "develop" in out:
        out["develop"] = _develop(out["develop"], base, home)
    extends = out.get("extends")
    if isinstance(extends, dict) and isinstance(extends.get("file"), str):
        out["extends"] = {**extends, "file": resolve(extends["file"], base, home)}
    return out
