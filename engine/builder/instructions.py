"""A stage being built, and the instructions that only change its config (ENV, LABEL, WORKDIR, CMD...).

The config is kept as Docker's ``config`` object (``Env``, ``Cmd``,
``Shell``...) so a base image's values carry over untouched; the builder
turns it into an ``ImageConfig`` when it commits. Each handler expands
variables where Docker does (ENV, LABEL, WORKDIR, USER, EXPOSE, VOLUME,
STOPSIGNAL), never in CMD, ENTRYPOINT, SHELL or HEALTHCHECK.
"""

from __future__ import annotations

import posixpath
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..images.model import Image
from .dockerfile import Instruction, Stage, parse_duration
from .errors import StepError
from .words import expand, expand_words

DEFAULT_SHELL = ("/bin/sh", "-c")
_PORT = re.compile(r"(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?")
_RT_SIGNAL = re.compile(r"SIGRTM(?:IN\+\d+|AX-\d+|IN|AX)")
_NS = 1_000_000_000


@dataclass
class StageState:
    """Where a stage stands: the last committed image, the config since, and its ARGs."""

    stage: Stage
    image: Image | None  # holds every layer so far; None for scratch before the first layer
    config: dict[str, Any]
    pending: list[str] = field(default_factory=list)  # history of config-only steps since ``image``
    args: dict[str, str | None] = field(default_factory=dict)  # ARGs declared in this stage
    cmd_set: bool = False

    def env_list(self) -> list[str]:
        env = self.config.get("Env") or []
        return [e for e in env if isinstance(e, str)]

    def variables(self) -> dict[str, str]:
        """What ``$NAME`` expands to: the stage's ARGs, overridden by its ENV."""
        out = {k: v for k, v in self.args.items() if v is not None}
        for item in self.env_list():
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def run_args(self) -> dict[str, str]:
        """ARG values a RUN sees as environment variables (those ENV does not set)."""
        env_keys = {e.partition("=")[0] for e in self.env_list()}
        return {k: v for k, v in self.args.items() if v is not None and k not in env_keys}

    def shell(self) -> list[str]:
        shell = self.config.get("Shell")
        return list(shell) if shell else list(DEFAULT_SHELL)

    def set_env(self, key: str, value: str) -> None:
        env = self.env_list()
        item = f"{key}={value}"
        for i, existing in enumerate(env):
            if existing.partition("=")[0] == key:
                env[i] = item
                break
        else:
            env.append(item)
        self.config["Env"] = env


def apply(state: StageState, ins: Instruction, escape: str) -> None:
    """Apply a config-only instruction to ``state``; StepError on a bad value."""
    _HANDLERS[ins.keyword](state, ins, escape)


def _env(state: StageState, ins: Instruction, escape: str) -> None:
    variables = state.variables()  # every value on the line sees the variables from before it
    for raw_key, raw_value in ins.pairs:
        key = expand(raw_key, variables, escape)
        if not key:
            raise StepError("a variable name must not be empty")
        state.set_env(key, expand(raw_value or "", variables, escape))


def _label(state: StageState, ins: Instruction, escape: str) -> None:
    variables = state.variables()
    labels = dict(state.config.get("Labels") or {})
    for raw_key, raw_value in ins.pairs:
        key = expand(raw_key, variables, escape)
        if not key:
            raise StepError("a label name must not be empty")
        labels[key] = expand(raw_value or "", variables, escape)
    state.config["Labels"] = labels


def _workdir(state: StageState, ins: Instruction, escape: str) -> None:
    path = expand(ins.rest, state.variables(), escape)
    if not path:
        raise StepError("WORKDIR needs a path")
    joined = posixpath.normpath(posixpath.join("/", state.config.get("WorkingDir") or "/", path))
    state.config["WorkingDir"] = "/" + joined.lstrip("/")


def _user(state: StageState, ins: Instruction, escape: str) -> None:
    user = expand(ins.rest, state.variables(), escape)
    if not user:
        raise StepError("USER needs a user name or id")
    state.config["User"] = user


def _expose(state: StageState, ins: Instruction, escape: str) -> None:
    ports = dict(state.config.get("ExposedPorts") or {})
    for spec in expand_words(ins.rest, state.variables(), escape):
        m = _PORT.fullmatch(spec.lower())
        low, high = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (0, -1)
        if not m or not 0 < low <= high <= 65535:
            raise StepError(f'invalid port "{spec}": give PORT[-PORT][/tcp|udp|sctp]')
        proto = m.group(3) or "tcp"
        ports.update({f"{p}/{proto}": {} for p in range(low, high + 1)})
    state.config["ExposedPorts"] = ports


def _volume(state: StageState, ins: Instruction, escape: str) -> None:
    variables = state.variables()
    if ins.exec_form is not None:
        paths = [expand(p, variables, escape) for p in ins.exec_form]
    else:
        paths = expand_words(ins.rest, variables, escape)
    if not paths or not all(paths):
        raise StepError("VOLUME needs paths, as a JSON array or separated by spaces")
    volumes = dict(state.config.get("Volumes") or {})
    volumes.update({p: {} for p in paths})
    state.config["Volumes"] = volumes


def _command(state: StageState, ins: Instruction) -> list[str]:
    return list(ins.exec_form) if ins.exec_form is not None else [*state.shell(), ins.rest]


def _cmd(state: StageState, ins: Instruction, escape: str) -> None:
    state.config["Cmd"] = _command(state, ins)
    state.cmd_set = True


def _entrypoint(state: StageState, ins: Instruction, escape: str) -> None:
    state.config["Entrypoint"] = _command(state, ins)
    if not state.cmd_set:
        state.config.pop("Cmd", None)  # an ENTRYPOINT drops the CMD inherited from the base image


def _shell(state: StageState, ins: Instruction, escape: str) -> None:
    state.config["Shell"] = list(ins.exec_form or DEFAULT_SHELL)


def _stopsignal(state: StageState, ins: Instruction, escape: str) -> None:
    value = expand(ins.rest, state.variables(), escape)
    if value.isdigit():
        if not 0 < int(value) <= 64:
            raise StepError(f'signal number out of range: "{value}"')
    else:
        name = value.upper() if value.upper().startswith("SIG") else "SIG" + value.upper()
        if not (isinstance(getattr(signal, name, None), signal.Signals) or _RT_SIGNAL.fullmatch(name)):
            raise StepError(f'unknown signal "{value}"')
    state.config["StopSignal"] = value


def _healthcheck(state: StageState, ins: Instruction, escape: str) -> None:
    test = list(ins.exec_form or ())
    if test == ["NONE"]:
        state.config["Healthcheck"] = {"Test": ["NONE"]}
        return
    health: dict[str, Any] = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                      ("start-interval", "StartInterval")):
        if flag in ins.flags:
            try:
                health[key] = round(parse_duration(ins.flags[flag]) * _NS)
            except ValueError as exc:
                raise StepError(f"--{flag}: {exc}") from None
    if "retries" in ins.flags:
        health["Retries"] = int(ins.flags["retries"])
    state.config["Healthcheck"] = health


def _maintainer(state: StageState, ins: Instruction, escape: str) -> None:
    """Deprecated; kept in the history only."""


_HANDLERS: dict[str, Callable[[StageState, Instruction, str], None]] = {
    "ENV": _env, "LABEL": _label, "WORKDIR": _workdir, "USER": _user, "EXPOSE": _expose, "VOLUME": _volume,
    "CMD": _cmd, "ENTRYPOINT": _entrypoint, "SHELL": _shell, "STOPSIGNAL": _stopsignal,
    "HEALTHCHECK": _healthcheck, "MAINTAINER": _maintainer,
}
METADATA = frozenset(_HANDLERS)
