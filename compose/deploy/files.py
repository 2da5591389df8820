"""A service's secrets and configs, as the files its containers see.

Each is mounted read-only: a secret at ``/run/secrets/<name>`` (or its
``target``, relative targets under ``/run/secrets``), a config at its
``target`` (``/<name>`` by default). A ``file:`` source without ``uid``,
``gid`` or ``mode`` is bound from the host as Docker Compose binds it; any
other (``environment:``, ``content:``, or ``file:`` with an owner or mode) is
written by the engine into the container's own folder with the owner and mode
asked for (0444 root:root by default). The content never reaches a record,
a log or the output.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import UpError

if TYPE_CHECKING:
    from engine.runtime.spec import ContainerFile, MountSpec

    from ..config.model import FileObject, FileRef, Project, Service


@dataclass(frozen=True)
class ServiceFiles:
    mounts: tuple[MountSpec, ...]
    files: Mapping[str, ContainerFile]  # name in the container's folder -> content, owner, mode


def _target(kind: str, ref: FileRef) -> str:
    if kind == "secrets":
        target = ref.target or ref.source
        return target if target.startswith("/") else posixpath.join("/run/secrets", target)
    target = ref.target or ref.source
    return target if target.startswith("/") else "/" + target


def _owner(svc: Service, kind: str, ref: FileRef, what: str, value: str | None) -> int:
    if value in (None, ""):
        return 0
    assert value is not None
    if not value.isdigit():
        raise UpError(f"service {svc.name}: {kind} {ref.source}: {what} must be a number, not {value!r}")
    return int(value)


def service_files(project: Project, svc: Service, environment: Callable[[], Mapping[str, str]]) -> ServiceFiles:
    """The mounts and file contents for ``svc``'s secrets and configs; UpError naming what is missing."""
    from engine.runtime.spec import ContainerFile, MountSpec

    mounts: list[MountSpec] = []
    files: dict[str, ContainerFile] = {}
    env: Mapping[str, str] | None = None
    for kind, refs, objects in (("secrets", svc.secrets, project.secrets), ("configs", svc.configs, project.configs)):
        for ref in refs:
            obj: FileObject = objects[ref.source]
            target = _target(kind, ref)
            where = f"service {svc.name}: {kind[:-1]} {ref.source}"
            if obj.file and ref.uid is None and ref.gid is None and ref.mode is None:
                if not os.path.exists(obj.file):
                    raise UpError(f"{where}: file {obj.file} not found")
                mounts.append(MountSpec(type="bind", source=obj.file, target=target, read_only=True))
                continue
            if obj.file:
                try:
                    with open(obj.file, "rb") as fh:
                        data = fh.read()
                except OSError as exc:
                    raise UpError(f"{where}: cannot read {obj.file}: {exc.strerror}") from None
            elif obj.environment:
                env = env if env is not None else environment()
                if obj.environment not in env:
                    raise UpError(f"{where}: environment variable {obj.environment} is not set")
                data = env[obj.environment].encode()
            elif obj.content is not None:
                data = obj.content.encode()
            else:
                raise UpError(f"{where}: it has no file, environment or content to take it from")
            name = f"{kind[:-1]}.{ref.source}.{len(files)}"
            files[name] = ContainerFile(data=data, uid=_owner(svc, kind, ref, "uid", ref.uid),
                                        gid=_owner(svc, kind, ref, "gid", ref.gid),
                                        mode=ref.mode if ref.mode is not None else 0o444)
            mounts.append(MountSpec(type="file", source=name, target=target, read_only=True))
    return ServiceFiles(mounts=tuple(mounts), files=files)
