"""What every step of a build shares: the options, the cache, progress, committing, and where sources come from.

``BuildOptions`` are the settings beyond the Dockerfile (compose's ``build:``
keys); ``BuilderBase`` holds one build's state and the helpers the RUN and
COPY/ADD steps (``runstep``, ``copystep``) and the stage scheduler
(``builder``) use. Stages may build in parallel threads, so the step counter
and the shared sets are changed under ``self.mutex``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import EngineError, NotFound
from ..images import refs as refnames
from ..images.commit import HistoryEntry, commit, config_json
from ..images.model import HOST_ARCH, Image, ImageConfig
from ..images.store import ImageStore
from ..runtime.containers import Runtime
from .cache import BuildCache, key
from .digest import Hasher
from .dockerfile import Dockerfile, Instruction, Stage
from .errors import BuildError, StepError
from .fsview import ContextFS, LayerView, SourceFS
from .instructions import StageState
from .progress import Event, Sink

HOST_PLATFORM = f"linux/{HOST_ARCH}"
PROXY_ARGS = frozenset(a for p in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
                       for a in (p, p.lower()))
IMAGE_CONTEXT = "docker-image://"


@dataclass(frozen=True)
class BuildOptions:
    """A build's settings besides the Dockerfile, its context, args, target and labels."""

    name: str = ""  # the service: progress lines read [web 3/7]
    network: str = "default"  # RUN's network: default (the host's, as BuildKit), host or none
    extra_hosts: tuple[tuple[str, str], ...] = ()  # (name, address) for /etc/hosts in RUN steps
    secrets: Mapping[str, bytes] = field(default_factory=dict)  # id -> content, for --mount=type=secret
    contexts: Mapping[str, str] = field(default_factory=dict)  # name -> folder, or docker-image://REF|ID
    shm_size: int | None = None
    ulimits: tuple[tuple[str, int, int], ...] = ()
    memory: int | None = None
    pull: bool = False  # pull base images even when they are here


def is_platform_of_host(value: str) -> bool:
    parts = value.lower().split("/")
    return parts[:2] == ["linux", HOST_ARCH] and len(parts) <= 3 and (len(parts) < 3 or parts[2] in ("", "v1"))


class BuilderBase:
    store: ImageStore
    runtime: Runtime
    df: Dockerfile
    ctx: ContextFS
    args: dict[str, str | None]
    no_cache: bool
    tmp: str
    opts: BuildOptions
    cache: BuildCache
    hasher: Hasher
    emit: Sink
    states: dict[int, StageState]
    used: set[str]
    mutex: threading.Lock
    cancelled: threading.Event
    named: dict[str, ContextFS]
    step: int
    janitor: ThreadPoolExecutor
    cleanups: list[Future[None]]

    # -- progress -------------------------------------------------------------------

    def begin(self, stage: Stage, position: str, ins: Instruction) -> int:
        """A new step: its number, and its ``[web builder 3/7] RUN ...`` line."""
        if self.cancelled.is_set():
            raise BuildError("canceled: another stage failed", dockerfile=self.df.name)
        with self.mutex:
            self.step += 1
            vertex = self.step
        where = " ".join(p for p in (self.opts.name, stage.label if len(self.df.stages) > 1 else "") if p)
        self.emit(Event(vertex, "step", f"[{where + ' ' if where else ''}{position}] {ins.title}"))
        return vertex

    def defer(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` (a finished step's container removal) in the background; ``close`` waits for it."""
        with self.mutex:
            self.cleanups.append(self.janitor.submit(cleanup))

    def note(self, text: str) -> None:
        self.emit(Event(0, "note", text))

    def error(self, ins: Instruction, exc: Exception) -> BuildError:
        return BuildError(str(exc), dockerfile=self.df.name, line=ins.line, instruction=ins.keyword)

    # -- cache and commits ----------------------------------------------------------

    def key(self, state: StageState, step: str, flags: Mapping[str, Any], content: str | None = None) -> str:
        config = config_json(ImageConfig.from_json(state.config), extra(state))
        return key(parent=state.image.id if state.image else None, config=config, history=state.pending,
                   step=step, flags=dict(flags), content=content)

    def cached(self, state: StageState, step_key: str, vertex: int) -> bool:
        hit = None if self.no_cache else self.cache.get(step_key)
        if hit is None:
            return False
        self.emit(Event(vertex, "cached"))
        state.image, state.pending = hit, []
        return True

    def commit_layer(self, state: StageState, layer: str, created_by: str, step_key: str) -> None:
        history = [HistoryEntry(p, True) for p in state.pending] + [HistoryEntry(created_by)]
        with open(layer, "rb") as fh:
            image = commit(self.store, state.image, fh, ImageConfig.from_json(state.config), None, history,
                           extra=extra(state))
        os.unlink(layer)
        self.cache.put(step_key, image)
        state.image, state.pending = image, []

    def done(self, vertex: int, started: float) -> None:
        self.emit(Event(vertex, "done", seconds=time.monotonic() - started))

    # -- where things come from ----------------------------------------------------

    def local_image(self, ref: str, what: str, *, pull: bool = False) -> Image:
        """The image ``ref`` names: from the store, or pulled (always with ``pull``, else when missing and
        the reference names a registry)."""
        name = ref if ref.startswith("sha256:") else refnames.normalize(ref)
        if not pull:
            try:
                return self.store.get(ref)
            except NotFound:
                pass
        if _names_registry(ref):
            from ..images import registry

            try:
                return registry.pull(self.store, ref)
            except EngineError as exc:
                raise StepError(f"{what} {name}: pulling it failed: {exc}") from None
        try:
            return self.store.get(ref)
        except NotFound:
            raise StepError(f"{what} {name} not found locally; import or load it first") from None

    def context_image(self, name: str) -> Image | None:
        """The image a named context of the ``docker-image://`` kind gives (None: not such a context)."""
        value = self.opts.contexts.get(name)
        if value is None or not value.startswith(IMAGE_CONTEXT):
            return None
        return self.local_image(value[len(IMAGE_CONTEXT):], f'the context "{name}": image')

    def copy_source(self, state: StageState, ref: str) -> tuple[SourceFS, str, bool]:
        """What ``--from=ref`` reads: (the tree, how messages name it, whether files keep their owners)."""
        if not ref:
            return self.ctx, "the build context", False
        dep = self.df.stage(ref)
        if dep is not None:
            if dep.index >= state.stage.index:
                raise StepError(f'--from={ref} names this stage or a later one: only earlier stages can be '
                                "copied from")
            other = self.stage(dep)
            layers = self.store.layer_dirs(other.image) if other.image else []
            return LayerView(layers), f'stage "{dep.label}"', True
        if ref in self.opts.contexts:
            image = self.context_image(ref)
            if image is not None:
                return LayerView(self.store.layer_dirs(image)), f'context "{ref}"', True
            return self.named_context(ref), f'context "{ref}"', False
        image = self.local_image(ref, f"--from={ref}: no stage of that name, and the image")
        return LayerView(self.store.layer_dirs(image)), f'image "{ref}"', True

    def named_context(self, name: str) -> ContextFS:
        with self.mutex:
            if name not in self.named:
                path = self.opts.contexts[name]
                if not os.path.isdir(path):
                    raise StepError(f'the context "{name}" ({path}) is not a folder')
                self.named[name] = ContextFS(path)
            return self.named[name]

    def stage(self, stage: Stage) -> StageState:  # the scheduler's (builder.py)
        raise NotImplementedError


def _names_registry(ref: str) -> bool:
    """Whether a reference starts with a registry host (``127.0.0.1:5000/app``, ``localhost/app``)."""
    first, slash, _ = ref.partition("/")
    return bool(slash) and not ref.startswith("sha256:") and (first == "localhost" or any(c in first for c in ".:"))


def extra(state: StageState) -> dict[str, Any]:
    """Config keys ``ImageConfig`` does not model, carried by the build: ``Shell``, ``OnBuild``."""
    out: dict[str, Any] = {}
    if state.config.get("Shell"):
        out["Shell"] = list(state.config["Shell"])
    if state.config.get("OnBuild"):
        out["OnBuild"] = list(state.config["OnBuild"])
    return out
