"""Read-only views of the trees COPY reads from and writes into, none of which may be escaped.

``ContextFS`` is the build context: untrusted. Every path is reached from a
descriptor of the context root, one component at a time with ``O_NOFOLLOW``,
so no symlink (even one swapped in while we read) leads outside it.
``LayerView`` is an image as its container would see it: the merged view of
its unpacked layers with overlayfs's rules (whiteouts, opaque directories).
``resolve`` follows symlinks in either the way a chroot would: absolute
targets and ``..`` stop at the view's root.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from typing import BinaryIO, Protocol

from ..images.extract import OPAQUE_XATTR
from .errors import StepError
from .patterns import IgnoreRules

Parts = tuple[str, ...]
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_LINKS = 40


class SourceFS(Protocol):
    """What COPY needs of a tree; ``parts`` are path components below its root, never ``..``."""

    def lstat(self, parts: Parts) -> os.stat_result | None: ...

    def listdir(self, parts: Parts) -> list[str]: ...

    def readlink(self, parts: Parts) -> str: ...

    def open(self, parts: Parts) -> BinaryIO: ...

    def excluded(self, parts: Parts) -> bool: ...

    def prune(self, parts: Parts) -> bool:
        """Whether nothing below the excluded directory ``parts`` can be re-included (no ``!`` rules)."""
        ...


class ContextFS:
    """The build context directory, with its ``.dockerignore``."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._root = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise StepError(f"cannot open the build context {path}: {exc.strerror}") from None
        self.ignore = IgnoreRules([])
        data = self.read_file(resolve(self, (".dockerignore",)), limit=1 << 20)
        if data is not None:
            try:
                self.ignore = IgnoreRules.parse(data.decode("utf-8", "replace"))
            except ValueError as exc:
                self.close()
                raise StepError(str(exc)) from None

    def close(self) -> None:
        if self._root >= 0:
            os.close(self._root)
            self._root = -1

    def _dir(self, parts: Parts) -> int:
        """A new descriptor of the directory ``parts``; OSError if missing, not a directory or a symlink."""
        fd = os.dup(self._root)
        try:
            for name in parts:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def lstat(self, parts: Parts) -> os.stat_result | None:
        if not parts:
            return os.fstat(self._root)
        try:
            fd = self._dir(parts[:-1])
        except OSError:
            return None
        try:
            return os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        except OSError:
            return None
        finally:
            os.close(fd)

    def listdir(self, parts: Parts) -> list[str]:
        fd = self._dir(parts)
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

    def readlink(self, parts: Parts) -> str:
        fd = self._dir(parts[:-1])
        try:
            return os.readlink(parts[-1], dir_fd=fd)
        finally:
            os.close(fd)

    def open(self, parts: Parts) -> BinaryIO:
        fd = self._dir(parts[:-1])
        try:
            file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=fd)
        finally:
            os.close(fd)
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            os.close(file_fd)
            raise OSError(21, f"not a regular file: {'/'.join(parts)}")
        os.set_blocking(file_fd, True)
        return os.fdopen(file_fd, "rb")

    def excluded(self, parts: Parts) -> bool:
        return self.ignore.excluded("/".join(parts))

    def prune(self, parts: Parts) -> bool:
        return not self.ignore.has_exceptions

    def read_file(self, parts: Parts, limit: int) -> bytes | None:
        """A small file of the context (never through a symlink), or None if it is not a regular file."""
        try:
            with self.open(parts) as fh:
                data = fh.read(limit + 1)
        except OSError:
            return None
        if len(data) > limit:
            raise StepError(f"{'/'.join(parts)} is too large (over {limit} bytes)")
        return data


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


class LayerView:
    """An image's layers (folders, bottom first) seen merged, as overlayfs would show them."""

    def __init__(self, layers: Sequence[str]) -> None:
        self.layers = list(layers)

    def _probe(self, layer: str, parts: Parts) -> tuple[str, str | None]:
        """Look ``parts`` up in one layer.

        "found" (with the path) or "missing": look in the layers below too;
        "hidden" (a whiteout or a non-directory on the way): absent, whatever
        is below; "found-stop" and "stop": an opaque directory on the way
        hides the layers below.
        """
        opaque = _is_opaque(layer)
        path = layer
        for i, name in enumerate(parts):
            path = os.path.join(path, name)
            try:
                st = os.lstat(path)  # every earlier component was checked to be a real directory
            except FileNotFoundError:
                return ("stop" if opaque else "missing"), None
            if _is_whiteout(st):
                return "hidden", None
            if i < len(parts) - 1:
                if not stat.S_ISDIR(st.st_mode):
                    return "hidden", None
                opaque = opaque or _is_opaque(path)
        return ("found-stop" if opaque else "found"), path

    def _find(self, parts: Parts) -> str | None:
        for layer in reversed(self.layers):
            status, path = self._probe(layer, parts)
            if status.startswith("found"):
                return path
            if status in ("hidden", "stop"):
                return None
        return None

    def lstat(self, parts: Parts) -> os.stat_result | None:
        if not parts:
            return os.lstat(self.layers[-1]) if self.layers else None
        path = self._find(parts)
        return os.lstat(path) if path is not None else None

    def listdir(self, parts: Parts) -> list[str]:
        names: dict[str, bool] = {}  # name -> visible (False: whited out above)
        for layer in reversed(self.layers):
            status, path = self._probe(layer, parts)
            if status in ("hidden", "stop"):
                break
            if path is None:
                continue
            if not os.path.isdir(path) or os.path.islink(path):
                break
            for entry in os.scandir(path):
                if entry.name not in names:
                    names[entry.name] = not _is_whiteout(entry.stat(follow_symlinks=False))
            if status == "found-stop" or _is_opaque(path):
                break
        return sorted(n for n, visible in names.items() if visible)

    def readlink(self, parts: Parts) -> str:
        path = self._find(parts)
        if path is None:
            raise FileNotFoundError(2, "No such file or directory", "/".join(parts))
        return os.readlink(path)

    def open(self, parts: Parts) -> BinaryIO:
        path = self._find(parts)
        if path is None:
            raise FileNotFoundError(2, "No such file or directory", "/".join(parts))
        return open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb")

    def excluded(self, parts: Parts) -> bool:
        return False

    def prune(self, parts: Parts) -> bool:
        return True


def split(path: str) -> Parts:
    """Components of a path; ``.`` and empty ones dropped, ``..`` kept for ``resolve``."""
    return tuple(p for p in path.split("/") if p not in ("", "."))


def resolve(fs: SourceFS, parts: Sequence[str], *, follow_last: bool = True) -> Parts:
    """``parts`` with symlinks followed inside ``fs`` (absolute targets from its root, ``..`` stops there)."""
    done: list[str] = []
    todo = list(parts)
    links = 0
    while todo:
        name = todo.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            if done:
                done.pop()
            continue
        here = (*done, name)
        st = fs.lstat(here)
        if st is not None and stat.S_ISLNK(st.st_mode) and (todo or follow_last):
            links += 1
            if links > _MAX_LINKS:
                raise StepError(f'too many levels of symbolic links at "/{"/".join(here)}"')
            target = fs.readlink(here)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/")] + todo
            continue
        done.append(name)
    return tuple(done)


class Excluding:
    """A tree with more paths left out (``COPY --exclude``): its own rules, then ``rules``, matched as BuildKit
    does against the path below the source being copied (``roots``: each source's folder)."""

    def __init__(self, src: SourceFS, rules: IgnoreRules, roots: Sequence[Parts]) -> None:
        self.src, self.rules = src, rules
        self.roots = sorted(roots, key=len, reverse=True)

    def lstat(self, parts: Parts) -> os.stat_result | None:
        return self.src.lstat(parts)

    def listdir(self, parts: Parts) -> list[str]:
        return self.src.listdir(parts)

    def readlink(self, parts: Parts) -> str:
        return self.src.readlink(parts)

    def open(self, parts: Parts) -> BinaryIO:
        return self.src.open(parts)

    def excluded(self, parts: Parts) -> bool:
        if self.src.excluded(parts):
            return True
        for root in self.roots:
            if parts[:len(root)] == root and len(parts) > len(root):
                return self.rules.excluded("/".join(parts[len(root):]))
        return False

    def prune(self, parts: Parts) -> bool:
        return self.src.prune(parts) and not self.rules.has_exceptions
