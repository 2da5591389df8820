"""Named volumes, kept the way Docker's ``local`` driver keeps them.

A volume is the folder ``<root>/volumes/<name>/``: ``_data`` is its content
(mode 0755) and ``volume.json`` its record (name, creation time, labels,
driver, driver options, mount point, and ``populated``: whether the content
was ever initialised from an image, so the runtime copies an image's files
into a fresh volume once and never again).

A volume is made in a hidden staging folder and renamed into place, and
removed by renaming it aside before deleting it, so a volume is either
whole or absent; every change is made under one lock
(``<root>/locks/volumes.lock``). Containers are not asked: whether a volume
is in use is read from the container records, whose mounts name the
volume's folder as their source. The runtime records a container that binds
folders under the same lock, so a removal and the creation of a container
that mounts the volume never interleave.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from .errors import Conflict, EngineError, NotFound
from .state import Root, locked, read_json, write_json

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
"""Compose and Docker mark volumes made for a bare ``VOLUME``/``-v /path`` with this label."""

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")  # Docker's rule for local volume names
_OPTION_KEYS = ("type", "device", "o")
_BIND_FLAGS = {"bind", "rbind", "rw"}  # flags of ``o`` a direct bind honours
_ACTIVE = ("running", "paused", "restarting")  # container states whose mounts are live
_STAGING = (".new-", ".rm-")


@dataclass(frozen=True)
class Volume:
    """One volume's record, as ``volume.json`` holds it."""

    name: str
    created: str  # RFC 3339, UTC, seconds
    mountpoint: str  # the ``_data`` folder, as ``docker volume inspect`` shows it
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    populated: bool = False
    owner: str | None = None  # the container an anonymous volume was made for

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    @property
    def device(self) -> str | None:
        """The host folder a ``type: none, o: bind`` volume stands for, else None."""
        return self.options.get("device") if self.options.get("type") == "none" else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Volume:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class User:
    """A container whose record mounts a volume."""

    id: str
    name: str
    status: str

    @property
    def active(self) -> bool:
        return self.status in _ACTIVE


Users = list[User]  # named here: inside ``Volumes``, ``list`` is the method
Names = list[str]


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_name(name: str) -> None:
    """Refuse a name Docker's local driver would refuse (it also keeps paths out of the store)."""
    if not _NAME.match(name):
        raise EngineError(f'invalid volume name "{name}": only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed, '
                          "at least two characters; to mount a host folder, use an absolute path")


def check_options(name: str, options: dict[str, str]) -> dict[str, str]:
    """Validate the local driver's ``driver_opts``; only a bind of an existing host folder is supported.

    Docker's local driver passes ``type``, ``device`` and ``o`` to mount(2);
    we support the one form that needs no mount of our own, ``type: none``
    with ``o: bind``, by binding the device into containers directly.
    """
    if not options:
        return {}
    unknown = sorted(set(options) - set(_OPTION_KEYS))
    if unknown:
        raise EngineError(f"volume {name}: invalid driver option {unknown[0]!r} "
                          f"(the local driver takes {', '.join(_OPTION_KEYS)})")
    kind = options.get("type")
    if kind != "none":
        what = f"type {kind}" if kind else "options without a type"
        raise EngineError(f"volume {name}: driver_opts {what} are not supported yet; "
                          "only type: none, o: bind, device: /host/folder is")
    flags = {f.strip() for f in options.get("o", "").split(",") if f.strip()}
    if not flags & {"bind", "rbind"} or flags - _BIND_FLAGS:
        raise EngineError(f"volume {name}: with type none, o must be bind (got {options.get('o', '')!r})")
    device = options.get("device", "")
    if not os.path.isabs(device):
        raise EngineError(f"volume {name}: device must be an absolute host path (got {device!r})")
    _check_device(name, device)
    return dict(options)


def _check_device(name: str, device: str) -> None:
    if not os.path.isdir(device):
        missing = "is not a folder" if os.path.exists(device) else "does not exist"
        raise EngineError(f"volume {name}: device {device} {missing}; create it first")


def _within(source: str, folder: str) -> bool:
    return source == folder or source.startswith(folder.rstrip("/") + "/")


class Volumes:
    """The volume store of one state root."""

    def __init__(self, root: Root) -> None:
        self.root = root
        self.dir = root.volumes

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        """The volumes lock; the runtime takes it too while it records a container that binds folders,
        so a volume cannot be removed between that container's check of its source and its record."""
        return locked(self.root.lock("volumes"))

    def _folder(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def _read(self, name: str) -> Volume | None:
        if not _NAME.match(name):
            return None
        data = read_json(os.path.join(self._folder(name), "volume.json"))
        return None if data is None else Volume.from_dict(data)

    def _write(self, volume: Volume, folder: str | None = None) -> None:
        write_json(os.path.join(folder or self._folder(volume.name), "volume.json"), asdict(volume))

    # -- reading --------------------------------------------------------------

    def get(self, name: str) -> Volume:
        volume = self._read(name)
        if volume is None:
            raise NotFound(f"no such volume: {name}")
        return volume

    def list(self) -> list[Volume]:
        try:
            names = sorted(n for n in os.listdir(self.dir) if not n.startswith("."))
        except FileNotFoundError:
            return []
        return [v for v in (self._read(n) for n in names) if v is not None]

    def path(self, name: str) -> str:
        """The host folder to bind into containers: ``_data``, or the device of a bind volume."""
        volume = self.get(name)
        if volume.device is not None:
            _check_device(name, volume.device)
            return volume.device
        return os.path.join(self._folder(name), "_data")

    def size(self, name: str) -> int:
        """Bytes the content takes, as ``docker system df`` counts them (each inode once, no folders)."""
        seen: set[tuple[int, int]] = set()
        total = 0
        for top, dirs, files in os.walk(self.path(name)):
            for entry in (*files, *(d for d in dirs if os.path.islink(os.path.join(top, d)))):
                with contextlib.suppress(OSError):
                    st = os.lstat(os.path.join(top, entry))
                    if (st.st_dev, st.st_ino) not in seen:
                        seen.add((st.st_dev, st.st_ino))
                        total += st.st_size
        return total

    def users(self, name: str) -> Users:
        """The containers whose records mount the volume (its ``_data``, a subpath, or its device)."""
        return self._users(self.get(name))

    def _users(self, volume: Volume) -> Users:
        folders = [os.path.join(self._folder(volume.name), "_data")]
        if volume.device is not None:
            folders.append(os.path.normpath(volume.device))
        out: Users = []
        for cid, record in self._container_records():
            spec = record.get("spec") or {}
            sources = [os.path.normpath(m["source"]) for m in spec.get("mounts") or []
                       if isinstance(m, dict) and m.get("source")]
            if any(_within(s, f) for s in sources for f in folders):
                state = read_json(os.path.join(self.root.containers, cid, "state.json"), {}) or {}
                out.append(User(id=cid, name=spec.get("name") or cid[:12],
                                status=state.get("status", "created")))
        return sorted(out, key=lambda u: u.name)  # stable messages, whatever the ids

    def _container_records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        try:
            ids = sorted(os.listdir(self.root.containers))
        except FileNotFoundError:
            return
        for cid in ids:
            with contextlib.suppress(OSError, ValueError):
                record = read_json(os.path.join(self.root.containers, cid, "container.json"))
                if isinstance(record, dict):
                    yield cid, record

    # -- changing -------------------------------------------------------------

    def create(self, name: str, *, labels: dict[str, str] | None = None, driver: str = "local",
               options: dict[str, str] | None = None, owner: str | None = None) -> Volume:
        """Make the volume; an existing volume of that name is returned as it is.

        ``owner`` is the container an anonymous volume is made for: if that
        container's creation fails or dies, the volume goes with it (``remove_owned``).
        """
        check_name(name)
        if driver != "local":
            raise EngineError(f"volume {name}: driver {driver!r} is not supported; only the local driver is")
        with self._lock():
            existing = self._read(name)
            if existing is not None:
                return existing
            opts = check_options(name, dict(options or {}))
            self._sweep()
            volume = Volume(name=name, created=now_rfc3339(), labels=dict(labels or {}), options=opts,
                            mountpoint=os.path.join(self._folder(name), "_data"), owner=owner)
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            stage = tempfile.mkdtemp(dir=self.dir, prefix=".new-")
            try:
                data = os.path.join(stage, "_data")
                os.mkdir(data)
                os.chmod(data, 0o755)  # mkdir's mode is cut by the umask
                self._write(volume, stage)
                os.rename(stage, self._folder(name))
            except BaseException:
                shutil.rmtree(stage, ignore_errors=True)
                raise
            return volume

    def mark_populated(self, name: str) -> Volume:
        """Record that the content was initialised, so it is not copied up again."""
        with self._lock():
            volume = self.get(name)
            if not volume.populated:
                volume = replace(volume, populated=True)
                self._write(volume)
            return volume

    def remove(self, name: str, *, force: bool = False) -> None:
        """Delete the volume and its content.

        Refused while any container record mounts it; with ``force``, removed
        unless a running (or paused, restarting) container uses it, and a
        missing volume is not an error (as ``docker volume rm -f``).
        """
        with self._lock():
            if force and self._read(name) is None:
                return
            volume = self.get(name)
            users = self._users(volume)
            if users and not force:
                raise Conflict(f"volume {name} is in use by container(s) {', '.join(u.name for u in users)}; "
                               "remove them first, or force")
            active = [u.name for u in users if u.active]
            if active:
                raise Conflict(f"volume {name} is in use by running container(s) {', '.join(active)}; "
                               "stop them first")
            self._delete(volume)

    def remove_owned(self, owner: str) -> None:
        """Remove the unused volumes made for container ``owner`` (whose creation did not complete)."""
        with self._lock():
            for volume in self.list():
                if volume.owner == owner and not self._users(volume):
                    self._delete(volume)

    def prune(self, *, all: bool = False) -> Names:
        """Remove unused volumes: anonymous ones only (as Docker does), or every one with ``all``."""
        removed: Names = []
        with self._lock():
            for volume in self.list():
                if (all or volume.anonymous) and not self._users(volume):
                    self._delete(volume)
                    removed.append(volume.name)
        return removed

    def _delete(self, volume: Volume) -> None:
        folder = self._folder(volume.name)
        if os.path.ismount(os.path.join(folder, "_data")):  # never delete through a mount
            raise Conflict(f"volume {volume.name}: {folder}/_data is a mount point; unmount it first")
        self._sweep()
        aside = tempfile.mkdtemp(dir=self.dir, prefix=".rm-")
        os.rename(folder, os.path.join(aside, volume.name))
        shutil.rmtree(aside, ignore_errors=True)

    def _sweep(self) -> None:
        """Delete what a crashed create or remove left behind (only ever called under the lock)."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return
        for n in names:
            if n.startswith(_STAGING):
                shutil.rmtree(os.path.join(self.dir, n), ignore_errors=True)
