"""Pull progress rendered as Docker Compose renders it, with a fake clock."""

from __future__ import annotations

import io
import json

import pytest

from compose.deploy.progress import Progress
from compose.deploy.pullview import PullView, bar, human
from engine.images.distribution import Transfer


@pytest.mark.parametrize(("size", "text"), [(0, "0B"), (999, "999B"), (1000, "1kB"), (12_345_678, "12.35MB"),
                                            (45_610_000, "45.61MB"), (1_500_000_000, "1.5GB")])
def test_human_sizes(size, text):
    assert human(size) == text


def test_bar():
    assert bar(0, 100) == "[>" + " " * 49 + "]       0B/100B"
    assert bar(12_345_678, 45_610_000) == "[=============>" + " " * 36 + "]  12.35MB/45.61MB"
    assert bar(100, 100) == "[" + "=" * 49 + ">]     100B/100B"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def events(view: PullView, clock: Clock) -> None:
    view.service("db", "Pulling")
    view.layer("db", Transfer("aaaaaaaaaaaa", "Pulling fs layer"))
    view.layer("db", Transfer("bbbbbbbbbbbb", "Already exists"))
    view.layer("db", Transfer("aaaaaaaaaaaa", "Downloading", 1_000_000, 4_000_000))
    clock.now += 0.3
    view.layer("db", Transfer("aaaaaaaaaaaa", "Downloading", 2_000_000, 4_000_000))  # within a second: not shown
    clock.now += 0.8
    view.layer("db", Transfer("aaaaaaaaaaaa", "Downloading", 3_000_000, 4_000_000))
    view.layer("db", Transfer("aaaaaaaaaaaa", "Downloading", 4_000_000, 4_000_000))
    view.layer("db", Transfer("aaaaaaaaaaaa", "Extracting", 4_000_000, 4_000_000))
    view.layer("db", Transfer("aaaaaaaaaaaa", "Pull complete"))
    view.layer("db", Transfer("", "Digest: sha256:abc"))
    clock.now += 0.9
    view.service("db", "Pulled")


def test_plain_lines():
    out, clock = io.StringIO(), Clock()
    view = PullView(Progress("plain", out), clock=clock)
    events(view, clock)
    assert out.getvalue().splitlines() == [
        " db Pulling",
        " aaaaaaaaaaaa Pulling fs layer",
        " bbbbbbbbbbbb Already exists",
        " aaaaaaaaaaaa Downloading [============>" + " " * 37 + "]      1MB/4MB",
        " aaaaaaaaaaaa Downloading [=====================================>" + " " * 12 + "]      3MB/4MB",
        " aaaaaaaaaaaa Downloading [" + "=" * 49 + ">]      4MB/4MB",
        " aaaaaaaaaaaa Extracting [" + "=" * 49 + ">]      4MB/4MB",
        " aaaaaaaaaaaa Pull complete",
        " db Pulled",
    ]


def test_json_carries_the_same_events():
    out, clock = io.StringIO(), Clock()
    view = PullView(Progress("json", out), clock=clock)
    events(view, clock)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["id"], r["status"]) for r in records] == [
        ("db", "Pulling"), ("aaaaaaaaaaaa", "Pulling fs layer"), ("bbbbbbbbbbbb", "Already exists"),
        ("aaaaaaaaaaaa", "Downloading"), ("aaaaaaaaaaaa", "Downloading"), ("aaaaaaaaaaaa", "Downloading"),
        ("aaaaaaaaaaaa", "Extracting"), ("aaaaaaaaaaaa", "Pull complete"), ("db", "Pulled")]
    assert records[3] == {"id": "aaaaaaaaaaaa", "parent_id": "db", "status": "Downloading", "current": 1_000_000,
                          "total": 4_000_000, "percent": 25,
                          "text": "[============>" + " " * 37 + "]      1MB/4MB"}


def test_tty_block_redrawn_in_place():
    out, clock = io.StringIO(), Clock()
    view = PullView(Progress("tty", out), clock=clock)
    view.service("db", "Pulling")
    view.layer("db", Transfer("aaaaaaaaaaaa", "Downloading", 1_000_000, 4_000_000))
    assert view.lines() == ["[+] Pulling 0/1", f"{' ⠿ db Pulling 1MB/4MB':<60}   0.0s",
                            "   ⠿ aaaaaaaaaaaa Downloading [============>" + " " * 37 + "]      1MB/4MB"]
    clock.now += 2.5
    view.layer("db", Transfer("aaaaaaaaaaaa", "Pull complete"))
    view.layer("db", Transfer("bbbbbbbbbbbb", "Downloading", 500_000, 1_000_000))
    assert view.lines()[1] == f"{' ⠿ db Pulling 4.5MB/5MB':<60}   2.5s"  # the service's total: received/all
    view.layer("db", Transfer("bbbbbbbbbbbb", "Pull complete"))
    view.service("db", "Pulled")
    view.close()
    assert view.lines() == ["[+] Pulling 1/1", f"{' ✔ db Pulled':<60}   2.5s", "   ✔ aaaaaaaaaaaa Pull complete",
                            "   ✔ bbbbbbbbbbbb Pull complete"]
    text = out.getvalue()
    assert text.count("\x1b[3F") >= 2 and text.endswith("\x1b[2K   ✔ bbbbbbbbbbbb Pull complete\n")


def test_quiet_shows_nothing():
    out, clock = io.StringIO(), Clock()
    events(PullView(Progress("plain", out), quiet=True, clock=clock), clock)
    assert out.getvalue() == ""
