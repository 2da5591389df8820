"""What an image was built from, so that ``up`` can say when the build context moved on without it.

When a build ends, the image gets a record of its inputs, kept beside the
store in ``<root>/build/inputs/<image id>.json``: the Dockerfile's digest,
the build args, the target, and every file of the context that
``.dockerignore`` leaves in, with its size, modification time and checksum.
``changes`` compares a context with that record. It is fast on an unchanged
tree: a file whose size and modification time match the record is taken as
unchanged without being read, and only the others are hashed.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..state import Root, read_json, write_json
from .digest import Hasher
from .patterns import IgnoreRules

_LIMIT = 100_000  # files: a context larger than this is not recorded (the check is skipped)


@dataclass(frozen=True)
class Stale:
    """How a context differs from what the image was built from."""

    files: tuple[str, ...]  # changed, added or removed context files, sorted
    dockerfile: bool = False
    args: bool = False
    target: bool = False

    def __bool__(self) -> bool:
        return bool(self.files or self.dockerfile or self.args or self.target)


def _path(root: Root, image_id: str) -> str:
    return root.sub("build", "inputs", image_id.removeprefix("sha256:") + ".json")


def _walk(top: str, ignore: IgnoreRules, rel: str = "") -> Iterator[tuple[str, os.stat_result]]:
    """Files (and symlinks) of the context that .dockerignore keeps, as (relative path, lstat)."""
    try:
        entries = sorted(os.scandir(os.path.join(top, rel) if rel else top), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        excluded = ignore.excluded(path)
        if stat.S_ISDIR(st.st_mode):
            if not (excluded and not ignore.has_exceptions):
                yield from _walk(top, ignore, path)
        elif not excluded and (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            yield path, st


def _content(top: str, path: str, st: os.stat_result, hasher: Hasher) -> str:
    full = os.path.join(top, path)
    if stat.S_ISLNK(st.st_mode):
        return "link:" + os.readlink(full)
    try:
        return hasher.path_digest(full)
    except OSError:
        return "unreadable"


def _ignore(context: str) -> IgnoreRules:
    try:
        with open(os.path.join(context, ".dockerignore"), encoding="utf-8", errors="replace") as fh:
            return IgnoreRules.parse(fh.read(1 << 20))
    except (OSError, ValueError):
        return IgnoreRules([])


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _args(args: Mapping[str, str | None]) -> str:
    return json.dumps({k: v for k, v in sorted(args.items())}, separators=(",", ":"))


def record(root: Root, image_id: str, context: str, dockerfile_text: str, args: Mapping[str, str | None],
           target: str | None, hasher: Hasher) -> None:
    """Write the inputs record of ``image_id``."""
    files: dict[str, list[object]] = {}
    for path, st in _walk(context, _ignore(context)):
        if len(files) >= _LIMIT:
            return
        files[path] = [st.st_size, st.st_mtime_ns, _content(context, path, st, hasher)]
    data = {"dockerfile": _digest(dockerfile_text), "args": _args(args), "target": target or "", "files": files}
    if read_json(_path(root, image_id)) == data:
        return  # a cached rebuild of an unchanged tree: nothing to write
    os.makedirs(os.path.dirname(_path(root, image_id)), mode=0o700, exist_ok=True)
    write_json(_path(root, image_id), data)


def changes(root: Root, image_id: str, context: str, dockerfile_text: str, args: Mapping[str, str | None],
            target: str | None, hasher: Hasher | None = None) -> Stale | None:
    """How the inputs differ from the image's record; None when the image has no record."""
    data = read_json(_path(root, image_id))
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    known: dict[str, list[object]] = data["files"]
    hasher = hasher or Hasher(None)
    changed: list[str] = []
    seen: set[str] = set()
    for path, st in _walk(context, _ignore(context)):
        seen.add(path)
        before = known.get(path)
        if before is None:
            changed.append(path)
        elif before[:2] != [st.st_size, st.st_mtime_ns] and before[2] != _content(context, path, st, hasher):
            changed.append(path)
    changed += [p for p in known if p not in seen]
    return Stale(files=tuple(sorted(changed)), dockerfile=data.get("dockerfile") != _digest(dockerfile_text),
                 args=data.get("args") != _args(args), target=data.get("target") != (target or ""))
