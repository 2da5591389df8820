"""Heredocs in RUN, COPY and ADD (``<<EOF``, ``<<-EOF``, ``<<"EOF"``), as BuildKit's Dockerfile frontend reads them.

Pure: the parser hands over the instruction's line and the lines after it;
this finds the markers, takes each body up to its terminator (in the order
the markers appear) and says how many lines were used. ``<<-`` strips
leading tabs from the body and the terminator; a quoted delimiter means
the body is taken literally (no variable expansion).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# a marker: << then optional -, then a word, optionally quoted; never <<< (a here-string)
_MARKER = re.compile(r"(?<![<\w])<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_.-]*)\2(?!<)")


@dataclass(frozen=True)
class Heredoc:
    name: str  # the delimiter word
    body: str  # the lines between the marker and the terminator, each ending in a newline
    expand: bool = True  # False when the delimiter was quoted
    strip_tabs: bool = False  # <<-

    @property
    def marker(self) -> str:
        return f"<<{'-' if self.strip_tabs else ''}{self.name if self.expand else repr(self.name)}"


def markers(line: str) -> list[tuple[str, bool, bool]]:
    """The heredoc markers of a line, in order: (name, expand, strip_tabs); quoted text is skipped."""
    out: list[tuple[str, bool, bool]] = []
    for m in _MARKER.finditer(_blank_quotes(line)):
        # the regex runs on the line with quoted text blanked, but reads the real delimiter
        real = _MARKER.match(line, m.start())
        if real is None:
            continue
        out.append((real.group(3), not real.group(2), real.group(1) == "-"))
    return out


def _blank_quotes(line: str) -> str:
    """``line`` with the content of quoted strings (not a marker's own quotes) replaced by spaces."""
    chars = list(line)
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
            else:
                chars[i] = " "
        elif ch in ("'", '"') and not line[max(0, i - 3):i].endswith(("<<", "<<-")):
            quote = ch
    return "".join(chars)


def read_bodies(line: str, following: Sequence[str]) -> tuple[tuple[Heredoc, ...], int]:
    """The heredocs ``line`` opens, read from ``following``; and how many of those lines they took.

    ValueError names a delimiter whose terminator never comes.
    """
    docs: list[Heredoc] = []
    used = 0
    for name, expand, strip in markers(line):
        body: list[str] = []
        while True:
            if used >= len(following):
                raise ValueError(f'the heredoc "{name}" is not terminated: add a line "{name}" after its content')
            text = following[used]
            used += 1
            if strip:
                text = text.lstrip("\t")
            if text == name:
                break
            body.append(text + "\n")
        docs.append(Heredoc(name, "".join(body), expand, strip))
    return tuple(docs), used


def only_heredoc(rest: str, docs: Sequence[Heredoc]) -> bool:
    """Whether a RUN's command is nothing but one heredoc marker (then the body is the script)."""
    return len(docs) == 1 and _MARKER.fullmatch(rest.strip()) is not None


def shell_script(rest: str, docs: Sequence[Heredoc]) -> str:
    """The command line with each heredoc's body and terminator after it, for the shell to read."""
    return rest + "\n" + "".join(d.body + d.name + "\n" for d in docs)
