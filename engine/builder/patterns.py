"""Path patterns: Go's ``filepath.Match`` (COPY sources) and ``.dockerignore`` rules (with ``**`` and ``!``).

Pure functions over slash-separated paths relative to the context root,
with no leading ``./`` or ``/``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

MAGIC = frozenset("*?[")


def has_magic(text: str) -> bool:
    return any(c in MAGIC for c in text)


def compile_pattern(pattern: str, *, globstar: bool = False) -> re.Pattern[str]:
    """A regex matching what ``pattern`` matches: ``*`` and ``?`` never cross ``/``; ``**`` does (globstar)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if globstar and pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1
                out.append(".*" if i >= n else "(?:.*/)?")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            j = i + 1
            negate = j < n and pattern[j] in "^!"
            j += negate
            chars: list[str] = []
            while j < n and (pattern[j] != "]" or not chars):
                ch = pattern[j]
                if ch == "\\" and j + 1 < n:
                    j += 1
                    chars.append(re.escape(pattern[j]))
                elif ch == "-" and chars and j + 1 < n and pattern[j + 1] != "]":
                    chars.append("-")
                else:
                    chars.append(re.escape(ch))
                j += 1
            if j >= n:
                raise ValueError(f'bad pattern "{pattern}": unterminated character class')
            out.append("[" + ("^" if negate else "") + "".join(chars) + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def match(pattern: str, name: str) -> bool:
    """``filepath.Match(pattern, name)``."""
    return compile_pattern(pattern).fullmatch(name) is not None


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    exception: bool
    text: str


class IgnoreRules:
    """The patterns of a ``.dockerignore``; the last pattern matching a path (or one of its parents) decides."""

    def __init__(self, rules: list[_Rule]) -> None:
        self._rules = rules
        self.has_exceptions = any(r.exception for r in rules)

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        rules: list[_Rule] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exception = line.startswith("!")
            if exception:
                line = line[1:].strip()
            if not line:
                continue
            cleaned = posixpath.normpath(line)
            if cleaned.startswith("/") and len(cleaned) > 1:
                cleaned = cleaned.lstrip("/")
            if cleaned in (".", "/"):
                continue
            try:
                regex = compile_pattern(cleaned, globstar=True)
            except ValueError as exc:
                raise ValueError(f".dockerignore: {exc}") from None
            rules.append(_Rule(regex, exception, line))
        return cls(rules)

    def __bool__(self) -> bool:
        return bool(self._rules)

    def excluded(self, path: str) -> bool:
        """Whether ``path`` (``a/b/c``) is left out of the context."""
        if not path or not self._rules:
            return False
        parents = path.split("/")[:-1]
        result = False
        for rule in self._rules:
            hit = rule.regex.fullmatch(path) is not None
            if not hit and parents:
                hit = any(rule.regex.fullmatch("/".join(parents[: i + 1])) for i in range(len(parents)))
            if hit:
                result = not rule.exception
        return result
