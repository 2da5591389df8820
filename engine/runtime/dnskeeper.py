"""netd, kept running by the supervisor: a container with endpoints that starts (or restarts) needs its
network's DNS, and netd may have died since the network was made.

Starting netd waits for it to serve, so it runs in a forked child whose end
the loop collects through a pidfd; the loop itself only looks whether netd
runs (a record and a ``/proc`` read).
"""

from __future__ import annotations

import os
import sys
import traceback

from ..net import netd
from ..state import Root
from .loop import Loop, reap


class DnsKeeper:
    def __init__(self, loop: Loop, root: Root) -> None:
        self.loop = loop
        self.root = root
        self.starting: int | None = None  # the child starting netd

    @property
    def busy(self) -> bool:
        return self.starting is not None

    def ensure(self) -> None:
        """Start netd, off the loop, unless it runs or is being started."""
        if self.starting is not None or netd.running(self.root):
            return
        try:
            pid = os.fork()
        except OSError as exc:
            print(f"cannot start netd: {exc}", file=sys.stderr, flush=True)
            return
        if pid == 0:  # pragma: no cover - runs in the forked child
            code = 1
            try:
                self.loop.forget_in_child()
                os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # none of the loop's fds
                netd.ensure(self.root)
                code = 0
            except BaseException:  # noqa: BLE001 - logged; the supervisor goes on
                traceback.print_exc(file=sys.stderr)
            finally:
                sys.stderr.flush()
                os._exit(code)
        self.starting = pid
        reap(self.loop, pid, os.pidfd_open(pid), lambda: setattr(self, "starting", None))
