"""Resolve ``user:`` and ``group_add`` against the container's own /etc/passwd and /etc/group.

Runs inside the container's mount namespace after pivot_root, so the files
read are the container's, and nothing in them can point outside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


def _read(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return [line.rstrip("\n").split(":") for line in fh if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def resolve(spec: str | None, group_add: Iterable[str] = (), *, passwd: str = "/etc/passwd",
            group: str = "/etc/group") -> User:
    """``name``, ``uid``, ``uid:gid``, ``name:group`` -> ids; ValueError with a clear message if unknown."""
    users = [u for u in _read(passwd) if len(u) >= 7]
    groups = [g for g in _read(group) if len(g) >= 4]
    user_part, _, group_part = (spec or "").partition(":")
    uid, gid, home, name = 0, 0, "/", "root"
    if user_part:
        entry = next((u for u in users if u[0] == user_part), None)
        if entry is None and user_part.isdigit():
            entry = next((u for u in users if u[2] == user_part), None)
            uid, gid, home, name = int(user_part), int(user_part) if not entry else int(entry[3]), "/", ""
        if entry is not None:
            uid, gid, home, name = int(entry[2]), int(entry[3]), entry[5] or "/", entry[0]
        elif not user_part.isdigit():
            raise ValueError(f'unable to find user {user_part}: no matching entries in passwd file')
    elif users:
        root = next((u for u in users if u[2] == "0"), None)
        if root:
            home = root[5] or "/"
    if group_part:
        gid = _group_id(group_part, groups)
    supplementary = [int(g[2]) for g in groups if name and name in g[3].split(",") and g[2].isdigit()]
    supplementary += [_group_id(g, groups) for g in group_add]
    ordered = tuple(dict.fromkeys([gid, *supplementary]))
    return User(uid=uid, gid=gid, groups=ordered, home=home)


def _group_id(name: str, groups: list[list[str]]) -> int:
    entry = next((g for g in groups if g[0] == name), None)
    if entry is not None:
        return int(entry[2])
    if name.isdigit():
        return int(name)
    raise ValueError(f"unable to find group {name}: no matching entries in group file")
