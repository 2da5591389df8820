from __future__ import annotations

from pathlib import Path

import pytest

from compose.config.dotenv import parse_dotenv, read_dotenv
from compose.errors import ConfigError

ENVIRONMENT = {"HOME": "/home/me", "EMPTY": "", "OPTION_A": "5"}


def env_lookup(name: str) -> str | None:
    return ENVIRONMENT.get(name)


def parse(text: str) -> dict[str, str]:
    return parse_dotenv(text, filename=".env", lookup=env_lookup)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # empty files, blank lines, comments
        ("", {}),
        ("\n\n  \t\n", {}),
        ("\r\n", {}),
        ("# a comment", {}),
        ("\t # an indented comment\nA=1", {"A": "1"}),
        ("# one\n\n# two\nA=1\n# three\n", {"A": "1"}),
        # plain values and whitespace
        ("FOO=bar", {"FOO": "bar"}),
        ("FOO =bar", {"FOO": "bar"}),
        ("FOO= bar", {"FOO": "bar"}),
        ("  FOO = bar  ", {"FOO": "bar"}),
        ("\tFOO=bar", {"FOO": "bar"}),
        ("FOO=", {"FOO": ""}),
        ("FOO = \nBAR=1", {"FOO": "", "BAR": "1"}),
        ("FOO=foobar=", {"FOO": "foobar="}),
        ("FOO=bar baz", {"FOO": "bar baz"}),
        ("FOO=a\\tb", {"FOO": "a\\tb"}),  # no escapes in unquoted values
        ("FOO=1:B", {"FOO": "1:B"}),
        ("FOO=a'b\"c", {"FOO": "a'b\"c"}),
        ("FOO=x\nFOO=y", {"FOO": "y"}),
        ("ONE=1\nTWO='2'\nTHREE = \"3\"", {"ONE": "1", "TWO": "2", "THREE": "3"}),
        # YAML-like separator
        ("OPTION_A: 1", {"OPTION_A": "1"}),
        ("OPTION_A: Foo=bar", {"OPTION_A": "Foo=bar"}),
        ("OPTION_A:1", {"OPTION_A": "1"}),
        # export
        ("export OPTION_A=2", {"OPTION_A": "2"}),
        ("export\tOPTION_A=2", {"OPTION_A": "2"}),
        ("  export OPTION_A=2", {"OPTION_A": "2"}),
        ("export OPTION_A='\\n'", {"OPTION_A": "\\n"}),
        ('export OPTION_A="export A"', {"OPTION_A": "export A"}),
        ("export exportFoo=2", {"exportFoo": "2"}),
        ("exportFOO=2", {"exportFOO": "2"}),
        ("export_FOO =2", {"export_FOO": "2"}),
        ("export.FOO= 2", {"export.FOO": "2"}),
        ("export=1", {"export": "1"}),
        # key characters
        ("FOO.BAR=dots", {"FOO.BAR": "dots"}),
        ("VAR-WITH-DASHES=x", {"VAR-WITH-DASHES": "x"}),
        ("a[1]=c", {"a[1]": "c"}),
        ("456=ABC", {"456": "ABC"}),
        ("árvíztűrő-TÜKÖRFÚRÓGÉP=ÁRVÍZTŰRŐ", {"árvíztűrő-TÜKÖRFÚRÓGÉP": "ÁRVÍZTŰRŐ"}),
        ('="value"', {"": "value"}),  # compose-go accepts an empty key
        # inline comments
        ("FOO=bar # this is foo", {"FOO": "bar"}),
        ("FOO=bar #this is foo", {"FOO": "bar"}),
        ("FOO=bar #", {"FOO": "bar"}),
        ("FOO=bar\t#not a comment", {"FOO": "bar\t#not a comment"}),
        ("FOO=123#not-an-inline-comment", {"FOO": "123#not-an-inline-comment"}),
        ("FOO= #c", {"FOO": "#c"}),  # compose-go: needs a space before "#" in the value
        ("FOO=a # b # c", {"FOO": "a"}),
        ('FOO="bar#baz" # comment', {"FOO": "bar#baz"}),
        ('FOO="bar#baz"#', {"FOO": "bar#baz"}),
        ("FOO='bar#baz' # comment", {"FOO": "bar#baz"}),
        ("OPTION_I = \"echo 'asd'\" # Inline comment", {"OPTION_I": "echo 'asd'"}),
        # single quotes: literal, only \' is unescaped
        ("FOO='bar'", {"FOO": "bar"}),
        ("FOO=''", {"FOO": ""}),
        ("FOO='  padded  '", {"FOO": "  padded  "}),
        ("FOO='$HOME ${X:-y} $$'", {"FOO": "$HOME ${X:-y} $$"}),
        ("FOO='a\\nb'", {"FOO": "a\\nb"}),
        ("FOO='Let\\'s go!'", {"FOO": "Let's go!"}),
        ("FOO='a\\\"b'", {"FOO": 'a\\"b'}),
        ("FOO='first\nsecond\nthird'", {"FOO": "first\nsecond\nthird"}),
        # double quotes: escapes
        ('FOO="bar"', {"FOO": "bar"}),
        ('FOO=""', {"FOO": ""}),
        ('FOO="escaped\\"bar"', {"FOO": 'escaped"bar'}),
        ('FOO="\\"quoted\\""', {"FOO": '"quoted"'}),
        ("FOO=\"'d'\"", {"FOO": "'d'"}),
        ('FOO="bar\\nbaz"', {"FOO": "bar\nbaz"}),
        ('FOO="a\\tb"', {"FOO": "a\tb"}),
        (
            'KEY="Z\\aZ\\bZ\\fZ\\nZ\\rZ\\tZ\\vZ\\\\Z\\0123Z"',
            {"KEY": "Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\ZSZ"},
        ),
        ('FOO="bar\\n\\ b\\az"', {"FOO": "bar\n\\ b\az"}),
        ('FOO="bar\\\\\\n\\ b\\az"', {"FOO": "bar\\\n\\ b\az"}),
        ('FOO="bar\\\\r\\ b\\az"', {"FOO": "bar\\r\\ b\az"}),
        ('FOO="bar\\nbaz\\\\"', {"FOO": "bar\nbaz\\"}),
        ('KEY="\\0123"', {"KEY": "S"}),
        ('KEY="\\012"', {"KEY": "\\12"}),  # compose-go drops the 0 of a bad octal escape
        ('KEY="a\\0b"', {"KEY": "a\\b"}),
        ('KEY="\\0101\\0400"', {"KEY": "A\\400"}),
        ('KEY="\\x07\\u12e4\\c"', {"KEY": "\\x07\\u12e4\\c"}),
        ('FOO="\\$HOME"', {"FOO": "$HOME"}),
        ('FOO="foo\\${BAR}"', {"FOO": "foo${BAR}"}),
        ('FOO="\\\\$HOME"', {"FOO": "\\/home/me"}),
        # double quotes: several lines
        ('FOO="line1\nline2"\nBAR=1', {"FOO": "line1\nline2", "BAR": "1"}),
        ('FOO="\n  a\n  multiline\n  value\n"', {"FOO": "\n  a\n  multiline\n  value\n"}),
        # compose-go goes on parsing right after the closing quote
        ('FOO="a"BAR=b', {"FOO": "a", "BAR": "b"}),
        # interpolation
        ("FOO=test\nBAR=$FOO", {"FOO": "test", "BAR": "test"}),
        ("FOO=test\nBAR=${FOO}bar", {"FOO": "test", "BAR": "testbar"}),
        ("BAR=$UNDEFINED", {"BAR": ""}),
        ('FOO=test\nBAR="quote $FOO"', {"FOO": "test", "BAR": "quote test"}),
        ("BAR=$HOME/bin", {"BAR": "/home/me/bin"}),
        ("BAR=${MISSING:-fallback}", {"BAR": "fallback"}),
        ("BAR=${EMPTY-fallback}", {"BAR": ""}),
        ("BAR=${HOME:+set}", {"BAR": "set"}),
        ("A=1\nB=${A:+${A}0}", {"A": "1", "B": "10"}),
        ("BAR=${MISSING:-${HOME}}", {"BAR": "/home/me"}),
        ("BAR=$$HOME", {"BAR": "$HOME"}),
        ("BAR=\\$HOME", {"BAR": "\\/home/me"}),  # no escapes when unquoted
        ("BAR=later\nFOO=$LATER_KEY\nLATER_KEY=x", {"BAR": "later", "FOO": "", "LATER_KEY": "x"}),
        # the environment wins over keys of the file when interpolating
        (
            "OPTION_A=1\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B",
            {"OPTION_A": "1", "OPTION_B": "5", "OPTION_C": "5"},
        ),
        ("OPTION_A=${OPTION_A:-1}\nOPTION_B=$OPTION_A", {"OPTION_A": "5", "OPTION_B": "5"}),
        # a key alone takes its value from the lookup, or is left out
        ("HOME", {"HOME": "/home/me"}),
        ("HOME\n", {"HOME": "/home/me"}),
        ("EMPTY\nA=1", {"EMPTY": "", "A": "1"}),
        ("NOT_FOUND\nA=1", {"A": "1"}),
        ("A=1\nA", {"A": "1"}),
        ("export HOME", {"HOME": "/home/me"}),
        ("  HOME  \n", {"HOME": "/home/me"}),
        # CRLF line endings
        ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
        ("A=1 # c\r\nB='x'\r\nC=\"y\"\r\n", {"A": "1", "B": "x", "C": "y"}),
        ("HOME\r\nA=1\r\n", {"HOME": "/home/me", "A": "1"}),
        ("A='l1\r\nl2'\r\n", {"A": "l1\r\nl2"}),
        # a leading BOM is ignored
        ("\ufeffA=1\nB=2", {"A": "1", "B": "2"}),
    ],
)
def test_parse(text: str, expected: dict[str, str]) -> None:
    assert parse(text) == expected


def test_order_of_entries_is_kept() -> None:
    assert list(parse("B=1\nA=2\nC=3\nB=4")) == ["B", "A", "C"]


def test_default_lookup_finds_nothing() -> None:
    assert parse_dotenv("HOME\nA=$HOME", filename=".env") == {"A": ""}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("lol$wut", 1, 'unexpected character "$" in variable name "lol$wut"'),
        (
            "%!(EXTRA string)=foo",
            1,
            'unexpected character "%" in variable name "%!(EXTRA string)=foo"',
        ),
        ("A=1\n\nB@=2", 3, 'unexpected character "@" in variable name "B@=2"'),
        ("export A/B=1", 1, 'unexpected character "/" in variable name "A/B=1"'),
        ("INVALID LINE", 1, "key cannot contain a space"),
        ("A=1\nMY KEY=value", 2, "key cannot contain a space"),
        ("A\tB=1", 1, "key cannot contain a space"),
        (
            '# some comments\nfoo="\n  a\n  multine\n  value\n"\nINVALID LINE\nzot=qix',
            7,
            "key cannot contain a space",
        ),
        ('KEY="', 1, 'unterminated quoted value "'),
        ('KEY="value', 1, 'unterminated quoted value "value'),
        ('KEY="value\\"', 1, 'unterminated quoted value "value\\"'),
        ("KEY=\"value'", 1, "unterminated quoted value \"value'"),
        ("KEY='", 1, "unterminated quoted value '"),
        ("KEY='value", 1, "unterminated quoted value 'value"),
        ("KEY='value\\'", 1, "unterminated quoted value 'value\\'"),
        ("KEY='value\"", 1, "unterminated quoted value 'value\""),
        ('A=1\nB="start\nmore\nC=3\n', 2, 'unterminated quoted value "start'),
        ("A=1\r\nB='start\r\nC=3\r\n", 2, "unterminated quoted value 'start"),
        (
            "A=${MISSING:?is required}",
            1,
            "required variable MISSING is missing a value: is required",
        ),
        ("A=1\nB=${EMPTY:?}", 2, "required variable EMPTY is missing a value"),
        (
            'A=1\nB="x\ny ${MISSING?gone}"',
            2,
            "required variable MISSING is missing a value: gone",
        ),
        (
            "\n\nA=${VAR",
            3,
            'invalid interpolation format for "${VAR": you may need to escape any $ with another $',
        ),
    ],
)
def test_errors(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_dotenv(text, filename="project/.env", lookup=env_lookup)
    error = info.value
    assert (error.file, error.line, error.message) == ("project/.env", line, message)
    assert str(error) == f"project/.env:{line}:0: {message}"


def test_single_quotes_are_not_interpolated_so_cannot_fail() -> None:
    assert parse("A='${VAR'") == {"A": "${VAR"}


# --- read_dotenv ---------------------------------------------------------------


def test_read_dotenv(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes('\ufeff# settings\r\nA=1\r\nB="two\r\nlines"\r\nC=$A-é\r\n'.encode())
    assert read_dotenv(str(path)) == {"A": "1", "B": "two\r\nlines", "C": "1-é"}


def test_read_dotenv_uses_lookup(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("HOME\nBIN=$HOME/bin\n", encoding="utf-8")
    assert read_dotenv(str(path), lookup=env_lookup) == {"HOME": "/home/me", "BIN": "/home/me/bin"}


def test_read_dotenv_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\nB='open\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_dotenv(str(path))
    assert info.value.file == str(path)
    assert info.value.line == 2


def test_read_dotenv_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\nB=\xff\n")
    with pytest.raises(ConfigError) as info:
        read_dotenv(str(path))
    assert (info.value.file, info.value.line) == (str(path), 2)


def test_read_dotenv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_dotenv(str(tmp_path / "absent.env"))
