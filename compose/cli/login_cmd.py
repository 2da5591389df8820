"""``pycompose login`` and ``logout``: credentials for a registry, kept as Docker keeps them.

The password is read from standard input (``--password-stdin``) or asked for
on the terminal, never taken from the command line, where ``ps`` would show it.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)


def login(
    server: Annotated[str | None, typer.Argument(help="Registry (default: Docker Hub)")] = None,
    username: Annotated[str | None, typer.Option("-u", "--username", help="Username")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Take the password from stdin")] = False,
    password: Annotated[str | None, typer.Option("-p", "--password", hidden=True)] = None,
) -> None:
    """Log in to a registry."""
    from engine.images.login import login as check_and_keep

    if password is not None:
        raise UsageError("pycompose login takes no password on the command line (other users could read it in "
                         "the process list): use --password-stdin, or type it when asked")
    if username is None:
        if not sys.stdin.isatty():
            raise UsageError("pycompose login: give the user name with -u")
        username = input("Username: ").strip()
    if password_stdin:
        secret = sys.stdin.read().rstrip("\r\n")
    elif sys.stdin.isatty():
        import getpass

        secret = getpass.getpass("Password: ")
    else:
        raise UsageError("pycompose login: standard input is not a terminal; use --password-stdin")
    if not username or not secret:
        raise UsageError("pycompose login: a user name and a password are needed")
    check_and_keep(server, username, secret)
    print("Login Succeeded")


def logout(server: Annotated[str | None, typer.Argument(help="Registry (default: Docker Hub)")] = None) -> None:
    """Log out from a registry."""
    from engine.images.login import logout as forget

    key, removed = forget(server)
    print(f"Removing login credentials for {key}" if removed else f"Not logged in to {key}")
