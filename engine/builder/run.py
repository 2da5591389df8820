"""RUN: the command in a throwaway container of pycompose's runtime; its changes become a layer tar.

The container's root is the image's layers plus a small "init" layer on
top holding the mount points the runtime needs (``/proc``, ``/sys``,
``/dev``, ``/etc/hosts``, ``/etc/hostname``, ``/etc/resolv.conf``), with the
image's own ownership and modes, so that the upper directory holds the
command's changes and nothing of the runtime's (Docker's init layer does
the same). The container runs without network, its output goes to
``progress`` as it comes, and it is removed whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import NotFound, RuntimeFailure
from ..runtime.containers import Runtime, new_id
from ..runtime.limits import Limits
from ..runtime.spec import ContainerSpec, MountSpec
from .errors import StepError
from .fsview import LayerView, resolve, split
from .layertar import LayerWriter, write_upper

_INIT_DIRS = ("proc", "sys", "dev")
_INIT_FILES = ("etc/hosts", "etc/hostname", "etc/resolv.conf")
_TAIL = 20


@dataclass(frozen=True)
class RunRequest:
    argv: tuple[str, ...]
    env: tuple[str, ...]
    working_dir: str
    user: str
    image_id: str
    layers: tuple[str, ...]  # the image's unpacked layers, bottom first
    network: str = "none"  # none | host
    mounts: tuple[MountSpec, ...] = ()
    stubs: tuple[tuple[str, bool], ...] = ()  # mount points to make: (path, is a directory)
    hosts: tuple[tuple[str, str], ...] = ()  # extra /etc/hosts entries
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    shm_size: int | None = None
    ulimits: tuple[tuple[str, int, int], ...] = ()
    memory: int | None = None


def make_init_layer(view: LayerView, dest: str, stubs: Sequence[tuple[str, bool]] = ()) -> None:
    """Fill ``dest`` with the runtime's mount points, their parents copying the image's attributes."""
    made: list[tuple[str, os.stat_result | None]] = []
    wanted = [(p, p in _INIT_DIRS) for p in (*_INIT_DIRS, *_INIT_FILES)] + [(p.lstrip("/"), d) for p, d in stubs]
    for path, is_dir in wanted:
        parts = resolve(view, split(path))
        if not parts:
            continue  # a symlink to the root: nothing to add
        for i in range(1, len(parts) + 1):
            sub, host = parts[:i], os.path.join(dest, *parts[:i])
            if os.path.lexists(host):
                continue
            st = view.lstat(sub)
            if i < len(parts) or is_dir:
                os.mkdir(host, 0o755)
                if st is not None and stat.S_ISDIR(st.st_mode):
                    os.chown(host, st.st_uid, st.st_gid)
                    os.chmod(host, stat.S_IMODE(st.st_mode))
                    made.append((host, st))
            else:
                os.close(os.open(host, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    for host, st in sorted(made, key=lambda m: -m[0].count("/")):
        if st is not None:
            os.utime(host, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def run(runtime: Runtime, request: RunRequest, tmpdir: str, layer_path: str,
        output: Callable[[str], None], defer: Callable[[Callable[[], None]], None] | None = None) -> None:
    """Run the command; on success write its layer tar to ``layer_path``; StepError on failure.

    The container and its init layer are removed before this returns, or, after a success, by ``defer``
    (the builder removes them in the background while the next step starts).
    """
    init = tempfile.mkdtemp(dir=tmpdir, prefix="init-")
    os.chmod(init, 0o755)
    cid = new_id()
    spec = ContainerSpec(
        id=cid, name=f"pycompose-build-{cid[:12]}", image_id=request.image_id,
        layers=(*request.layers, init), argv=request.argv, env=request.env,
        working_dir=request.working_dir or "/", user=request.user or None, group="build",
        network=request.network, labels={"io.pycompose.build": "step"}, log_max_size=1 << 40, log_max_files=1,
        mounts=request.mounts, hosts=request.hosts, dns=request.dns, dns_search=request.dns_search,
        dns_options=request.dns_options, shm_size=request.shm_size,
        ulimits={name: (soft, hard) for name, soft, hard in request.ulimits},
        limits=Limits(memory=request.memory), hostname="buildkitsandbox",
    )
    created = False

    def clean() -> None:
        if created:
            with contextlib.suppress(NotFound):
                runtime.remove(cid, force=True)
        shutil.rmtree(init, ignore_errors=True)

    try:
        make_init_layer(LayerView(request.layers), init, request.stubs)
        runtime.create(spec)
        created = True
        tail = _run_and_stream(runtime, cid, output)
        code = runtime.wait(cid)
        if code != 0:
            raise RunFailed(code, tail, started=True)
        upper = os.path.join(runtime.records.dir(cid), "upper")
        with open(layer_path, "wb") as out, LayerWriter(out) as writer:
            write_upper(upper, writer)
    except BaseException:
        clean()
        raise
    if defer is not None:
        defer(clean)
    else:
        clean()


class RunFailed(StepError):
    """The command ran and exited non-zero (``started``), or could not be started at all."""

    def __init__(self, code: int | None, tail: Sequence[str], *, started: bool) -> None:
        super().__init__(f"the command returned a non-zero code: {code}")
        self.code = code
        self.tail = list(tail)
        self.started = started


def command_text(argv: Sequence[str], exec_form: bool) -> str:
    return json.dumps(list(argv)) if exec_form else " ".join(argv)


def host_resolver(path: str = "/etc/resolv.conf") -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The host's name servers, search domains and options: a step in the host's network uses them as
    they are (a loopback resolver such as 127.0.0.53 is reachable there)."""
    servers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return (), (), ()
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            servers.append(words[1])
        elif words and words[0] in ("search", "domain"):
            search = words[1:]
        elif words and words[0] == "options":
            options += words[1:]
    return tuple(servers), tuple(search), tuple(options)


def _run_and_stream(runtime: Runtime, cid: str, output: Callable[[str], None]) -> list[str]:
    """Start the container and pass its output lines on until it exits; the last lines."""
    tail: list[str] = []

    def emit(text: str) -> None:
        for line in text.rstrip("\n").split("\n"):
            output(line)
            tail.append(line)
            del tail[:-_TAIL]

    try:
        runtime.start(cid)
    except RuntimeFailure as exc:
        container = runtime.get(cid)
        message = str(exc).removeprefix(f"container {container.name}: ")
        raise RunFailed(container.exit_code, [message], started=False) from None
    path = runtime.log_path(cid)
    reader = _LogTail(path)
    pause = 0.002  # short steps are common: look often at first, then every 50 ms
    while runtime.get(cid).running:
        reader.drain(emit)
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    reader.drain(emit)
    return tail


class _LogTail:
    """Reads the json-file log as it grows, one complete line at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def drain(self, emit: Callable[[str], None]) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for raw in lines:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("log"), str):
                emit(record["log"])

