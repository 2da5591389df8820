"""The runtime's public API: create, start, stop, kill, remove, inspect, wait, logs, pause.

Starting and stopping go through the group's supervisor, which is spawned
on demand. Everything else reads or changes the records directly. A record
that says "running" is checked against the process table: if the
supervisor died, the container's true state is reported, not the stale one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal as signals
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..daemon import Spawning, begin, spawn
from ..errors import Conflict, EngineError, NotFound, RuntimeFailure
from ..faults import point as fault_point
from ..state import Root, locked
from . import logs as logfile
from .protocol import Message, connect, decode, encode, number, run_file, signal_number, text
from .records import ContainerState, Records, alive
from .spec import ContainerFile, ContainerSpec, check_sysctl

if TYPE_CHECKING:
    from .cgroups import Cgroups

DEFAULT_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    spec: ContainerSpec
    created: str
    status: str  # created | running | restarting | paused | exited
    pid: int
    exit_code: int | None
    started_at: str | None
    finished_at: str | None
    restart_count: int
    oom_killed: bool
    stopping: bool  # a stop was asked and is under way
    error: str | None

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")


def new_id() -> str:
    return secrets.token_hex(32)


def host_resolv_conf(path: str = "/etc/resolv.conf") -> str:
    """The host's resolver settings without loopback name servers (unreachable from a container)."""
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return ""
    keep = [ln for ln in lines if not (ln.startswith("nameserver") and
                                       (ln.split()[1:2] or [""])[0].startswith(("127.", "::1")))]
    return "\n".join(keep) + "\n"


Names = list[str]  # named here: inside the class, ``list`` is the method


class Runtime:
    def __init__(self, root: Root) -> None:
        self.root = root
        self.records = Records(root)
        self._cgroups: Cgroups | None = None
        self._spawning: dict[str, tuple[contextlib.ExitStack, Spawning]] = {}  # group -> its start lock, the daemon
        self._spawn_wait = threading.Lock()  # threads that need a supervisor being spawned all wait for it

    @property
    def cgroups(self) -> Cgroups:
        if self._cgroups is None:
            # devices and ctypes: not for commands that only read records
            from .cgroups import Cgroups

            self._cgroups = Cgroups.detect(self.root.cgroup_name)
        return self._cgroups

    # -- lookup ---------------------------------------------------------------

    def list(self) -> list[Container]:
        out = []
        for cid in self.records.ids():
            with contextlib.suppress(NotFound):
                out.append(self._load(cid))
        return out

    def get(self, ref: str) -> Container:
        """By full id, unique id prefix, or name."""
        ids = self.records.ids()
        if ref in ids:
            return self._load(ref)
        for cid in ids:
            with contextlib.suppress(NotFound):
                if self.records.name(cid) == ref:
                    return self._load(cid)
        matches = [cid for cid in ids if cid.startswith(ref)] if len(ref) >= 4 else []
        if len(matches) == 1:
            return self._load(matches[0])
        raise NotFound(f"no such container: {ref}")

    def _load(self, cid: str) -> Container:
        spec = self.records.spec(cid)
        state = self._true_state(cid, self.records.state(cid))
        return Container(
            id=cid, name=spec.name, spec=spec, created=self.records.created(cid),
            status=state.status, pid=state.pid, exit_code=state.exit_code, started_at=state.started_at,
            finished_at=state.finished_at, restart_count=state.restart_count, oom_killed=state.oom_killed,
            stopping=state.stopping and state.active, error=state.error,
        )

    def _true_state(self, cid: str, state: ContainerState) -> ContainerState:
        """A record whose supervisor died: a new supervisor of its group adopts it (and the group's other
        containers), so its output, restart policy and healthcheck go on. Failing that, it is running
        only if its process still is."""
        if not state.active:
            return state
        if alive(state.supervisor_pid, state.supervisor_starttime):
            return state
        with contextlib.suppress(EngineError, OSError):
            self.ensure_supervisor(self.records.spec(cid).group)  # a supervisor adopts it as it starts
            state = self.records.state(cid)
            if not state.active or alive(state.supervisor_pid, state.supervisor_starttime):
                return state
        if state.status != "restarting" and alive(state.pid, state.pid_starttime):
            return state  # the container outlived its supervisor; it is still running
        self._unpublish(cid)
        return self.records.update(
            cid, status="exited", pid=0, exit_code=state.exit_code,
            finished_at=state.finished_at or logfile.timestamp(),
            error="the supervisor died; the exit code was not recorded")

    # -- lifecycle ------------------------------------------------------------

    @contextlib.contextmanager
    def creating(self, cid: str) -> Iterator[None]:
        """Claim container ``cid`` for the block, before anything is allocated for it (addresses,
        anonymous volumes made with ``owner=cid``); ``create`` completes it.

        If the block fails, what the claim took is given back (``abandon``); if
        the process dies in it, the next ``reconcile`` does that.
        """
        self.root.ensure()
        with self.records.claim(cid):
            try:
                yield
            except BaseException:
                self.abandon(cid)
                raise

    def create(self, spec: ContainerSpec, files: Mapping[str, ContainerFile] | None = None) -> Container:
        """Record a new container (nothing runs yet). Its name must be unique.

        A container that binds host folders is recorded under the volumes lock
        too, after its sources are checked: a volume is removed under that lock
        once no record mounts it, so either the volume is gone first (and this
        fails, naming the missing source) or the record is seen (and the
        removal is refused). Lock order: names, then volumes.
        """
        for name in spec.sysctls:
            try:
                check_sysctl(name, spec)
            except ValueError as exc:
                raise RuntimeFailure(f"container {spec.name}: {exc}") from None
        binds = [m for m in spec.mounts if m.type == "bind" and m.source]
        with self.creating(spec.id), locked(self.root.lock("names")):
            for c in self.records.ids():
                with contextlib.suppress(NotFound):
                    if self.records.name(c) == spec.name:
                        raise Conflict(f'the container name "{spec.name}" is already in use by container {c[:12]}')
            with locked(self.root.lock("volumes")) if binds else contextlib.nullcontext():
                for m in binds:
                    assert m.source is not None
                    if not os.path.exists(m.source):
                        if not m.create:
                            raise RuntimeFailure(f"container {spec.name}: the mount source {m.source} does not exist")
                        os.makedirs(m.source, exist_ok=True)
                self.records.create(spec, lambda path: self._write_files(spec, path, files or {}))
        return self._load(spec.id)

    def rename(self, ref: str, name: str) -> Container:
        """Give a container a new, unique name (``up`` creates a replacement under a temporary name)."""
        c = self.get(ref)
        with locked(self.root.lock("names")):
            for other in self.records.ids():
                with contextlib.suppress(NotFound):
                    if other != c.id and self.records.name(other) == name:
                        raise Conflict(f'the container name "{name}" is already in use by container {other[:12]}')
            self.records.rename(c.id, name)
        if c.spec.endpoints:
            from ..net.networks import Networks

            Networks(self.root).rename(c.id, c.name, name)
        return self._load(c.id)

    def _write_container_files(self, spec: ContainerSpec, files: Mapping[str, ContainerFile]) -> None:
        """Secrets and configs: ``<container>/files/<name>``, owner and mode as asked, in a root-only folder."""
        wanted = {m.source for m in spec.mounts if m.type == "file"}
        missing = sorted(n for n in wanted if n and n not in files)
        if missing:
            raise RuntimeFailure(f"container {spec.name}: no content given for {', '.join(missing)}")
        if not files:
            return
        folder = os.path.join(self.records.dir(spec.id), "files")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        for name, f in files.items():
            if "/" in name or name in ("", ".", ".."):
                raise RuntimeFailure(f"container {spec.name}: invalid file name {name!r}")
            path = os.path.join(folder, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(f.data)
                while view:
                    view = view[os.write(fd, view):]
                os.fchown(fd, f.uid, f.gid)
                os.fchmod(fd, f.mode)
            finally:
                os.close(fd)

    def abandon(self, cid: str) -> None:
        """Give back what a creation that did not complete took: its addresses, the anonymous volumes
        made for it, its folder. A whole record is left alone."""
        from ..net.networks import Networks
        from ..volumes import Volumes

        if self.records.complete(cid):
            return
        Networks(self.root).release(cid)
        Volumes(self.root).remove_owned(cid)
        self.records.delete(cid)

    def reconcile(self) -> Names:
        """Bring the records in line with what a crash left: folders of creations whose process died
        and removals cut short are finished, and addresses no container holds are freed. What was
        given back, for a message."""
        from ..net.networks import Networks

        done: Names = []
        for name in self.records.leftovers():
            if name.startswith("."):  # a removal cut short, or a claim never renamed into place
                shutil.rmtree(os.path.join(self.root.containers, name), ignore_errors=True)
            else:
                self.abandon(name)
            done.append(f"container {name.split('-', 1)[1][:12] if name.startswith('.') else name[:12]}")
        return done + Networks(self.root).reconcile()  # the addresses of the folders just removed, too

    def _write_files(self, spec: ContainerSpec, path: str, files: Mapping[str, ContainerFile]) -> None:
        self._write_container_files(spec, files)
        for d in ("upper", "work", "merged"):
            os.makedirs(os.path.join(path, d), mode=0o755, exist_ok=True)
        hostname = spec.hostname or spec.id[:12]
        with open(os.path.join(path, "hostname"), "w") as fh:
            fh.write(hostname + "\n")
        hosts = DEFAULT_HOSTS + "".join(f"{addr}\t{name}\n" for name, addr in spec.hosts)
        if spec.endpoints:
            fqdn = f"{hostname}.{spec.domainname}" if spec.domainname else ""
            hosts += f"{spec.endpoints[0].address}\t{(fqdn + ' ' if fqdn else '') + hostname}\n"
        with open(os.path.join(path, "hosts"), "w") as fh:
            fh.write(hosts)
        if spec.dns or spec.dns_search or spec.dns_options or spec.endpoints:
            # on a network, names resolve through the network's DNS server on its gateway
            servers = spec.dns or ((spec.endpoints[0].gateway,) if spec.endpoints else ())
            resolv = "".join(f"nameserver {d}\n" for d in servers)
            resolv += f"search {' '.join(spec.dns_search)}\n" if spec.dns_search else ""
            resolv += f"options {' '.join(spec.dns_options)}\n" if spec.dns_options else ""
        else:
            resolv = host_resolv_conf()
        with open(os.path.join(path, "resolv.conf"), "w") as fh:
            fh.write(resolv)

    def start(self, ref: str) -> Container:
        c = self.get(ref)
        if c.stopping:  # a stop asked before (perhaps by a command that died) is under way: it ends first
            c = self.stop(c.id)
        if c.status in ("running", "restarting"):
            return c
        if c.status == "paused":
            raise Conflict(f"container {c.name} is paused: unpause it instead")
        reply = self._request(c.spec.group, {"op": "start", "id": c.id}, wait=None)
        if reply.get("ok") is not True:
            raise RuntimeFailure(f"container {c.name}: {reply.get('error')}")
        return self._load(c.id)

    def stop(self, ref: str, timeout: float | None = None) -> Container:
        c = self.get(ref)
        if c.status == "paused":
            self.unpause(c.id)
        if c.status in ("running", "restarting", "paused"):
            if self._supervised(c):
                wait = (c.spec.stop_timeout if timeout is None else timeout) + 30
                self._request(c.spec.group, {"op": "stop", "id": c.id, "timeout": timeout}, wait=wait)
            else:
                self._stop_orphan(c, timeout)
        else:  # its start may be under way: a supervisor that runs would stop it; none means nothing to stop
            with contextlib.suppress(ConnectionRefusedError, FileNotFoundError):
                self._send(c.spec.group, {"op": "stop", "id": c.id, "timeout": timeout}, 30.0)
        return self._load(c.id)

    def _supervised(self, c: Container) -> bool:
        st = self.records.state(c.id)
        return alive(st.supervisor_pid, st.supervisor_starttime)

    def _stop_orphan(self, c: Container, timeout: float | None) -> None:
        """Stop a container whose supervisor died: signal, grace, then kill its cgroup."""
        sig = signal_number(c.spec.stop_signal)
        self.records.update(c.id, stopping=True)
        with contextlib.suppress(ProcessLookupError):
            os.kill(c.pid, sig)
        deadline = time.monotonic() + (c.spec.stop_timeout if timeout is None else timeout)
        started = self.records.state(c.id).pid_starttime
        while time.monotonic() < deadline and alive(c.pid, started):
            time.sleep(0.05)
        self.cgroups.container(c.id).kill_all()
        self.records.update(c.id, status="exited", pid=0, finished_at=logfile.timestamp(), stopping=False)
        if c.spec.ports:
            from ..net.sync import apply_firewall

            self._unpublish(c.id)
            apply_firewall(self.root)

    def _unpublish(self, cid: str) -> None:
        """The container runs no more: its host ports are no longer forwarded (on the next firewall sync)."""
        from ..net.networks import Networks

        Networks(self.root).unpublish(cid)

    def kill(self, ref: str, sig: str | int = "SIGKILL") -> None:
        c = self.get(ref)
        if c.status not in ("running", "paused"):
            raise Conflict(f"container {c.name} is not running")
        signum = sig if isinstance(sig, int) else signal_number(sig)
        if self._supervised(c):
            reply = self._request(c.spec.group, {"op": "kill", "id": c.id, "signal": signum})
            if reply.get("ok") is not True:
                raise EngineError(text(reply, "error"))
        elif signum == signals.SIGKILL:
            self.cgroups.container(c.id).kill_all()
        else:
            os.kill(c.pid, signum)

    def wait(self, ref: str, timeout: float | None = None) -> int | None:
        """Block until the container stops; its exit code."""
        c = self.get(ref)
        if c.running and self._supervised(c):
            reply = self._request(c.spec.group, {"op": "wait", "id": c.id}, wait=timeout)
            return number(reply, "exit_code") if "exit_code" in reply else self._load(c.id).exit_code
        while self.get(c.id).running:
            time.sleep(0.05)
        return self._load(c.id).exit_code

    def remove(self, ref: str, *, force: bool = False) -> None:
        """Delete a stopped container (running ones only with ``force``): record, files, cgroup."""
        c = self.get(ref)
        if c.running:
            if not force:
                raise Conflict(f"cannot remove container {c.name}: it is {c.status}; stop it first or force")
            self.stop(c.id, timeout=0)
        with self.records.lock(c.id):
            self.cgroups.container(c.id).remove()
            self.records.delete(c.id)
        fault_point("remove.removed")
        if c.spec.endpoints:
            from ..net.networks import Networks

            Networks(self.root).release(c.id)

    def pause(self, ref: str) -> None:
        self._freeze(self.get(ref), True)

    def unpause(self, ref: str) -> None:
        self._freeze(self.get(ref), False)

    def _freeze(self, c: Container, on: bool) -> None:
        """Freeze or thaw the cgroup and record it, under the record's lock: no exit recorded in between
        can be overwritten by a stale "paused"."""
        before, after = ("running", "paused") if on else ("paused", "running")
        with self.records.lock(c.id):
            if self.records.state(c.id).status != before:
                raise Conflict(f"container {c.name} is not {'running' if on else 'paused'}")
            cgroup = self.cgroups.container(c.id)
            if on:
                cgroup.freeze()
            else:
                cgroup.thaw()
            self.records.update_locked(c.id, status=after)

    def logs(self, ref: str) -> Iterator[logfile.Entry]:
        c = self.get(ref)
        return logfile.read(os.path.join(self.records.dir(c.id), f"{c.id}-json.log"), c.spec.log_max_files)

    def log_path(self, ref: str) -> str:
        c = self.get(ref)
        return os.path.join(self.records.dir(c.id), f"{c.id}-json.log")

    def health(self, ref: str) -> str | None:
        """``starting``, ``healthy`` or ``unhealthy``; None when the container has no healthcheck."""
        c = self.get(ref)
        if c.spec.healthcheck is None:
            return None
        health = self.records.state(c.id).health
        return health.status if health is not None else "starting"

    def start_attached(self, ref: str, stdio: tuple[int, int, int]) -> Container:
        """Start a container without a terminal whose stdin, stdout and stderr are ``stdio`` (the caller's own,
        for ``run``): its bytes go to them exactly, nothing is logged. Returns once it runs."""
        c = self.get(ref)
        if c.spec.tty:
            raise Conflict(f"container {c.name} has a terminal: start it with start_terminal")
        reply, _, s = self._exchange(c, {"op": "start", "id": c.id, "stdio": True}, stdio)
        s.close()
        if reply.get("ok") is not True:
            raise RuntimeFailure(f"container {c.name}: {reply.get('error')}")
        return self._load(c.id)

    def start_terminal(self, ref: str, size: tuple[int, int] | None = None) -> tuple[int, socket.socket]:
        """Start a tty container and take its terminal (the pty master) before anything it writes is lost;
        logging the terminal waits until the returned connection is closed. ``size``: (rows, columns) the
        terminal has from the start."""
        c = self.get(ref)
        message: Message = {"op": "start", "id": c.id, "terminal": True}
        if size is not None:
            message["size"] = [size[0], size[1]]
        reply, fds, s = self._exchange(c, message, [])
        if reply.get("ok") is not True or not fds:
            s.close()
            for fd in fds:
                os.close(fd)
            raise RuntimeFailure(f"container {c.name}: {reply.get('error', 'no terminal')}")
        return fds[0], s

    def _exchange(self, c: Container, message: Message,
                  fds: Sequence[int]) -> tuple[Message, Sequence[int], socket.socket]:
        """One request carrying ``fds``, its reply and any descriptor in it; the connection stays open."""
        self._request(c.spec.group, {"op": "ping"})  # a supervisor runs (spawned if need be)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            connect(s, self.root, c.spec.group)
            socket.send_fds(s, [encode(message)], fds)
            data, got, _, _ = socket.recv_fds(s, 65536, 1)
            while data and not data.endswith(b"\n"):
                more = s.recv(65536)
                if not more:
                    break
                data += more
        except BaseException:
            s.close()
            raise
        if not data:
            s.close()
            raise RuntimeFailure("the supervisor closed the connection without answering")
        return decode(data.split(b"\n")[0]), tuple(got), s

    def attach(self, ref: str) -> tuple[int, socket.socket]:
        """The terminal of a running tty container (its pty master) and the connection that holds it.

        The supervisor stops logging the terminal until the connection is closed.
        """
        c = self.get(ref)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            connect(s, self.root, c.spec.group)
        except OSError:
            s.close()
            raise RuntimeFailure(f"cannot attach to {c.name}: its supervisor does not run") from None
        s.sendall(encode({"op": "attach", "id": c.id}))
        data, fds, _, _ = socket.recv_fds(s, 65536, 1)
        reply = decode(data.split(b"\n")[0] or b"{}")
        if reply.get("ok") is not True or not fds:
            s.close()
            raise RuntimeFailure(f"cannot attach to {c.name}: {reply.get('error', 'no terminal')}")
        return fds[0], s

    def ensure_supervisor(self, group: str) -> None:
        """Start the group's supervisor now (e.g. before threads start containers in parallel)."""
        self._request(group, {"op": "ping"})

    def begin_supervisor(self, group: str) -> None:
        """Start spawning the group's supervisor unless it runs, and return at once: the next requests to it
        wait until it serves (from any thread). ``up`` makes its networks and its first containers meanwhile.
        Call it while the process has no other thread (it forks)."""
        if group in self._spawning:
            return
        self.root.ensure()
        lock = contextlib.ExitStack()
        lock.enter_context(locked(run_file(self.root, group, "start.lock")))
        try:
            with contextlib.suppress(OSError):
                if self._send(group, {"op": "ping"}, 5).get("ok"):
                    lock.close()
                    return
            self._spawning[group] = (lock, begin("engine.runtime.supervisor", [self.root.path, group],
                                                 run_file(self.root, group, "log")))
        except BaseException:
            lock.close()
            raise

    def settle(self) -> None:
        """Wait for the supervisors ``begin_supervisor`` started (on a failed ``up``, before it returns)."""
        for group in list(self._spawning):
            with contextlib.suppress(EngineError):
                self._spawned(group)

    def _spawned(self, group: str) -> None:
        if group not in self._spawning:
            return
        with self._spawn_wait:
            pending = self._spawning.pop(group, None)
            if pending is not None:
                lock, spawning = pending
                with lock:
                    spawning.wait()

    # -- the supervisor -------------------------------------------------------

    def _request(self, group: str, message: Message, wait: float | None = 30.0) -> Message:
        self._spawned(group)
        for attempt in range(2):
            try:
                return self._send(group, message, wait)
            except (ConnectionRefusedError, FileNotFoundError):
                if attempt:
                    raise
                self._spawn_supervisor(group)
        raise AssertionError("unreachable")

    def _send(self, group: str, message: Message, wait: float | None) -> Message:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as s:
            connect(s, self.root, group)
            s.settimeout(wait)
            s.sendall(encode(message))
            fault_point(f"{text(message, 'op')}.sent")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        if not data:
            raise RuntimeFailure("the supervisor closed the connection without answering")
        return decode(data)

    def _spawn_supervisor(self, group: str) -> None:
        """Start the group's supervisor, detached (double fork), and wait until it listens."""
        self.root.ensure()
        with locked(run_file(self.root, group, "start.lock")):
            with contextlib.suppress(OSError):
                if self._send(group, {"op": "ping"}, 5).get("ok"):
                    return
            spawn("engine.runtime.supervisor", [self.root.path, group], run_file(self.root, group, "log"))
