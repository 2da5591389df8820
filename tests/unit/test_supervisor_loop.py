"""The supervisor's loop and outbox on real sockets and signals: nothing in them waits."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest

from engine.runtime.loop import Loop
from engine.runtime.outbox import Outbox


def run_until(loop: Loop, done, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not done():
        assert time.monotonic() < deadline, "the loop did not get there in time"
        loop.run_once(0.05)


def test_timers_run_in_order_and_cancelled_ones_never():
    loop, ran = Loop(), []
    loop.later(0.03, lambda: ran.append("c"))
    loop.later(0.01, lambda: ran.append("a"))
    dropped = loop.later(0.02, lambda: ran.append("never"))
    loop.later(0.02, lambda: ran.append("b"))
    dropped.cancel()
    assert loop.timers() == 3
    run_until(loop, lambda: len(ran) == 3)
    assert ran == ["a", "b", "c"] and loop.timers() == 0
    loop.close()


def test_a_failing_callback_does_not_stop_the_loop(capfd):
    loop, ran = Loop(), []
    loop.later(0.0, lambda: 1 / 0)
    loop.later(0.0, lambda: ran.append("after"))
    run_until(loop, lambda: ran == ["after"])
    assert "ZeroDivisionError" in capfd.readouterr().err
    loop.close()


def test_a_callback_unwatched_by_an_earlier_one_in_the_same_round_is_not_called():
    loop, calls = Loop(), []
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    b.send(b"x")
    d.send(b"y")

    def first(mine: socket.socket, other: socket.socket, name: str) -> None:
        calls.append(name)
        mine.recv(1)
        loop.unwatch(other)  # whichever runs first drops the other

    loop.watch(a, lambda: first(a, c, "a"))
    loop.watch(c, lambda: first(c, a, "c"))
    loop.run_once(1.0)
    assert calls in (["a"], ["c"])
    for s in (a, b, c, d):
        s.close()
    loop.close()


def test_signal_handlers_only_flag_and_the_work_runs_in_the_loop():
    loop, seen = Loop(), []
    loop.on_signal(signal.SIGUSR1, lambda: seen.append(signal.SIGUSR1))
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert seen == []  # nothing ran in the handler
        start = time.monotonic()
        run_until(loop, lambda: seen == [signal.SIGUSR1])
        assert time.monotonic() - start < 1.0  # the wake-up fd ended the wait at once
    finally:
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        loop.close()


def test_a_reply_to_a_client_that_never_reads_neither_blocks_nor_stays():
    loop = Loop()
    outbox = Outbox(loop, timeout=0.3)
    server, client = socket.socketpair()
    big = {"ok": True, "data": "x" * (8 << 20)}  # far more than a socket buffer holds
    start = time.monotonic()
    outbox.reply(server, big)
    assert time.monotonic() - start < 0.5 and len(outbox) == 1
    run_until(loop, lambda: len(outbox) == 0)  # dropped after the timeout
    assert server.fileno() == -1
    client.close()
    loop.close()


def test_a_reply_too_big_for_the_buffer_arrives_whole_when_the_client_reads():
    loop = Loop()
    outbox = Outbox(loop)
    server, client = socket.socketpair()
    client.setblocking(False)
    message = {"ok": True, "data": "y" * (2 << 20)}
    outbox.reply(server, message)
    received = bytearray()

    def read() -> bool:
        try:
            while chunk := client.recv(1 << 16):
                received.extend(chunk)
        except BlockingIOError:
            return False
        return True  # EOF: the outbox closed its end after the last byte

    run_until(loop, read)
    assert json.loads(received) == message and len(outbox) == 0
    client.close()
    loop.close()


@pytest.mark.parametrize("gone", [True, False])
def test_a_reply_to_a_closed_client_is_dropped(gone):
    loop = Loop()
    outbox = Outbox(loop)
    server, client = socket.socketpair()
    if gone:
        client.close()
    outbox.reply(server, {"ok": True})
    assert len(outbox) == 0 and server.fileno() == -1
    if not gone:
        assert json.loads(client.recv(100)) == {"ok": True}
        client.close()
    loop.close()
