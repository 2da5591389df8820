"""``run`` (a one-off container for a service) and ``exec`` (a process in a running one)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config import syntax
from ..errors import UpError, UsageError
from . import support
from .converge import UpOptions, up
from .imaging import Imaging
from .steps import create_container, ensure_networks, ensure_volumes, remove_container

if TYPE_CHECKING:
    from ..config.model import Service
    from .session import Session


@dataclass(frozen=True)
class RunRequest:
    service: str
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None  # () clears the image's
    env: Mapping[str, str | None] = field(default_factory=dict)
    user: str | None = None
    workdir: str | None = None
    publish: tuple[str, ...] = ()
    service_ports: bool = False
    volumes: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    no_deps: bool = False
    detach: bool = False
    remove: bool = False
    tty: bool = False  # the caller's terminal is handed to the container
    interactive: bool = True
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    build: bool = False
    pull: str | None = None
    quiet_pull: bool = False
    quiet_build: bool = False
    use_aliases: bool = False
    remove_orphans: bool = False


def one_off_service(svc: Service, req: RunRequest) -> Service:
    """The service as ``run`` runs it: the command line's overrides, no restart policy, no ports by default."""
    changes: dict[str, object] = {}
    if req.command:
        changes["command"] = tuple(req.command)
    if req.entrypoint is not None:
        changes["entrypoint"] = req.entrypoint
    if req.cap_add:
        changes["cap_add"] = svc.cap_add + req.cap_add
    if req.cap_drop:
        changes["cap_drop"] = svc.cap_drop + req.cap_drop
    if req.env:
        changes["environment"] = {**svc.environment, **req.env}
    if req.user:
        changes["user"] = req.user
    if req.workdir:
        changes["working_dir"] = req.workdir
    try:
        if req.publish:
            changes["ports"] = tuple(p for spec in req.publish for p in syntax.parse_port(spec))
        elif not req.service_ports:
            changes["ports"] = ()
        if req.volumes:
            mounts = [syntax.parse_volume(v) for v in req.volumes]
            mounts = [dataclasses.replace(m, source=os.path.abspath(m.source))
                      if m.type == "bind" and m.source else m for m in mounts]
            changes["volumes"] = svc.volumes + tuple(mounts)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if req.labels:
        changes["labels"] = {**svc.labels, **req.labels}
    return dataclasses.replace(svc, restart=None, **changes)  # type: ignore[arg-type]


def run(session: Session, req: RunRequest) -> tuple[str, int | None]:
    """Run the one-off container: (its id, its exit code; None when detached)."""
    from engine.errors import EngineError

    project = session.project
    if req.service not in project.services:
        raise UsageError(f"no such service: {req.service}")
    one = one_off_service(project.services[req.service], req)
    support.check(dataclasses.replace(project, services={**project.services, req.service: one}), [req.service])
    deps = sorted(project.requires.get(req.service, frozenset()))
    if deps and not req.no_deps:
        up(session, UpOptions(services=tuple(deps), pull=req.pull, quiet_pull=req.quiet_pull,
                              remove_orphans=req.remove_orphans))
    imaging = Imaging(project, session.images, session.rt, session.progress, quiet_pull=req.quiet_pull)
    imaging.pull([one], req.pull)
    if one.build is not None and (req.build or not imaging.has(one)):
        imaging.build([one], quiet=req.quiet_build)
    image = imaging.get(one)
    with session.lock():
        ensure_networks(session, [one])
        ensure_volumes(session, [one])
    probe = os.urandom(6).hex()
    name = req.name or session.separator.join((project.name, req.service, "run", probe))
    cid = create_container(session, one, 1, image, name, oneoff=True, tty=req.tty, aliases=req.use_aliases)
    code: int | None = None
    if not req.detach:
        session.progress.close()  # the block is finished before the container's output has the screen
    try:
        if req.detach:
            session.rt.start(cid)
        else:
            with _signals_noted() as received:  # from before the start: a signal must not kill run alone
                code = _interact(session, cid, received) if req.tty else _attached(session, cid, req.interactive,
                                                                                   received)
    except EngineError as exc:
        raise UpError(f"service {req.service}: {exc}") from None
    finally:
        if req.remove and not req.detach:  # on every path: done, failed or interrupted
            with contextlib.suppress(EngineError):
                remove_container(session, session.rt.get(cid), 0, quiet=True, anonymous_volumes=True)
    return cid, code


@contextlib.contextmanager
def _signals_noted() -> Iterator[list[int]]:
    """The signals Docker's CLI passes on to the container it runs (INT, TERM, HUP, QUIT, USR1, USR2), noted in
    the list yielded (the handler does nothing else) instead of acting as usual: Ctrl-C is the container's to
    handle, as with ``docker compose run``."""
    import signal

    from engine.runtime.exec import FORWARDED

    received: list[int] = []
    previous = {}
    with contextlib.suppress(ValueError):  # not the main thread: they act as usual
        for signum in (*FORWARDED, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _interact(session: Session, cid: str, received: list[int]) -> int:
    """Take the container's terminal as it starts (nothing it writes is lost), relay ours to it until it
    exits (signals sent to us go to the container); its exit code."""
    from engine.runtime.exec import relay_terminal

    size = None
    with contextlib.suppress(OSError):
        terminal = os.get_terminal_size(sys.stdout.fileno())
        size = (terminal.lines, terminal.columns)
    master, hold = session.rt.start_terminal(cid, size)
    try:
        _forward(session, cid, received)
        relay_terminal(master, lambda signum: _forward(session, cid, [signum]))
    finally:
        hold.close()
    return _exit_code(session, cid, received)


def _attached(session: Session, cid: str, interactive: bool, received: list[int]) -> int:
    """Start the container on our own stdin (unless not ``interactive``), stdout and stderr: its bytes reach
    them exactly, straight from the process; its exit code."""
    stdin = sys.stdin.fileno() if interactive else os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        session.rt.start_attached(cid, (stdin, sys.stdout.fileno(), sys.stderr.fileno()))
    finally:
        if not interactive:
            os.close(stdin)
    return _exit_code(session, cid, received)


def _forward(session: Session, cid: str, signals: list[int]) -> None:
    """Pass ``signals`` (emptied) to the container."""
    from engine.errors import EngineError

    while signals:
        with contextlib.suppress(EngineError):  # it may have ended meanwhile
            session.rt.kill(cid, signals.pop(0))


def _exit_code(session: Session, cid: str, received: list[int]) -> int:
    """Wait for the container to end, passing it the signals ``received`` meanwhile; its exit code. (One wait
    request, from a thread: the main thread is where signal handlers run.) A KeyboardInterrupt (when run is
    not in charge of its signals) stops it."""
    import threading

    failed: list[BaseException] = []
    done = threading.Event()

    def wait() -> None:
        try:
            session.rt.wait(cid)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            failed.append(exc)
        finally:
            done.set()

    threading.Thread(target=wait, name=f"wait-{cid[:12]}", daemon=True).start()
    try:
        while not done.wait(0.05):
            _forward(session, cid, received)
    except KeyboardInterrupt:
        session.rt.stop(cid, 0)
        done.wait()
    if failed:
        raise failed[0]
    return int(session.rt.get(cid).exit_code or 0)


@dataclass(frozen=True)
class ExecRequest:
    service: str
    command: Sequence[str]
    index: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    workdir: str | None = None
    tty: bool = False
    interactive: bool = True  # stdin passed to the command, as Docker Compose does unless told otherwise
    privileged: bool = False
    detach: bool = False


def exec_(session: Session, req: ExecRequest) -> int:
    """Run ``req.command`` in the service's container ``req.index``; its exit code."""
    from engine.runtime.exec import ExecOptions, exec_container

    c = session.container(req.service, req.index)
    if c.status != "running":
        raise UsageError(f'service "{req.service}" is not running')
    return exec_container(session.rt, c.id, ExecOptions(
        argv=list(req.command), env=dict(req.env), user=req.user, working_dir=req.workdir, tty=req.tty,
        interactive=req.interactive, privileged=req.privileged, detach=req.detach))


def copy(session: Session, service: str, index: int, src: str, dst: str, *, into: bool, archive: bool = False,
         follow: bool = False) -> None:
    """``cp``: ``src`` (host) into the container at ``dst``, or ``src`` (container) out to ``dst``."""
    from engine.runtime.copy import copy_in, copy_out

    c = session.container(service, index)
    name = f"{service} copy {src} to {dst}"
    session.progress.event("", name, "Copying")
    if into:
        copy_in(session.rt, c.id, src, dst, archive=archive, follow=follow)
    else:
        copy_out(session.rt, c.id, src, dst, archive=archive, follow=follow)
    session.progress.event("", name, "Copied")
