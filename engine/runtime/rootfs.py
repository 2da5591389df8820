"""The container's filesystem, built inside its own mount namespace.

Runs in the container's first process, after unshare(CLONE_NEWNS) and
before exec. Because every mount is made in that private namespace, they all
vanish with it: nothing is left on the host when the container dies.

The order matters for safety. The overlay root is entered with pivot_root
first; volumes are bound afterwards from the old root, kept under a random
name. By then ``/`` is the container's root, so an image's symlinks resolve
inside the container and cannot redirect a mount onto the host.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat

from .. import sys as lx
from .spec import ContainerSpec, MountSpec, check_sysctl, mount_target_problem

DOCKER_MASKED = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)
DOCKER_READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

_DEVICES = {  # name: (major, minor)
    "null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0),
}
_LINKS = {
    "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx", "core": "/proc/kcore",
}
INIT_BINARIES = ("/usr/bin/tini-static", "/usr/bin/tini")
INIT_PATH = "/sbin/docker-init"


class Bundle:
    """The container's folder on the host: its writable layer and the files the engine provides."""

    def __init__(self, path: str) -> None:
        self.path = path

    def sub(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def upper(self) -> str:
        return self.sub("upper")

    @property
    def work(self) -> str:
        return self.sub("work")

    @property
    def merged(self) -> str:
        return self.sub("merged")

    def create(self) -> None:
        for d in (self.upper, self.work, self.merged):
            os.makedirs(d, mode=0o755, exist_ok=True)


def overlay_options(layers: tuple[str, ...], bundle: Bundle, empty: str) -> str:
    lower = ":".join(reversed(layers)) if layers else empty
    return f"lowerdir={lower},upperdir={bundle.upper},workdir={bundle.work}"


def _makedirs(path: str, mode: int = 0o755) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)


def _touch(path: str) -> None:
    if not os.path.lexists(path):
        _makedirs(os.path.dirname(path))
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))


def _bind(source: str, target: str, *, read_only: bool = False, recursive: bool = True,
          propagation: str | None = None) -> None:
    if os.path.isdir(source):
        _makedirs(target)
    else:
        _touch(target)
    lx.mount(source, target, None, lx.MS_BIND | (lx.MS_REC if recursive else 0))
    prop = {"shared": lx.MS_SHARED, "rshared": lx.MS_SHARED | lx.MS_REC, "slave": lx.MS_SLAVE,
            "rslave": lx.MS_SLAVE | lx.MS_REC, "private": lx.MS_PRIVATE}.get(propagation or "",
                                                                         lx.MS_PRIVATE | lx.MS_REC)
    lx.mount(None, target, None, prop)
    if read_only:
        lx.mount(None, target, None, lx.MS_BIND | lx.MS_REMOUNT | lx.MS_RDONLY | (lx.MS_REC if recursive else 0))


def setup(spec: ContainerSpec, bundle: Bundle, empty_dir: str, own_netns: bool, own_ipcns: bool) -> None:
    """Build the container's root and make it ``/``. Raises OSError naming the failing step."""
    # Host paths resolve on the host, before the host's root is out of sight.
    sources = {m.source: os.path.realpath(bundle.sub(os.path.join("files", m.source)) if m.type == "file"
                                          else m.source)
               for m in spec.mounts if m.source}
    devices = {d.source: os.path.realpath(d.source) for d in spec.devices}
    lx.mount(None, "/", None, lx.MS_REC | lx.MS_PRIVATE)
    lx.mount("overlay", bundle.merged, "overlay", 0, overlay_options(spec.layers, bundle, empty_dir))
    old = f"/.pycompose-oldroot-{secrets.token_hex(8)}"
    os.mkdir(bundle.merged + old, 0o700)
    os.chdir(bundle.merged)
    lx.pivot_root(".", "." + old)
    os.chdir("/")

    _proc()
    _dev(spec, old, devices)
    _sys(own_netns, old)
    if own_ipcns:
        _makedirs("/dev/mqueue")
        lx.mount("mqueue", "/dev/mqueue", "mqueue", lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC)
    for m in spec.mounts:
        _mount(m, old, sources.get(m.source or ""))
    for name in ("hosts", "hostname", "resolv.conf"):
        if not any(m.target == f"/etc/{name}" for m in spec.mounts) and os.path.exists(old + bundle.sub(name)):
            _bind(old + bundle.sub(name), f"/etc/{name}", recursive=False)
    if spec.init:
        binary = next((b for b in INIT_BINARIES if os.path.exists(old + b)), None)
        if binary is None:
            raise OSError(2, "init: true needs tini on the host (apt-get install tini)")
        _bind(old + binary, INIT_PATH, read_only=True, recursive=False)
    for key, value in spec.sysctls.items():
        check_sysctl(key, spec)  # checked at create too: never write a host-wide sysctl
        with open("/proc/sys/" + key.replace(".", "/"), "w") as fh:
            fh.write(value)
    if not spec.privileged:
        for path in spec.masked_paths if spec.masked_paths is not None else DOCKER_MASKED:
            _mask(path)
        for path in spec.readonly_paths if spec.readonly_paths is not None else DOCKER_READONLY:
            if os.path.exists(path):
                _bind(path, path, read_only=True)
    lx.umount(old, lx.MNT_DETACH)
    os.rmdir(old)
    if spec.read_only:
        lx.mount(None, "/", None, lx.MS_BIND | lx.MS_REMOUNT | lx.MS_RDONLY)


def _proc() -> None:
    _makedirs("/proc")
    lx.mount("proc", "/proc", "proc", lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC)


def _dev(spec: ContainerSpec, old: str, devices: dict[str, str]) -> None:
    _makedirs("/dev")
    lx.mount("tmpfs", "/dev", "tmpfs", lx.MS_NOSUID | lx.MS_STRICTATIME, "mode=755,size=65536k")
    for name, (major, minor) in _DEVICES.items():
        os.mknod(f"/dev/{name}", 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(f"/dev/{name}", 0o666)
    for name, target in _LINKS.items():
        os.symlink(target, f"/dev/{name}")
    for dev in spec.devices:
        st = os.stat(old + devices[dev.source])
        _makedirs(os.path.dirname(dev.target))
        os.mknod(dev.target, (st.st_mode & 0o777) | stat.S_IFMT(st.st_mode), st.st_rdev)
    _makedirs("/dev/pts")
    lx.mount("devpts", "/dev/pts", "devpts", lx.MS_NOSUID | lx.MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620,gid=5")
    _makedirs("/dev/shm")
    size = spec.shm_size or 64 << 20
    lx.mount("shm", "/dev/shm", "tmpfs", lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC, f"mode=1777,size={size}")


def _sys(own_netns: bool, old: str) -> None:
    _makedirs("/sys")
    flags = lx.MS_NOSUID | lx.MS_NODEV | lx.MS_NOEXEC | lx.MS_RDONLY
    if own_netns:
        lx.mount("sysfs", "/sys", "sysfs", flags)
    else:  # sysfs shows the network namespace it is mounted from: share the host's, read-only
        _bind(old + "/sys", "/sys", read_only=True)


def _mount(m: MountSpec, old: str, source: str | None) -> None:
    # compose checks the target as written; here it is checked again, and where the image's symlinks
    # lead (this is the container's root by now), as runc does
    problem = mount_target_problem(m.target) or mount_target_problem(os.path.realpath(m.target))
    if problem:
        raise OSError(errno.EPERM, f"mount {m.target}: {problem}")
    if m.type == "tmpfs":
        _makedirs(m.target)
        opts = []
        if m.tmpfs_size:
            opts.append(f"size={m.tmpfs_size}")
        opts.append(f"mode={m.tmpfs_mode:o}" if m.tmpfs_mode is not None else "mode=1777")
        flags = lx.MS_NOSUID | lx.MS_NODEV | (lx.MS_RDONLY if m.read_only else 0)
        lx.mount("tmpfs", m.target, "tmpfs", flags, ",".join(opts))
        return
    if not source:
        raise OSError(22, f"mount {m.target}: no source")
    if m.type == "file":  # a secret or config the engine wrote into the container's folder: read-only
        _bind(old + source, m.target, read_only=True, recursive=False)
        return
    if m.copy_up and os.path.isdir(m.target) and not os.path.islink(m.target) and not os.listdir(old + source):
        _copy_tree(m.target, old + source)  # the image's files seed an empty volume
    _bind(old + source, m.target, read_only=m.read_only, propagation=m.propagation)


def _copy_tree(src: str, dst: str) -> None:
    """Copy ``src`` (in the container) into ``dst`` (a volume), keeping owners, modes and links."""
    import shutil

    for entry in os.scandir(src):
        target = os.path.join(dst, entry.name)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir():
            os.mkdir(target)
            _copy_tree(entry.path, target)
        else:
            shutil.copy2(entry.path, target, follow_symlinks=False)
        st = entry.stat(follow_symlinks=False)
        os.lchown(target, st.st_uid, st.st_gid)
        if not entry.is_symlink():
            os.chmod(target, stat.S_IMODE(st.st_mode))
    st = os.stat(src)
    os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, stat.S_IMODE(st.st_mode))


def _mask(path: str) -> None:
    if not os.path.lexists(path):
        return
    if os.path.isdir(path):
        lx.mount("tmpfs", path, "tmpfs", lx.MS_RDONLY, "size=0")
    else:
        lx.mount("/dev/null", path, None, lx.MS_BIND)
