"""Push an image to its registry: the blobs it lacks, then the manifest.

For each layer (three at a time) and the config: a blob the repository has
already (``HEAD``) is skipped; one that another repository of the same
registry holds (from ``sources.json``: where it was pulled from or pushed to)
is mounted from there with ``POST /blobs/uploads/?mount=...&from=...``; the
rest is uploaded in one ``PUT``. Pushes go to the registry itself, never to a
mirror.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import IO
from urllib.parse import urlencode, urljoin

from ..errors import EngineError, NotFound
from .client import Client
from .distribution import Progress, Transfer, no_progress, parse_json, parse_remote, registry_error
from .model import MANIFEST_MEDIA_TYPE, Descriptor
from .receive import blob_sources, note_sources
from .registry import Context
from .store import ImageStore

UPLOADS = 3
_REPORT_STEP = 1 << 19


def push(store: ImageStore, ref: str, *, context: Context | None = None, progress: Progress | None = None) -> str:
    """Upload the image tagged ``ref``; its manifest digest."""
    ctx = context or Context.from_env()
    say = progress or no_progress
    remote = parse_remote(ref)
    if remote.digest or not remote.tag:
        raise EngineError(f"{ref}: push needs a tag, not a digest")
    image = store.get(remote.local_tag or ref)
    try:
        with open(store.layout.blob_path(image.digest), "rb") as fh:
            manifest = fh.read()
    except FileNotFoundError:
        raise NotFound(f"No such image: {ref} (removed while pushing)") from None
    body = parse_json(manifest, f"manifest {image.digest}")
    config = Descriptor.from_json(body.get("config"), f"manifest {image.digest}")
    endpoint = ctx.conf.endpoints(ctx.conf.candidates(remote)[0])[-1]
    blobs = [*{d.digest: d for d in image.layers}.values(), config]
    here = f"{endpoint.host}/"
    mounts = {d.digest: next((s[len(here):] for s in blob_sources(store, d.digest)
                              if s.startswith(here) and s != here + endpoint.repository), "") for d in blobs}
    sources = tuple(sorted({f"repository:{m}:pull" for m in mounts.values() if m}))
    client = ctx.client(endpoint, "pull,push", sources)
    client.ping()
    stop = threading.Event()

    def one(desc: Descriptor) -> EngineError | None:
        if stop.is_set():
            return None  # another blob failed: no new uploads
        try:
            _push_blob(store, client, desc, mounts[desc.digest], say)
        except EngineError as exc:
            stop.set()
            return exc
        return None

    for desc in blobs:
        say(Transfer(desc.hex[:12], "Preparing"))
    with ThreadPoolExecutor(UPLOADS, thread_name_prefix="push") as pool:
        errors = [e for e in pool.map(one, blobs) if e is not None]
    if errors:
        raise errors[0]
    mtype = str(body.get("mediaType") or MANIFEST_MEDIA_TYPE)
    with client.request("PUT", client.url("manifests", remote.reference), {"Content-Type": mtype}, manifest,
                        what=f"push of manifest {remote}") as resp:
        if resp.status not in (200, 201):
            raise registry_error(resp.status, resp.reason, resp.read(1 << 16), f"push of manifest {remote}")
    note_sources(store, f"{endpoint.host}/{endpoint.repository}", [d.digest for d in blobs])
    say(Transfer("", f"{remote.tag}: digest: {image.digest} size: {len(manifest)}"))
    return image.digest


def _push_blob(store: ImageStore, client: Client, desc: Descriptor, mount_from: str, say: Progress) -> None:
    short = desc.hex[:12]
    what = f"upload of {desc.digest}"
    with client.request("HEAD", client.url("blobs", desc.digest), what=what) as resp:
        if resp.status == 200:
            say(Transfer(short, "Layer already exists"))
            return
    query = {"mount": desc.digest, "from": mount_from} if mount_from else {}
    start = client.url("blobs", "uploads/") + (f"?{urlencode(query)}" if query else "")
    with client.request("POST", start, {"Content-Length": "0"}, b"", what=what) as resp:
        if resp.status == 201 and mount_from:
            say(Transfer(short, f"Mounted from {mount_from}"))
            return
        if resp.status != 202 or not resp.header("Location"):
            raise registry_error(resp.status, resp.reason, resp.read(1 << 16), what)
        location = urljoin(start, resp.header("Location"))
    location += ("&" if "?" in location else "?") + urlencode({"digest": desc.digest})
    try:
        fh = open(store.layout.blob_path(desc.digest), "rb")
    except FileNotFoundError:
        raise NotFound(f"blob {desc.digest} is missing from the local store (image removed while pushing?)") from None
    with fh:
        body = _Reporting(fh, lambda n: say(Transfer(short, "Pushing", n, desc.size)), desc.size)
        with client.request("PUT", location, {"Content-Type": "application/octet-stream",
                                              "Content-Length": str(desc.size)}, body, what=what) as resp:
            if resp.status not in (201, 204):
                raise registry_error(resp.status, resp.reason, resp.read(1 << 16), what)
    say(Transfer(short, "Pushed"))


class _Reporting:
    """A file being uploaded, telling how far the upload is (and rewound when a request is retried)."""

    def __init__(self, fh: IO[bytes], report: Callable[[int], None], size: int) -> None:
        self._fh = fh
        self._report = report
        self._size = size
        self._sent = 0
        self._last = -_REPORT_STEP

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self._sent += len(data)
        if data and (self._sent - self._last >= _REPORT_STEP or self._sent == self._size):
            self._last = self._sent
            self._report(self._sent)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        self._sent = offset
        return self._fh.seek(offset, whence)

