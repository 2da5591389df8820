"""The part of Go's text/template that ``--format`` templates use, with docker/cli's functions.

Supported: text and ``{{ }}`` actions with ``{{-``/``-}}`` trimming and
comments; pipelines (``.Name | upper``); fields and chains (``.A.B``),
``.``, ``$``; methods with arguments (``.Label "x"``); string, number and
boolean literals; parenthesised pipelines; ``if``/``else if``/``else``,
``range`` (with ``else``) and ``with``; and the functions ``json``,
``join``, ``split``, ``title``, ``lower``, ``upper``, ``pad``, ``truncate``
(docker/cli's), ``print``, ``printf``, ``println``, ``len``, ``index``,
``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``, ``and``, ``or``, ``not``.
Anything else (variables, ``define``, ``template``, ``block``...) is a
``TemplateError``, never silently ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError


class TemplateError(UsageError):
    """A template that cannot be parsed or executed (exit code 1)."""


class Record:
    """What a template sees as ``.``: named fields (and methods, as callables), like a Go struct.

    A field it does not have is an error, as Go reports it on a struct; ``json .``
    gives its fields with sorted keys (docker/cli marshals them as a map).
    """

    def __init__(self, kind: str, fields: Mapping[str, Any], methods: Mapping[str, Callable[..., Any]] | None = None):
        self.kind = kind
        self.fields = dict(fields)
        self.methods = dict(methods or {})

    def to_json(self) -> dict[str, Any]:
        return {k: self.fields[k] for k in sorted(self.fields)}


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<field>(?:\$)?(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<dot>\.)
  | (?P<dollar>\$)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[|()])
""", re.VERBOSE)


@dataclass
class _Node:
    kind: str  # text | action | if | range | with
    text: str = ""
    pipe: list[list[Any]] = field(default_factory=list)
    body: list[_Node] = field(default_factory=list)
    orelse: list[_Node] = field(default_factory=list)


def _tokens(src: str, where: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise TemplateError(f'template parsing error: template: {where}: unexpected "{src[pos]}" in command')
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((str(m.lastgroup), m.group()))
    return out


def _parse_pipeline(tokens: list[tuple[str, str]], where: str) -> list[list[Any]]:
    """A pipeline: commands separated by ``|``; a command: operands ("(" pipelines ")" nest)."""
    commands: list[list[Any]] = [[]]
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "punct" and text == "|":
            if not commands[-1]:
                raise TemplateError(f"template parsing error: template: {where}: missing command")
            commands.append([])
        elif kind == "punct" and text == "(":
            depth, j = 1, i + 1
            while j < len(tokens) and depth:
                depth += {"(": 1, ")": -1}.get(tokens[j][1], 0) if tokens[j][0] == "punct" else 0
                j += 1
            if depth:
                raise TemplateError(f"template parsing error: template: {where}: unclosed left paren")
            commands[-1].append(("pipe", _parse_pipeline(tokens[i + 1:j - 1], where)))
            i = j
            continue
        elif kind == "punct":
            raise TemplateError(f"template parsing error: template: {where}: unexpected right paren")
        elif kind == "string":
            commands[-1].append(("lit", json.loads(text)))
        elif kind == "raw":
            commands[-1].append(("lit", text[1:-1]))
        elif kind == "number":
            commands[-1].append(("lit", float(text) if "." in text else int(text)))
        elif kind == "ident" and text in ("true", "false"):
            commands[-1].append(("lit", text == "true"))
        elif kind == "ident" and text == "nil":
            commands[-1].append(("lit", None))
        else:
            commands[-1].append((kind, text))
        i += 1
    if not commands[-1]:
        raise TemplateError(f"template parsing error: template: {where}: missing value for command")
    return commands


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)


def parse(source: str) -> list[_Node]:
    """The template's tree; a TemplateError for what it cannot read or does not support."""
    root: list[_Node] = []
    stack: list[tuple[_Node, list[_Node]]] = []
    current = root
    pos = 0
    trim_next = False
    for m in _ACTION.finditer(source):
        text = source[pos:m.start()]
        if trim_next:
            text = text.lstrip()
        if m.group(1):
            text = text.rstrip()
        if text:
            current.append(_Node("text", text=text))
        trim_next = bool(m.group(3))
        pos = m.end()
        line = source.count("\n", 0, m.start()) + 1
        where = f":{line}"
        body = m.group(2).strip()
        if body.startswith("/*"):
            if not body.endswith("*/"):
                raise TemplateError(f"template parsing error: template: {where}: unclosed comment")
            continue
        tokens = _tokens(body, where)
        if not tokens:
            raise TemplateError(f"template parsing error: template: {where}: missing value for command")
        head = tokens[0][1] if tokens[0][0] == "ident" else ""
        if head in ("if", "range", "with"):
            node = _Node(head, pipe=_parse_pipeline(tokens[1:], where))
            current.append(node)
            stack.append((node, current))
            current = node.body
        elif head == "else":
            if not stack or stack[-1][0].kind == "with" and len(tokens) > 1:
                raise TemplateError(f"template parsing error: template: {where}: unexpected {{{{else}}}}")
            node = stack[-1][0]
            if len(tokens) > 1 and tokens[1] == ("ident", "if"):  # else if: a nested if in the else branch
                inner = _Node("if", pipe=_parse_pipeline(tokens[2:], where))
                node.orelse.append(inner)
                stack[-1] = (inner, stack[-1][1])
                current = inner.body
            else:
                current = node.orelse
        elif head == "end":
            if not stack:
                raise TemplateError(f"template parsing error: template: {where}: unexpected {{{{end}}}}")
            _, current = stack.pop()
        elif head in ("define", "template", "block", "break", "continue") or tokens[0][0] == "dollar" and any(
                t == ("ident", ":=") for t in tokens):
            raise TemplateError(f"template parsing error: template: {where}: {head or 'variables'} is not supported")
        else:
            current.append(_Node("action", pipe=_parse_pipeline(tokens, where)))
    if stack:
        raise TemplateError(f"template parsing error: template: :{source.count(chr(10)) + 1}: "
                            f"unexpected EOF")
    text = source[pos:]
    if "{{" in text:
        line = source.count("\n", 0, pos + text.index("{{")) + 1
        raise TemplateError(f"template parsing error: template: :{line}: unclosed action")
    if trim_next:
        text = text.lstrip()
    if text:
        root.append(_Node("text", text=text))
    return root


# -- execution ------------------------------------------------------------------------------


def go_string(value: Any) -> str:
    """A value as Go's fmt prints it (``%v``)."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value))
    if isinstance(value, Record):
        return "{" + " ".join(go_string(v) for v in value.to_json().values()) + "}"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_string(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    return str(value)


def to_json(value: Any) -> str:
    """docker/cli's ``json``: compact, HTML characters kept as they are."""
    def plain(v: Any) -> Any:
        if isinstance(v, Record):
            return {k: plain(x) for k, x in v.to_json().items()}
        if isinstance(v, Mapping):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v
    return json.dumps(plain(value), separators=(",", ":"), ensure_ascii=False)


def _truthy(value: Any) -> bool:
    return bool(value) if value is not None else False


def _printf(fmt: str, *args: Any) -> str:
    conv = iter(args)

    def one(m: re.Match[str]) -> str:
        spec = m.group()
        if spec == "%%":
            return "%"
        value = next(conv, None)
        verb = spec[-1]
        if verb in "vs":
            return (spec[:-1] + "s") % go_string(value)
        if verb == "q":
            return json.dumps(go_string(value), ensure_ascii=False)
        if verb in "dxXo":
            return spec % int(value or 0)
        if verb in "feg":
            return spec % float(value or 0)
        raise TemplateError(f"printf: the verb {spec} is not supported")
    return re.sub(r"%[-+ 0#]*\d*(?:\.\d+)?[a-zA-Z%]", one, fmt)


def _pad(source: str, prefix: int, suffix: int) -> str:
    return source if source == "" else " " * prefix + source + " " * suffix


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        item = item[key] if not isinstance(item, Mapping) else item.get(key)
    return item


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": to_json,
    "split": lambda s, sep: str(s).split(sep),
    "join": lambda items, sep: sep.join(go_string(i) for i in items),
    "title": lambda s: re.sub(r"(^|[^\w'])(\w)", lambda m: m.group(1) + m.group(2).upper(), str(s)),
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
    "pad": _pad,
    "truncate": lambda s, n: str(s) if len(str(s)) < n else str(s)[:n],
    "print": lambda *a: "".join(go_string(x) for x in a),
    "println": lambda *a: " ".join(go_string(x) for x in a) + "\n",
    "printf": _printf,
    "len": len,
    "index": _index,
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "not": lambda a: not _truthy(a),
    "and": lambda *a: next((x for x in a if not _truthy(x)), a[-1]),
    "or": lambda *a: next((x for x in a if _truthy(x)), a[-1]),
}

# What the header row of a ``table`` format uses: each column's name, unchanged by the functions.
HEADER_FUNCTIONS: dict[str, Callable[..., Any]] = {
    **FUNCTIONS,
    **{name: (lambda v, *_: v) for name in ("json", "split", "join", "title", "lower", "upper", "truncate")},
}


class _Exec:
    def __init__(self, root: Any, funcs: Mapping[str, Callable[..., Any]], *, strict: bool) -> None:
        self.root = root
        self.funcs = funcs
        self.strict = strict  # a missing field of a Record is an error (not of a header map)

    def nodes(self, nodes: Sequence[_Node], dot: Any, out: list[str]) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                out.append(go_string(self.pipeline(node.pipe, dot)))
            elif node.kind == "if":
                self.nodes(node.body if _truthy(self.pipeline(node.pipe, dot)) else node.orelse, dot, out)
            elif node.kind == "with":
                value = self.pipeline(node.pipe, dot)
                self.nodes(node.body if _truthy(value) else node.orelse, value if _truthy(value) else dot, out)
            elif node.kind == "range":
                value = self.pipeline(node.pipe, dot)
                items = list(value.values() if isinstance(value, Mapping) else value or ())
                for item in items:
                    self.nodes(node.body, item, out)
                if not items:
                    self.nodes(node.orelse, dot, out)

    def pipeline(self, commands: list[list[Any]], dot: Any) -> Any:
        value: Any = _NOTHING
        for command in commands:
            value = self.command(command, dot, value)
        return value

    def command(self, command: list[Any], dot: Any, piped: Any) -> Any:
        (kind, text), args = command[0], command[1:]
        extra = [] if piped is _NOTHING else [piped]
        if kind == "ident":
            fn = self.funcs.get(text)
            if fn is None:
                raise TemplateError(f'template parsing error: template: :1: function "{text}" not defined')
            values = [self.operand(a, dot) for a in args] + extra
            try:
                return fn(*values)
            except TemplateError:
                raise
            except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
                raise TemplateError(f"template: :1: error calling {text}: {exc}") from None
        if kind == "field" and (args or extra):
            target = self.field(text, dot, call=True)
            if callable(target):
                return target(*[self.operand(a, dot) for a in args], *extra)
            raise TemplateError(f"template: :1: executing at <{text}>: {text.split('.')[-1]} has arguments "
                                "but cannot be invoked as function")
        if args or extra:
            raise TemplateError(f"template: :1: executing at <{text}>: can't give argument to non-function")
        return self.operand((kind, text), dot)

    def operand(self, op: Any, dot: Any) -> Any:
        kind, text = op
        if kind == "lit":
            return text
        if kind == "pipe":
            return self.pipeline(text, dot)
        if kind == "dot":
            return dot
        if kind == "dollar":
            return self.root
        if kind == "field":
            value = self.field(text, dot, call=False)
            return value() if callable(value) else value
        if kind == "ident":
            fn = self.funcs.get(text)
            if fn is None:
                raise TemplateError(f'template parsing error: template: :1: function "{text}" not defined')
            return fn()
        raise TemplateError(f"template: :1: unexpected {text}")

    def field(self, chain: str, dot: Any, *, call: bool) -> Any:
        value = self.root if chain.startswith("$") else dot
        names = chain.lstrip("$").split(".")[1:]
        for i, name in enumerate(names):
            last = i == len(names) - 1
            if isinstance(value, Record):
                if name in value.fields:
                    value = value.fields[name]
                elif name in value.methods:
                    method = value.methods[name]
                    value = method if (last and call) else method()
                else:
                    raise TemplateError(f'template: :1: executing "" at <{chain}>: can\'t evaluate field {name} '
                                        f"in type {value.kind}")
            elif isinstance(value, Mapping):
                if name not in value and self.strict:
                    value = None
                else:
                    value = value.get(name, "")
            elif value is None:
                raise TemplateError(f'template: :1: executing "" at <{chain}>: nil pointer evaluating {name}')
            else:
                raise TemplateError(f'template: :1: executing "" at <{chain}>: can\'t evaluate field {name} '
                                    f"in type {type(value).__name__}")
        return value


_NOTHING = object()


def execute(tree: list[_Node], data: Any, funcs: Mapping[str, Callable[..., Any]] = FUNCTIONS, *,
            strict: bool = True) -> str:
    out: list[str] = []
    _Exec(data, funcs, strict=strict).nodes(tree, data, out)
    return "".join(out)


def render(source: str, data: Any) -> str:
    """``source`` executed on ``data``."""
    return execute(parse(source), data)
