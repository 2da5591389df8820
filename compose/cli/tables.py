"""Tables and ``--format`` output as docker/cli writes them.

``tabwrite`` aligns tab-separated cells the way Go's text/tabwriter does
(column blocks, minimum width, padding; the last cell of a line is not
aligned). ``write_records`` is docker/cli's ``formatter.Context.Write``:
``table`` (with an optional template), ``json`` (``{{json .}}`` per
record) or a custom Go template, the header row made by running the
template on the column names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .gotemplate import HEADER_FUNCTIONS, Record, TemplateError, execute, parse


def tabwrite(text: str, minwidth: int, padding: int) -> str:
    """Go's ``tabwriter.NewWriter(out, minwidth, 1, padding, ' ', 0)`` applied to ``text``."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []

    def write(line0: int, line1: int, widths: list[int]) -> None:
        for cells in lines[line0:line1]:
            parts = []
            for j, cell in enumerate(cells):
                parts.append(cell.ljust(widths[j]) if j < len(widths) and j < len(cells) - 1 else cell)
            out.append("".join(parts))

    def fmt(line0: int, line1: int, widths: list[int]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this, widths)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            fmt(line0, this, [*widths, width])
            line0 = this
        write(line0, line1, widths)

    fmt(0, len(lines), [])
    return "\n".join(out)


def simple_table(headers: Sequence[str], rows: Sequence[Sequence[str]], minwidth: int = 20,
                 padding: int = 3) -> str:
    """Compose's ``PrintPrettySection``: a header row and rows, aligned (20 wide at least)."""
    text = "\n".join("\t".join(r) for r in [list(headers), *rows]) + "\n"
    return tabwrite(text, minwidth, padding)


def write_records(fmt: str, records: Sequence[Record], header: Mapping[str, str], *, default_table: str,
                  quiet_field: str | None = None) -> str:
    """``records`` in ``fmt`` (``table``, ``table TEMPLATE``, ``json`` or a Go template)."""
    if fmt in ("", "table"):
        fmt = default_table
    is_table = fmt.startswith("table")
    source = fmt
    if is_table:
        source = fmt[len("table"):]
    elif fmt == "json":
        source = "{{json .}}"
    source = source.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    tree = parse(source)
    body = "".join(execute(tree, r) + "\n" for r in records)
    if not is_table:
        return body
    try:
        head = execute(tree, dict(header), HEADER_FUNCTIONS, strict=False)
    except TemplateError:
        head = ""
    return tabwrite(head + "\n" + body, 10, 3)
