"""``--chown=user[:group]``: names or ids, looked up in the image's own /etc/passwd and /etc/group."""

from __future__ import annotations

import stat

from .errors import StepError
from .fsview import LayerView, resolve, split


def parse_owner(spec: str, view: LayerView) -> tuple[int, int]:
    """``--chown=user[:group]`` (names or ids) against the image's /etc/passwd and /etc/group."""
    user, _, group = spec.partition(":")
    uid = gid = 0
    if user.isdigit():
        uid = gid = int(user)
    elif user:
        entry = next((e for e in _table(view, "etc/passwd", 4) if e[0] == user and e[2].isdigit()), None)
        if entry is None:
            raise StepError(f"unable to find user {user}: no matching entries in passwd file")
        uid, gid = int(entry[2]), int(entry[3]) if entry[3].isdigit() else 0
    if group.isdigit():
        gid = int(group)
    elif group:
        gentry = next((e for e in _table(view, "etc/group", 3) if e[0] == group and e[2].isdigit()), None)
        if gentry is None:
            raise StepError(f"unable to find group {group}: no matching entries in group file")
        gid = int(gentry[2])
    return uid, gid


def _table(view: LayerView, path: str, fields: int) -> list[list[str]]:
    parts = resolve(view, split(path))
    st = view.lstat(parts) if parts else None
    if st is None or not stat.S_ISREG(st.st_mode):
        return []
    with view.open(parts) as fh:
        text = fh.read(4 << 20).decode("utf-8", "replace")
    rows = [line.split(":") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [r for r in rows if len(r) >= fields]
