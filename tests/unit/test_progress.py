"""The progress sink and its renderers, line for line as Docker Compose v2.40.3 writes them.

pkg/progress/plain.go, json.go, tty.go and event.go at 49b1c1e9: plain is ``Fprintln(prefix, ID, Text,
StatusText)``, json the ``jsonMessage`` struct marshalled (fields in struct order, empty ones left out), tty a
block with a header, a spinner or mark, the padded ID and the status, and the time against the right edge.
"""

from __future__ import annotations

import io
import json
import re

import pytest

from compose.deploy.progress import Progress
from compose.deploy.progress_tty import Block
from compose.deploy.statuses import kind_of


@pytest.mark.parametrize("mode,dry,expected", [
    ("plain", False, " Container demo-db-1  Started\n"),
    ("plain", True, " DRY-RUN MODE -  Container demo-db-1  Started\n"),
    ("json", False, '{"id":"Container demo-db-1","status":"Started"}\n'),
    ("json", True, '{"dry-run":true,"id":"Container demo-db-1","status":"Started"}\n'),
    ("quiet", False, ""),
])
def test_one_event_in_each_mode(mode, dry, expected):
    out = io.StringIO()
    Progress(mode, out, dry_run=dry).event("Container", "demo-db-1", "Started")
    assert out.getvalue() == expected


def test_an_event_with_text_puts_it_between_id_and_status():
    # cp: ID = container name, Text = "copy ...", as pkg/compose/cp.go sends it
    out = io.StringIO()
    Progress("plain", out).event("", "demo-db-1", "Copied", text="copy /a to demo-db-1:/b")
    Progress("json", out).event("", "demo-db-1", "Copied", text="copy /a to demo-db-1:/b")
    assert out.getvalue().splitlines() == [
        " demo-db-1 copy /a to demo-db-1:/b Copied",
        '{"id":"demo-db-1","text":"copy /a to demo-db-1:/b","status":"Copied"}']


def test_messages_in_json_are_tail_messages_or_logrus_warnings():
    out = io.StringIO()
    p = Progress("json", out)
    p.message("end of output")
    p.message("WARN[0000] Found orphan containers")
    tail, warning = (json.loads(line) for line in out.getvalue().splitlines())
    assert tail == {"tail": True, "text": "end of output"}
    assert warning["level"] == "warning" and warning["msg"] == "Found orphan containers" and "time" in warning


def test_quiet_still_shows_warnings():
    out = io.StringIO()
    p = Progress("quiet", out)
    p.message("a summary")
    p.message("WARN[0000] careful")
    assert out.getvalue().endswith(" level=warning msg=careful\n")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_warnings_as_logrus_writes_them_on_a_terminal_and_elsewhere():
    term, pipe = _Terminal(), io.StringIO()
    Progress("plain", term).message('WARN[0000] Warning: No resource found to remove for project "x".')
    Progress("plain", pipe).message('WARN[0000] Warning: No resource found to remove for project "x".')
    assert term.getvalue() == 'WARN[0000] Warning: No resource found to remove for project "x".\n'
    assert re.fullmatch(r'time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)" level=warning '
                        r'msg="Warning: No resource found to remove for project \\"x\\"."\n', pipe.getvalue())


@pytest.mark.parametrize("status,kind", [
    ("Creating", "working"), ("Waiting", "working"), ("Stopping", "working"), ("Started", "done"),
    ("Healthy", "done"), ("Exited", "done"), ("Running", "done"), ("Error", "error"), ("Unhealthy", "error"),
    ("Warning", "warning"), ('Skipped: optional dependency "x" failed to start', "warning"),
    ("Resource is still in use", "warning"), ("Committed as sha256:abc", "done"),
])
def test_what_each_status_is(status, kind):
    assert kind_of(status) == kind


def rows(block, width=80, now=10.0):
    return ["".join(text for text, _ in pieces) + ("|" + timer if timer else "")
            for pieces, timer in block.rows(width, now)]


def test_tty_block_layout():
    b = Block("Running")
    b.event("Network demo_default", "", "Creating", now=1.0)
    b.event("Network demo_default", "", "Created", now=1.1)
    b.event("Container demo-db-1", "", "Creating", now=1.1)
    b.event("Container demo-db-1", "", "Started", now=1.5)
    b.event("Container demo-db-1", "", "Waiting", now=2.0)
    b.event("Container demo-web-1", "", "Creating", now=2.0)
    assert rows(b, now=3.25) == [
        "[+] Running 1/3",
        " ✔ Network demo_default  Created|0.1s ",
        " ⠙ Container demo-db-1   Waiting|2.1s ",  # still counting, from its first event
        " ⠹ Container demo-web-1  Creating|1.2s ",  # the spinner turns every 0.1 s
    ]
    b.event("Container demo-db-1", "", "Healthy", now=4.0)
    b.event("Container demo-web-1", "", "Started", now=4.2)
    assert rows(b, now=9.0) == [
        "[+] Running 3/3",
        " ✔ Network demo_default  Created|0.1s ",
        " ✔ Container demo-db-1   Healthy|2.9s ",
        " ✔ Container demo-web-1  Started|2.2s ",
    ]


def test_tty_block_colours_and_dry_run_prefix():
    b = Block("Stopping", dry_run=True)
    b.event("Container demo-db-1", "", "Stopped", now=1.0)
    b.event("Container demo-x-1", "", "Error", now=1.0)
    header, done, failed = list(b.rows(80, 2.0))
    assert header[0] == [("[+] Stopping 2/2", "blue")]
    assert done[0] == [(" ", ""), ("✔", "green"), (" DRY-RUN MODE - ", "cyan"), (" Container demo-db-1  ", ""),
                       ("Stopped", "green")]
    assert failed[0][1] == ("✘", "bold red") and failed[0][4] == ("Error", "bold red")


def test_tty_status_is_cut_to_the_terminal():
    b = Block("Running")
    b.event("Container demo-db-1", "", "Error response from daemon: " + "x" * 80, now=1.0)
    # tty.go: at most width - len(id text) - padding - 15 characters of it, then "..."
    assert rows(b, width=100, now=1.0)[1] == " ✘ Container demo-db-1  Error response from daemon: xxxxxxxxxxxxxxxxx...|0.0s "
