"""run passes bytes as Docker does: straight from the process (stdin by default, stdout and stderr apart,
whatever their size), and on a terminal the container's terminal is taken before the process starts."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import time

import pytest

from tests.e2e.ptyrun import ANSI
from tests.e2e.test_commands import Cli, cli  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

SERVICE = """\
    services:
      box:
        image: busybox:latest
        command: ["sleep", "3600"]
    """


def containers(c: Cli) -> list[str]:
    return sorted(os.listdir(os.path.join(c.root, "containers")))


def test_run_passes_stdin_and_keeps_streams_apart_byte_exact(cli: Cli) -> None:  # noqa: F811
    cli.write(SERVICE)
    data = os.urandom(50 << 20)  # beyond the 10 MB log file: nothing of it goes through the log
    r = subprocess.run([sys.executable, "-m", "compose.cli.main", "run", "--rm", "-T", "box", "sh", "-c",
                        "cat; echo to-stderr >&2; exit 7"], cwd=cli.dir, env=cli.env, input=data,
                       capture_output=True, timeout=180)
    assert r.returncode == 7
    assert len(r.stdout) == len(data) and r.stdout == data
    assert r.stderr.endswith(b"\nto-stderr\n") and r.stderr.count(b"to-stderr") == 1  # after run's progress
    assert [n for n in containers(cli) if not n.startswith(".")] == []  # --rm, and nothing else was made
    r = cli("run", "--rm", "-T", "--no-interactive", "box", "sh", "-c", "cat; echo done", input="ignored\n")
    assert r.returncode == 0 and r.stdout == "done\n"


def test_run_on_a_terminal_loses_nothing_and_has_our_size(cli: Cli) -> None:  # noqa: F811
    cli.write(SERVICE)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "compose.cli.main", "run", "--rm", "box", "sh", "-c",
                             "echo first-line; stty size; exit 3"], cwd=cli.dir, env=cli.env,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(30) == 3
    # the progress block (colours, cursor moves) is drawn above the container's output
    lines = [ANSI.sub("", line).strip() for line in out.decode(errors="replace").splitlines()]
    assert "first-line" in lines and "33 111" in lines  # the first output, and the terminal's size
    assert [n for n in containers(cli) if not n.startswith(".")] == []


def test_run_quiet_hides_progress_not_the_output(cli: Cli) -> None:  # noqa: F811
    # Compose's -q points os.Stdout at /dev/null after the docker CLI's streams were made from it: the
    # container's output and -d's ID still reach stdout; the progress is quiet
    cli.write(SERVICE)
    r = cli("run", "--rm", "-q", "-T", "box", "sh", "-c", "echo out; echo err >&2")
    assert (r.returncode, r.stdout, r.stderr) == (0, "out\n", "err\n")
    r = cli("run", "-q", "-d", "box", "sleep", "30")
    assert r.returncode == 0 and len(r.stdout.strip()) == 64 and r.stderr == ""


def test_run_without_a_terminal_passes_signals_to_the_container(cli: Cli) -> None:  # noqa: F811
    import signal

    cli.write(SERVICE)
    proc = subprocess.Popen([sys.executable, "-m", "compose.cli.main", "run", "--rm", "-T", "box", "sh", "-c",
                             "trap 'echo got-hup' HUP; trap 'echo got-term; exit 5' TERM; echo ready; "
                             "while true; do sleep 0.1; done"], cwd=cli.dir, env=cli.env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGHUP)
    assert proc.stdout.readline() == b"got-hup\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.readline() == b"got-term\n"
    assert proc.wait(30) == 5
    assert [n for n in containers(cli) if not n.startswith(".")] == []


def test_run_without_a_terminal_leaves_ctrl_c_to_the_container(cli: Cli) -> None:  # noqa: F811
    import signal

    cli.write(SERVICE)
    proc = subprocess.Popen([sys.executable, "-m", "compose.cli.main", "run", "--rm", "-T", "box", "sh", "-c",
                             "trap 'echo got-int; exit 130' INT; echo ready; while true; do sleep 0.1; done"],
                            cwd=cli.dir, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to run (the container is not in its process group)
    assert proc.stdout.readline() == b"got-int\n"
    assert proc.wait(30) == 130
    assert [n for n in containers(cli) if not n.startswith(".")] == []
