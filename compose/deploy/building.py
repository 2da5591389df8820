"""Builds of a project's services: in parallel where they do not use each other, with BuildKit-like progress.

``build_all`` runs the builds (a service named by another's
``additional_contexts: service:NAME`` is built first), ``BuildEvents``
shows their steps (plain: every line, with the step's output as it comes;
tty: the steps, CACHED and DONE, the output folded and shown only for a
failing step), and ``stale_warnings`` is the check ``up`` makes of images it
does not rebuild.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from ..errors import UpError
from .buildspec import BuildSpec, read_secrets
from .progress import Progress

if TYPE_CHECKING:
    from engine.builder import Event
    from engine.images.model import Image
    from engine.images.store import ImageStore
    from engine.runtime.containers import Runtime

_FOLDED = 12  # output lines kept per step in tty mode, shown if it fails
_PARALLEL = 4
_SHOWN = 3  # changed files named in a stale-image warning


class BuildEvents:
    """Renders the events of several builds at once; step numbers are unique across them."""

    def __init__(self, progress: Progress, quiet: bool = False) -> None:
        self.progress = progress
        self.quiet = quiet or progress.mode == "quiet"
        self.lock = threading.Lock()
        self.numbers: dict[tuple[str, int], int] = {}
        self.tails: dict[int, list[str]] = {}

    def sink(self, service: str) -> Callable[[Event], None]:
        return lambda event: self.show(service, event)

    def show(self, service: str, event: Event) -> None:
        from engine.builder.progress import Event as BuildEvent
        from engine.builder.progress import plain_line

        with self.lock:
            number = 0
            if event.vertex:
                number = self.numbers.setdefault((service, event.vertex), len(self.numbers) + 1)
            shown = BuildEvent(number, event.kind, event.text, event.seconds)
            if event.kind == "log":
                tail = self.tails.setdefault(number, [])
                tail.append(event.text)
                del tail[:-_FOLDED]
        if self.quiet:
            return
        if self.progress.mode == "json":
            self.progress.message(json.dumps({"id": f"Build {service}", "status": plain_line(shown)}))
        elif self.progress.mode == "tty" and event.kind == "log":
            return
        elif self.progress.mode == "tty" and event.kind == "error":
            lines = self.tails.get(number, [])
            self.progress.message("\n".join([plain_line(shown), *(f"#{number} {line}" for line in lines)]))
        else:
            self.progress.message(plain_line(shown))


def _order(specs: list[BuildSpec]) -> Mapping[str, set[str]]:
    names = {s.service for s in specs}
    return {s.service: {n for n in s.needs if n in names} for s in specs}


def build_all(images: ImageStore, rt: Runtime, progress: Progress, specs: list[BuildSpec], *,
              quiet: bool = False) -> dict[str, Image]:
    """Build every spec, up to four at a time, each after the services it uses; their images by service."""
    events = BuildEvents(progress, quiet)
    for spec in specs:
        for note in spec.notes:
            progress.message(f"WARN[0000] {note}")
    deps = _order(specs)
    built: dict[str, Image] = {}
    if len(specs) == 1:
        return {specs[0].service: build_one(images, rt, progress, specs[0], events, built)}
    waiting = list(specs)
    running: dict[Future[Image], BuildSpec] = {}
    failures: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=max(1, min(_PARALLEL, len(specs)))) as pool:
        while waiting or running:
            if not failures:
                for spec in [s for s in waiting if deps[s.service] <= set(built)]:
                    waiting.remove(spec)
                    running[pool.submit(build_one, images, rt, progress, spec, events, dict(built))] = spec
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                spec = running.pop(future)
                exc = future.exception()
                if exc is not None:
                    failures.append(exc)
                else:
                    built[spec.service] = future.result()
    if failures:
        raise failures[0]
    return built


def build_one(images: ImageStore, rt: Runtime, progress: Progress, spec: BuildSpec, events: BuildEvents,
              built: Mapping[str, Image]) -> Image:
    """One service's build, tagged as ``up`` will look for it (and with its extra ``tags``)."""
    from engine.builder import BuildOptions, build
    from engine.errors import EngineError

    contexts: dict[str, str] = {}
    for name, value in spec.contexts.items():
        if value.startswith("service:"):
            value = "docker-image://" + built[value[len("service:"):]].id
        contexts[name] = value
    options = BuildOptions(name=spec.service, network=spec.network, extra_hosts=spec.extra_hosts,
                           secrets=read_secrets(spec), contexts=contexts, shm_size=spec.shm_size,
                           ulimits=spec.ulimits, memory=spec.memory, pull=spec.pull)
    progress.event("Image", spec.image, "Building")
    try:
        image = build(images, rt, spec.context, dockerfile=spec.dockerfile,
                      dockerfile_inline=spec.dockerfile_inline, tag=spec.image, args=spec.args, target=spec.target,
                      labels=spec.labels, no_cache=spec.no_cache, events=events.sink(spec.service),
                      options=options)
        for extra in spec.tags:
            images.tag(spec.image, extra)
    except EngineError as exc:
        from engine.builder import BuildError

        output = exc.output if isinstance(exc, BuildError) else ""
        tail = "".join(f"\n  > {line}" for line in output.splitlines()[-_FOLDED:]) if output else ""
        raise UpError(f"service {spec.service}: build failed: {exc}{tail}") from None
    progress.event("Image", spec.image, "Built")
    return image


def stale_warnings(images: ImageStore, specs: Iterable[BuildSpec]) -> list[str]:
    """For each service whose image exists: a warning when its build inputs changed since it was built."""
    from engine.builder import stale
    from engine.errors import NotFound

    out: list[str] = []
    for spec in specs:
        try:
            image = images.get(spec.image)
        except NotFound:
            continue
        found = stale(images, image, spec.context, dockerfile=spec.dockerfile,
                      dockerfile_inline=spec.dockerfile_inline, args=spec.args, target=spec.target)
        if not found:
            continue
        what: list[str] = []
        if found.files:
            names = ", ".join(found.files[:_SHOWN]) + (", …" if len(found.files) > _SHOWN else "")
            what.append(f"the build context changed since the image was built ({len(found.files)} "
                        f"file{'s' if len(found.files) != 1 else ''}: {names})")
        if found.dockerfile:
            what.append("the Dockerfile changed since the image was built")
        if found.args or found.target:
            what.append("the build args or target changed since the image was built")
        out.append(f"{spec.service}: {'; '.join(what)}; run with --build")
    return out
