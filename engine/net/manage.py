"""Networks as commands change them: the records, then the firewall and the DNS daemon that follow them.

``networks.Networks`` keeps the records and bridges and nothing else; this
layer above it brings the root's nftables table and its netd in line after
every change, so the records never start daemons themselves.
"""

from __future__ import annotations

import os
import sys
import traceback

from ..errors import EngineError
from ..state import Root
from . import netd
from .networks import Network, Networks


class NetworkManager(Networks):
    """``Networks`` whose changes reach the firewall and DNS at once."""

    def __init__(self, root: Root) -> None:
        super().__init__(root)
        self.deferred = False  # ``create`` leaves the firewall and netd to ``sync_in_background``
        self._unsynced = False
        self._syncing: tuple[int, int] | None = None  # the child syncing, the pipe it reports on


    def create(self, name: str, *, subnet: str | None = None, gateway: str | None = None,
               ip_range: str | None = None, internal: bool = False,
               labels: dict[str, str] | None = None) -> tuple[Network, bool]:
        net, made = super().create(name, subnet=subnet, gateway=gateway, ip_range=ip_range, internal=internal,
                                   labels=labels)
        if made and self.deferred:
            self._unsynced = True
        elif made:
            self.sync()
        return net, made

    def remove(self, name: str) -> None:
        super().remove(name)
        self.sync()

    def revive(self) -> None:
        """Start netd if a network exists and it is not running (it died, or the machine restarted)."""
        if not netd.running(self.root) and self.list():
            netd.ensure(self.root)

    def sync(self) -> None:
        """Bring the firewall and the DNS daemon in line with the records."""
        from .sync import apply_firewall  # only when a network changes

        apply_firewall(self.root)
        if self.list():
            netd.ensure(self.root)

    def sync_in_background(self) -> None:
        """After deferred creations: bring the firewall and netd in line in a forked child (call this while
        the process has no other thread), so that containers start meanwhile; ``wait_sync`` joins it."""
        if not self._unsynced or self._syncing is not None:
            return
        self._unsynced = False
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked child
            code = 1
            try:
                # none of the caller's descriptors: its locks (the project's, a supervisor's start lock)
                # are released when the caller lets go of them, not when this child ends
                os.closerange(3, write_fd)
                os.closerange(write_fd + 1, os.sysconf("SC_OPEN_MAX"))
                self.sync()
                code = 0
            except EngineError as exc:
                os.write(write_fd, str(exc).encode())
            except BaseException:  # noqa: BLE001 - reported to the parent
                os.write(write_fd, traceback.format_exc().encode())
            finally:
                sys.stderr.flush()
                os._exit(code)
        os.close(write_fd)
        self._syncing = (pid, read_fd)

    def wait_sync(self) -> None:
        """Until the background sync ended; EngineError with its message if it failed."""
        if self._syncing is None:
            return
        pid, read_fd = self._syncing
        self._syncing = None
        chunks = []
        try:
            while chunk := os.read(read_fd, 65536):
                chunks.append(chunk)
        finally:
            os.close(read_fd)
            _, status = os.waitpid(pid, 0)
        if status:
            raise EngineError(b"".join(chunks).decode(errors="replace") or "the firewall and DNS update failed")
