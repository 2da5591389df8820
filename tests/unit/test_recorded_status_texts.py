"""Every status and time text Docker Compose v2.40.3 printed in tests/fixtures/compose_recorded, worded again by
``compose.deploy.humanize`` from the same situation and a fixed duration of the recorded size."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from compose.deploy.humanize import ago, human_duration, state_text, status_text

RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "compose_recorded"
NOW = 1_800_000_000.0


def seconds_for(words: str) -> float:
    """A duration Docker words as ``words`` (the middle of its range)."""
    if words == "Less than a second":
        return 0.4
    if words == "About a minute":
        return 89.0
    number, unit = words.split()
    return int(number) * (60 if unit.startswith("minute") else 1) + 0.5


def stamp(seconds_ago: float) -> str:
    return datetime.fromtimestamp(NOW - seconds_ago, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def recorded_rows() -> list[dict]:
    out = []
    for name in ("ps-a.jsonl", "ps-created-killed.jsonl", "ps-a-after-two-minutes.jsonl"):
        out += [json.loads(line) for line in (RECORDED / name).read_text().splitlines()]
    return out


def recorded_table_cells() -> list[tuple[str, str]]:
    """(CREATED, STATUS) of every row of every recorded ``ps`` table."""
    out = []
    for path in sorted(RECORDED.glob("ps*.txt")):
        for line in path.read_text().splitlines()[1:]:
            cells = re.split(r"\s{2,}", line.rstrip())
            out.append((cells[4], cells[5]))
    return out


STATUS = re.compile(r"(?P<what>Up|Exited|Restarting|Created)(?: \((?P<code>\d+)\))? ?(?P<words>.*?)(?: ago)?"
                    r"(?: \((?P<tail>healthy|unhealthy|health: starting|Paused)\))?")


def reworded(state: str, status: str) -> str:
    """What pycompose says for a container in ``state`` that Docker described as ``status``."""
    m = STATUS.fullmatch(status)
    assert m, status
    if m["what"] == "Created":
        return status_text("exited", started_at=None, finished_at=None, exit_code=None, health=None, now=NOW)
    elapsed = seconds_for(m["words"])
    if m["what"] == "Up":
        health = {"health: starting": "starting"}.get(m["tail"] or "", m["tail"])
        return status_text(state, started_at=stamp(elapsed), finished_at=None, exit_code=None,
                           health=None if health == "Paused" else health, now=NOW)
    return status_text(state, started_at=stamp(elapsed + 5), finished_at=stamp(elapsed), exit_code=int(m["code"]),
                       health=None, now=NOW)


@pytest.mark.parametrize("row", recorded_rows(), ids=lambda r: f"{r['Name']}: {r['Status']}")
def test_ps_json_status_state_and_running_for(row: dict) -> None:
    assert reworded(row["State"], row["Status"]) == row["Status"]
    started = None if row["State"] == "created" else stamp(1)
    assert state_text("exited" if row["State"] == "created" else row["State"], started) == row["State"]
    assert ago(stamp(seconds_for(row["RunningFor"].removesuffix(" ago"))), NOW) == row["RunningFor"]


@pytest.mark.parametrize("created,status", recorded_table_cells())
def test_ps_table_created_and_status(created: str, status: str) -> None:
    state = {"Up": "running", "Exited": "exited", "Restarting": "restarting", "Created": "created"}[status.split()[0]]
    if status.endswith("(Paused)"):
        state = "paused"
    assert reworded(state, status) == status
    assert ago(stamp(seconds_for(created.removesuffix(" ago"))), NOW) == created


def test_the_recordings_hold_each_kind_of_text() -> None:
    texts = {s for _, s in recorded_table_cells()} | {r["Status"] for r in recorded_rows()}
    matches = [STATUS.fullmatch(t) for t in texts]
    kinds = {" ".join(filter(None, (m["what"], m["code"] and "(N)", m["tail"] and f"({m['tail']})")))
             for m in matches if m}
    assert kinds == {"Up", "Up (healthy)", "Up (health: starting)", "Up (Paused)", "Exited (N)", "Restarting (N)",
                     "Created"}
    words = {m["words"] for m in matches if m} - {""}
    assert {re.sub(r"^\d+(?= seconds| minutes)", "N", w) for w in words} == {
        "Less than a second", "1 second", "N seconds", "About a minute", "N minutes"}


@pytest.mark.parametrize("seconds,words", [
    (0.4, "Less than a second"), (1.5, "1 second"), (59.9, "59 seconds"), (60, "About a minute"),
    (119.9, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"),
])
def test_the_edges_of_the_recorded_words(seconds: float, words: str) -> None:
    assert human_duration(seconds) == words
