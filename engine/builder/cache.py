"""The build cache: which image a step made, keyed by everything the step's result depends on.

A key hashes the parent image ID (which covers its layers, config and
history), the config the step runs with, the history since the parent, the
step (the instruction as run, with the ARG values it sees) and, for COPY and
ADD, the digest of the layer tar they produce (so the files' content and
metadata). The value is the ID of the image the step committed: the image
itself holds the layer, so an entry is good exactly as long as its image is
in the store (``pycompose image prune`` removes intermediate images, and with
them the cache). Entries live in ``<root>/build/cache.json``, written
atomically under a lock.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from ..errors import NotFound
from ..images.model import Image
from ..images.store import ImageStore
from ..state import Root, locked, read_json, write_json

_VERSION = 1


def key(**parts: Any) -> str:
    """The cache key of a step: sha256 of its inputs as canonical JSON."""
    data = json.dumps({"v": _VERSION, **parts}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


class BuildCache:
    def __init__(self, root: Root, store: ImageStore) -> None:
        self.store = store
        self.path = root.sub("build", "cache.json")
        self._lock = os.path.join(root.locks, "build-cache.lock")
        self._data: dict[str, Any] | None = None  # read once per build; a miss reads it again

    def get(self, step_key: str) -> Image | None:
        """The image cached under ``step_key``, if it is still in the store."""
        if self._data is None or step_key not in self._data:
            self._data = read_json(self.path, {}) or {}
        image_id = self._data.get(step_key)
        if not isinstance(image_id, str):
            return None
        try:
            return self.store.get(image_id)
        except NotFound:
            self._update(step_key, None)
            return None

    def put(self, step_key: str, image: Image) -> None:
        self._update(step_key, image.id)

    def _update(self, step_key: str, image_id: str | None) -> None:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        with locked(self._lock):
            data = read_json(self.path, {}) or {}
            if image_id is None:
                data.pop(step_key, None)
            else:
                data[step_key] = image_id
            write_json(self.path, data)
            self._data = data
