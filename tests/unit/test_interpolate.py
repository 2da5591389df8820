from __future__ import annotations

from typing import Any

import pytest

from compose.config.interpolate import InterpolationError, interpolate_string, interpolate_tree
from compose.config.markers import Override, Reset
from compose.errors import ConfigError, Location

ENV = {
    "FOO": "first",
    "BAR": "",
    "JSON": '{"json":2}',
    "NAME": "web",
    "PORT": "8080",
    "DOLLAR": "$HOME",
}


def lookup(name: str) -> str | None:
    return ENV.get(name)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # no variables
        ("", ""),
        ("plain text", "plain text"),
        # plain references
        ("$FOO", "first"),
        ("${FOO}", "first"),
        ("a $FOO b", "a first b"),
        ("a ${FOO} b", "a first b"),
        ("$FOO$NAME", "firstweb"),
        ("${FOO}${NAME}", "firstweb"),
        ("$FOO-bar", "first-bar"),
        ("$FOO.bar", "first.bar"),
        ("${FOO}bar", "firstbar"),
        ("$FOObar", ""),
        ("$BAR", ""),
        ("${UNSET}", ""),
        ("This ${UNSET} var", "This  var"),
        ("$DOLLAR", "$HOME"),  # values are not interpolated again
        ("http://${NAME}:${PORT}/", "http://web:8080/"),
        ("$_", ""),
        # $$ escapes
        ("$$", "$"),
        ("$$FOO", "$FOO"),
        ("$${FOO}", "${FOO}"),
        ("$$$FOO", "$first"),
        ("$$$$", "$$"),
        ("a$$b", "a$b"),
        # a lone $ is kept
        ("$", "$"),
        ("a $ string", "a $ string"),
        ("^REGEX$", "^REGEX$"),
        ("$}", "$}"),
        ("$1", "$1"),
        ("$-", "$-"),
        ("price: 5$", "price: 5$"),
        ("$ {FOO}", "$ {FOO}"),
        # :- default when unset or empty
        ("${UNSET:-def}", "def"),
        ("${BAR:-def}", "def"),
        ("${FOO:-def}", "first"),
        ("${UNSET:-}", ""),
        ("ok ${BAR:-/non:-alphanumeric}", "ok /non:-alphanumeric"),
        # - default when unset
        ("${UNSET-def}", "def"),
        ("${BAR-def}", ""),
        ("${FOO-def}", "first"),
        ("${UNSET-}", ""),
        ("${UNSET-myerror?msg}", "myerror?msg"),
        # ? and :? when the variable has a value
        ("${FOO:?err}", "first"),
        ("${FOO?err}", "first"),
        ("${BAR?err}", ""),
        ("${FOO?bar-baz}", "first"),
        # :+ alternate when set and not empty
        ("${FOO:+alt}", "alt"),
        ("${BAR:+alt}", ""),
        ("${UNSET:+alt}", ""),
        # + alternate when set
        ("${FOO+alt}", "alt"),
        ("${BAR+alt}", "alt"),
        ("${UNSET+alt}", ""),
        # nested defaults and alternates
        ("${UNSET:-${FOO}}", "first"),
        ("${UNSET:-$FOO}", "first"),
        ("${UNSET-${FOO} ${FOO}}", "first first"),
        ("${UNSET:-foo${NAME}bar}", "foowebbar"),
        ("${UNSET:-${OTHER:-x}}", "x"),
        ("${UNSET:-${OTHER:-${THIRD:-deep}}}", "deep"),
        ("${UNSET:-${OTHER:-${FOO:-deep}}}", "first"),
        ("${FOO:-${UNSET:?never evaluated}}", "first"),
        ("+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
        ("${BAR+$FOO ${FOO:+second}}", "first second"),
        ("${FOO:+${NAME}:${PORT}}", "web:8080"),
        ("${UNSET:-$$}", "$"),
        ("${UNSET:-$${FOO}}", "${FOO}"),
        ("${UNSET:-a$$b}", "a$b"),
        ("${UNSET:-$}", "$"),
        # several expressions, and text around them
        ("${UNSET:-a}-${UNSET:-b}", "a-b"),
        ("ok ${SUBDOMAIN:-redis}.${FOO:?}", "ok redis.first"),
        (":?ok ${BAR:-defaultValue}", ":?ok defaultValue"),
        ("-ok ${FOO:-defaultValue}", "-ok first"),
        # braces inside defaults
        ('ok ${missing:-{"json":1}}', 'ok {"json":1}'),
        ('ok ${missing-{"json":1}}', 'ok {"json":1}'),
        ('ok ${JSON:-{"json":1}}', 'ok {"json":2}'),
        ("${UNSET:-x}}", "x}"),
        ("${FOO}}", "first}"),
        # compose-go: unbalanced braces close at the last "}" of the line
        ("${UNSET:-$${}", "${"),
        # multi-line strings
        ("line1\n$FOO\nline3", "line1\nfirst\nline3"),
        ("${UNSET:-{x}\n}", "{x\n}"),
    ],
)
def test_interpolate_string(template: str, expected: str) -> None:
    assert interpolate_string(template, lookup) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${UNSET:?Mandatory}", "required variable UNSET is missing a value: Mandatory"),
        ("${BAR:?Empty}", "required variable BAR is missing a value: Empty"),
        ("${UNSET?Mandatory}", "required variable UNSET is missing a value: Mandatory"),
        ("${UNSET:?}", "required variable UNSET is missing a value"),
        ("${UNSET?}", "required variable UNSET is missing a value"),
        ("${UNSET?bar-baz}", "required variable UNSET is missing a value: bar-baz"),
        ("x ${UNSET:?need ${FOO}}", "required variable UNSET is missing a value: need first"),
        ("${UNSET:?cost $$5}", "required variable UNSET is missing a value: cost $5"),
        ("${UNSET:-${OTHER:?inner}}", "required variable OTHER is missing a value: inner"),
        ("${FOO:+${UNSET?alt}}", "required variable UNSET is missing a value: alt"),
        ("ok ${FOO} ${UNSET:?late}", "required variable UNSET is missing a value: late"),
    ],
)
def test_required_variable_errors(template: str, message: str) -> None:
    with pytest.raises(InterpolationError) as info:
        interpolate_string(template, lookup)
    assert info.value.message == message
    assert str(info.value) == message


@pytest.mark.parametrize(
    "template",
    [
        "${",
        "${}",
        "${ }",
        "${ FOO}",
        "${FOO }",
        "${FOO!}",
        "${FOO",
        "${FOO:x}",
        "${FOO:}",
        "${1FOO}",
        "${FOO-bar",
        "ok ${FOO} then ${",
        "${UNSET:-${}}",
        "${FOO:-a\nb}",
    ],
)
def test_invalid_templates(template: str) -> None:
    with pytest.raises(InterpolationError) as info:
        interpolate_string(template, lookup)
    message = info.value.message
    assert message.startswith("invalid interpolation format for ")
    assert "escape any $ with another $" in message


def test_invalid_template_message_quotes_the_text() -> None:
    with pytest.raises(InterpolationError) as info:
        interpolate_string("${VAR", lookup)
    assert info.value.message == (
        'invalid interpolation format for "${VAR": you may need to escape any $ with another $'
    )


def test_unused_default_is_not_checked() -> None:
    # Like compose-go, a default is only parsed when it is used.
    assert interpolate_string("${FOO:-${}}", lookup) == "first"


@pytest.mark.parametrize(
    ("template", "unset"),
    [
        ("$UNSET", ["UNSET"]),
        ("${UNSET}", ["UNSET"]),
        ("$A $B $A", ["A", "B", "A"]),
        ("${BAR}", []),  # set but empty
        ("$FOO", []),
        ("${UNSET:-x}", []),
        ("${UNSET-x}", []),
        ("${UNSET:+x}", []),
        ("${UNSET+x}", []),
        ("${UNSET:-${OTHER}}", ["OTHER"]),
        ("${FOO:-${OTHER}}", []),  # lazy: the default is not evaluated
        ("${UNSET:+${UNSET},}B", []),
        ("${FOO:+${OTHER}}", ["OTHER"]),
        ("$$UNSET", []),
    ],
)
def test_on_unset(template: str, unset: list[str]) -> None:
    seen: list[str] = []
    interpolate_string(template, lookup, on_unset=seen.append)
    assert seen == unset


def test_lookup_is_called_with_the_name() -> None:
    asked: list[str] = []

    def recording(name: str) -> str | None:
        asked.append(name)
        return None

    interpolate_string("${A:-x} $B_1 ${C}", recording)
    assert asked == ["A", "B_1", "C"]


# --- interpolate_tree ---------------------------------------------------------


def no_location(_path: tuple[str | int, ...]) -> Location | None:
    return None


def test_tree_interpolates_values_not_keys() -> None:
    data: dict[str, Any] = {
        "services": {
            "$NAME": {
                "image": "nginx:${TAG:-latest}",
                "ports": ["${PORT}:80", 443, None],
                "environment": {"A": "$FOO", "B": True, "C": 1.5},
            }
        }
    }
    result, warnings = interpolate_tree(data, lookup, filename="compose.yaml", locate=no_location)
    assert result == {
        "services": {
            "$NAME": {
                "image": "nginx:latest",
                "ports": ["8080:80", 443, None],
                "environment": {"A": "first", "B": True, "C": 1.5},
            }
        }
    }
    assert warnings == []
    # the input is left untouched
    assert data["services"]["$NAME"]["image"] == "nginx:${TAG:-latest}"


def test_tree_markers() -> None:
    reset = Reset("$FOO")
    data = {"a": Override(["$FOO", {"b": "$NAME"}]), "c": reset, "d": Override("$PORT")}
    result, _ = interpolate_tree(data, lookup, filename="compose.yaml", locate=no_location)
    assert result["a"] == Override(["first", {"b": "web"}])
    assert result["d"] == Override("8080")
    assert result["c"] is reset
    assert data["a"] == Override(["$FOO", {"b": "$NAME"}])


def test_tree_warnings_deduplicated_in_first_seen_order() -> None:
    data = {"x": "$B", "y": ["${A}", "$B", "${C:-x}", "$A"], "z": "$$D"}
    _, warnings = interpolate_tree(data, lookup, filename="compose.yaml", locate=no_location)
    assert warnings == [
        'The "B" variable is not set. Defaulting to a blank string.',
        'The "A" variable is not set. Defaulting to a blank string.',
    ]


def test_tree_scalars_and_empty() -> None:
    assert interpolate_tree("$FOO", lookup, filename="f", locate=no_location) == ("first", [])
    assert interpolate_tree(None, lookup, filename="f", locate=no_location) == (None, [])
    assert interpolate_tree({}, lookup, filename="f", locate=no_location) == ({}, [])


def test_tree_error_is_located() -> None:
    asked: list[tuple[str | int, ...]] = []

    def locate(path: tuple[str | int, ...]) -> Location | None:
        asked.append(path)
        return Location("compose.yaml", 4, 12)

    data = {"services": {"web": {"ports": ["80", "${PORT_B:?set the port}"]}}}
    with pytest.raises(ConfigError) as info:
        interpolate_tree(data, lookup, filename="compose.yaml", locate=locate)
    error = info.value
    path = ("services", "web", "ports", 1)
    assert asked == [path]
    assert error.path == path
    assert (error.file, error.line, error.column) == ("compose.yaml", 4, 12)
    assert error.message == "required variable PORT_B is missing a value: set the port"
    assert str(error) == (
        "compose.yaml:4:12: services.web.ports[1]: "
        "required variable PORT_B is missing a value: set the port"
    )


def test_tree_error_without_location_names_the_file() -> None:
    data = {"services": {"web": {"image": Override("${TAG")}}}
    with pytest.raises(ConfigError) as info:
        interpolate_tree(data, lookup, filename="compose.yaml", locate=no_location)
    error = info.value
    assert error.file == "compose.yaml"
    assert error.line == 0
    assert error.path == ("services", "web", "image")
    assert str(error) == (
        'compose.yaml: services.web.image: invalid interpolation format for "${TAG": '
        "you may need to escape any $ with another $"
    )


def test_nesting_beyond_the_limit_is_an_error_not_a_crash():
    deep = "${X:-" * 5000 + "v" + "}" * 5000
    with pytest.raises(InterpolationError, match=r"^interpolation nested deeper than 64 levels in \"\$\{X:-"):
        interpolate_string(deep, lambda name: None)
    assert interpolate_string("${X:-" * 60 + "v" + "}" * 60, lambda name: None) == "v"
