import pytest

from compose.config.units import format_duration, parse_duration, parse_size


@pytest.mark.parametrize("text,seconds", [
    ("10s", 10.0), ("1m30s", 90.0), ("500ms", 0.5), ("1h", 3600.0), ("2h45m", 9900.0),
    ("1.5s", 1.5), ("90", 90.0), ("100us", 0.0001), ("1m0.5s", 60.5), (5, 5.0),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["10 seconds", "1x", "s", "", "1m30", "--1s", True])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize("seconds,text", [
    (90, "1m30s"), (10, "10s"), (0.5, "500ms"), (3600, "1h0m0s"), (1.5, "1.5s"), (0, "0s"),
    (0.000001, "1µs"), (9900, "2h45m0s"),
])
def test_format_duration_like_go(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text,size", [
    ("512m", 512 << 20), ("1g", 1 << 30), ("1G", 1 << 30), ("1024", 1024), ("2kb", 2048),
    ("1.5g", int(1.5 * (1 << 30))), (1073741824, 1073741824), ("100b", 100), ("1gib", 1 << 30),
])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["lots", "1x", "-1g", "", True])
def test_parse_size_rejects(bad):
    with pytest.raises(ValueError):
        parse_size(bad)
