"""Control groups for containers: one API over cgroup v1 and cgroup v2.

A container's processes live in one cgroup per hierarchy, below a parent folder
named by ``Root.cgroup_name``, so every pycompose root (and every test run) owns
its own subtree and never writes to anyone else's cgroups. Limits are first
turned into (controller, file, value) settings by pure functions, so a bad
value fails before anything is made; a failed ``create`` then removes what it
made. File access goes through ``Fs`` so the v2 code can run against a fake.

Devices are confined on every cgroup made (``devices.Policy``): in the v1
devices hierarchy by its deny/allow files, and on cgroup2 by a BPF program.
A hybrid host (v1 controllers, plus a cgroup2 mount without controllers) gets
both: the container also has a cgroup on the cgroup2 mount, since the kernel
runs the device programs of a task's cgroup2 cgroup whichever controllers
are enabled, and refuses a device when either layer does.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time

from engine.errors import RuntimeFailure

# Re-exported: these are part of this module's API.
from .cgroupfs import CGROUP_ROOT as CGROUP_ROOT
from .cgroupfs import MOUNTINFO as MOUNTINFO
from .cgroupfs import V2_CONTROLLERS, _check_name
from .cgroupfs import CgroupStats as CgroupStats
from .cgroupfs import Fs as Fs
from .cgroupfs import parse_mountinfo as parse_mountinfo
from .devices import DEFAULT as DEFAULT_DEVICES
from .devices import Policy, confine
from .limits import Limits as Limits
from .limits import Setting, settings

log = logging.getLogger(__name__)
_NO_LIMIT = 1 << 62  # v1 reports "unlimited" as a page-rounded number just below 2**63

class Cgroups:
    """The host's cgroup setup: the version, its mount points, and our parent folder."""

    def __init__(self, parent: str, version: int, mounts: dict[str, str], fs: Fs | None = None,
                 unified: str | None = None) -> None:
        _check_name(parent)
        self.parent, self.version, self.fs = parent, version, fs or Fs()
        self.mounts = dict(mounts)  # v1: controller -> mount point; v2: {"": mount point}
        # the cgroup2 mount device programs attach to: v2's own; on a hybrid host, its controller-less one
        self.unified = mounts[""] if version == 2 else unified

    @classmethod
    def v2(cls, parent: str, mount: str = CGROUP_ROOT, fs: Fs | None = None) -> Cgroups:
        return cls(parent, 2, {"": mount}, fs)

    @classmethod
    def detect(cls, parent: str, mountinfo: str = MOUNTINFO, fs: Fs | None = None) -> Cgroups:
        """v2 when a cgroup2 mount at /sys/fs/cgroup has cgroup.controllers, else v1 hierarchies."""
        with open(mountinfo, encoding="utf-8") as fh:
            v1, v2 = parse_mountinfo(fh.read())
        tops = [m for m in v2 if os.path.exists(os.path.join(m, "cgroup.controllers"))]
        if CGROUP_ROOT in tops:
            return cls.v2(parent, CGROUP_ROOT, fs)
        if v1:  # hybrid when a writable cgroup2 is mounted too (preferably /sys/fs/cgroup/unified)
            writable = [m for m in tops if os.access(m, os.W_OK)]
            writable.sort(key=lambda m: not m.startswith(CGROUP_ROOT))
            return cls(parent, 1, v1, fs, unified=writable[0] if writable else None)
        if tops:
            return cls.v2(parent, tops[0], fs)
        raise RuntimeFailure("no cgroup filesystem is mounted: mount cgroup2 at /sys/fs/cgroup")

    def mount(self, controller: str) -> str | None:
        """The mount point holding ``controller`` (v2: the single unified mount)."""
        return self.mounts.get("" if self.version == 2 else controller)

    @property
    def mount_points(self) -> list[str]:
        """Every hierarchy a container has a cgroup in (v1's, and a hybrid host's cgroup2)."""
        return list(dict.fromkeys([*self.mounts.values(), *([self.unified] if self.unified else [])]))

    @property
    def parent_dirs(self) -> list[str]:
        return [os.path.join(m, self.parent) for m in self.mount_points]

    def container(self, name: str) -> Cgroup:
        return Cgroup(self, name)

    def containers(self) -> list[str]:
        """Names of our cgroups that exist in any hierarchy (for leak checks and cleanup)."""
        names: set[str] = set()
        for d in self.parent_dirs:
            if os.path.isdir(d):
                names.update(n for n in os.listdir(d) if os.path.isdir(os.path.join(d, n)))
        return sorted(names)

    def prune(self) -> None:
        """Remove the parent folders that have no children left; a busy one is kept."""
        for d in self.parent_dirs:
            try:
                self.fs.rmdir(d)
            except OSError as e:
                if e.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY):
                    raise RuntimeFailure(f"cannot remove cgroup folder {d}: {e.strerror}") from None


# What each version reads and writes: (controller, file[, key in a "key value" file]).
_FREEZER = {1: ("freezer", "freezer.state", "FROZEN", "THAWED"), 2: ("", "cgroup.freeze", "1", "0")}
_STATS: dict[int, dict[str, tuple[str, ...]]] = {
    1: {"memory_usage": ("memory", "memory.usage_in_bytes"), "memory_limit": ("memory", "memory.limit_in_bytes"),
        "cpu_usage_ns": ("cpuacct", "cpuacct.usage"), "oom": ("memory", "memory.oom_control", "oom_kill")},
    2: {"memory_usage": ("memory", "memory.current"), "memory_limit": ("memory", "memory.max"),
        "cpu_usage_us": ("cpu", "cpu.stat", "usage_usec"), "oom": ("memory", "memory.events", "oom_kill")},
}


class Cgroup:
    """One container's cgroup: a folder in every v1 hierarchy, or one folder in v2."""

    def __init__(self, groups: Cgroups, name: str) -> None:
        _check_name(name)
        self.groups, self.name, self.fs, self.version = groups, name, groups.fs, groups.version

    @property
    def paths(self) -> list[str]:
        return [os.path.join(d, self.name) for d in self.groups.parent_dirs]

    def dir(self, controller: str) -> str | None:
        mount = self.groups.mount(controller)
        return os.path.join(mount, self.groups.parent, self.name) if mount else None

    def exists(self) -> bool:
        return any(os.path.isdir(p) for p in self.paths)

    def create(self, limits: Limits, devices: Policy = DEFAULT_DEVICES) -> None:
        """Make the cgroup everywhere, confine its devices and write ``limits``; on failure remove what was made."""
        todo = settings(limits, self.version)  # checks values before anything is touched
        made: list[str] = []
        try:
            for mount in self.groups.mount_points:
                parent = os.path.join(mount, self.groups.parent)
                child = os.path.join(parent, self.name)
                for attempt in range(3):
                    try:
                        self._ensure_parent(mount, parent)
                        self.fs.mkdir(child)
                        break
                    except FileNotFoundError:  # a concurrent remove() pruned the parent
                        if attempt == 2:
                            raise
                    except FileExistsError:
                        raise RuntimeFailure(f"cgroup {child} already exists (a leftover or a name "
                                             "clash): remove it first") from None
                made.append(child)
                if self.version == 1 and mount == self.groups.mount("cpuset"):
                    self._copy_cpuset(parent, child)
            v2 = os.path.join(self.groups.unified, self.groups.parent, self.name) if self.groups.unified else None
            confine(self.fs, self.dir("devices") if self.version == 1 else None, v2, devices)
            self._apply(todo)
        except BaseException as exc:
            for p in reversed(made):
                try:
                    self.fs.rmdir(p)
                except OSError as e:
                    log.warning("rollback could not remove cgroup %s: %s", p, e.strerror)
            self.groups.prune()
            if isinstance(exc, OSError):
                raise RuntimeFailure(f"cannot create cgroup {self.name}: {exc.filename}: {exc.strerror}") from None
            raise

    def _ensure_parent(self, mount: str, parent: str) -> None:
        if self.version == 2:
            self._enable(mount)
        try:
            self.fs.mkdir(parent)
        except FileExistsError:
            pass
        if self.version == 2:
            self._enable(parent)
            return
        if mount == self.groups.unified:  # a hybrid host's cgroup2: no controllers to set up
            return
        if mount == self.groups.mount("cpuset"):
            self._copy_cpuset(mount, parent)
        hierarchy = os.path.join(parent, "memory.use_hierarchy")
        if os.path.exists(hierarchy) and self.fs.read(hierarchy).strip() == "0":
            self.fs.write(hierarchy, "1")

    def _enable(self, d: str) -> None:
        """v2: enable in ``d``'s subtree_control the controllers we use that it offers and lacks."""
        offered = self.fs.read(os.path.join(d, "cgroup.controllers")).split()
        enabled = self.fs.read(os.path.join(d, "cgroup.subtree_control")).split()
        for c in V2_CONTROLLERS:
            if c in offered and c not in enabled:
                try:
                    self.fs.write(os.path.join(d, "cgroup.subtree_control"), "+" + c)
                except OSError as e:  # limits that need it then fail with a clear sentence
                    log.warning("cannot enable the %s controller in %s: %s", c, d, e.strerror)

    def _copy_cpuset(self, src: str, dst: str) -> None:
        """v1: a new cpuset has no cpus or mems, and no task may join it: copy them down."""
        for f in ("cpuset.cpus", "cpuset.mems"):
            if not self.fs.read(os.path.join(dst, f)).strip():
                self.fs.write(os.path.join(dst, f), self.fs.read(os.path.join(src, f)).strip())

    def _ordered(self, todo: list[Setting]) -> list[Setting]:
        """v1: memsw must stay >= memory at every step; when raising, write memsw first (as runc)."""
        swap = next((s for s in todo if s.file == "memory.memsw.limit_in_bytes"), None)
        if swap is None or not any(s.file == "memory.limit_in_bytes" for s in todo):
            return todo
        current = self._int("memory", "memory.limit_in_bytes")
        if swap.value == "-1" or (current is not None and current < int(swap.value)):
            return [swap] + [s for s in todo if s is not swap]
        return todo

    def _apply(self, todo: list[Setting]) -> None:
        for s in self._ordered(todo):
            d = self.dir(s.controller)
            path = os.path.join(d, s.file) if d else f"<no {s.controller} hierarchy>/{s.file}"
            if not os.path.exists(path):
                if not s.required:
                    log.info("skipping %s=%s: %s does not exist", s.option, s.value, path)
                    continue
                if "swap" in s.file or "memsw" in s.file:
                    raise RuntimeFailure(f"cannot apply {s.option}: this kernel has no swap accounting "
                                         f"({path} is missing); drop {s.option} or boot with swapaccount=1")
                raise RuntimeFailure(f"cannot apply {s.option}: the {s.controller} cgroup controller is not "
                                     f"available here ({path} does not exist)")
            try:
                self.fs.write(path, s.value)
            except OSError as e:
                raise RuntimeFailure(f"cannot apply {s.option}: writing {s.value!r} to {path} failed: "
                                     f"{e.strerror}") from None

    def _int(self, controller: str, file: str, key: str | None = None) -> int | None:
        """A number from a file (or its ``key value`` line); missing, "max" and huge are None."""
        d = self.dir(controller)
        try:
            text: str | None = self.fs.read(os.path.join(d, file)) if d else None
        except OSError:
            return None
        if text is not None and key is not None:
            text = next((v for k, _, v in (ln.partition(" ") for ln in text.splitlines()) if k == key), None)
        if text is None or not text.strip().lstrip("-").isdigit():
            return None
        n = int(text)
        return None if n >= _NO_LIMIT else n

    def pids(self) -> list[int]:
        found: set[int] = set()
        for p in self.paths:
            try:
                found.update(int(x) for x in self.fs.read(os.path.join(p, "cgroup.procs")).split())
            except OSError:
                continue
        return sorted(found)

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer has killed a process of this cgroup."""
        return self.oom_kills() > 0

    def oom_kills(self) -> int:
        """How many processes of this cgroup the OOM killer has killed, in all its life (a run's are
        the difference between its end and its start)."""
        return self._int(*_STATS[self.version]["oom"]) or 0

    def stats(self) -> CgroupStats:
        got = {k: self._int(*spec) for k, spec in _STATS[self.version].items()}
        usec = got.get("cpu_usage_us")
        return CgroupStats(
            memory_usage=got["memory_usage"], memory_limit=got["memory_limit"],
            cpu_usage_ns=got.get("cpu_usage_ns", None if usec is None else usec * 1000),
            pids_current=self._int("pids", "pids.current"), pids_limit=self._int("pids", "pids.max"))

    def block_io(self) -> tuple[int, int]:
        """Bytes read and written by this cgroup's processes on block devices (``stats``' BLOCK I/O)."""
        read = written = 0
        v2 = self.version == 2
        d = self.dir("io" if v2 else "blkio")
        try:
            text = self.fs.read(os.path.join(d, "io.stat" if v2 else "blkio.throttle.io_service_bytes")) if d else ""
        except OSError:
            return 0, 0
        for line in text.splitlines():
            words = line.split()
            if v2:
                pairs = dict(w.partition("=")[::2] for w in words[1:])
                read += int(pairs.get("rbytes", "0") or 0)
                written += int(pairs.get("wbytes", "0") or 0)
            elif len(words) == 3 and words[2].isdigit():
                read += int(words[2]) if words[1] == "Read" else 0
                written += int(words[2]) if words[1] == "Write" else 0
        return read, written

    def add(self, pid: int) -> None:
        """Move process ``pid`` into this cgroup in every hierarchy."""
        for p in self.paths:
            for attempt in range(5):
                try:
                    self.fs.write(os.path.join(p, "cgroup.procs"), str(pid))
                    break
                except OSError as e:  # EINVAL: a task still being forked; runc retries too
                    if e.errno == errno.EINVAL and attempt < 4:
                        time.sleep(0.03)
                        continue
                    raise RuntimeFailure(f"cannot move process {pid} into cgroup {p}: {e.strerror}") from None

    def signal_all(self, sig: int) -> list[int]:
        """Send ``sig`` to every process inside (a snapshot: not safe against forks); return them."""
        pids = self.pids()
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return pids

    def can_freeze(self) -> bool:
        d = self.dir(_FREEZER[self.version][0])
        return d is not None and os.path.exists(os.path.join(d, _FREEZER[self.version][1]))

    def _write_freeze(self, on: bool) -> None:
        controller, file, yes, no = _FREEZER[self.version]
        self.fs.write(os.path.join(self.dir(controller) or "", file), yes if on else no)

    def frozen(self) -> bool:
        if self.version == 2:
            return self._int("", "cgroup.events", "frozen") == 1
        d = self.dir("freezer")
        return d is not None and self.fs.read(os.path.join(d, "freezer.state")).strip() == "FROZEN"

    def freeze(self, timeout: float = 5.0) -> None:
        """Stop every process inside (pause); waits until the kernel reports it frozen."""
        self._wait_frozen(True, timeout)

    def thaw(self, timeout: float = 5.0) -> None:
        self._wait_frozen(False, timeout)

    def _wait_frozen(self, on: bool, timeout: float) -> None:
        if not self.can_freeze():
            raise RuntimeFailure(f"cannot pause or unpause {self.name}: no cgroup freezer is available")
        self._write_freeze(on)
        deadline = time.monotonic() + timeout
        while self.frozen() != on:
            if time.monotonic() > deadline:
                if on:
                    self._write_freeze(False)  # rather running than half frozen
                raise RuntimeFailure(f"cgroup {self.name} did not {'freeze' if on else 'thaw'} "
                                     f"within {timeout}s")
            time.sleep(0.01)

    def _signal_frozen(self, sig: int) -> list[int]:
        """Signal everything inside while frozen, so nothing forks past us; thaw after."""
        can = self.can_freeze()
        if can:
            try:
                self.freeze(timeout=1.0)
            except RuntimeFailure:
                log.warning("cgroup %s did not freeze; signalling it running", self.name)
        try:
            return self.signal_all(sig)
        finally:
            if can:
                self._write_freeze(False)  # v1 frozen tasks die only once thawed

    def _wait_empty(self, deadline: float) -> bool:
        while self.pids():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def kill_all(self, sig: int = signal.SIGKILL, timeout: float = 5.0) -> None:
        """Signal every process inside, race-free against forks, and wait until none is left.

        SIGKILL uses v2 cgroup.kill where the kernel has it, else repeats freeze/kill/thaw.
        Other signals are sent once, under freeze. A paused cgroup ends up thawed.
        Raises RuntimeFailure if processes remain after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        kill_file = os.path.join(self.paths[0], "cgroup.kill")
        if sig == signal.SIGKILL and self.version == 2 and os.path.exists(kill_file):
            self.fs.write(kill_file, "1")  # kills frozen tasks too; thaw so the state is "running"
            if self.can_freeze():
                self._write_freeze(False)
        else:
            while self._signal_frozen(sig) and sig == signal.SIGKILL:
                if self._wait_empty(min(deadline, time.monotonic() + 0.2)) or time.monotonic() >= deadline:
                    break
        if not self._wait_empty(deadline):
            raise RuntimeFailure(f"processes {self.pids()} of cgroup {self.name} survived "
                                 f"{signal.Signals(sig).name} for {timeout}s")

    def kill_nowait(self, sig: int = signal.SIGKILL) -> bool:
        """Send ``sig`` to every process inside without waiting for anything; True when none was left.

        For a caller that must not block (the supervisor's loop): it calls again
        later until this returns True. SIGKILL uses v2 cgroup.kill where the
        kernel has it (race-free against forks); otherwise each process is
        signalled, and a process forked meanwhile is caught by the next call.
        A frozen (paused) cgroup is thawed, since frozen tasks die only once thawed.
        """
        pids = self.pids()
        if not pids:
            return True
        kill_file = os.path.join(self.paths[0], "cgroup.kill")
        if sig == signal.SIGKILL and self.version == 2 and os.path.exists(kill_file):
            self.fs.write(kill_file, "1")
        else:
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        if sig == signal.SIGKILL and self.can_freeze():
            self._write_freeze(False)
        return False

    def remove(self, timeout: float = 5.0) -> None:
        """Remove the cgroup everywhere (killing what is left inside) and prune empty parents."""
        deadline = time.monotonic() + timeout
        if self.exists() and self.pids():
            self.kill_all(signal.SIGKILL, timeout)
        for p in self.paths:
            while True:
                try:
                    self.fs.rmdir(p)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:  # EBUSY while exiting tasks are still leaving
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise RuntimeFailure(f"cannot remove cgroup {p}: {e.strerror}") from None
                    time.sleep(0.02)
        self.groups.prune()
