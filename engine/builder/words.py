"""Variable substitution and word splitting in Dockerfile arguments, as BuildKit's shell lexer does them.

``$NAME``, ``${NAME}``, ``${NAME:-word}``, ``${NAME-word}``, ``${NAME:+word}``,
``${NAME+word}``, ``${NAME:?message}`` and ``${NAME?message}`` are expanded from
the variables given (ENV and ARG values). Single quotes keep everything
literal; double quotes keep spaces but allow ``$`` and escape only ``"``,
``$`` and the escape character; outside quotes the escape character
(``\\`` or the one ``# escape=`` chose) makes the next character literal.
Text a variable expands to is split into words, quoted text is not.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import StepError

_EOF = ""


class _Words:
    """Collects words: unquoted spaces end a word, quoted ("raw") text never does."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word = ""
        self.in_word = False

    def raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word, self.in_word = "", False
        else:
            self.raw(ch)

    def text(self, text: str) -> None:
        for ch in text:
            self.char(ch)

    def done(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word, self.in_word = "", False
        return self.words


class _Lexer:
    def __init__(self, source: str, env: Mapping[str, str], escape: str) -> None:
        self.src = source
        self.pos = 0
        self.env = env
        self.escape = escape

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def process(self, stop: str = _EOF) -> tuple[str, list[str]]:
        """Read up to ``stop`` (consumed) or the end: the text with quotes removed, and its words."""
        result: list[str] = []
        words = _Words()
        while self.peek() != _EOF:
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.done()
            if ch == "'":
                text = self.single_quote()
                words.raw(text)
            elif ch == '"':
                text = self.double_quote()
                words.raw(text)
            elif ch == "$":
                text = self.dollar()
                words.text(text)
            else:
                self.next()
                if ch == self.escape:
                    ch = self.next()
                    if ch == _EOF:
                        break
                    words.raw(ch)
                else:
                    words.char(ch)
                text = ch
            result.append(text)
        if stop:
            raise StepError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.done()

    def single_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.next()
            if ch == _EOF:
                raise StepError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise StepError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.next()
            if ch == self.escape:
                following = self.peek()
                if following == _EOF:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        out: list[str] = []
        if self.peek().isdigit():
            while self.peek() and self.peek().isdigit():
                out.append(self.next())
            return "".join(out)
        while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
            out.append(self.next())
        return "".join(out)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            return self.env.get(name, "") if name else "$"
        self.next()
        if self.peek() == _EOF:
            raise StepError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise StepError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == _EOF:
            raise StepError("syntax error: missing '}'")
        if ch == "}":
            return self.env.get(name, "")
        colon = ch == ":"
        modifier = self.next() if colon else ch
        if modifier == _EOF:
            raise StepError("syntax error: missing '}'")
        if modifier not in ("-", "+", "?"):
            raise StepError(f"unsupported modifier ({modifier}) in substitution of {name}")
        word, _ = self.process("}")
        is_set = name in self.env
        value = self.env.get(name, "")
        present = bool(value) if colon else is_set
        if modifier == "-":
            return value if present else word
        if modifier == "+":
            return word if present else ""
        if not present:
            raise StepError(f"{name}: {word or ('is not allowed to be empty' if is_set else 'is not allowed to be unset')}")
        return value


def expand(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word: variables expanded, quotes and escapes removed, spaces kept (WORKDIR, USER, ENV values)."""
    return _Lexer(text, env, escape).process()[0]


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Several words (COPY sources, EXPOSE, VOLUME): expanded, then split on unquoted spaces."""
    return _Lexer(text, env, escape).process()[1]


def expand_vars(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Only the variables of ``text`` expanded (a COPY heredoc's body): quotes and other text stay as written;
    ``\\$`` keeps a literal ``$``."""
    lexer = _Lexer(text, env, escape)
    out: list[str] = []
    while lexer.peek() != _EOF:
        ch = lexer.peek()
        if ch == "$":
            out.append(lexer.dollar())
        elif ch == escape and lexer.src[lexer.pos + 1:lexer.pos + 2] == "$":
            lexer.next()
            out.append(lexer.next())
        else:
            out.append(lexer.next())
    return "".join(out)


def split_raw(rest: str, escape: str = "\\") -> list[str]:
    """Split on unquoted spaces, keeping quotes and escapes for a later ``expand`` (ENV, LABEL, ARG)."""
    words: list[str] = []
    word, quote, started = "", "", False
    i = 0
    while i < len(rest):
        ch = rest[i]
        if not quote and ch.isspace():
            if started:
                words.append(word)
            word, started = "", False
            i += 1
            continue
        started = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'" and i + 1 < len(rest):
                word += ch
                i += 1
                ch = rest[i]
        elif ch in ("'", '"'):
            quote = ch
        elif ch == escape:
            if i + 1 == len(rest):
                break
            word += ch
            i += 1
            ch = rest[i]
        word += ch
        i += 1
    if started:
        words.append(word)
    return words
