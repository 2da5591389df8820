"""A busybox root filesystem built from the host's busybox-static, for test images."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile

BUSYBOX = shutil.which("busybox") or "/bin/busybox"

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "app:x:1000:1000:app user:/home/app:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n"


def applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout
    return [a for a in out.split() if a and a != "busybox"]


def rootfs_tar(extra: dict[str, bytes] | None = None) -> bytes:
    """An uncompressed tar of a minimal busybox root (bin/, etc/, tmp/, root/, home/app), plus ``extra``
    files (path -> content; their folders are made)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add_dir(name: str, mode: int = 0o755, uid: int = 0) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, uid
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        for d in ("bin", "etc", "root", "home", "var", "usr", "usr/bin"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        add_dir("home/app", 0o755, 1000)
        with open(BUSYBOX, "rb") as fh:
            add_file("bin/busybox", fh.read(), 0o755)
        for applet in applets():
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        add_file("etc/passwd", PASSWD.encode())
        add_file("etc/group", GROUP.encode())
        made = {"bin", "etc", "root", "home", "var", "usr", "usr/bin", "tmp", "home/app"}
        for path, data in sorted((extra or {}).items()):
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                folder = "/".join(parts[:i])
                if folder not in made:
                    made.add(folder)
                    add_dir(folder)
            add_file(path, data)
    return buf.getvalue()


def settled_leftovers(root_path: str, cgroup_name: str, wait: float = 5.0) -> list[str]:
    """leftovers(), after giving daemons (which exit once idle) up to ``wait`` seconds to go."""
    import time

    deadline = time.monotonic() + wait
    while (found := leftovers(root_path, cgroup_name)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def leftovers(root_path: str, cgroup_name: str) -> list[str]:
    """What a test left behind: mounts, cgroups, supervisor processes of this root."""
    found = []
    with open("/proc/self/mountinfo") as fh:
        found += [f"mount {line.split()[4]}" for line in fh if root_path in line]
    for base, dirs, _ in os.walk("/sys/fs/cgroup"):
        if base.count("/") > 5:
            dirs[:] = []
            continue
        found += [f"cgroup {os.path.join(base, d)}" for d in dirs if d == cgroup_name]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read().split(b"\0")
            except OSError:
                continue
            if b"engine.runtime.supervisor" in cmd and root_path.encode() in cmd:
                found.append(f"process {pid} {b' '.join(cmd).decode()}")
    return found
