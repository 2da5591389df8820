"""A service's volumes: named volumes as claims, project files as ConfigMaps, the rest emptyDir."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field

from ..config.model import Mount, Service
from ..config.units import parse_size
from .container import memory_quantity
from .context import Context, Obj
from .names import data_key, dns_label
from .overrides import merge_extension

CONFIGMAP_LIMIT = 1_000_000  # bytes of data: a ConfigMap, like every object, must stay under 1 MiB


@dataclass
class Storage:
    volumes: list[Obj] = field(default_factory=list)
    mounts: list[Obj] = field(default_factory=list)
    claim_templates: list[Obj] = field(default_factory=list)
    _taken: set[str] = field(default_factory=set)

    def add(self, wanted: str, source: Obj, mount: Obj) -> None:
        """A pod volume and its mount, under a name unique in the pod."""
        name, n = wanted[:63], 2
        while name in self._taken:
            name = f"{wanted[:60]}-{n}"
            n += 1
        self._taken.add(name)
        self.volumes.append({"name": name, **source})
        self.mounts.append({"name": name, **mount})

    def add_template(self, template: Obj, mount: Obj) -> None:
        """A claim template of the StatefulSet (once, however often it is mounted) and a mount of it."""
        name = template["metadata"]["name"]
        if name not in self._taken:
            self._taken.add(name)
            self.claim_templates.append(template)
        self.mounts.append({"name": name, **mount})


def owned_volumes(ctx: Context, svc: Service) -> list[str]:
    """The named volumes only this service mounts (of every service of the project)."""
    return [m.source for m in svc.volumes if m.type == "volume" and m.source
            and m.source in ctx.project.volumes and not ctx.project.volumes[m.source].external
            and ctx.volume_users.get(m.source, []) == [svc.name]]


def storage(ctx: Context, svc: Service, stateful: bool) -> Storage:
    out = Storage()
    for i, m in enumerate(svc.volumes):
        path: tuple[str | int, ...] = ("services", svc.name, "volumes", i)
        mount: Obj = {"mountPath": m.target}
        if m.read_only:
            mount["readOnly"] = True
        if m.type == "volume" and m.source:
            if m.volume and m.volume.subpath:
                mount["subPath"] = m.volume.subpath
            _named(ctx, svc, m, path, mount, stateful, out)
        elif m.type == "volume":  # anonymous: lives as long as the pod, as it lives with the container
            out.add(f"anon-{i}", {"emptyDir": {}}, mount)
        elif m.type == "tmpfs":
            size = m.tmpfs.size if m.tmpfs else None
            out.add(f"tmpfs-{i}", {"emptyDir": _memory(size)}, mount)
        elif m.type == "bind" and m.source:
            _bind(ctx, svc, m, path, mount, out)
        else:
            ctx.refuse(path, f'a volume of type "{m.type}" has no Kubernetes form')
    for i, spec in enumerate(svc.tmpfs):
        target, _, opts = spec.partition(":")
        size = None
        for opt in opts.split(","):
            key, _, value = opt.partition("=")
            if key == "size":
                try:
                    size = parse_size(value)
                except ValueError:
                    ctx.warn(("services", svc.name, "tmpfs", i), f'"{value}" is not a size: no limit')
        out.add(f"tmpfs-x{i}", {"emptyDir": _memory(size)}, {"mountPath": target})
    if svc.shm_size:
        out.add("dshm", {"emptyDir": _memory(svc.shm_size)}, {"mountPath": "/dev/shm"})
    _file_objects(ctx, svc, out)
    return out


def _memory(size: int | None) -> Obj:
    return {"medium": "Memory", "sizeLimit": memory_quantity(size)} if size else {"medium": "Memory"}


def _claim_spec(ctx: Context, shared: bool) -> Obj:
    return {"accessModes": ["ReadWriteMany" if shared else "ReadWriteOnce"],
            "resources": {"requests": {"storage": ctx.options.claim_size}}}


def _named(ctx: Context, svc: Service, m: Mount, path: tuple[str | int, ...], mount: Obj, stateful: bool,
           out: Storage) -> None:
    assert m.source is not None
    vol = ctx.project.volumes.get(m.source)
    if vol is None:
        ctx.refuse(path, f'volume "{m.source}" is not declared under the top-level volumes')
        return
    vpath: tuple[str | int, ...] = ("volumes", m.source)
    wanted = dns_label(m.source)
    if vol.external:
        claim = dns_label(vol.name)
        ctx.warn(path, f'external volume "{vol.name}": a PersistentVolumeClaim named "{claim}" must exist')
        out.add(wanted, {"persistentVolumeClaim": {"claimName": claim}}, mount)
        return
    if vol.driver not in (None, "local") or vol.driver_opts:
        ctx.warn(vpath, "driver and driver_opts are Docker's: the claim gets the cluster's default storage class "
                 "(set x-kubernetes.spec.storageClassName)")
    users = ctx.volume_users.get(m.source, [])
    if stateful and users == [svc.name]:
        name = ctx.registry.take("claim-template", wanted, ("volume", m.source))
        template: Obj = {"metadata": {"name": name, "annotations": {"com.docker.compose.volume": m.source}},
                         "spec": _claim_spec(ctx, shared=False)}
        out.add_template(merge_extension(ctx, vpath, vol.extensions, template), mount)
        return
    claim = ctx.registry.take("PersistentVolumeClaim", wanted, ("volume", m.source))
    if ctx.registry.owner("emitted-claim", claim) is None:
        ctx.registry.take("emitted-claim", claim, ("volume", m.source))
        shared = len(users) > 1
        if shared:
            ctx.warn(vpath, f"shared by {', '.join(users)}: one ReadWriteMany claim, which needs a storage class "
                     "that offers it (NFS, CephFS, a cloud file store)")
        meta = ctx.meta(claim)
        meta["annotations"]["com.docker.compose.volume"] = m.source
        pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
               "spec": _claim_spec(ctx, shared)}
        ctx.emit(merge_extension(ctx, vpath, vol.extensions, pvc))
    out.add(wanted, {"persistentVolumeClaim": {"claimName": claim}}, mount)


def _bind(ctx: Context, svc: Service, m: Mount, path: tuple[str | int, ...], mount: Obj, out: Storage) -> None:
    source = os.path.normpath(m.source or "")
    root = os.path.normpath(ctx.project.working_dir)
    rel = os.path.relpath(source, root)
    if rel == ".." or rel.startswith("../") or os.path.isabs(rel):
        ctx.refuse(path, f"bind mount of {source}, a path of the host outside the project: a pod does not see "
                   "the host's files; use a named volume, or x-kubernetes.pod for a hostPath")
        return
    kind = ctx.sources.kind(source)
    entries = ctx.sources.walk(source) if kind == "dir" else []
    if kind == "missing" or (kind == "dir" and not entries):
        _data_folder(ctx, svc, source, rel, path, mount, out)
        return
    if kind == "other":
        ctx.refuse(path, f"bind mount of {rel}: neither a file nor a folder")
        return
    total = sum(e.size for e in entries) if kind == "dir" else len(ctx.sources.read(source))
    if total > CONFIGMAP_LIMIT:
        what = f"{len(entries)} files, " if kind == "dir" else ""
        ctx.refuse(path, f"bind mount of {rel} ({what}{total // 1024} KiB): more than a ConfigMap holds (1 MiB); "
                   "build it into the image, or use a named volume")
        return
    name = ctx.registry.take("ConfigMap", dns_label(rel), ("bind", source))
    files = [(data_key(os.path.basename(source)), os.path.basename(source), source)] if kind == "file" else \
        _keys([(e.relpath, os.path.join(source, e.relpath)) for e in entries])
    if ctx.registry.owner("emitted-configmap", name) is None:
        ctx.registry.take("emitted-configmap", name, ("bind", source))
        cm: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": ctx.meta(name)}
        cm["metadata"]["annotations"]["pycompose/source"] = rel
        for key, _, full in files:
            put(cm, key, ctx.sources.read(full))
        ctx.emit(cm)
    if not m.read_only:
        ctx.warn(path, f"{rel} comes from a ConfigMap, which is mounted read-only (the bind was writable); "
                 "write :ro to say it is meant")
    items: list[Obj] = []
    for key, relpath, full in files:  # a ConfigMap's files are 0644 unless told: keep the executable bit
        item: Obj = {"key": key, "path": relpath}
        if ctx.sources.executable(full):
            item["mode"] = 0o755
        items.append(item)
    if kind == "file":
        out.add(f"bind-{path[-1]}", {"configMap": {"name": name, "items": items}}, {**mount, "subPath": files[0][0]})
    else:
        out.add(f"bind-{path[-1]}", {"configMap": {"name": name, "items": items}}, mount)


def _keys(entries: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(key, path in the folder, file) for each file: keys are flat, so a/b.txt is a.b.txt (a.b.txt-2 if taken)."""
    out: list[tuple[str, str, str]] = []
    taken: set[str] = set()
    for relpath, full in entries:
        key = wanted = data_key(relpath.replace("/", "."))
        n = 2
        while key in taken:
            key = f"{wanted}-{n}"
            n += 1
        taken.add(key)
        out.append((key, relpath, full))
    return out


def _data_folder(ctx: Context, svc: Service, source: str, rel: str, path: tuple[str | int, ...], mount: Obj,
                 out: Storage) -> None:
    """A missing or empty project folder bound in: a data folder, so a claim (its host content is not copied)."""
    users = sorted({s.name for s in ctx.project.services.values() for b in s.volumes
                    if b.type == "bind" and b.source and os.path.normpath(b.source) == source})
    claim = ctx.registry.take("PersistentVolumeClaim", dns_label(rel), ("bind", source))
    shared = len(users) > 1
    ctx.warn(path, f"{rel} is {'missing' if ctx.sources.kind(source) == 'missing' else 'empty'}, a data folder: "
             f'PersistentVolumeClaim "{claim}"' + (f" (ReadWriteMany, shared by {', '.join(users)})" if shared else ""))
    if ctx.registry.owner("emitted-claim", claim) is None:
        ctx.registry.take("emitted-claim", claim, ("bind", source))
        meta = ctx.meta(claim)
        meta["annotations"]["pycompose/source"] = rel
        ctx.emit({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
                  "spec": _claim_spec(ctx, shared)})
    out.add(f"bind-{path[-1]}", {"persistentVolumeClaim": {"claimName": claim}}, mount)


def put(obj: Obj, key: str, content: bytes) -> None:
    """``content`` under ``key`` of a ConfigMap: as text when it is UTF-8, else base64 in binaryData."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        obj.setdefault("binaryData", {})[key] = base64.b64encode(content).decode("ascii")
    else:
        obj.setdefault("data", {})[key] = text


def _file_objects(ctx: Context, svc: Service, out: Storage) -> None:
    """secrets and configs, mounted file by file where Compose puts them."""
    for section, refs, table, kind in (("secrets", svc.secrets, ctx.project.secrets, "Secret"),
                                       ("configs", svc.configs, ctx.project.configs, "ConfigMap")):
        for i, ref in enumerate(refs):
            path: tuple[str | int, ...] = ("services", svc.name, section, i)
            obj = table.get(ref.source)
            if obj is None:
                ctx.refuse(path, f'{section[:-1]} "{ref.source}" is not declared under the top-level {section}')
                continue
            target = ref.target or f"/{ref.source}"
            if not target.startswith("/"):
                target = f"/run/secrets/{target}" if section == "secrets" else f"/{target}"
            key = data_key(ref.source)
            name = _file_object(ctx, section, kind, ref.source, key)
            if name is None:
                continue
            if ref.uid or ref.gid:
                ctx.warn(path, "uid and gid of a mounted file cannot be set in Kubernetes (pod-wide fsGroup only): "
                         "dropped")
            item: Obj = {"key": key, "path": key}
            if ref.mode is not None:
                item["mode"] = ref.mode
            source: Obj = ({"secret": {"secretName": name, "items": [item]}} if kind == "Secret"
                           else {"configMap": {"name": name, "items": [item]}})
            out.add(f"{section[:-1]}-{dns_label(ref.source, 50)}", source,
                    {"mountPath": target, "subPath": key, "readOnly": True})


def _file_object(ctx: Context, section: str, kind: str, source: str, key: str) -> str | None:
    """The Secret or ConfigMap of a top-level secret or config (emitted once); its name, or None if refused."""
    obj = (ctx.project.secrets if section == "secrets" else ctx.project.configs)[source]
    path: tuple[str | int, ...] = (section, source)
    if obj.external:
        name = dns_label(obj.name)
        if ctx.registry.owner(f"external-{kind}", name) is None:
            ctx.registry.take(f"external-{kind}", name, source)
            ctx.warn(path, f'external: a {kind} named "{name}" with the key "{key}" must exist in the namespace')
        return name
    name = ctx.registry.take(kind, dns_label(source), (section, source))
    if ctx.registry.owner(f"emitted-{kind}", name) is not None:
        return name
    if obj.file is not None:
        if ctx.sources.kind(obj.file) != "file":
            ctx.refuse(path + ("file",), f"{obj.file} is not a file")
            return None
        content = ctx.sources.read(obj.file)
    elif obj.environment is not None:
        value = ctx.sources.getenv(obj.environment)
        if value is None:
            ctx.refuse(path + ("environment",), f"the variable {obj.environment} is not set")
            return None
        content = value.encode()
    elif obj.content is not None:
        content = obj.content.encode()
    else:
        ctx.refuse(path, "no file, environment or content to take it from")
        return None
    ctx.registry.take(f"emitted-{kind}", name, (section, source))
    manifest: Obj = {"apiVersion": "v1", "kind": kind, "metadata": ctx.meta(name)}
    manifest["metadata"]["annotations"][f"com.docker.compose.{section[:-1]}"] = source
    if kind == "Secret":
        manifest["type"] = "Opaque"
        manifest["data"] = {key: base64.b64encode(content).decode("ascii")}
    else:
        put(manifest, key, content)
    ctx.emit(manifest)
    return name
