import pytest

from compose.config.markers import Override, Reset
from compose.config.yamlload import parse_documents, strip_markers
from compose.errors import ConfigError


def load(text):
    return parse_documents(text, "c.yaml")[0]


@pytest.mark.parametrize("text,value", [
    ("a: yes", "yes"), ("a: no", "no"), ("a: on", "on"), ("a: true", True), ("a: False", False),
    ("a: ~", None), ("a:", None), ("a: null", None), ("a: 0o17", 15), ("a: 0x1f", 31),
    ("a: 0440", 288), ("a: 089", 89), ("a: 0b101", 5), ("a: -0x10", -16),
    ("a: 1.5", 1.5), ("a: '1'", "1"), ("a: 1_000", 1000), ("a: 0", 0), ("a: 2001-01-01", "2001-01-01"),
])
def test_yaml_1_2_core_schema(text, value):
    assert load(text).data["a"] == value


def test_positions_of_values_and_keys():
    doc = load("services:\n  web:\n    image: x\n    ports:\n      - 80\n      - '81'\n")
    assert (doc.positions.locate(("services", "web", "ports", 1)).line,
            doc.positions.locate(("services", "web", "ports", 1)).column) == (6, 9)
    assert doc.positions.locate(("services", "web", "image"), key=True).line == 3
    # an unknown path falls back to its nearest known ancestor
    assert doc.positions.locate(("services", "web", "nope", 3)).line == 3


def test_merge_keys_explicit_keys_win():
    doc = load("x: &b\n  image: a\n  user: u\ns:\n  <<: *b\n  image: c\n")
    assert doc.data["s"] == {"image": "c", "user": "u"}


def test_merge_key_list_first_wins():
    doc = load("a: &a {k: 1}\nb: &b {k: 2, j: 3}\nc:\n  <<: [*a, *b]\n")
    assert doc.data["c"] == {"k": 1, "j": 3}


def test_duplicate_key_is_an_error_naming_both_lines():
    with pytest.raises(ConfigError) as info:
        load("services:\n  a:\n    image: x\n    image: y\n")
    assert str(info.value) == 'c.yaml:4:5: services.a: mapping key "image" already defined at line 3'


def test_malformed_yaml_names_file_and_line():
    with pytest.raises(ConfigError, match=r"^c\.yaml:3:1: invalid YAML"):
        load("services:\n  a: [\n")


def test_reset_and_override_tags():
    doc = load("a: !reset []\nb: !override\n  k: v\nc: !reset\n")
    assert doc.data["a"] == Reset([]) and doc.data["b"] == Override({"k": "v"})
    assert isinstance(doc.data["c"], Reset)
    assert strip_markers(doc.data) == {"b": {"k": "v"}}


def test_multiple_documents():
    docs = parse_documents("a: 1\n---\nb: 2\n", "c.yaml")
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}]


def test_non_scalar_key_rejected():
    with pytest.raises(ConfigError, match="mapping key must be a scalar"):
        load("? [a, b]\n: 1\n")


def test_unknown_tag_rejected():
    with pytest.raises(ConfigError, match="unsupported YAML tag !env"):
        load("a: !env HOME\n")
