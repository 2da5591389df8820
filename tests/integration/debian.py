"""Multi-layer test images made of real Debian packages.

``minbase()`` runs ``mmdebstrap --variant=minbase bookworm`` once (about 20 s)
and keeps the root tarball under the temporary folder, so later runs on the
same machine reuse it; CI, on a fresh machine, builds it once per run.
``split()`` cuts that root into layers (everything outside /usr, /usr/lib,
the rest of /usr) and ``oci_archive`` makes an OCI image archive of gzip
layers that ``ImageStore.load`` takes.
"""

from __future__ import annotations

import fcntl
import functools
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
CACHE = Path(tempfile.gettempdir()) / "pycompose-test-cache"


def minbase() -> Path:
    """The bookworm minbase root as a tar (built now, or the one a previous run of this machine built)."""
    CACHE.mkdir(exist_ok=True)
    out = CACHE / "bookworm-minbase.tar"
    with open(CACHE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel runs wait for one build
        if not out.exists():
            tmp = CACHE / f"building-{os.getpid()}.tar"
            done = subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase", "bookworm", str(tmp), MIRROR],
                                  capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                tmp.unlink(missing_ok=True)
                raise RuntimeError(f"mmdebstrap failed: {done.stderr[-2000:]}")
            os.rename(tmp, out)
    return out


def _part(name: str) -> int:
    path = name.lstrip("./")
    if path.startswith(("usr/lib/", "usr/lib64/")) or path in ("usr/lib", "usr/lib64"):
        return 1
    if path.startswith("usr/") and path != "usr":
        return 2
    return 0


def split(root_tar: Path, parts: int = 3) -> list[bytes]:
    """The root as ``parts`` uncompressed layer tars (hard links kept with their targets' layer or made copies)."""
    outs = [io.BytesIO() for _ in range(parts)]
    with tarfile.open(root_tar) as src:
        writers = [tarfile.open(fileobj=o, mode="w", format=tarfile.PAX_FORMAT) for o in outs]
        placed: dict[str, int] = {}
        members = {m.name: m for m in src.getmembers()}
        for member in src.getmembers():
            layer = min(_part(member.name), parts - 1)
            if member.islnk():
                target = members.get(member.linkname)
                if target is not None and placed.get(target.name) != layer:
                    copy = tarfile.TarInfo(member.name)
                    copy.size, copy.mode, copy.uid, copy.gid, copy.mtime = (
                        target.size, target.mode, target.uid, target.gid, target.mtime)
                    writers[layer].addfile(copy, src.extractfile(target))
                    placed[member.name] = layer
                    continue
            data = src.extractfile(member) if member.isreg() else None
            writers[layer].addfile(member, data)
            placed[member.name] = layer
        for w in writers:
            w.close()
    return [o.getvalue() for o in outs]


def files_layer(files: dict[str, bytes]) -> bytes:
    """An uncompressed layer tar adding ``files`` (path -> content, mode 0755)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({os.path.dirname(p) for p in files if os.path.dirname(p)})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@functools.lru_cache(maxsize=8)
def gz(data: bytes, level: int = 1) -> bytes:
    """gzip, remembered: images that share layers are made without compressing them again."""
    return gzip.compress(data, compresslevel=level, mtime=0)


def oci_archive(layers: list[bytes], ref: str, cmd: list[str], level: int = 1) -> bytes:
    """An OCI image archive (tar) of ``layers`` (uncompressed tars), gzip-compressed, named ``ref``."""
    blobs: dict[str, bytes] = {}

    def add(data: bytes) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    layer_descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **add(gz(layer, level))}
                   for layer in layers]
    config = {"architecture": _arch(), "os": "linux", "created": "2024-01-01T00:00:00Z",
              "config": {"Cmd": cmd, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": [{"created_by": "test"}] * len(layers)}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           **add(json.dumps(config).encode())}, "layers": layer_descs}
    mdesc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **add(json.dumps(manifest).encode()),
             "annotations": {"io.containerd.image.name": ref}}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        def put(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        put("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        put("index.json", json.dumps({"schemaVersion": 2, "manifests": [mdesc]}).encode())
        for digest, data in blobs.items():
            put(f"blobs/sha256/{digest[7:]}", data)
    return out.getvalue()


def _arch() -> str:
    from engine.images.model import HOST_ARCH

    return HOST_ARCH
