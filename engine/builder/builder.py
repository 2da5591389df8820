"""``build``: a Dockerfile, a context and the local store in; a tagged image out.

Stages are built when needed (the target and what it uses through
``FROM stage`` or ``COPY --from``), each instruction in order. FROM starts
from a local image (nothing is pulled); RUN, COPY and ADD each commit an
intermediate image holding their new layer (it keeps the layer alive and is
the cache); config-only steps change the config, which the next commit
records. Temporary files live in ``<root>/build/tmp`` and go when the build
ends, whatever its outcome; RUN's containers are removed as each step ends.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ..errors import EngineError, NotFound
from ..images import refs as refnames
from ..images.commit import HistoryEntry, commit, config_json, raw_config
from ..images.model import HOST_ARCH, Image, ImageConfig
from ..images.store import ImageStore
from ..runtime.containers import Runtime
from ..runtime.spec import DEFAULT_PATH
from . import instructions
from .cache import BuildCache, key
from .copy import CopyRequest, parse_owner, write_copy_layer
from .dockerfile import Dockerfile, Instruction, Stage, parse
from .errors import BuildError, StepError
from .fsview import ContextFS, LayerView, SourceFS, resolve, split
from .instructions import StageState
from .run import RunFailed, RunRequest, command_text, run
from .words import expand, expand_words

_NONE: Mapping[str, Any] = MappingProxyType({})
_URL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|git@)")
_PROXY_ARGS = frozenset(a for p in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
                        for a in (p, p.lower()))
_PLATFORM_ARGS = {"TARGETPLATFORM": f"linux/{HOST_ARCH}", "TARGETOS": "linux", "TARGETARCH": HOST_ARCH,
                  "TARGETVARIANT": "", "BUILDPLATFORM": f"linux/{HOST_ARCH}", "BUILDOS": "linux",
                  "BUILDARCH": HOST_ARCH, "BUILDVARIANT": ""}
_DOCKERFILE_LIMIT = 8 << 20


def build(store: ImageStore, runtime: Runtime | None, context: str, *, dockerfile: str = "Dockerfile",
          dockerfile_inline: str | None = None, tag: str | None = None,
          args: Mapping[str, str | None] = _NONE, target: str | None = None,
          labels: Mapping[str, str] = _NONE, no_cache: bool = False,
          progress: Callable[[str], None] = print) -> Image:
    """Build the image ``dockerfile`` (relative to ``context``, or ``dockerfile_inline``) describes.

    ``args`` are the ``--build-arg`` values (None: use the ARG's default),
    ``target`` the stage to stop at (default: the last), ``labels`` are added
    to the final image, which gets ``tag``. BuildError names the Dockerfile,
    line and instruction that failed.
    """
    if tag:
        refnames.normalize(tag)  # a bad tag fails before any work
    if not os.path.isdir(context):
        raise BuildError(f"the build context {context} is not a directory")
    try:
        ctx = ContextFS(os.path.abspath(context))
    except StepError as exc:
        raise BuildError(str(exc)) from None
    try:
        text = _read_dockerfile(ctx, context, dockerfile, dockerfile_inline)
        parsed = parse(text, "Dockerfile" if dockerfile_inline is not None else dockerfile)
        tmp_root = store.root.sub("build", "tmp")
        os.makedirs(tmp_root, mode=0o700, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=tmp_root, prefix="build-")
        try:
            builder = _Builder(store, runtime or Runtime(store.root), parsed, ctx, dict(args), no_cache, progress, tmp)
            return builder.build(target, tag, dict(labels))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        ctx.close()


def _read_dockerfile(ctx: ContextFS, context: str, dockerfile: str, inline: str | None) -> str:
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


class _Builder:
    def __init__(self, store: ImageStore, runtime: Runtime, dockerfile: Dockerfile, ctx: ContextFS,
                 args: dict[str, str | None], no_cache: bool, progress: Callable[[str], None], tmp: str) -> None:
        self.store, self.runtime, self.df, self.ctx = store, runtime, dockerfile, ctx
        self.args, self.no_cache, self.progress, self.tmp = args, no_cache, progress, tmp
        self.cache = BuildCache(store.root, store)
        self.states: dict[int, StageState] = {}
        self.used: set[str] = set()
        self.step = 0
        self.meta = self._meta_args()

    # -- the whole build ------------------------------------------------------------

    def build(self, target: str | None, tag: str | None, labels: dict[str, str]) -> Image:
        stage = self.df.stages[-1]
        if target is not None:
            found = self.df.stage(target)
            if found is None or (found.name is None and not target.isdigit()):
                raise BuildError(f'target stage "{target}" could not be found', dockerfile=self.df.name)
            stage = found
        state = self.stage(stage)
        unused = sorted(set(self.args) - self.used - _PROXY_ARGS)
        if unused:
            self.progress(f"[warning] build arguments not used by any ARG: {', '.join(unused)}")
        image = self._finish(state, labels)
        self.step += 1
        self.progress(f"#{self.step} writing image {image.id} done")
        if tag:
            self.store.tag(image.id, tag)
            image = self.store.get(tag)
            self.progress(f"#{self.step} naming to {refnames.normalize(tag)} done")
        return image

    def _finish(self, state: StageState, labels: dict[str, str]) -> Image:
        if state.image is not None and not state.pending and not labels:
            return state.image
        if labels:
            state.config["Labels"] = {**(state.config.get("Labels") or {}), **labels}
        step_key = self._key(state, "(image)", {})
        hit = None if self.no_cache else self.cache.get(step_key)
        if hit is not None:
            return hit
        image = commit(self.store, state.image, None, ImageConfig.from_json(state.config), None,
                       [HistoryEntry(p, True) for p in state.pending], extra=_extra(state))
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
                raise self._error(ins, exc) from None
        return values

    def _arg_value(self, name: str, default: str | None, env: dict[str, str],
                   inherited: dict[str, str | None] | None) -> str | None:
        if name in self.args:
            self.used.add(name)
            if self.args[name] is not None:
                return self.args[name]
        if default is not None:
            return expand(default, env, self.df.escape)
        return inherited.get(name) if inherited is not None else None

    # -- stages -----------------------------------------------------------------------

    def stage(self, stage: Stage) -> StageState:
        """Build ``stage`` (once), after the earlier stages it names."""
        if stage.index in self.states:
            return self.states[stage.index]
        for dep in self._dependencies(stage):
            self.stage(dep)
        total = len(stage.instructions) + 1
        self._begin(stage, 1, total, stage.from_instruction)
        try:
            state = self._from(stage)
        except (StepError, EngineError) as exc:
            raise self._error(stage.from_instruction, exc) from None
        for k, ins in enumerate(stage.instructions, start=2):
            self._begin(stage, k, total, ins)
            started = time.monotonic()
            try:
                done = self._dispatch(state, ins)
            except BuildError:
                raise
            except (StepError, EngineError) as exc:
                raise self._error(ins, exc) from None
            if done:
                self.progress(f"#{self.step} DONE {time.monotonic() - started:.1f}s")
        self.states[stage.index] = state
        return state

    def _dependencies(self, stage: Stage) -> list[Stage]:
        """Earlier stages ``stage`` names in FROM or COPY --from (as far as the ARGs before FROM tell)."""
        meta = {k: v for k, v in self.meta.items() if v is not None}
        refs = [(stage.base, True)] + [(i.flags["from"], False) for i in stage.instructions if "from" in i.flags]
        out: list[Stage] = []
        for ref, is_base in refs:
            try:
                name = expand(ref, meta, self.df.escape)
            except StepError:
                continue
            dep = self.df.stage(name)
            if dep is not None and dep.index < stage.index and (dep.name == name.lower() or not is_base):
                out.append(dep)
        return out

    def _from(self, stage: Stage) -> StageState:
        meta = {k: v for k, v in self.meta.items() if v is not None}
        ref = expand(stage.base, meta, self.df.escape)
        if not ref:
            raise StepError(f'the base image name "{stage.base}" is empty once expanded')
        dep = self.df.stage(ref)
        if dep is not None and dep.name == ref.lower() and dep.index < stage.index:
            base = self.stage(dep)
            return StageState(stage, base.image, copy.deepcopy(base.config), list(base.pending))
        if ref == "scratch":
            return StageState(stage, None, {"Env": [f"PATH={DEFAULT_PATH}"]})
        image = self._local_image(ref, "base image")
        config = dict(raw_config(self.store, image).get("config") or {})
        if config.get("OnBuild"):
            raise StepError(f"the base image {ref} has ONBUILD triggers, which pycompose does not run")
        return StageState(stage, image, config)

    def _local_image(self, ref: str, what: str) -> Image:
        name = ref
        if not ref.startswith("sha256:"):
            name = refnames.normalize(ref)
        try:
            return self.store.get(ref)
        except NotFound:
            raise StepError(f"{what} {name} not found locally; import or load it first") from None

    # -- steps ------------------------------------------------------------------------

    def _dispatch(self, state: StageState, ins: Instruction) -> bool:
        """Run one instruction; True if it made a new layer (not found in the cache)."""
        if ins.keyword == "ARG":
            for name, default in ins.pairs:
                state.args[name] = self._arg_value(name, default, state.variables(), self.meta)
            return False
        if ins.keyword == "RUN":
            return self._run(state, ins)
        if ins.keyword in ("COPY", "ADD"):
            return self._copy(state, ins)
        instructions.apply(state, ins, self.df.escape)
        state.pending.append(ins.text)
        return False

    def _run(self, state: StageState, ins: Instruction) -> bool:
        argv = list(ins.exec_form) if ins.exec_form is not None else [*state.shell(), ins.rest]
        run_args = state.run_args()
        prefix = f"|{len(run_args)} " + " ".join(f"{k}={v}" for k, v in sorted(run_args.items())) + " " \
            if run_args else ""
        text = command_text(argv, ins.exec_form is not None)
        created_by = f"RUN {prefix}{text}"
        step_key = self._key(state, created_by, ins.flags)
        if self._cached(state, step_key):
            return False
        env = state.env_list() + [f"{k}={v}" for k, v in run_args.items()]
        if not any(e.startswith("PATH=") for e in env):
            env.append(f"PATH={DEFAULT_PATH}")
        request = RunRequest(
            argv=tuple(argv), env=tuple(env), working_dir=str(state.config.get("WorkingDir") or "/"),
            user=str(state.config.get("User") or ""), image_id=state.image.id if state.image else "",
            layers=tuple(self.store.layer_dirs(state.image)) if state.image else ())
        layer = os.path.join(self.tmp, f"layer-{self.step}.tar")
        number = self.step
        try:
            run(self.runtime, request, self.tmp, layer, lambda line: self.progress(f"#{number} {line}"))
        except RunFailed as exc:
            message = f"the command '{text}' returned a non-zero code: {exc.code}" if exc.started else \
                f"the command '{text}' could not be started: {exc.tail[-1]} (exit code {exc.code})"
            raise BuildError(message, dockerfile=self.df.name, line=ins.line, instruction=ins.keyword,
                             run_exit_code=exc.code, output="\n".join(exc.tail)) from None
        self._commit_layer(state, layer, created_by, step_key)
        return True

    def _copy(self, state: StageState, ins: Instruction) -> bool:
        variables = state.variables()
        esc = self.df.escape
        words = [expand(w, variables, esc) for w in ins.exec_form] if ins.exec_form is not None \
            else expand_words(ins.rest, variables, esc)
        if len(words) < 2:
            raise StepError(f"{ins.keyword} requires at least two arguments once variables are expanded")
        sources, dest = words[:-1], words[-1]
        for source in sources:
            if _URL.match(source):
                if ins.keyword == "COPY":
                    raise StepError(f'source can\'t be a URL for COPY: "{source}"')
                raise StepError(f'remote sources are not supported ("{source}"): pycompose builds have no '
                                "network access; download the file into the build context and COPY it")
        view = LayerView(self.store.layer_dirs(state.image) if state.image else [])
        owner = parse_owner(expand(ins.flags["chown"], variables, esc), view) if "chown" in ins.flags else None
        chmod = int(ins.flags["chmod"], 8) if "chmod" in ins.flags else None
        src, where, from_other = self._copy_source(state, expand(ins.flags.get("from", ""), variables, esc))
        request = CopyRequest(tuple(sources), dest, str(state.config.get("WorkingDir") or "/"), owner, chmod,
                              keep_owner=from_other, extract=ins.keyword == "ADD", where=where)
        layer = os.path.join(self.tmp, f"layer-{self.step}.tar")
        with open(layer, "wb") as out:
            write_copy_layer(out, src, view, request)
        step_key = self._key(state, ins.text, ins.flags, content=_sha256(layer))
        if self._cached(state, step_key):
            return False
        self._commit_layer(state, layer, ins.text, step_key)
        return True

    def _copy_source(self, state: StageState, ref: str) -> tuple[SourceFS, str, bool]:
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
        image = self._local_image(ref, f"--from={ref}: no stage of that name, and the image")
        return LayerView(self.store.layer_dirs(image)), f'image "{ref}"', True

    # -- helpers ---------------------------------------------------------------------

    def _key(self, state: StageState, step: str, flags: Mapping[str, str], content: str | None = None) -> str:
        config = config_json(ImageConfig.from_json(state.config), _extra(state))
        return key(parent=state.image.id if state.image else None, config=config, history=state.pending,
                   step=step, flags=dict(flags), content=content)

    def _cached(self, state: StageState, step_key: str) -> bool:
        hit = None if self.no_cache else self.cache.get(step_key)
        if hit is None:
            return False
        self.progress(f"#{self.step} CACHED")
        state.image, state.pending = hit, []
        return True

    def _commit_layer(self, state: StageState, layer: str, created_by: str, step_key: str) -> None:
        history = [HistoryEntry(p, True) for p in state.pending] + [HistoryEntry(created_by)]
        with open(layer, "rb") as fh:
            image = commit(self.store, state.image, fh, ImageConfig.from_json(state.config), None, history,
                           extra=_extra(state))
        os.unlink(layer)
        self.cache.put(step_key, image)
        state.image, state.pending = image, []

    def _begin(self, stage: Stage, k: int, total: int, ins: Instruction) -> None:
        self.step += 1
        where = f"{stage.label} {k}/{total}" if len(self.df.stages) > 1 else f"{k}/{total}"
        self.progress(f"#{self.step} [{where}] {ins.text}")

    def _error(self, ins: Instruction, exc: Exception) -> BuildError:
        return BuildError(str(exc), dockerfile=self.df.name, line=ins.line, instruction=ins.keyword)


def _extra(state: StageState) -> dict[str, Any]:
    shell = state.config.get("Shell")
    return {"Shell": list(shell)} if shell else {}


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()
