"""Copy files into and out of a container (``cp``), with its symlinks kept inside it.

The copying runs in a child that is in the container's own mount namespace
(joined for a running container; made, with the overlay root mounted, for
a stopped one) and chrooted there, so every path, and every symlink in it,
resolves inside the container. Files travel as a tar stream through a pipe;
what comes out of a container is unpacked on the host with tarfile's strict
``data`` filter (no absolute paths, no ``..``, no links out, no devices).
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
from collections.abc import Callable

from .. import sys as lx
from ..errors import EngineError
from .containers import Container, Runtime
from .rootfs import Bundle, overlay_options


def _spawn(runtime: Runtime, c: Container, work: Callable[[], None]) -> tuple[int, int]:
    """Fork a child whose root is the container's filesystem to run ``work``; (pid, its error pipe)."""
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        try:
            if c.status in ("running", "paused"):
                lx.setns(os.open(f"/proc/{c.pid}/ns/mnt", os.O_RDONLY), lx.CLONE_NEWNS)
                os.chroot("/")
            else:
                bundle = Bundle(runtime.records.dir(c.id))
                lx.unshare(lx.CLONE_NEWNS)
                lx.mount(None, "/", None, lx.MS_REC | lx.MS_PRIVATE)
                empty = os.path.join(runtime.root.run, "empty")
                os.makedirs(empty, exist_ok=True)
                lx.mount("overlay", bundle.merged, "overlay", 0, overlay_options(c.spec.layers, bundle, empty))
                os.chroot(bundle.merged)
            os.chdir("/")
            work()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            with contextlib.suppress(OSError):
                os.write(err_w, (str(exc) or type(exc).__name__).encode())
            os._exit(1)
        os._exit(0)
    os.close(err_w)
    return pid, err_r


def _finish(c: Container, pid: int, err_r: int) -> None:
    _, status = os.waitpid(pid, 0)
    with os.fdopen(err_r, "rb") as fh:
        error = fh.read().decode(errors="replace")
    if status:
        raise EngineError(f"copying in {c.name}: {error or 'failed'}")


def copy_out(runtime: Runtime, ref: str, path: str, dest: str, *, archive: bool = False,
             follow: bool = False) -> None:
    """Copy the container's ``path`` to the host's ``dest`` (into it when it is a folder).

    ``archive`` keeps the container's owners (else the files are the caller's); ``follow`` copies what a
    symlink at ``path`` points to, not the link.
    """
    c = runtime.get(ref)
    read_fd, write_fd = os.pipe()

    def work() -> None:
        os.close(read_fd)
        if not os.path.lexists(path):
            raise FileNotFoundError(f"no such file or directory in the container: {path}")
        source = os.path.realpath(path) if follow else path  # inside the chroot: stays in the container
        with os.fdopen(write_fd, "wb") as out, tarfile.open(fileobj=out, mode="w|") as tar:
            tar.add(source, arcname=os.path.basename(path.rstrip("/")) or ".")

    pid, err_r = _spawn(runtime, c, work)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as src:
        data = src.read()
    _finish(c, pid, err_r)
    into = dest if os.path.isdir(dest) else os.path.dirname(os.path.abspath(dest))
    name = None if os.path.isdir(dest) else os.path.basename(dest)
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = tar.getmembers()
            if name and members:
                top = members[0].name
                for m in members:
                    m.name = name + m.name[len(top):] if m.name == top or m.name.startswith(top + "/") else m.name
            if not archive:
                for m in members:
                    m.uid, m.gid, m.uname, m.gname = os.getuid(), os.getgid(), "", ""
            tar.extractall(into, members=members, filter=_to_host)
    except tarfile.TarError as exc:
        raise EngineError(f"copying from {c.name}: refused {exc}") from None


def _to_host(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """What a container gives us lands on the host: no paths out of ``dest`` (through links or ``..``),
    no device nodes; symlinks are copied as links, as Docker does."""
    if member.ischr() or member.isblk():
        raise tarfile.SpecialFileError(member)
    return tarfile.tar_filter(member, dest)


def copy_in(runtime: Runtime, ref: str, source: str, path: str, *, archive: bool = False,
            follow: bool = False) -> None:
    """Copy the host's ``source`` to the container's ``path`` (into it when it is a folder there).

    ``archive`` keeps the host's owners (else root owns what is copied, as Docker does); ``follow`` copies
    what a symlink at ``source`` points to.
    """
    c = runtime.get(ref)
    buf = io.BytesIO()

    def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
        if not archive:
            info.uid = info.gid = 0
            info.uname = info.gname = ""
        return info

    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(os.path.realpath(source) if follow else source, arcname=os.path.basename(source.rstrip("/")) or ".",
                filter=owner)
    data = buf.getvalue()

    def work() -> None:
        into, name = (path, None) if os.path.isdir(path) else (os.path.dirname(path) or "/", os.path.basename(path))
        if not os.path.isdir(into):
            raise FileNotFoundError(f"no such directory in the container: {into}")
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = tar.getmembers()
            if name and members:
                top = members[0].name
                for m in members:
                    if m.name == top or m.name.startswith(top + "/"):
                        m.name = name + m.name[len(top):]
            tar.extractall(into, members=members, filter="tar")

    pid, err_r = _spawn(runtime, c, work)
    _finish(c, pid, err_r)
