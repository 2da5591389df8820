"""Parse a Dockerfile into stages of instructions; pure (text in, values out), no variable expansion yet.

What is handled here is what needs no build state: parser directives
(``# escape=``, ``# syntax=``), comments, line continuations, the keyword,
flags (``--from=...``), the JSON (exec) form, ENV/LABEL/ARG pairs, FROM's
``AS name``, and every check that can be made on the text alone, so a
malformed file fails before anything runs. Variables are expanded by the
builder, which knows the values (``words.expand``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import BuildError
from .words import split_raw

KEYWORDS = frozenset({
    "FROM", "ARG", "ENV", "LABEL", "WORKDIR", "USER", "EXPOSE", "VOLUME", "CMD", "ENTRYPOINT", "SHELL",
    "STOPSIGNAL", "HEALTHCHECK", "RUN", "COPY", "ADD", "MAINTAINER", "ONBUILD",
})
FLAGS: Mapping[str, frozenset[str]] = {
    "FROM": frozenset({"platform"}),
    "COPY": frozenset({"from", "chown", "chmod", "link"}),
    "ADD": frozenset({"chown", "chmod", "link"}),
    "RUN": frozenset({"network"}),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
}
_REFUSED_FLAGS = {
    ("RUN", "mount"): "RUN --mount is not supported (no cache, secret or ssh mounts in pycompose builds)",
    ("RUN", "security"): "RUN --security is not supported",
    ("ADD", "checksum"): "ADD --checksum is for remote sources, which pycompose cannot fetch",
    ("ADD", "keep-git-dir"): "ADD --keep-git-dir is for git sources, which pycompose cannot fetch",
    ("COPY", "parents"): "COPY --parents is not supported",
    ("COPY", "exclude"): "COPY --exclude is not supported (use .dockerignore)",
    ("ADD", "exclude"): "ADD --exclude is not supported (use .dockerignore)",
}
_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$")
_FLAG = re.compile(r"--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(?:\s+|$)")
_STAGE_NAME = re.compile(r"[a-z][a-z0-9._-]*")
_HEREDOC = re.compile(r"(?:^|\s)<<-?\s*([\"']?)[A-Za-z_][A-Za-z0-9_]*\1(?:\s|$)")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_MAX_SIZE = 8 << 20


@dataclass(frozen=True)
class Instruction:
    """One instruction. ``rest`` is the argument text after the flags, unexpanded."""

    keyword: str
    line: int
    text: str  # as written, continuations joined: for progress lines, history and cache keys
    rest: str
    flags: Mapping[str, str] = field(default_factory=dict)
    exec_form: tuple[str, ...] | None = None  # the JSON array form, when used
    pairs: tuple[tuple[str, str | None], ...] = ()  # ENV, LABEL, ARG: raw (unexpanded) names and values


@dataclass(frozen=True)
class Stage:
    """``FROM base [AS name]`` and the instructions up to the next FROM."""

    index: int
    name: str | None
    base: str  # unexpanded: may use the ARGs declared before the first FROM
    from_instruction: Instruction
    instructions: tuple[Instruction, ...]

    @property
    def label(self) -> str:
        """How progress lines name the stage: its name, or ``stage-N``."""
        return self.name or f"stage-{self.index}"


@dataclass(frozen=True)
class Dockerfile:
    name: str  # for messages: Dockerfile:7: ...
    escape: str
    meta_args: tuple[Instruction, ...]  # ARGs before the first FROM
    stages: tuple[Stage, ...]

    def stage(self, ref: str) -> Stage | None:
        """The stage a name (case-insensitive) or index refers to."""
        for stage in self.stages:
            if stage.name is not None and stage.name == ref.lower():
                return stage
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None


def parse_duration(text: str) -> float:
    """A Go duration (``30s``, ``1m30s``, ``500ms``) in seconds; ValueError if malformed."""
    if text == "0":
        return 0.0
    if not text:
        raise ValueError("empty duration")
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION.match(text, pos)
        if not m:
            raise ValueError(f'invalid duration "{text}" (e.g. 30s, 1m30s, 500ms)')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total


def json_array(rest: str) -> tuple[str, ...] | None:
    """The JSON form of an argument list, or None when ``rest`` is not a JSON array of strings."""
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def parse(text: str, name: str = "Dockerfile") -> Dockerfile:
    """Parse ``text``; BuildError ``Dockerfile:LINE: INSTRUCTION: what is wrong`` on the first problem."""
    if len(text) > _MAX_SIZE:
        raise BuildError(f"too large for a Dockerfile ({len(text)} bytes)", dockerfile=name)
    escape, instructions = _read(text.removeprefix("\ufeff"), name)
    meta: list[Instruction] = []
    stages: list[Stage] = []
    current: list[Instruction] | None = None
    for ins in instructions:
        if ins.keyword == "FROM":
            stage_name, base = _from_args(ins, name)
            if stage_name is not None and any(s.name == stage_name for s in stages):
                raise _error(ins, name, f'duplicate stage name "{stage_name}"')
            current = []
            stages.append(Stage(len(stages), stage_name, base, ins, ()))
        elif current is None:
            if ins.keyword != "ARG":
                raise _error(ins, name, "no build stage in current context: the first instruction must be "
                                        "FROM (only ARG may come before it)")
            meta.append(ins)
        else:
            current.append(ins)
            stages[-1] = Stage(stages[-1].index, stages[-1].name, stages[-1].base, stages[-1].from_instruction,
                               tuple(current))
    if not stages:
        raise BuildError("the Dockerfile has no FROM instruction" if meta else "the Dockerfile is empty",
                         dockerfile=name)
    return Dockerfile(name, escape, tuple(meta), tuple(stages))


def _read(text: str, name: str) -> tuple[str, list[Instruction]]:
    lines = [ln.removesuffix("\r") for ln in text.split("\n")]
    escape = "\\"
    directives_open = True
    out: list[Instruction] = []
    i = 0
    while i < len(lines):
        raw, lineno = lines[i], i + 1
        i += 1
        stripped = raw.strip()
        if directives_open:
            m = _DIRECTIVE.fullmatch(stripped)
            if m and m.group(1).lower() in ("escape", "syntax", "check"):
                if m.group(1).lower() == "escape":
                    if m.group(2) not in ("\\", "`"):
                        raise BuildError(f'line {lineno}: invalid escape token "{m.group(2)}" '
                                         "(\\ or ` only)", dockerfile=name)
                    escape = m.group(2)
                continue
            directives_open = False
        if not stripped or stripped.startswith("#"):
            continue
        continuation = re.compile(re.escape(escape) + r"[ \t]*$")
        line, more = _trim(raw.lstrip(), continuation)
        while more and i < len(lines):
            nxt = lines[i]
            i += 1
            if nxt.lstrip().startswith("#") or not nxt.strip():
                continue
            part, more = _trim(nxt, continuation)
            line += part
        out.append(_instruction(line.strip(), lineno, name, escape))
    return escape, out


def _trim(line: str, continuation: re.Pattern[str]) -> tuple[str, bool]:
    m = continuation.search(line)
    return (line[: m.start()], True) if m else (line, False)


def _error(ins: Instruction, name: str, message: str) -> BuildError:
    return BuildError(message, dockerfile=name, line=ins.line, instruction=ins.keyword)


def _instruction(line: str, lineno: int, name: str, escape: str) -> Instruction:
    word, rest = (line.split(None, 1) + [""])[:2]
    keyword, rest = word.upper(), rest.strip()
    bare = Instruction(keyword, lineno, line, rest)
    if keyword not in KEYWORDS:
        raise BuildError(f'unknown instruction: {word}', dockerfile=name, line=lineno)
    if keyword == "ONBUILD":
        raise _error(bare, name, "ONBUILD is not supported: pycompose does not record or run build triggers")
    flags: dict[str, str] = {}
    if keyword in FLAGS:
        while True:
            m = _FLAG.match(rest)
            if not m:
                break
            flag, value = m.group(1).lower(), m.group(2)
            if (keyword, flag) in _REFUSED_FLAGS:
                raise _error(bare, name, _REFUSED_FLAGS[(keyword, flag)])
            if flag not in FLAGS[keyword]:
                raise _error(bare, name, f'unknown flag: --{flag}')
            flags[flag] = "true" if value is None else value
            rest = rest[m.end():]
    ins = Instruction(keyword, lineno, line, rest, flags)
    try:
        return _check(ins, escape)
    except ValueError as exc:
        raise _error(ins, name, str(exc)) from None


def _check(ins: Instruction, escape: str) -> Instruction:
    """Validate ``ins`` by keyword; the instruction with its JSON form and pairs filled in."""
    k, rest = ins.keyword, ins.rest
    exec_form = json_array(rest)
    if k in ("RUN", "COPY", "ADD") and exec_form is None and _HEREDOC.search(rest):
        raise ValueError("heredocs (<<EOF) are not supported: put the script in the build context and COPY it")
    if k in ("ENV", "LABEL", "ARG"):
        return _with_pairs(ins, _pairs(k, rest, escape))
    if k == "SHELL":
        if not exec_form:
            raise ValueError('SHELL requires the arguments to be in JSON form, e.g. SHELL ["/bin/bash", "-c"]')
    elif k in ("COPY", "ADD"):
        count = len(exec_form) if exec_form is not None else len(split_raw(rest, escape))
        if count < 2:
            raise ValueError(f"{k} requires at least two arguments, but only {count} was provided: "
                             "the destination could not be determined")
        if "chmod" in ins.flags and not re.fullmatch(r"[0-7]{3,4}", ins.flags["chmod"]):
            raise ValueError(f'invalid --chmod "{ins.flags["chmod"]}": give an octal mode such as 755')
    elif k == "RUN":
        if ins.flags.get("network", "default") not in ("default", "none"):
            raise ValueError(f'RUN --network={ins.flags["network"]} is not allowed: build steps run without '
                             "network (none)")
        if not rest or exec_form == ():
            raise ValueError("RUN requires at least one argument")
    elif k == "HEALTHCHECK":
        exec_form = _healthcheck(ins)
    elif k in ("WORKDIR", "USER", "STOPSIGNAL", "EXPOSE", "VOLUME", "CMD", "ENTRYPOINT", "MAINTAINER"):
        if not rest:
            raise ValueError(f"{k} requires at least one argument")
    return Instruction(ins.keyword, ins.line, ins.text, ins.rest, ins.flags, exec_form)


def _healthcheck(ins: Instruction) -> tuple[str, ...]:
    """The healthcheck's test (Docker's ``Test`` list); durations and retries validated."""
    kind, _, cmd = ins.rest.partition(" ")
    kind, cmd = kind.upper(), cmd.strip()
    if kind == "NONE":
        if cmd or ins.flags:
            raise ValueError("HEALTHCHECK NONE takes no other arguments")
        return ("NONE",)
    if kind != "CMD":
        raise ValueError(f'unknown type "{kind}" in HEALTHCHECK (try CMD, or NONE)')
    if not cmd:
        raise ValueError("HEALTHCHECK CMD requires a command")
    for flag in ("interval", "timeout", "start-period", "start-interval"):
        if flag in ins.flags:
            seconds = parse_duration(ins.flags[flag])
            if 0 < seconds < 0.001:
                raise ValueError(f"--{flag} cannot be less than 1ms")
    if "retries" in ins.flags:
        retries = ins.flags["retries"]
        if not retries.isdigit():
            raise ValueError(f'--retries must be a number of at least 0, not "{retries}"')
    array = json_array(cmd)
    if array is not None:
        return ("CMD", *array)
    return ("CMD-SHELL", cmd)


def _with_pairs(ins: Instruction, pairs: list[tuple[str, str | None]]) -> Instruction:
    return Instruction(ins.keyword, ins.line, ins.text, ins.rest, ins.flags, None, tuple(pairs))


def _pairs(keyword: str, rest: str, escape: str) -> list[tuple[str, str | None]]:
    """``K=V K2="v 2"`` (values still quoted, expanded later), ``ENV K value`` (legacy), ``ARG K[=v]``."""
    if not rest:
        raise ValueError(f"{keyword} requires at least one argument")
    words = split_raw(rest, escape)
    if keyword == "ARG":
        out: list[tuple[str, str | None]] = []
        for word in words:
            key, eq, value = word.partition("=")
            if not key:
                raise ValueError(f'invalid ARG "{word}": a name is required')
            out.append((key, value if eq else None))
        return out
    if "=" not in words[0]:
        parts = rest.split(None, 1)
        if len(parts) < 2:
            raise ValueError(f"{keyword} names a value with no value: {keyword} {parts[0]}=VALUE")
        return [(parts[0], parts[1].strip())]
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise ValueError(f"syntax error: can't find = in \"{word}\"; must be of the form name=value")
        pairs.append((key, value))
    return pairs


def _from_args(ins: Instruction, name: str) -> tuple[str | None, str]:
    words = ins.rest.split()
    if len(words) == 1:
        return None, words[0]
    if len(words) == 3 and words[1].lower() == "as":
        stage = words[2].lower()
        if not _STAGE_NAME.fullmatch(stage):
            raise _error(ins, name, f'invalid stage name "{words[2]}": it must start with a letter and '
                                    "contain only letters, digits, '-', '_' and '.'")
        return stage, words[0]
    raise _error(ins, name, "FROM requires either one or three arguments: FROM image [AS name]")
