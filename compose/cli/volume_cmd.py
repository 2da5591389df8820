"""``pycompose volume``: the named volumes of this state root, with ``docker volume``'s commands.

Each command is a thin call into ``engine.volumes.Volumes`` on the root
``PYCOMPOSE_ROOT`` names, imported inside the command so other commands do
not pay for it. Engine errors reach ``main.run``, which prints them on
stderr and exits 1.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from engine.volumes import Volume, Volumes

volume_app = typer.Typer(
    name="volume",
    help="Manage volumes (create, ls, inspect, rm, prune).",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)


def register(app: typer.Typer) -> None:
    app.add_typer(volume_app, name="volume")


def _store() -> Volumes:
    from engine.state import Root
    from engine.volumes import Volumes

    return Volumes(Root.from_env())


def _pairs(values: list[str] | None, what: str, *, need_value: bool) -> dict[str, str]:
    """``k=v`` options into a dict; ``k`` alone means an empty value unless one is required."""
    out = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not key or (need_value and not sep):
            from engine.errors import EngineError

            raise EngineError(f"invalid {what} {item!r}: expected key=value")
        out[key] = value
    return out


@volume_app.command("create")
def create(
    name: Annotated[str | None, typer.Argument(help="Volume name (a random one if omitted)")] = None,
    label: Annotated[list[str] | None, typer.Option("--label", help="Set metadata (key=value, repeatable)")] = None,
    driver: Annotated[str, typer.Option("-d", "--driver", help="Volume driver (only local)")] = "local",
    opt: Annotated[list[str] | None, typer.Option(
        "-o", "--opt", help="Driver option (key=value, repeatable): type=none, o=bind, device=/path")] = None,
) -> None:
    """Create a volume (an existing one of that name is kept as it is)."""
    volume = _store().create(name or secrets.token_hex(32), labels=_pairs(label, "label", need_value=False),
                             driver=driver, options=_pairs(opt, "driver option", need_value=True))
    print(volume.name)


@volume_app.command("ls")
def ls(
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only show volume names")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table, or json (one object per line)")] = "table",
    filters: Annotated[list[str] | None, typer.Option(
        "-f", "--filter", help="dangling=true|false, label=KEY[=VALUE], name=TEXT, driver=NAME")] = None,
) -> None:
    """List volumes."""
    from engine.errors import EngineError

    if fmt not in ("table", "json"):
        raise EngineError(f"unknown --format {fmt!r}: use table or json")
    wanted = _parse_filters(filters or [])
    store = _store()
    volumes = [v for v in store.list() if _matches(store, v, wanted)]
    if quiet:
        for v in volumes:
            print(v.name)
    elif fmt == "json":
        for v in volumes:
            print(json.dumps({"Driver": v.driver, "Labels": ",".join(f"{k}={x}" for k, x in sorted(v.labels.items())),
                              "Mountpoint": v.mountpoint, "Name": v.name, "Scope": "local"}))
    else:
        print(_tabulate([["DRIVER", "VOLUME NAME"], *([v.driver, v.name] for v in volumes)]))


def _parse_filters(filters: list[str]) -> list[tuple[str, str]]:
    """``key=value`` filters, checked before any volume is looked at."""
    from engine.errors import EngineError

    out = []
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep:
            raise EngineError(f"bad format of filter {item!r} (expected name=value)")
        if key not in ("dangling", "label", "name", "driver"):
            raise EngineError(f"invalid filter {key!r}: use dangling, label, name or driver")
        if key == "dangling" and value.lower() not in ("true", "false", "1", "0"):
            raise EngineError(f"invalid filter 'dangling={value}': use true or false")
        out.append((key, value))
    return out


def _matches(store: Volumes, volume: Volume, filters: list[tuple[str, str]]) -> bool:
    """Every filter holds (docker ORs repeated keys of some kinds; all are ANDed here)."""
    for key, value in filters:
        if key == "dangling":
            if bool(store.users(volume.name)) == (value.lower() in ("true", "1")):
                return False
        elif key == "label":
            lkey, lsep, lvalue = value.partition("=")
            if lkey not in volume.labels or (lsep and volume.labels[lkey] != lvalue):
                return False
        elif key == "name":
            if value not in volume.name:
                return False
        elif volume.driver != value:  # driver
            return False
    return True


@volume_app.command("inspect")
def inspect(names: Annotated[list[str], typer.Argument(help="Volumes to inspect")]) -> None:
    """Show volumes in detail: a JSON array, as ``docker volume inspect`` prints it."""
    from engine.errors import NotFound

    store = _store()
    found: list[dict[str, Any]] = []
    missing = []
    for name in names:
        try:
            v = store.get(name)
        except NotFound as exc:
            missing.append(str(exc))
            continue
        found.append({"CreatedAt": v.created, "Driver": v.driver, "Labels": v.labels or None,
                      "Mountpoint": v.mountpoint, "Name": v.name, "Options": v.options or None,
                      "Scope": "local"})
    print(json.dumps(found, indent=4))
    if missing:  # docker prints what it found, then the errors, and fails
        raise NotFound("\n".join(missing))


@volume_app.command("rm")
def rm(
    names: Annotated[list[str], typer.Argument(help="Volumes to remove")],
    force: Annotated[bool, typer.Option(
        "-f", "--force", help="Remove even if stopped containers use it; no error if missing")] = False,
) -> None:
    """Remove volumes (refused while a container uses them)."""
    store = _store()
    for name in names:
        store.remove(name, force=force)
        print(name)


@volume_app.command("prune")
def prune(
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not ask for confirmation")] = False,
    all_: Annotated[bool, typer.Option("-a", "--all", help="Remove all unused volumes, not just anonymous ones")] = False,
) -> None:
    """Remove unused anonymous volumes (with --all, every unused volume)."""
    what = "all local volumes" if all_ else "anonymous local volumes"
    if not force and not typer.confirm(
            f"WARNING! This will remove {what} not used by at least one container.\n"
            "Are you sure you want to continue?", default=False):
        return
    removed = _store().prune(all=all_)
    if removed:
        print("Deleted Volumes:")
        for name in removed:
            print(name)


def _tabulate(table: list[list[str]]) -> str:
    """Columns padded like docker's tabwriter (at least 10 wide, 3 spaces apart)."""
    widths = [max(10, max(len(row[i]) for row in table) + 3) for i in range(len(table[0]) - 1)]
    return "\n".join("".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + row[-1]
                     for row in table)
