"""The ``pycompose`` console script: a bare ``version`` is answered before typer is imported.

typer and click take about 35 ms to import, more than Docker Compose takes to
answer ``version`` at all; a command line that is exactly ``version`` (with
``--short`` or one ``--format``) prints what ``main``'s ``version`` command
prints, and anything else goes to ``main`` untouched.
"""

from __future__ import annotations

import sys
from typing import NoReturn


def version_text(args: list[str]) -> str | None:
    """What ``version`` prints for ``args``, when ``args`` is one of its plain forms; else None."""
    from .. import __version__

    if not args or args[0] != "version":
        return None
    rest = args[1:]
    if rest == ["--short"]:
        return f"{__version__}\n"
    if len(rest) == 2 and rest[0] in ("-f", "--format"):
        rest = [f"--format={rest[1]}"]
    if rest in ([], ["--format=pretty"]):
        return f"pycompose version v{__version__}\n"
    if rest == ["--format=json"]:
        return f'{{"version":"v{__version__}"}}\n'
    return None


def run() -> NoReturn:
    text = version_text(sys.argv[1:])
    if text is not None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            pass
        sys.exit(0)
    from .main import run as main

    main()
