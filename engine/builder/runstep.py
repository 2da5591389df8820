"""RUN: the command, its environment, network and mounts, the cache key, and the run itself.

The history line is Docker's (``RUN |2 A=1 B=2 /bin/sh -c ...``: the ARGs the
step sees), without the predefined proxy ARGs unless the Dockerfile declares
them; proxies reach the command's environment all the same. A heredoc that
is the whole command is the script (run by its ``#!`` interpreter, or by the
shell); heredocs inside a command line are handed to the shell with it.
"""

from __future__ import annotations

import os
import tempfile
import time

from ..runtime.spec import DEFAULT_PATH, MountSpec
from .base import PROXY_ARGS, BuilderBase
from .dockerfile import Instruction
from .errors import BuildError, StepError
from .fsview import SourceFS
from .heredoc import only_heredoc, shell_script
from .instructions import StageState
from .mountopts import MountOption, parse_mount
from .mounts import MountSet
from .progress import Event
from .run import RunFailed, RunRequest, command_text, host_resolver, run
from .words import expand

_SCRIPTS = "/dev/pipes"


class RunSteps(BuilderBase):
    def run_step(self, state: StageState, ins: Instruction, vertex: int) -> bool:
        """Run one RUN instruction; True if it ran (False: the cache had it)."""
        esc = self.df.escape
        variables = state.variables()
        workdir = str(state.config.get("WorkingDir") or "/")
        network = self._network(expand(ins.flags.get("network", "default"), variables, esc))
        options: list[MountOption] = []
        for value in ins.values("mount"):
            try:
                options.append(parse_mount(expand(value, variables, esc), workdir))
            except ValueError as exc:
                raise StepError(str(exc)) from None
        argv, text, script = self._argv(state, ins)
        run_args = state.run_args()
        env_keys = {e.partition("=")[0] for e in state.env_list()}
        proxies = {k: v for k, v in self.args.items() if k in PROXY_ARGS and v is not None
                   and k not in env_keys and k not in run_args}
        with self.mutex:
            self.used.update(proxies)
        prefix = f"|{len(run_args)} " + " ".join(f"{k}={v}" for k, v in sorted(run_args.items())) + " " \
            if run_args else ""
        created_by = f"RUN {prefix}{text}"
        with MountSet(self.store.root, self.tmp, lambda ref: self._mount_source(state, ref),
                      self.opts.secrets, self.hasher) as mounts:
            prepared = mounts.plan(options)
            step_key = self.key(state, created_by, {"network": network, "mounts": prepared.key})
            if self.cached(state, step_key, vertex):
                return False
            mounts.materialize(options)
            env = state.env_list() + [f"{k}={v}" for k, v in run_args.items()] + \
                [f"{k}={v}" for k, v in proxies.items()] + prepared.env
            if not any(e.startswith("PATH=") for e in env):
                env.append(f"PATH={DEFAULT_PATH}")
            specs = list(prepared.specs)
            if script is not None:
                specs.append(script)
            dns: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] = ((), (), ())
            if network == "host":
                dns = host_resolver()
            request = RunRequest(
                argv=tuple(argv), env=tuple(env), working_dir=workdir, user=str(state.config.get("User") or ""),
                image_id=state.image.id if state.image else "",
                layers=tuple(self.store.layer_dirs(state.image)) if state.image else (),
                network=network, mounts=tuple(specs), stubs=tuple(prepared.stubs), hosts=self.opts.extra_hosts,
                dns=dns[0], dns_search=dns[1], dns_options=dns[2], shm_size=self.opts.shm_size,
                ulimits=self.opts.ulimits, memory=self.opts.memory)
            layer = os.path.join(self.tmp, f"layer-{vertex}.tar")
            started = time.monotonic()
            try:
                run(self.runtime, request, self.tmp, layer,
                    lambda line: self.emit(Event(vertex, "log", line, time.monotonic() - started)), self.defer)
            except RunFailed as exc:
                shown = text if len(text) < 200 and "\n" not in text else ins.title
                message = f"the command '{shown}' returned a non-zero code: {exc.code}" if exc.started else \
                    f"the command '{shown}' could not be started: {exc.tail[-1]} (exit code {exc.code})"
                self.emit(Event(vertex, "error", message, time.monotonic() - started))
                raise BuildError(message, dockerfile=self.df.name, line=ins.line, instruction=ins.keyword,
                                 run_exit_code=exc.code, output="\n".join(exc.tail)) from None
        self.commit_layer(state, layer, created_by, step_key)
        return True

    def _network(self, flag: str) -> str:
        """The namespace a step runs in: ``host`` (our ``default``, as BuildKit's) or ``none``."""
        chosen = flag if flag != "default" else self.opts.network
        if chosen not in ("default", "host", "none"):
            raise StepError(f'RUN --network={chosen}: the network must be default, none or host')
        return "none" if chosen == "none" else "host"

    def _argv(self, state: StageState, ins: Instruction) -> tuple[list[str], str, MountSpec | None]:
        """The command, its text for history and messages, and the mount of a ``#!`` heredoc script."""
        if ins.exec_form is not None:
            return list(ins.exec_form), command_text(ins.exec_form, True), None
        shell = state.shell()
        docs = ins.heredocs
        if not docs:
            return [*shell, ins.rest], command_text([*shell, ins.rest], False), None
        if only_heredoc(ins.rest, docs):
            body = docs[0].body
            if body.startswith("#!"):
                folder = tempfile.mkdtemp(dir=self.tmp, prefix="script-")
                path = os.path.join(folder, docs[0].name)
                with open(path, "w") as fh:
                    fh.write(body)
                os.chmod(folder, 0o755)
                os.chmod(path, 0o755)
                target = f"{_SCRIPTS}/{docs[0].name}"
                return [target], f"{target} <<{docs[0].name}\n{body}{docs[0].name}", \
                    MountSpec(type="bind", target=target, source=path, read_only=True)
            return [*shell, body], command_text([*shell, body], False), None
        script = shell_script(ins.rest, docs)
        return [*shell, script], command_text([*shell, script], False), None

    def _mount_source(self, state: StageState, ref: str) -> tuple[SourceFS, bool]:
        src, _, keep = self.copy_source(state, ref)
        return src, keep
