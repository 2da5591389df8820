"""``build``: a Dockerfile, a context and the local store in; a tagged image out.

Only the stages the target needs are built (through ``FROM stage``,
``COPY --from`` and ``RUN --mount=from=``), each after the stages it names;
stages that do not depend on each other are built in parallel threads.
FROM starts from a local image (pulled when missing and the reference names
a registry, or always with ``pull``), runs the image's ONBUILD triggers,
and each instruction follows in order. RUN, COPY and ADD each commit an
intermediate image holding their new layer (it keeps the layer alive and is
the cache); config-only steps change the config, which the next commit
records. Temporary files live in ``<root>/build/tmp`` and go when the build
ends, whatever its outcome; RUN's containers are removed as each step ends.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import MappingProxyType

from ..errors import EngineError
from ..images import refs as refnames
from ..images.commit import HistoryEntry, commit, raw_config
from ..images.model import HOST_ARCH, Image, ImageConfig
from ..images.store import ImageStore
from ..runtime.containers import Runtime
from ..runtime.spec import DEFAULT_PATH
from . import inputs, instructions
from .base import HOST_PLATFORM, PROXY_ARGS, BuildOptions, extra, is_platform_of_host
from .cache import BuildCache
from .copystep import CopySteps
from .digest import Hasher
from .dockerfile import Dockerfile, Instruction, Stage, parse, parse_trigger
from .errors import BuildError, StepError
from .fsview import ContextFS, resolve, split
from .instructions import StageState
from .progress import Event, Sink, lines_to
from .runstep import RunSteps
from .words import expand

_NONE: Mapping[str, str | None] = MappingProxyType({})
_LABELS: Mapping[str, str] = MappingProxyType({})
_PLATFORM_ARGS = {"TARGETPLATFORM": HOST_PLATFORM, "TARGETOS": "linux", "TARGETARCH": HOST_ARCH,
                  "TARGETVARIANT": "", "BUILDPLATFORM": HOST_PLATFORM, "BUILDOS": "linux",
                  "BUILDARCH": HOST_ARCH, "BUILDVARIANT": ""}
_DOCKERFILE_LIMIT = 8 << 20
_STEPS = frozenset({"RUN", "COPY", "ADD", "WORKDIR"})  # what BuildKit counts and shows, after FROM
_PARALLEL = 4


def build(store: ImageStore, runtime: Runtime | None, context: str, *, dockerfile: str = "Dockerfile",
          dockerfile_inline: str | None = None, tag: str | None = None,
          args: Mapping[str, str | None] = _NONE, target: str | None = None,
          labels: Mapping[str, str] = _LABELS, no_cache: bool = False,
          progress: Callable[[str], None] = print, events: Sink | None = None,
          options: BuildOptions | None = None) -> Image:
    """Build the image ``dockerfile`` (relative to ``context``, or ``dockerfile_inline``) describes.

    ``args`` are the ``--build-arg`` values (None: use the ARG's default),
    ``target`` the stage to stop at (default: the last), ``labels`` are added
    to the final image, which gets ``tag``. Progress goes to ``events`` when
    given, else as BuildKit's plain lines to ``progress``. BuildError names
    the Dockerfile, line and instruction that failed.
    """
    if tag:
        refnames.normalize(tag)  # a bad tag fails before any work
    if "://" in context or context.startswith("git@"):
        raise BuildError(f"the build context {context} is a URL: pycompose builds from a local folder only "
                         "(clone or download it first)")
    if not os.path.isdir(context):
        raise BuildError(f"the build context {context} is not a directory")
    try:
        ctx = ContextFS(os.path.abspath(context))
    except StepError as exc:
        raise BuildError(str(exc)) from None
    hasher = Hasher(store.root)
    try:
        text = read_dockerfile(ctx, context, dockerfile, dockerfile_inline)
        parsed = parse(text, "Dockerfile" if dockerfile_inline is not None else dockerfile)
        tmp_root = store.root.sub("build", "tmp")
        os.makedirs(tmp_root, mode=0o700, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=tmp_root, prefix="build-")
        builder = _Builder(store, runtime or Runtime(store.root), parsed, ctx, dict(args), no_cache,
                           events or lines_to(progress), tmp, options or BuildOptions(), hasher)
        try:
            image = builder.build(target, tag, dict(labels))
        finally:
            builder.close()
            shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(OSError):
            inputs.record(store.root, image.id, ctx.path, text, args, target, hasher)
        return image
    finally:
        ctx.close()
        hasher.save()


def stale(store: ImageStore, image: Image, context: str, *, dockerfile: str = "Dockerfile",
          dockerfile_inline: str | None = None, args: Mapping[str, str | None] = _NONE,
          target: str | None = None) -> inputs.Stale | None:
    """How the build inputs differ from those ``image`` was built from (None: unknown, or unreadable)."""
    if not os.path.isdir(context):
        return None
    try:
        ctx = ContextFS(os.path.abspath(context))
    except StepError:
        return None
    try:
        text = read_dockerfile(ctx, context, dockerfile, dockerfile_inline)
    except BuildError:
        return None
    finally:
        ctx.close()
    return inputs.changes(store.root, image.id, os.path.abspath(context), text, args, target,
                          Hasher(store.root))


def read_dockerfile(ctx: ContextFS, context: str, dockerfile: str, inline: str | None) -> str:
    """The Dockerfile's text; a relative path inside the context is read without leaving it."""
    if inline is not None:
        return inline
    rel = os.path.normpath(dockerfile)
    if os.path.isabs(dockerfile) or rel == ".." or rel.startswith("../"):
        path = dockerfile if os.path.isabs(dockerfile) else os.path.join(context, dockerfile)
        try:
            with open(path, "rb") as fh:
                data: bytes | None = fh.read(_DOCKERFILE_LIMIT + 1)
        except OSError as exc:
            raise BuildError(f"cannot read the Dockerfile {dockerfile}: {exc.strerror}") from None
    else:
        try:
            data = ctx.read_file(resolve(ctx, split(rel)), _DOCKERFILE_LIMIT)
        except StepError as exc:
            raise BuildError(f"cannot read the Dockerfile {dockerfile}: {exc}") from None
        if data is None:
            raise BuildError(f"cannot read the Dockerfile {dockerfile}: no such file in the build context")
    if data is None or len(data) > _DOCKERFILE_LIMIT:
        raise BuildError(f"the Dockerfile {dockerfile} is too large")
    return data.decode("utf-8", "replace")


class _Builder(RunSteps, CopySteps):
    def __init__(self, store: ImageStore, runtime: Runtime, dockerfile: Dockerfile, ctx: ContextFS,
                 args: dict[str, str | None], no_cache: bool, emit: Sink, tmp: str, opts: BuildOptions,
                 hasher: Hasher) -> None:
        self.store, self.runtime, self.df, self.ctx = store, runtime, dockerfile, ctx
        self.args, self.no_cache, self.emit, self.tmp, self.opts = args, no_cache, emit, tmp, opts
        self.hasher = hasher
        self.cache = BuildCache(store.root, store)
        self.states = {}
        self.used = set()
        self.step = 0
        self.mutex = threading.Lock()
        self.cancelled = threading.Event()
        self.named = {}
        self._stage_locks = {s.index: threading.Lock() for s in dockerfile.stages}
        self.janitor = ThreadPoolExecutor(max_workers=1)
        self.cleanups = []
        self.meta = self._meta_args()

    def close(self) -> None:
        """Wait for the background removals of the steps' containers, then close the named contexts."""
        self.janitor.shutdown(wait=True)
        for future in self.cleanups:
            future.result()
        for fs in self.named.values():
            fs.close()

    # -- the whole build ------------------------------------------------------------

    def build(self, target: str | None, tag: str | None, labels: dict[str, str]) -> Image:
        if self.df.syntax:
            self.note(f"[note] # syntax={self.df.syntax}: read by pycompose's own Dockerfile frontend, "
                      "nothing is fetched")
        stage = self.df.stages[-1]
        if target is not None:
            found = self.df.stage(target)
            if found is None or (found.name is None and not target.isdigit()):
                raise BuildError(f'target stage "{target}" could not be found', dockerfile=self.df.name)
            stage = found
        self._schedule(self._needed(stage))
        state = self.states[stage.index]
        unused = sorted(set(self.args) - self.used - PROXY_ARGS)
        if unused:
            self.note(f"[warning] build arguments not used by any ARG: {', '.join(unused)}")
        image = self._finish(state, labels)
        with self.mutex:
            self.step += 1
        self.emit(Event(self.step, "note", f"writing image {image.id} done"))
        if tag:
            if refnames.normalize(tag) not in image.refs:
                self.store.tag(image.id, tag)
                image = self.store.get(tag)
            self.emit(Event(self.step, "note", f"naming to {refnames.normalize(tag)} done"))
        return image

    def _finish(self, state: StageState, labels: dict[str, str]) -> Image:
        if state.image is not None and not state.pending and not labels:
            return state.image
        if labels:
            state.config["Labels"] = {**(state.config.get("Labels") or {}), **labels}
        step_key = self.key(state, "(image)", {})
        hit = None if self.no_cache else self.cache.get(step_key)
        if hit is not None:
            return hit
        image = commit(self.store, state.image, None, ImageConfig.from_json(state.config), None,
                       [HistoryEntry(p, True) for p in state.pending], extra=extra(state))
        self.cache.put(step_key, image)
        return image

    def _meta_args(self) -> dict[str, str | None]:
        values: dict[str, str | None] = dict(_PLATFORM_ARGS)
        for ins in self.df.meta_args:
            try:
                for name, default in ins.pairs:
                    env = {k: v for k, v in values.items() if v is not None}
                    values[name] = self._arg_value(name, default, env, None)
            except StepError as exc:
                raise self.error(ins, exc) from None
        return values

    def _arg_value(self, name: str, default: str | None, env: dict[str, str],
                   inherited: dict[str, str | None] | None) -> str | None:
        if name in self.args:
            with self.mutex:
                self.used.add(name)
            if self.args[name] is not None:
                return self.args[name]
        if default is not None:
            return expand(default, env, self.df.escape)
        return inherited.get(name) if inherited is not None else None

    # -- scheduling ---------------------------------------------------------------------

    def _needed(self, stage: Stage) -> list[Stage]:
        """``stage`` and the stages it needs, each after its own dependencies."""
        order: list[Stage] = []
        seen: set[int] = set()

        def visit(s: Stage) -> None:
            if s.index in seen:
                return
            seen.add(s.index)
            for dep in self._dependencies(s):
                visit(dep)
            order.append(s)

        visit(stage)
        return order

    def _schedule(self, stages: list[Stage]) -> None:
        """Build ``stages``, each once all its dependencies are built, up to four at a time."""
        if len(stages) == 1:
            self.stage(stages[0])
            return
        # The build group's supervisor is started by the first step that runs a container, from whichever
        # thread gets there first (the runtime serializes the start under a file lock; the child of the
        # fork only execs), so a fully cached build starts none.
        deps = {s.index: {d.index for d in self._dependencies(s)} for s in stages}
        done: set[int] = set()
        running: dict[Future[StageState], Stage] = {}
        waiting = list(stages)
        failure: BaseException | None = None
        with ThreadPoolExecutor(max_workers=min(_PARALLEL, len(stages))) as pool:
            while waiting or running:
                for s in [s for s in waiting if deps[s.index] <= done] if failure is None else []:
                    waiting.remove(s)
                    running[pool.submit(self.stage, s)] = s
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    s = running.pop(future)
                    exc = future.exception()
                    if exc is not None:
                        if failure is None or isinstance(failure, BuildError) and "canceled" in str(failure):
                            failure = exc
                        self.cancelled.set()
                    else:
                        done.add(s.index)
        if failure is not None:
            raise failure

    def _dependencies(self, stage: Stage) -> list[Stage]:
        """Earlier stages ``stage`` names in FROM, COPY --from or RUN --mount from= (as the global ARGs tell)."""
        meta = {k: v for k, v in self.meta.items() if v is not None}
        refs = [(stage.base, True)] + [(i.flags["from"], False) for i in stage.instructions if "from" in i.flags]
        for ins in stage.instructions:
            for value in ins.values("mount"):
                refs += [(f[5:], False) for f in value.split(",") if f.startswith("from=")]
        out: list[Stage] = []
        for ref, is_base in refs:
            try:
                name = expand(ref, meta, self.df.escape)
            except StepError:
                continue
            dep = self.df.stage(name)
            if dep is not None and dep.index < stage.index and (dep.name == name.lower() or not is_base) \
                    and dep not in out:
                out.append(dep)
        return out

    # -- stages -----------------------------------------------------------------------

    def stage(self, stage: Stage) -> StageState:
        """Build ``stage`` once (a second caller waits for the first)."""
        with self._stage_locks[stage.index]:
            if stage.index not in self.states:
                self.states[stage.index] = self._build_stage(stage)
            return self.states[stage.index]

    def _build_stage(self, stage: Stage) -> StageState:
        steps = [i for i in stage.instructions if i.keyword in _STEPS]
        total = len(steps) + 1
        vertex = self.begin(stage, f"1/{total}", stage.from_instruction)
        try:
            state, triggers = self._from(stage)
        except (StepError, EngineError) as exc:
            raise self.error(stage.from_instruction, exc) from None
        for trigger in triggers:
            self._step(state, trigger, self.begin(stage, "ONBUILD", trigger), stage.from_instruction.line)
        k = 1
        for ins in stage.instructions:
            if ins.keyword in _STEPS:
                k += 1
                vertex = self.begin(stage, f"{k}/{total}", ins)
            self._step(state, ins, vertex if ins.keyword in _STEPS else 0, ins.line)
        return state

    def _step(self, state: StageState, ins: Instruction, vertex: int, line: int) -> None:
        started = time.monotonic()
        try:
            if self._dispatch(state, ins, vertex):
                self.done(vertex, started)
        except BuildError:
            raise
        except (StepError, EngineError) as exc:
            if vertex:
                self.emit(Event(vertex, "error", str(exc), time.monotonic() - started))
            raise BuildError(str(exc), dockerfile=self.df.name, line=line, instruction=ins.keyword) from None

    def _from(self, stage: Stage) -> tuple[StageState, list[Instruction]]:
        meta = {k: v for k, v in self.meta.items() if v is not None}
        platform = stage.from_instruction.flags.get("platform")
        if platform is not None:
            wanted = expand(platform, meta, self.df.escape)
            if not is_platform_of_host(wanted):
                raise StepError(f"--platform={wanted}: pycompose builds for this host's platform only "
                                f"({HOST_PLATFORM})")
        ref = expand(stage.base, meta, self.df.escape)
        if not ref:
            raise StepError(f'the base image name "{stage.base}" is empty once expanded')
        dep = self.df.stage(ref)
        if dep is not None and dep.name == ref.lower() and dep.index < stage.index:
            base = self.stage(dep)
            return StageState(stage, base.image, copy.deepcopy(base.config), list(base.pending)), []
        if ref in self.opts.contexts:
            image = self.context_image(ref)
            if image is None:
                raise StepError(f'FROM {ref}: the context "{ref}" is a folder; FROM takes an image '
                                "(a stage, an image, or a context of an image or service)")
        elif ref == "scratch":
            return StageState(stage, None, {"Env": [f"PATH={DEFAULT_PATH}"]}), []
        else:
            image = self.local_image(ref, "base image", pull=self.opts.pull)
        config = dict(raw_config(self.store, image).get("config") or {})
        triggers = [parse_trigger(t, self.df.name, self.df.escape) for t in config.pop("OnBuild", None) or []
                    if isinstance(t, str)]
        return StageState(stage, image, config), triggers

    # -- steps ------------------------------------------------------------------------

    def _dispatch(self, state: StageState, ins: Instruction, vertex: int) -> bool:
        """Run one instruction; True if it made a new layer (not found in the cache)."""
        if ins.keyword == "ARG":
            for name, default in ins.pairs:
                state.args[name] = self._arg_value(name, default, state.variables(), self.meta)
            return False
        if ins.keyword == "RUN":
            return self.run_step(state, ins, vertex)
        if ins.keyword in ("COPY", "ADD"):
            return self.copy_step(state, ins, vertex)
        if ins.keyword == "ONBUILD":
            assert ins.trigger is not None
            state.config["OnBuild"] = [*(state.config.get("OnBuild") or []), ins.trigger.text]
        else:
            instructions.apply(state, ins, self.df.escape)
        state.pending.append(ins.text)
        return False
