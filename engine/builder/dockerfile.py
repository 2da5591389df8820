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
from .heredoc import Heredoc, read_bodies
from .mountopts import parse_mount
from .words import split_raw

KEYWORDS = frozenset({
    "FROM", "ARG", "ENV", "LABEL", "WORKDIR", "USER", "EXPOSE", "VOLUME", "CMD", "ENTRYPOINT", "SHELL",
    "STOPSIGNAL", "HEALTHCHECK", "RUN", "COPY", "ADD", "MAINTAINER", "ONBUILD",
})
FLAGS: Mapping[str, frozenset[str]] = {
    "FROM": frozenset({"platform"}),
    "COPY": frozenset({"from", "chown", "chmod", "link", "parents", "exclude"}),
    "ADD": frozenset({"chown", "chmod", "link", "checksum", "exclude"}),
    "RUN": frozenset({"network", "mount", "security"}),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
}
REPEATABLE = frozenset({"mount", "exclude"})
HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
_REFUSED_FLAGS = {
    ("ADD", "keep-git-dir"): "ADD --keep-git-dir is for git sources, which pycompose does not fetch",
}
_ONBUILD_REFUSED = {"ONBUILD": "ONBUILD ONBUILD is not allowed", "FROM": "ONBUILD FROM is not allowed",
                    "MAINTAINER": "ONBUILD MAINTAINER is not allowed"}
_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$")
_FLAG = re.compile(r"--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(?:\s+|$)")
_STAGE_NAME = re.compile(r"[a-z][a-z0-9._-]*")
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
    flag_list: tuple[tuple[str, str], ...] = ()  # every flag in order (--mount and --exclude repeat)
    heredocs: tuple[Heredoc, ...] = ()  # RUN, COPY, ADD: the bodies of their <<EOF markers
    trigger: Instruction | None = None  # ONBUILD: the instruction it records

    def values(self, flag: str) -> list[str]:
        """Every value given to a flag that may repeat (``--mount``, ``--exclude``)."""
        return [v for k, v in self.flag_list if k == flag]

    @property
    def title(self) -> str:
        """The first line of the instruction as written (progress lines show no heredoc bodies)."""
        return self.text.split("\n", 1)[0]


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
    syntax: str = ""  # the ``# syntax=`` directive: noted, never fetched (this parser is the frontend)

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
    escape, syntax, instructions = _read(text.removeprefix("\ufeff"), name)
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
    return Dockerfile(name, escape, tuple(meta), tuple(stages), syntax)


def parse_trigger(text: str, name: str, escape: str) -> Instruction:
    """An ONBUILD trigger as an image records it, parsed again to run it."""
    _, _, found = _read(text if escape == "\\" else f"# escape={escape}\n{text}", name)
    if len(found) != 1:
        raise BuildError(f'invalid ONBUILD trigger "{text}"', dockerfile=name)
    return found[0]


def _read(text: str, name: str) -> tuple[str, str, list[Instruction]]:
    lines = [ln.removesuffix("\r") for ln in text.split("\n")]
    escape, syntax = "\\", ""
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
                elif m.group(1).lower() == "syntax":
                    syntax = m.group(2)
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
        line = line.strip()
        docs: tuple[Heredoc, ...] = ()
        keyword = line.split(None, 1)[0].upper() if line else ""
        inner = line.split(None, 2)[1].upper() if keyword == "ONBUILD" and len(line.split()) > 1 else ""
        if keyword in HEREDOC_KEYWORDS or inner in HEREDOC_KEYWORDS:
            try:
                docs, used = read_bodies(line, lines[i:])
            except ValueError as exc:
                raise BuildError(str(exc), dockerfile=name, line=lineno, instruction=keyword) from None
            i += used
        out.append(_instruction(line, lineno, name, escape, docs))
    return escape, syntax, out


def _trim(line: str, continuation: re.Pattern[str]) -> tuple[str, bool]:
    m = continuation.search(line)
    return (line[: m.start()], True) if m else (line, False)


def _error(ins: Instruction, name: str, message: str) -> BuildError:
    return BuildError(message, dockerfile=name, line=ins.line, instruction=ins.keyword)


def _instruction(line: str, lineno: int, name: str, escape: str,
                 docs: tuple[Heredoc, ...] = ()) -> Instruction:
    word, rest = (line.split(None, 1) + [""])[:2]
    keyword, rest = word.upper(), rest.strip()
    text = line + "".join(f"\n{d.body}{d.name}" for d in docs)
    bare = Instruction(keyword, lineno, text, rest)
    if keyword not in KEYWORDS:
        raise BuildError(f'unknown instruction: {word}', dockerfile=name, line=lineno)
    if keyword == "ONBUILD":
        return _onbuild(bare, rest, lineno, name, escape, docs)
    flags: dict[str, str] = {}
    flag_list: list[tuple[str, str]] = []
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
            value = "true" if value is None else value
            flags[flag] = value
            flag_list.append((flag, value))
            rest = rest[m.end():]
    ins = Instruction(keyword, lineno, text, rest, flags, flag_list=tuple(flag_list), heredocs=docs)
    try:
        return _check(ins, escape)
    except ValueError as exc:
        raise _error(ins, name, str(exc)) from None


def _onbuild(bare: Instruction, rest: str, lineno: int, name: str, escape: str,
             docs: tuple[Heredoc, ...]) -> Instruction:
    """``ONBUILD INSTRUCTION``: the trigger is parsed (and checked) now, run by the builds that use the image."""
    inner_word = rest.split(None, 1)[0].upper() if rest else ""
    if not inner_word:
        raise _error(bare, name, "ONBUILD requires an instruction to record")
    if inner_word in _ONBUILD_REFUSED:
        raise _error(bare, name, _ONBUILD_REFUSED[inner_word])
    trigger = _instruction(rest, lineno, name, escape, docs)
    return Instruction("ONBUILD", lineno, bare.text, rest, trigger=trigger)


def _check(ins: Instruction, escape: str) -> Instruction:
    """Validate ``ins`` by keyword; the instruction with its JSON form and pairs filled in."""
    k, rest = ins.keyword, ins.rest
    exec_form = json_array(rest)
    if ins.heredocs and exec_form is not None:
        raise ValueError("a heredoc cannot be used with the JSON (exec) form")
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
        if "parents" in ins.flags and ins.flags["parents"] not in ("true", "false"):
            raise ValueError(f'--parents takes true or false, not "{ins.flags["parents"]}"')
    elif k == "RUN":
        if ins.flags.get("network", "default") not in ("default", "none", "host"):
            raise ValueError(f'RUN --network={ins.flags["network"]}: the network must be default, none or host')
        if ins.flags.get("security", "sandbox") != "sandbox":
            raise ValueError(f'RUN --security={ins.flags["security"]} is not allowed: pycompose builds grant no '
                             "insecure entitlement (use sandbox, the default)")
        for value in ins.values("mount"):
            if "$" not in value:  # with variables it is checked once they are expanded
                parse_mount(value)
        if not rest or exec_form == ():
            raise ValueError("RUN requires at least one argument")
    elif k == "HEALTHCHECK":
        exec_form = _healthcheck(ins)
    elif k in ("WORKDIR", "USER", "STOPSIGNAL", "EXPOSE", "VOLUME", "CMD", "ENTRYPOINT", "MAINTAINER"):
        if not rest:
            raise ValueError(f"{k} requires at least one argument")
    return Instruction(ins.keyword, ins.line, ins.text, ins.rest, ins.flags, exec_form,
                       flag_list=ins.flag_list, heredocs=ins.heredocs)


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
    return Instruction(ins.keyword, ins.line, ins.text, ins.rest, ins.flags, None, tuple(pairs), ins.flag_list)


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
