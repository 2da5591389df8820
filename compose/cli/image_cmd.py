"""``pycompose image``: the local image store, with ``docker image``'s commands and output.

Each command is a thin call into ``engine.images.ImageStore`` on the root
``PYCOMPOSE_ROOT`` names. The store (and tarfile, zstandard...) is imported
inside the commands, so ``pycompose --help`` and other commands do not pay
for it. Engine errors reach ``main.run``, which prints them and exits 1.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import typer

if TYPE_CHECKING:
    from engine.images import Image, ImageStore

image_app = typer.Typer(
    name="image",
    help="Manage images in the local store (import, load, save, ls, inspect, rm, tag, prune).",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)


def register(app: typer.Typer) -> None:
    app.add_typer(image_app, name="image")


def _store() -> ImageStore:
    from engine.images import ImageStore
    from engine.state import Root

    return ImageStore(Root.from_env())


def _open_input(path: str) -> BinaryIO:
    from engine.errors import EngineError

    if path == "-":
        if sys.stdin.isatty():
            raise EngineError("refusing to read an archive from a terminal: give a file or pipe one in")
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as exc:
        raise EngineError(f"cannot read {path}: {exc.strerror}") from None


@image_app.command("import")
def import_(
    file: Annotated[str, typer.Argument(help="Root filesystem tarball (tar, gzip, xz, zstd; - for stdin)")],
    name: Annotated[str | None, typer.Argument(help="NAME[:TAG] to give the image")] = None,
    change: Annotated[list[str] | None, typer.Option(
        "-c", "--change", help="Dockerfile instruction to apply (CMD, ENTRYPOINT, ENV, ...; repeatable)")] = None,
) -> None:
    """Create an image from a root filesystem tarball, like docker import."""
    store = _store()
    source = _open_input(file)
    try:
        image = store.import_tarball(source, name, change or ())
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    print(image.id)


@image_app.command("load")
def load(
    input: Annotated[str, typer.Option("-i", "--input", help="Archive to read (- for stdin)")] = "-",
) -> None:
    """Load images from a docker save or OCI archive."""
    store = _store()
    source = _open_input(input)
    try:
        names = store.load(source)
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    for name in names:
        print(f"Loaded image ID: {name}" if name.startswith("sha256:") else f"Loaded image: {name}")


@image_app.command("save")
def save(
    names: Annotated[list[str], typer.Argument(help="Images to save (tags or IDs)")],
    output: Annotated[str | None, typer.Option("-o", "--output", help="Write to this file (- for stdout)")] = None,
) -> None:
    """Save images to a tar archive that docker load accepts (stdout by default)."""
    store = _store()
    if output is None or output == "-":
        if sys.stdout.isatty():
            from engine.errors import EngineError

            raise EngineError("refusing to write an image archive to a terminal: use -o FILE or redirect stdout")
        store.save(names, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(output)), prefix=".pycompose-save-")
    try:
        with os.fdopen(fd, "wb") as fh:
            store.save(names, fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, output)
    except BaseException:
        os.unlink(tmp)
        raise


@image_app.command("ls")
def ls(
    repository: Annotated[str | None, typer.Argument(help="Only images of REPOSITORY[:TAG]")] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only show image IDs")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table, or json (one object per line)")] = "table",
) -> None:
    """List images."""
    if fmt not in ("table", "json"):
        raise typer.BadParameter(f'unsupported format "{fmt}" (table or json)', param_hint="--format")
    rows = [row for image in _store().list() for row in _rows(image)]
    if repository:
        rows = _matching(rows, repository)
    if quiet:
        for image_id in dict.fromkeys(row[2] for row in rows):
            print(image_id)
        return
    now = datetime.now(UTC)
    if fmt == "json":
        for repo, tag, short, image in rows:
            print(json.dumps(_ls_json(repo, tag, short, image, now), separators=(",", ":")))
        return
    table = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]]
    table += [[repo, tag, short, _since(image.created, now), _size(image.size)] for repo, tag, short, image in rows]
    print(_tabulate(table))


@image_app.command("inspect")
def inspect(names: Annotated[list[str], typer.Argument(help="Images to inspect (tags or IDs)")]) -> None:
    """Show images' details as a JSON array."""
    from engine.errors import EngineError

    store, found, errors = _store(), [], []
    for name in names:
        try:
            found.append(store.get(name).inspect())
        except EngineError as exc:
            errors.append(str(exc))
    print(json.dumps(found, indent=4))
    _fail(errors)


@image_app.command("rm")
def rm(
    names: Annotated[list[str], typer.Argument(help="Images to remove (tags or IDs)")],
    force: Annotated[bool, typer.Option("-f", "--force", help="Remove even if tagged twice or in use")] = False,
) -> None:
    """Untag and remove images."""
    from engine.errors import EngineError

    store, errors = _store(), []
    for name in names:
        try:
            for line in store.remove(name, force=force):
                print(line)
        except EngineError as exc:
            errors.append(str(exc))
    _fail(errors)


@image_app.command("tag")
def tag(
    source: Annotated[str, typer.Argument(help="Image to tag (tag or ID)")],
    target: Annotated[str, typer.Argument(help="New NAME[:TAG]")],
) -> None:
    """Create a tag TARGET that refers to SOURCE."""
    _store().tag(source, target)


@image_app.command("prune")
def prune(force: Annotated[bool, typer.Option("-f", "--force", help="Do not ask for confirmation")] = False) -> None:
    """Remove dangling images (untagged and unused by containers)."""
    if not force and not typer.confirm(
            "WARNING! This will remove all dangling images.\nAre you sure you want to continue?", default=False):
        return
    lines = _store().prune()
    if lines:
        print("Deleted Images:")
        for line in lines:
            print(line)


# -- output helpers --------------------------------------------------------------

Row = tuple[str, str, str, "Image"]


def _rows(image: Image) -> list[Row]:
    from engine.images import refs

    short = image.short_id
    if not image.refs:
        return [("<none>", "<none>", short, image)]
    return [(*refs.split(ref), short, image) for ref in image.refs]


def _matching(rows: list[Row], pattern: str) -> list[Row]:
    from engine.images import refs

    wanted = refs.parse(pattern)
    with_tag = ":" in pattern.rsplit("/", 1)[-1]
    return [r for r in rows if r[0] == wanted.repository and (not with_tag or r[1] == wanted.tag)]


def _fail(errors: list[str]) -> None:
    for message in errors:
        print(message, file=sys.stderr)
    if errors:
        raise typer.Exit(1)


def _parse_time(text: str) -> datetime | None:
    """RFC 3339 with up to nanoseconds (Go writes 9 digits; Python reads 6)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _since(created: str, now: datetime) -> str:
    """Docker's human duration: ``2 hours ago``, ``About a minute ago``..."""
    when = _parse_time(created)
    if when is None:
        return "N/A"
    seconds = int((now - when).total_seconds())
    minutes, hours = seconds // 60, int(seconds / 3600 + 0.5)
    if seconds < 1:
        text = "Less than a second"
    elif seconds < 60:
        text = "1 second" if seconds == 1 else f"{seconds} seconds"
    elif minutes < 60:
        text = "About a minute" if minutes == 1 else f"{minutes} minutes"
    elif hours < 48:
        text = "About an hour" if hours == 1 else f"{hours} hours"
    elif hours < 24 * 14:
        text = f"{hours // 24} days"
    elif hours < 24 * 60:
        text = f"{hours // (24 * 7)} weeks"
    elif hours < 24 * 365 * 2:
        text = f"{hours // (24 * 30)} months"
    else:
        text = f"{hours // (24 * 365)} years"
    return text + " ago"


def _size(size: float, precision: int = 3) -> str:
    """Decimal units with ``precision`` significant digits, as docker prints sizes (``4.26MB``)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.{precision}g}{units[i]}"


def _ls_json(repo: str, tag: str, short: str, image: Image, now: datetime) -> dict[str, Any]:
    when = _parse_time(image.created)
    return {
        "Containers": "N/A",
        "CreatedAt": when.strftime("%Y-%m-%d %H:%M:%S %z %Z") if when else "",
        "CreatedSince": _since(image.created, now),
        "Digest": "<none>",
        "ID": short,
        "Repository": repo,
        "SharedSize": "N/A",
        "Size": _size(image.size),
        "Tag": tag,
        "UniqueSize": "N/A",
        "VirtualSize": _size(image.size, 4),
    }


def _tabulate(table: list[list[str]]) -> str:
    """Columns padded like docker's tabwriter (at least 10 wide, 3 spaces apart)."""
    widths = [max(10, max(len(row[i]) for row in table) + 3) for i in range(len(table[0]) - 1)]
    return "\n".join("".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + row[-1]
                     for row in table)
