"""``attach``: our terminal to a service's running container, as ``docker attach`` gives it.

A container with a terminal (``tty: true``) gets ours: raw mode (restored
on every way out), its size copied now and at each resize, keys relayed
until the container ends or the detach sequence (``ctrl-p,ctrl-q`` unless
``--detach-keys``) is typed. A container without one has its new output
followed until it exits; with ``--sig-proxy`` (the default) Ctrl-C and
SIGTERM are passed on to it. The exit code is the container's (0 after a
detach). Signal handlers only set flags.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING

from ..errors import UsageError
from .logs import LogFollower, LogPrinter

if TYPE_CHECKING:
    from .session import Session

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def detach_sequence(spec: str) -> bytes:
    """Docker's ``--detach-keys`` (``ctrl-p,ctrl-q``, ``a,ctrl-@``) as the bytes the terminal sends."""
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if len(key) == 1:
            out.append(ord(key))
        elif key.lower().startswith("ctrl-") and len(key) == 6:
            ch = key[5].lower()
            specials = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
            elif ch in specials:
                out.append(specials[ch])
            else:
                raise UsageError(f"invalid detach keys ({spec}): unknown character {key}")
        else:
            raise UsageError(f"invalid detach keys ({spec}): unknown character {key}")
    return bytes(out)


class _Flags:
    def __init__(self) -> None:
        self.resized = False
        self.signals: list[int] = []

    def on_resize(self, signum: int, frame: FrameType | None) -> None:
        self.resized = True

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)


def attach(session: Session, service: str, index: int = 1, *, detach_keys: str | None = None,
           no_stdin: bool = False, sig_proxy: bool = True) -> int:
    """Attach to container ``index`` of ``service``; the container's exit code (0 when detached)."""
    c = session.container(service, index)
    if not c.running:
        raise UsageError("You cannot attach to a stopped container, start it first")
    keys = detach_sequence(detach_keys or DEFAULT_DETACH_KEYS)
    if c.spec.tty:
        detached = _terminal(session, c.id, keys, no_stdin)
    else:
        detached = _output(session, c.id, sig_proxy)
    if detached:
        return 0
    session.rt.wait(c.id)
    return int(session.rt.get(c.id).exit_code or 0)


def _terminal(session: Session, cid: str, keys: bytes, no_stdin: bool) -> bool:
    """Relay our terminal to the container's; whether the user detached."""
    import termios
    import tty as ttymod

    from engine import sys as lx

    master, hold = session.rt.attach(cid)
    flags = _Flags()
    stdin = sys.stdin.fileno()
    interactive = not no_stdin and os.isatty(stdin)
    restore = termios.tcgetattr(stdin) if interactive else None
    previous = signal.signal(signal.SIGWINCH, flags.on_resize)
    typed = b""
    try:
        if restore is not None:
            ttymod.setraw(stdin)
        flags.resized = True
        watch = [master, stdin] if interactive else [master]
        while True:
            if flags.resized:
                flags.resized = False
                try:
                    lx.set_window_size(master, lx.window_size(sys.stdout.fileno()))
                except OSError:
                    pass
            try:
                ready, _, _ = select.select(watch, [], [], 0.5)
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    return False
                os.write(sys.stdout.fileno(), data)
            if stdin in ready:
                data = os.read(stdin, 4096)
                if not data:
                    watch.remove(stdin)
                    continue
                typed = (typed + data)[-len(keys):]
                if keys and typed == keys:
                    return True
                os.write(master, data)
    finally:
        if restore is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, restore)
        signal.signal(signal.SIGWINCH, previous)
        os.close(master)
        hold.close()


def _output(session: Session, cid: str, sig_proxy: bool) -> bool:
    """Follow the container's new output until it stops; Ctrl-C is passed on with ``sig_proxy``."""
    rt = session.rt
    follower = LogFollower(rt, [rt.get(cid)], LogPrinter([], prefix=False), new_only=True)
    flags = _Flags()
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, flags.on_signal) for sig in handled}
    try:
        while rt.get(cid).running:
            follower.poll()
            while flags.signals:
                sig = flags.signals.pop(0)
                if not sig_proxy:
                    return True
                rt.kill(cid, signal.Signals(sig).name)
            time.sleep(0.05)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    follower.poll()
    return False
