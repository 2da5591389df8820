"""Docker Compose's ``.env`` syntax, as compose-go's ``dotenv`` package reads it.

One entry per statement; blank lines and lines starting with ``#`` are skipped::

    KEY=value             unquoted: trimmed, " #..." dropped, interpolated
    export KEY=value      "export" is ignored
    KEY: value            YAML-like separator
    KEY='literal'         no interpolation; only \\' is unescaped; may span lines
    KEY="text\\n$VAR"     escapes (\\a \\b \\f \\n \\r \\t \\v \\\\ \\" \\$ \\0NNN),
                          then interpolation; may span lines
    KEY                   the value of KEY from ``lookup``, or no entry at all

Keys are made of letters, digits, ``_ . - [ ]``. Variables in values are
resolved first through ``lookup`` (the environment wins), then from the keys
defined earlier in the same file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from compose.config.interpolate import InterpolationError, interpolate_string
from compose.errors import ConfigError

Lookup = Callable[[str], str | None]

_BOM = "\ufeff"
_QUOTES = ("'", '"')
_KEY_PUNCTUATION = frozenset("_.-[]")
_KEY_END = frozenset("=:\n")
# Whitespace that does not end a line (compose-go's isSpace).
_INLINE_SPACE = frozenset("\t\v\f\r \x85\xa0")
_EXPORT = re.compile(r"export[ \t\f\r]+")
_ESCAPE = re.compile(r'\\(?:[abcfnrtv$"\\]|0[0-9]{0,3})')
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    '"': '"',
    "\\": "\\",
    "$": "$$",  # kept away from interpolation: "$$" becomes a literal "$"
}


def _no_lookup(_name: str) -> str | None:
    return None


def read_dotenv(path: str, *, lookup: Lookup = _no_lookup) -> dict[str, str]:
    """Read and parse the .env file at ``path`` (UTF-8, a leading BOM ignored).

    OSError (a missing file, a directory) is left to the caller.
    """
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError("the file is not valid UTF-8", file=path, line=line) from exc
    return parse_dotenv(text, filename=path, lookup=lookup)


def parse_dotenv(text: str, *, filename: str, lookup: Lookup = _no_lookup) -> dict[str, str]:
    """Parse .env text into its entries, in the order written.

    Raises ConfigError with ``filename`` and the line where the bad entry starts.
    """
    out: dict[str, str] = {}
    cursor = _Cursor(text.removeprefix(_BOM))
    while _skip_to_statement(cursor):
        line = cursor.line
        try:
            _parse_statement(cursor, out, lookup)
        except (_SyntaxError, InterpolationError) as exc:
            raise ConfigError(str(exc), file=filename, line=line) from exc
    return out


# --- scanning ----------------------------------------------------------------


class _SyntaxError(Exception):
    """A malformed entry; the caller adds the file and line."""


@dataclass
class _Cursor:
    text: str
    pos: int = 0
    line: int = 1

    def move_to(self, pos: int) -> None:
        pos = min(pos, len(self.text))
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def skip_inline_space(self) -> None:
        pos = self.pos
        while pos < len(self.text) and self.text[pos] in _INLINE_SPACE:
            pos += 1
        self.pos = pos  # no line break crossed


def _skip_to_statement(cursor: _Cursor) -> bool:
    """Move past whitespace and comment lines; False at the end of the text."""
    text = cursor.text
    pos = cursor.pos
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
        elif text[pos] == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        else:
            cursor.move_to(pos)
            return True
    cursor.move_to(pos)
    return False


# --- statements --------------------------------------------------------------


def _parse_statement(cursor: _Cursor, out: dict[str, str], lookup: Lookup) -> None:
    key, inherited = _read_key(cursor)
    if inherited:
        value = lookup(key) if key else None
        if value is not None:
            out[key] = value
        return
    out[key] = _read_value(cursor, _resolver(out, lookup))


def _resolver(out: dict[str, str], lookup: Lookup) -> Lookup:
    """Variables in values: the lookup (the environment) first, then earlier keys."""

    def resolve(name: str) -> str | None:
        value = lookup(name)
        return value if value is not None else out.get(name)

    return resolve


def _read_key(cursor: _Cursor) -> tuple[str, bool]:
    """Read ``[export] KEY`` up to ``=``, ``:`` or the end of the line.

    Returns the key and whether it stands alone (to be inherited from lookup).
    """
    text = cursor.text
    start = cursor.pos
    export = _EXPORT.match(text, start)
    if export:
        start = export.end()
    end = start
    while end < len(text) and text[end] not in _KEY_END:
        if not _is_key_char(text[end]):
            first_line = text[start:].split("\n", 1)[0]
            raise _SyntaxError(
                f"unexpected character {_go_quote(text[end])} "
                f"in variable name {_go_quote(first_line)}"
            )
        end += 1
    key = text[start:end].rstrip()
    if any(char.isspace() for char in key):
        raise _SyntaxError("key cannot contain a space")
    inherited = end >= len(text) or text[end] == "\n"
    cursor.move_to(end + 1)
    return key, inherited


def _is_key_char(char: str) -> bool:
    return char in _INLINE_SPACE or char in _KEY_PUNCTUATION or char.isalpha() or char.isnumeric()


def _read_value(cursor: _Cursor, resolve: Lookup) -> str:
    cursor.skip_inline_space()
    quote = cursor.peek()
    if quote in _QUOTES and quote:
        raw = _read_quoted(cursor, quote)
        if quote == "'":
            return raw
        return interpolate_string(_expand_escapes(raw), resolve)
    return interpolate_string(_read_unquoted(cursor), resolve)


def _read_unquoted(cursor: _Cursor) -> str:
    """The rest of the line, without an inline `` #comment`` and trailing whitespace."""
    text = cursor.text
    end = text.find("\n", cursor.pos)
    if end < 0:
        end = len(text)
    value = text[cursor.pos : end]
    cursor.move_to(end + 1)
    return value.split(" #", 1)[0].rstrip()


def _read_quoted(cursor: _Cursor, quote: str) -> str:
    """The text between ``quote`` and its unescaped match (which may be lines away).

    An escaped quote loses its backslash; every other backslash is kept.
    """
    text = cursor.text
    chars: list[str] = []
    escaped = False
    for pos in range(cursor.pos + 1, len(text)):
        char = text[pos]
        if char == quote and not escaped:
            cursor.move_to(pos + 1)
            return "".join(chars)
        if char == "\\" and not escaped:
            escaped = True
            continue
        if escaped and char != quote:
            chars.append("\\")
        escaped = False
        chars.append(char)
    raise _SyntaxError(f"unterminated quoted value {_first_line(text[cursor.pos :])}")


def _expand_escapes(raw: str) -> str:
    return _ESCAPE.sub(_escape_replacement, raw)


def _escape_replacement(match: re.Match[str]) -> str:
    sequence = match.group()
    if sequence[1] != "0":
        return _SIMPLE_ESCAPES.get(sequence[1], sequence)
    return _octal(sequence)


def _octal(sequence: str) -> str:
    r"""``\0NNN`` (three octal digits, at most 0377) is that character.

    Otherwise the ``0`` is dropped and the rest kept (``\012`` -> ``\12``), as
    compose-go does.
    """
    digits = sequence[2:]
    if len(digits) == 3 and all(d in "01234567" for d in digits):
        code = int(digits, 8)
        if code <= 0o377:
            return chr(code)
    return "\\" + digits


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0].rstrip("\r")


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def parse_raw_env(text: str, *, filename: str, lookup: Lookup = _no_lookup) -> dict[str, str]:
    """``env_file`` with ``format: raw``: ``docker run --env-file`` lines, values taken as written.

    Blank lines and ``#`` comments are skipped; ``KEY`` alone takes its value from ``lookup``
    (no entry when unset); no quotes are removed and nothing is interpolated.
    """
    out: dict[str, str] = {}
    for number, line in enumerate(text.removeprefix(_BOM).splitlines(), start=1):
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if any(c.isspace() for c in key):
            raise ConfigError(f'variable "{key}" contains whitespaces', file=filename, line=number, column=1)
        if sep:
            out[key] = value
        else:
            found = lookup(key)
            if found is not None:
                out[key] = found
    return out
