"""docs/compose-cli.md against the CLI: what it says pycompose has, pycompose has; what it refuses, it refuses."""

from __future__ import annotations

import os
import pathlib
import re

import click
import typer

from compose.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROWS = [line.split("|")[1:5] for line in (ROOT / "docs" / "compose-cli.md").read_text().splitlines()
        if re.match(r"\| (command|flag|global|variable) \|", line)]


def rows(kind):
    return [(item.strip().strip("`"), status.strip()) for k, item, status, _ in ROWS if k.strip() == kind]


def tree():
    main.register([])  # every command
    return typer.main.get_command(main.app)


def options_of(command):
    return {opt for p in command.params if isinstance(p, click.Option) for opt in (*p.opts, *p.secondary_opts)}


def test_the_table_covers_compose_v2_40():
    # Docker Compose v2.40.3 (49b1c1e9) docs/reference: 35 commands, their flags, 11 global flags; 16 variables
    # (the flags of the commands refused as a whole, publish and bridge, are not counted)
    assert (len(rows("command")), len(rows("flag")), len(rows("global")), len(rows("variable"))) == (35, 176, 11, 16)
    present = sum(1 for _, _, status, _ in ROWS if status.strip() in ("yes", "accepted"))
    assert (present, len(ROWS)) == (231, 238)  # 97.1%


def test_every_command_and_flag_said_present_is_there():
    group = tree()
    for name, status in rows("command"):
        top = name.split()[0]
        if status in ("yes", "accepted"):
            assert top in group.commands, name
        elif status == "refused":
            assert top in main.REFUSED, name
    for item, status in rows("flag"):
        if status not in ("yes", "accepted"):
            continue
        command, flag = item.rsplit(" ", 1)
        names = set(flag.split(","))
        assert names <= options_of(group.commands[command]), item
    globals_ = options_of(group)
    for item, _status in rows("global"):
        assert set(item.split(",")) <= globals_, item


def test_every_variable_said_present_is_read():
    code = "\n".join(p.read_text() for p in (ROOT / "compose").rglob("*.py"))
    for name, status in rows("variable"):
        if status == "yes":
            assert f'"{name}"' in code, name


VALUED = {"--builder", "--provenance", "--sbom", "--ssh"}  # flags that take a value


def test_flags_refused_say_so(tmp_path):
    import subprocess
    import sys

    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: busybox\n")
    for item, status in rows("flag"):
        if status != "refused":
            continue
        command, flag = item.rsplit(" ", 1)
        value = ["x"] if flag in VALUED else []
        r = subprocess.run([sys.executable, "-m", "compose.cli.main", command, flag.split(",")[-1], *value], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYCOMPOSE_ROOT": str(tmp_path / "root")})
        assert r.returncode == 1 and "not supported" in r.stderr, (item, r.stderr)
        assert not (tmp_path / "root").exists() or not any((tmp_path / "root").glob("*/*")), item  # nothing made
