"""The local image store: what ``pycompose image`` and the runtime call.

Writers (import, load, tag, remove, prune) hold the store's exclusive lock for
the whole operation, stage everything in a private folder, commit by renames,
and write ``index.json`` last; ``save`` holds the lock shared so no blob goes
away under it. Readers (``list``, ``get``) take no lock: the index is
replaced atomically, so they see the old state or the new one.

Nothing counts references on disk: what an image may delete is worked out
from the index each time (``_sweep``), which cannot drift out of date.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, EngineError, NotFound
from ..state import Root, locked, read_json
from . import refs as refnames
from .layout import Entry, Layout
from .model import HOST_ARCH, Descriptor, Image, parse_config

if TYPE_CHECKING:  # reading and writing archives: imported by the methods that do it, not by lookups
    from .compression import Reader, Writer
    from .staging import Staging

_HEX = re.compile(r"[0-9a-f]{1,64}")


class ImageStore:
    """Images under ``root.images`` (an OCI layout plus unpacked layers); see ``layout`` for the files."""

    def __init__(self, root: Root) -> None:
        self.root = root
        self.layout = Layout(root.images)
        self._lock_path = os.path.join(root.locks, "images.lock")

    @contextmanager
    def _writing(self) -> Iterator[dict[str, Entry]]:
        """Hold the exclusive lock; yield the index, written back if the block completes."""
        self.root.ensure()
        with locked(self._lock_path):
            self.layout.ensure()
            entries = self.layout.read_index()
            yield entries
            self.layout.write_index(entries)

    # -- adding images -------------------------------------------------------

    def import_tarball(self, source: Reader, ref: str | None, changes: Sequence[str] = ()) -> Image:
        """Make an image of one root filesystem tarball (any compression), like ``docker import``."""
        tag = refnames.normalize(ref) if ref else None
        from . import changes as changelib
        from .staging import Staging

        run_config = changelib.apply({}, changes)  # refuse bad input before reading any of the tarball
        with self._writing() as entries, Staging(self.layout) as staging:
            layer = staging.ingest_layer(staging.spool(source), None, "tarball")
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            config = {
                "architecture": HOST_ARCH, "os": "linux", "created": now, "config": run_config,
                "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
                "history": [{"created": now, "created_by": "pycompose image import"}],
            }
            config_file = staging.spool(io.BytesIO(json.dumps(config, separators=(",", ":")).encode()))
            manifest = staging.add_image(config_file, [layer])
            staging.commit()
            entry = self._add(entries, manifest, config_file.digest, [tag] if tag else [])
        return self._image(entry)

    def load(self, source: Reader) -> builtins.list[str]:
        """Load a ``docker save`` or OCI archive; the tags loaded (an image ID for an untagged image)."""
        names: builtins.list[str] = []
        from .load import read_archive
        from .staging import Staging

        with self._writing() as entries, Staging(self.layout) as staging:
            loaded = read_archive(source, staging)
            staging.commit()
            for image in loaded:
                self._add(entries, image.manifest, image.config_digest, list(image.refs))
                names.extend(image.refs or [image.config_digest])
        return names

    def lock(self) -> AbstractContextManager[None]:
        """The store's exclusive lock, for a writer that commits piece by piece (``receive``)."""
        self.root.ensure()
        self.layout.ensure()
        return locked(self._lock_path)

    def add_received(self, staging: Staging, manifest: Descriptor, config_digest: str, layers: Sequence[Descriptor],
                     diff_ids: Sequence[str], tag: str | None) -> Image:
        """Commit a pulled image's manifest and config (its layers are in already) and tag it."""
        with self._writing() as entries:
            for desc, diff_id in zip(layers, diff_ids, strict=True):
                if not os.path.exists(self.layout.blob_path(desc.digest)) or not self.layout.has_layer(diff_id):
                    raise EngineError(f"layer {desc.digest} went missing from the store during the pull")
            staging.commit()
            entry = self._add(entries, manifest, config_digest, [tag] if tag else [])
        return self._image(entry)

    def _add(self, entries: dict[str, Entry], manifest: Descriptor, config_digest: str,
             tags: builtins.list[str]) -> Entry:
        """Record an image and move ``tags`` to it; an image with the same ID keeps its own manifest."""
        same = next((e for e in entries.values() if self._config_digest(e) == config_digest), None)
        entry = same or entries.setdefault(manifest.digest, Entry(manifest))
        for tag in tags:
            for other in entries.values():
                if tag in other.refs:
                    other.refs.remove(tag)
            entry.refs.append(tag)
        return entry

    # -- reading ----------------------------------------------------------------

    def list(self) -> builtins.list[Image]:
        """Every image, newest first."""
        images = []
        for entry in self.layout.read_index().values():
            try:
                images.append(self._image(entry))
            except FileNotFoundError:
                continue  # removed while we read
        return sorted(images, key=lambda i: i.created, reverse=True)

    def get(self, ref_or_id: str) -> Image:
        """The image a tag, a full ID or a unique ID prefix names; NotFound otherwise."""
        entry, _ = self._resolve(self.layout.read_index(), ref_or_id)
        try:
            return self._image(entry)
        except FileNotFoundError:
            raise NotFound(f"No such image: {ref_or_id}") from None

    def layer_dirs(self, image: Image) -> builtins.list[str]:
        """The unpacked layers of ``image``, bottom first (overlayfs wants ``lowerdir`` top first).

        A layer found twice (two build steps that changed nothing make the
        same empty layer) is listed once, at its upper place: overlayfs
        refuses a lower folder given twice (ELOOP), and the upper copy
        already covers everything the lower one would show.
        """
        dirs = [self.layout.layer_dir(d) for d in image.diff_ids]
        return [d for i, d in enumerate(dirs) if d not in dirs[i + 1:]]

    def size(self, image: Image) -> int:
        """Bytes of file content in the image's layers, each layer counted once."""
        return sum(self.layout.layer_size(d) for d in set(image.diff_ids))

    def save(self, refs: Sequence[str], dest: Writer) -> None:
        """Write the named images as one archive ``docker load`` accepts; an ID saves without tags."""
        self.root.ensure()
        with locked(self._lock_path, shared=True):
            entries = self.layout.read_index()
            chosen: dict[str, tuple[Descriptor, Image, builtins.list[str]]] = {}
            for text in refs:
                entry, tag = self._resolve(entries, text)
                item = chosen.setdefault(entry.manifest.digest, (entry.manifest, self._image(entry), []))
                if tag and tag not in item[2]:
                    item[2].append(tag)
            from .save import write_archive

            write_archive(self.layout, list(chosen.values()), dest)

    # -- tags and removal --------------------------------------------------------

    def tag(self, src: str, dst: str) -> None:
        """Point the tag ``dst`` at the image ``src`` names (moving it from any other image)."""
        tag = refnames.normalize(dst)
        with self._writing() as entries:
            entry, _ = self._resolve(entries, src)
            self._add(entries, entry.manifest, self._config_digest(entry), [tag])

    def remove(self, ref: str, *, force: bool = False) -> builtins.list[str]:
        """Untag, and delete the image once untagged; ``Untagged: x`` / ``Deleted: sha256:...`` lines.

        Refused (Conflict) while a container uses the image, unless ``force``:
        then the tags go but the image stays, dangling, for the containers'
        sake, until ``prune`` finds it unused.
        """
        with self._writing() as entries:
            entry, tag = self._resolve(entries, ref)
            image_id = self._config_digest(entry)
            short = image_id.split(":", 1)[1][:12]
            if tag is not None and len(entry.refs) > 1:
                entry.refs.remove(tag)
                return [f"Untagged: {tag}"]
            if tag is None and len(entry.refs) > 1 and not force:
                raise Conflict(f"unable to delete {short} (must be forced): image is tagged "
                               f"{', '.join(entry.refs)}")
            users = self._users().get(image_id, [])
            if users and not force:
                raise Conflict(f'unable to remove "{ref}": image {short} is in use by container(s) '
                               f"{', '.join(sorted(users))} (remove them, or use --force to untag it anyway)")
            out = [f"Untagged: {r}" for r in entry.refs]
            entry.refs.clear()
            if not users:
                del entries[entry.manifest.digest]
                out.append(f"Deleted: {image_id}")
        if not users:
            out.extend(f"Deleted: {d}" for d in self._collect())
        return out

    def prune(self) -> builtins.list[str]:
        """Delete dangling images (untagged and unused by any container), then unreferenced files."""
        out = []
        with self._writing() as entries:
            users = self._users()
            for digest, entry in list(entries.items()):
                image_id = self._config_digest(entry)
                if not entry.refs and image_id not in users:
                    del entries[digest]
                    out.append(f"Deleted: {image_id}")
        out.extend(f"Deleted: {d}" for d in self._collect(clear_tmp=True))
        return out

    def _collect(self, *, clear_tmp: bool = False) -> builtins.list[str]:
        """Delete blobs and layers no listed image refers to; the diff ids of the layers deleted."""
        with locked(self._lock_path):
            if clear_tmp:
                self.layout.clear_tmp()
            entries = self.layout.read_index()
            pinned = self.layout.pinned()
            blobs, layers = set(pinned), set(pinned)
            for entry in entries.values():
                manifest = self.layout.read_json_blob(entry.manifest.digest)
                config = Descriptor.from_json(manifest.get("config"), entry.manifest.digest)
                blobs |= {entry.manifest.digest, config.digest}
                blobs |= {Descriptor.from_json(layer, config.digest).digest for layer in manifest["layers"]}
                layers |= set(parse_config(self.layout.read_json_blob(config.digest))[1])
            for digest in self.layout.blob_digests() - blobs:
                self.layout.remove_blob(digest)
            gone = sorted(self.layout.layer_ids() - layers)
            for diff_id in gone:
                self.layout.remove_layer(diff_id)
            return gone

    # -- helpers ---------------------------------------------------------------

    def _resolve(self, entries: dict[str, Entry], text: str) -> tuple[Entry, str | None]:
        """The entry ``text`` names, and the tag it matched (None when matched by ID)."""
        ref_error: EngineError | None = None
        if not text.startswith("sha256:"):
            try:
                tag = refnames.normalize(text)
            except EngineError as exc:
                ref_error = exc
            else:
                for entry in entries.values():
                    if tag in entry.refs:
                        return entry, tag
        prefix = text.removeprefix("sha256:")
        if _HEX.fullmatch(prefix):
            matches = [e for e in entries.values() if self._config_digest(e)[7:].startswith(prefix)]
            if len(matches) == 1:
                return matches[0], None
            if matches:
                raise EngineError(f'"{text}" is the start of {len(matches)} image IDs: give more of it')
        if ref_error is not None:
            raise ref_error
        raise NotFound(f"No such image: {text}")

    def _config_digest(self, entry: Entry) -> str:
        manifest = self.layout.read_json_blob(entry.manifest.digest)
        return Descriptor.from_json(manifest.get("config"), entry.manifest.digest).digest

    def _image(self, entry: Entry) -> Image:
        manifest: dict[str, Any] = self.layout.read_json_blob(entry.manifest.digest)
        config_desc = Descriptor.from_json(manifest.get("config"), entry.manifest.digest)
        config = self.layout.read_json_blob(config_desc.digest)
        run_config, diff_ids = parse_config(config)
        return Image(
            id=config_desc.digest, digest=entry.manifest.digest, refs=tuple(entry.refs),
            created=str(config.get("created") or ""),
            size=sum(self.layout.layer_size(d) for d in set(diff_ids)),
            config=run_config, diff_ids=diff_ids,
            layers=tuple(Descriptor.from_json(layer, config_desc.digest) for layer in manifest["layers"]),
            architecture=str(config.get("architecture") or ""), os=str(config.get("os") or ""),
        )

    def _users(self) -> dict[str, builtins.list[str]]:
        """Image ID -> names of the containers whose records (``containers/<id>/container.json``) use it."""
        out: dict[str, builtins.list[str]] = {}
        if not os.path.isdir(self.root.containers):
            return out
        for item in os.scandir(self.root.containers):
            try:
                record = read_json(os.path.join(item.path, "container.json"))
            except (ValueError, OSError):
                continue  # not a container record
            if isinstance(record, dict) and isinstance(record.get("image_id"), str):
                image_id = record["image_id"]
                image_id = image_id if image_id.startswith("sha256:") else "sha256:" + image_id
                out.setdefault(image_id, []).append(str(record.get("name") or item.name))
        return out
