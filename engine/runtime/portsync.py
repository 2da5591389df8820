"""Published ports, recorded on their network and made DNAT rules, off the supervisor's loop.

While a container with published ports runs, its ports are recorded on its
first non-internal network (``Networks.publish``); when it stops they are
dropped (``Networks.unpublish``); after either the firewall is rebuilt from
the records (``apply_firewall``, which runs ``nft``). That can take a while,
so it runs in a forked child whose end the loop sees through a pidfd.

One child at a time. Changes that arrive meanwhile are kept, the latest per
container, and applied together by the next child, so a burst of starts and
stops costs two rebuilds, not one each. Whoever needs a change in force (a
start reply: its ports forward when ``start`` returns) passes ``done``, called
once a child that included the change has finished.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import EngineError
from ..state import Root
from .loop import Callback, Loop, guard
from .spec import ContainerSpec, PortSpec


@dataclass(frozen=True)
class Publication:
    """The ports a running container publishes, on the network that carries them."""

    network: str
    ports: tuple[PortSpec, ...]


def publication(spec: ContainerSpec) -> Publication | None:
    """What ``spec`` publishes while it runs: on its first non-internal network (internal ones publish nothing)."""
    way_in = next((e for e in spec.endpoints if not e.internal), None)
    return Publication(way_in.network, spec.ports) if way_in is not None and spec.ports else None


Changes = dict[str, "Publication | None"]  # container -> what it publishes now (None: nothing)
Work = Callable[[Root, Changes], None]


def record_and_apply(root: Root, changes: Changes) -> None:
    """Record each container's published ports (or their end), then rebuild the firewall once."""
    from ..net.networks import Networks, Published
    from ..net.sync import apply_firewall

    networks = Networks(root)
    try:
        for cid, pub in changes.items():
            if pub is None:
                networks.unpublish(cid)
            else:
                networks.publish(pub.network, cid, [
                    Published(host_ip=p.host_ip or "", host_port=p.host_port, container_port=p.container_port,
                              protocol=p.protocol) for p in pub.ports])
        apply_firewall(root)
    except EngineError as exc:
        print(f"firewall update failed: {exc}", file=sys.stderr, flush=True)


@dataclass(eq=False)
class _Job:
    pid: int
    pidfd: int
    done: list[Callback]


class PortSync:
    def __init__(self, loop: Loop, root: Root, work: Work = record_and_apply) -> None:
        self.loop = loop
        self.root = root
        self.work = work
        self._changes: Changes = {}
        self._waiting: list[Callback] = []
        self._job: _Job | None = None
        self.runs = 0  # children started, for tests and the log

    @property
    def busy(self) -> bool:
        return self._job is not None or bool(self._changes) or bool(self._waiting)

    def change(self, cid: str, pub: Publication | None, done: Callback | None = None) -> None:
        """Record ``cid`` publishing ``pub`` (None: nothing any more) and rebuild the firewall, soon."""
        self._changes[cid] = pub
        if done is not None:
            self._waiting.append(done)
        if self._job is None:
            self._start()

    def _start(self) -> None:
        changes, done = self._changes, self._waiting
        self._changes, self._waiting = {}, []
        try:
            pid = os.fork()
        except OSError as exc:
            print(f"firewall update failed: cannot fork: {exc}", file=sys.stderr, flush=True)
            for callback in done:
                callback()
            return
        if pid == 0:  # pragma: no cover - runs in the forked child
            code = 1
            try:
                self.loop.forget_in_child()
                os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # none of the loop's fds: clients see EOF
                self.work(self.root, changes)
                code = 0
            except BaseException:  # noqa: BLE001 - logged; the supervisor goes on
                traceback.print_exc(file=sys.stderr)
            finally:
                sys.stderr.flush()
                os._exit(code)
        self.runs += 1
        job = _Job(pid=pid, pidfd=os.pidfd_open(pid), done=done)
        self._job = job
        self.loop.watch(job.pidfd, lambda: self._finished(job))

    def _finished(self, job: _Job) -> None:
        try:
            pid, status = os.waitpid(job.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = job.pid, 0
        if not pid:
            return
        self.loop.unwatch(job.pidfd)
        os.close(job.pidfd)
        self._job = None
        if status:
            print(f"firewall update ended with status {status:#x}", file=sys.stderr, flush=True)
        for callback in job.done:
            guard(callback)
        if self._changes or self._waiting:
            self._start()
