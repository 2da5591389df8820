"""Fetching an image's layers: three downloads at a time, each unpacked as soon as it is in.

Layers the store has (blob and unpacked layer) are not fetched again. The
others are downloaded by a pool of three threads, as Docker does, each into
its own staging file, hashed as it comes; a finished download goes to a
second pool (one thread per core) that unpacks and commits it while the next
downloads run. Our layers are unpacked side by side, not on top of each
other, so they can be unpacked in any order.

Within one process, a layer that another pull (another service's image) is
already fetching is waited for rather than fetched twice. The first failure
stops the other transfers and is raised; layers already committed stay in
the store for the next try (they are unreferenced until an image names
them, so ``prune`` may sweep them).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from ..errors import EngineError
from .client import Client
from .distribution import Progress, Transfer
from .model import Descriptor
from .receive import Receiver
from .staging import Staging

DOWNLOADS = 3
EXTRACTORS = max(1, min(4, os.cpu_count() or 1))
_REPORT_STEP = 1 << 19  # report progress every 512 KiB

_inflight: dict[tuple[str, str], threading.Event] = {}
_inflight_lock = threading.Lock()


class Cancelled(EngineError):
    """Another layer of the same pull failed."""


def fetch_layers(receiver: Receiver, client: Client, layers: Sequence[tuple[Descriptor, str]], where: str,
                 say: Progress) -> None:
    """Bring every (descriptor, diff id) of ``layers`` into the store, reporting Docker's layer statuses."""
    unique = list({d.digest: (d, diff) for d, diff in layers}.values())
    present = receiver.present(unique)
    todo = []
    for desc, diff_id in unique:
        if desc.digest in present:
            say(Transfer(desc.hex[:12], "Already exists"))
        else:
            todo.append((desc, diff_id))
    for desc, _ in todo:
        say(Transfer(desc.hex[:12], "Pulling fs layer"))
    for desc, _ in todo[DOWNLOADS:]:
        say(Transfer(desc.hex[:12], "Waiting"))
    if not todo:
        return
    job = _Job(receiver, client, where, say)
    with ThreadPoolExecutor(DOWNLOADS, thread_name_prefix="pull") as downloads, \
            ThreadPoolExecutor(EXTRACTORS, thread_name_prefix="unpack") as job.unpackers:
        futures = [downloads.submit(job.layer, desc, diff_id) for desc, diff_id in todo]
        for future in futures:
            future.add_done_callback(job.note)
        for future in futures:
            future.exception()  # every download done (or failed); their unpacks were queued meanwhile
    if job.error is not None:
        raise job.error


class _Job:
    def __init__(self, receiver: Receiver, client: Client, where: str, say: Progress) -> None:
        self.receiver = receiver
        self.client = client
        self.where = where
        self.say = say
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.unpackers: ThreadPoolExecutor
        self.unpacks: list[Future[None]] = []
        self._lock = threading.Lock()

    def note(self, future: Future[None]) -> None:
        exc = future.exception()
        if exc is not None:
            with self._lock:
                if self.error is None or isinstance(self.error, Cancelled):
                    self.error = exc
            self.stop.set()

    def layer(self, desc: Descriptor, diff_id: str) -> None:
        """Download one layer (or wait for this process's other download of it), then hand it to unpack."""
        key = (self.receiver.layout.path, desc.digest)
        while True:
            self._check()
            with _inflight_lock:
                other = _inflight.get(key)
                if other is None:
                    mine = _inflight[key] = threading.Event()
            if other is None:
                break
            self.say(Transfer(desc.hex[:12], "Waiting"))  # for another service's download of the same layer
            other.wait()
            if desc.digest in self.receiver.present([(desc, diff_id)]):
                self.say(Transfer(desc.hex[:12], "Already exists"))
                return
        try:
            staging = self.receiver.stage()
            try:
                path = staging.new_path()
                self._download(desc, path)
                unpack = self.unpackers.submit(self._unpack, staging, path, desc, diff_id)
            except BaseException:
                staging.__exit__(None, None, None)
                raise
        except BaseException:
            self._release(key, mine)
            raise
        with self._lock:
            self.unpacks.append(unpack)
        unpack.add_done_callback(self.note)
        unpack.add_done_callback(lambda _f: self._release(key, mine))

    def _release(self, key: tuple[str, str], event: threading.Event) -> None:
        with _inflight_lock:
            if _inflight.get(key) is event:
                del _inflight[key]
        event.set()

    def _unpack(self, staging: Staging, path: str, desc: Descriptor, diff_id: str) -> None:
        short = desc.hex[:12]
        last = [-_REPORT_STEP]

        def extracting(count: int) -> None:
            self._check()
            if count - last[0] >= _REPORT_STEP or count == desc.size:
                last[0] = count
                self.say(Transfer(short, "Extracting", min(count, desc.size), desc.size))

        self.receiver.add_layer(staging, path, desc, diff_id, f"{self.where} layer {desc.digest}", extracting)
        self.say(Transfer(short, "Pull complete"))

    def _download(self, desc: Descriptor, path: str) -> None:
        short = desc.hex[:12]
        last = [-_REPORT_STEP]

        def on_bytes(count: int) -> None:
            self._check()
            if count - last[0] >= _REPORT_STEP or count == desc.size:
                last[0] = count
                self.say(Transfer(short, "Downloading", min(count, desc.size), desc.size))

        with open(path, "wb") as out:
            self.client.fetch_blob(desc, out, f"{self.where} layer", on_bytes)
            self.say(Transfer(short, "Verifying Checksum"))
            out.flush()
            os.fsync(out.fileno())
        self.say(Transfer(short, "Download complete"))

    def _check(self) -> None:
        if self.stop.is_set():
            raise Cancelled("cancelled: another layer failed")
