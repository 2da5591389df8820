"""The CLI on a real terminal (a pseudo-terminal it controls): attached ``up`` and the live progress block.

What is expected is Docker Compose v2.40.3's behaviour (49b1c1e9): pkg/compose/up.go (Attaching to, the
graceful stop on the first Ctrl-C, the kill on the second), pkg/compose/printer.go ("exited with code N"),
cmd/formatter/logs.go (``web-1  | `` prefixes, colours from cmd/formatter/colors.go), pkg/progress/tty.go
(the block). The text "Gracefully Stopping... press Ctrl+C again to force" is up.go's at that version.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.e2e.ptyrun import Terminal
from tests.e2e.test_commands import cli, names  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

STACK = """\
    services:
      web:
        image: busybox:latest
        command: ["sh", "-c", "echo web up; trap 'echo web bye; exit 0' TERM; while true; do sleep 0.1; done"]
        depends_on:
          db: {condition: service_healthy}
      db:
        image: busybox:latest
        command: ["sh", "-c", "echo db up; sleep 0.5; touch /ready; trap 'echo db bye; exit 0' TERM; while true; do sleep 0.1; done"]
        healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 0.2s, retries: 50}
    """


def test_attached_up_then_ctrl_c_stops_gracefully_in_reverse_order(cli):  # noqa: F811
    cli.write(STACK)
    cli("up", "-d", "db", check=True)  # already running: its earlier output must not be replayed
    time.sleep(1)
    t = Terminal(["up"], str(cli.dir), cli.env)
    assert t.wait_for("web-1  | web up", 60), t.text
    lines = t.text.splitlines()
    assert "Attaching to db-1, web-1" in lines
    assert "db-1   | db up" not in lines  # new output only
    assert "\x1b[33mweb-1  | \x1b[0mweb up" in t.raw.decode()  # web's prefix is yellow (the second colour)
    t.type(b"\x03")
    assert t.finish(60) == 0, t.text  # as Compose after a graceful stop
    lines = t.text.splitlines()
    # the terminal echoes the ^C typed, then the message follows on that line
    stop = lines.index("^CGracefully Stopping... press Ctrl+C again to force")
    after = lines[stop:]
    # web depends on db: stopped first, and its last words are shown while the stop goes on
    assert after.index(" Container proj-web-1  Stopping") < after.index(" Container proj-web-1  Stopped") \
        < after.index(" Container proj-db-1  Stopping") < after.index(" Container proj-db-1  Stopped")
    assert "web-1  | web bye" in after and "db-1   | db bye" in after
    assert "\x1b[36mdb-1   | \x1b[0mdb bye" in t.raw.decode()  # db's is cyan (the first)
    assert "web-1 exited with code 0" in after and "db-1 exited with code 0" in after
    assert names(cli("ps", check=True).stdout) == []


def test_second_ctrl_c_kills(cli):  # noqa: F811
    cli.write("""\
        services:
          stubborn:
            image: busybox:latest
            command: ["sh", "-c", "trap 'echo ignoring' TERM; echo started; while true; do sleep 0.1; done"]
            stop_grace_period: 6s
        """)
    t = Terminal(["up"], str(cli.dir), cli.env)
    assert t.wait_for("stubborn-1  | started", 60), t.text
    t.type(b"\x03")
    assert t.wait_for("Gracefully Stopping...", 10)
    assert t.wait_for("stubborn-1  | ignoring", 10), t.text
    began = time.monotonic()
    t.type(b"\x03")
    t.finish(60)
    assert time.monotonic() - began < 4  # not the 6 s grace period
    assert "stubborn-1 exited with code 137" in t.text.splitlines()
    assert "Exited (137)" in cli("ps", "-a", check=True).stdout


def test_live_progress_block(cli):  # noqa: F811
    cli.write(STACK)
    t = Terminal(["up", "-d"], str(cli.dir), cli.env, rows=30, cols=100)
    assert t.finish(90) == 0, t.text
    raw = t.raw.decode()
    assert "\x1b[" in raw and "\x1b[?25l" in raw  # drawn in place, the cursor hidden meanwhile
    frames = t.text
    assert "[+] Running" in frames and "Waiting" in frames  # db's health was awaited on screen
    assert any(ch in frames for ch in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")  # with a spinner
    screen = [line.rstrip() for line in t.screen_lines() if line.strip()]
    final = screen[screen.index("[+] Running 3/3"):] if "[+] Running 3/3" in screen else screen
    assert [line.split()[:4] for line in final] == [
        ["[+]", "Running", "3/3"], ["✔", "Network", "proj_default", "Created"],
        ["✔", "Container", "proj-db-1", "Healthy"], ["✔", "Container", "proj-web-1", "Started"]], screen
    assert all(line.split()[-1][-1] == "s" and len(line) == 99 for line in final[1:])  # time at the right edge


def test_ansi_never_and_progress_plain_on_a_terminal_are_plain_lines(cli):  # noqa: F811
    cli.write(STACK)
    t = Terminal(["--ansi", "never", "up", "-d"], str(cli.dir), cli.env)
    assert t.finish(90) == 0
    assert "\x1b" not in t.raw.decode()
    assert " Container proj-db-1  Healthy" in t.text.splitlines()
    t = Terminal(["--progress", "json", "stop"], str(cli.dir), cli.env)
    assert t.finish(60) == 0
    assert '{"id":"Container proj-web-1","status":"Stopped"}' in t.text.splitlines()


def test_no_color_keeps_the_block_without_colours(cli):  # noqa: F811
    cli.write(STACK)
    t = Terminal(["up", "-d"], str(cli.dir), {**cli.env, "NO_COLOR": "1"})
    assert t.finish(90) == 0
    raw = t.raw.decode()
    assert "[+] Running" in t.text and "\x1b[32m" not in raw and "\x1b[34m" not in raw


RUNNER = """\
    services:
      app:
        image: busybox:latest
        command: ["sleep", "3600"]
    """


def test_run_on_a_terminal_attaches_before_the_process_starts(cli):  # noqa: F811
    import termios

    cli.write(RUNNER)
    for _ in range(3):  # the race it had: "cannot attach ... only a running container with a terminal"
        t = Terminal(["run", "--rm", "app", "echo", "hello"], str(cli.dir), cli.env)
        assert t.finish(60) == 0, t.text
        assert t.text.splitlines()[-1] == "hello"
    t = Terminal(["run", "--rm", "app", "sh", "-c", "stty size; tty; echo first; sleep 0.3; echo last; exit 3"],
                 str(cli.dir), cli.env, rows=33, cols=77)
    assert t.finish(60) == 3, t.text
    # the size was set before the process ran, and nothing it wrote was lost
    assert t.text.splitlines()[-4:] == ["33 77", "/dev/pts/0", "first", "last"]
    assert names(cli("ps", "-a", check=True).stdout) == []  # --rm
    assert t.local_modes() & termios.ECHO and t.local_modes() & termios.ICANON  # cooked again


def test_run_terminal_resizes_ctrl_c_and_raw_mode_restored(cli):  # noqa: F811
    import fcntl
    import struct
    import termios

    cli.write(RUNNER)
    t = Terminal(["run", "--rm", "app", "sh", "-c", "echo ready; sleep 1.5; stty size; "
                  "trap 'echo interrupted; exit 130' INT; while true; do sleep 0.1; done"],
                 str(cli.dir), cli.env, rows=24, cols=80)
    assert t.wait_for("ready", 60), t.text
    assert not t.local_modes() & termios.ECHO  # raw while the container has the terminal
    fcntl.ioctl(t.master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # the user resizes
    assert t.wait_for("40 120", 10), t.text
    t.type(b"\x03")  # reaches the container (its terminal turns it into SIGINT), not pycompose
    assert t.wait_for("interrupted", 10), t.text
    assert t.finish(30) == 130, t.text
    assert t.local_modes() & termios.ECHO  # restored
    assert names(cli("ps", "-a", check=True).stdout) == []


def test_run_without_a_terminal_and_detached(cli):  # noqa: F811
    cli.write(RUNNER)
    t = Terminal(["run", "-T", "--rm", "app", "sh", "-c", "tty; echo out; echo err >&2"], str(cli.dir), cli.env)
    assert t.finish(60) == 0
    assert "not a tty" in t.text and "out" in t.text.splitlines() and "err" in t.text.splitlines()
    r = cli("run", "-d", "app", check=True)
    assert len(r.stdout.strip()) == 64


def test_run_passes_a_sigterm_to_the_container_and_cleans_up(cli):  # noqa: F811
    # docker's CLI forwards the signals run receives (ForwardAllSignals): the container decides, run exits
    # with its code, the terminal is cooked again and --rm still removes it
    import signal
    import termios

    cli.write(RUNNER)
    t = Terminal(["run", "--rm", "app", "sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; "
                  "while true; do sleep 0.1; done"], str(cli.dir), cli.env)
    assert t.wait_for("ready", 60), t.text
    os.kill(t.proc.pid, signal.SIGTERM)
    assert t.finish(30) == 7, t.text
    assert t.text.splitlines()[-1] == "got-term"
    assert t.local_modes() & termios.ECHO
    assert names(cli("ps", "-a", check=True).stdout) == []
