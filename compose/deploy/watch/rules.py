"""A project's ``develop.watch`` rules, and which of them a changed host path concerns.

Patterns have ``.dockerignore`` semantics (``**``, ``!`` exceptions, a folder's pattern covers what is
in it): a rule's ``ignore`` and ``include`` are relative to its ``path``, the build context's
``.dockerignore`` (or ``<Dockerfile>.dockerignore``) to the context, and editors' temporary files and
``.git`` folders are always ignored, as Docker Compose ignores them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...errors import ConfigError
from ..hooks import Hook  # a sync+exec rule's command is run as a post_start hook is

if TYPE_CHECKING:
    from engine.builder.patterns import IgnoreRules

    from ...config.model import Project, Service

SYNCS = ("sync", "sync+restart", "sync+exec")
ACTIONS = (*SYNCS, "restart", "rebuild")

# Editors' and tools' temporary files (GoLand, Emacs, Vim, Kate, Go), matched anywhere.
EPHEMERAL = ("*___jb_old___", "*___jb_tmp___", ".idea", ".#*", "#*#", "4913", "*~", ".*.swp", ".*.swx",
             ".*.swo", ".*.swn", ".*.kate-swp", "*-go-tmp-umask", ".git")



@dataclass(frozen=True)
class Rule:
    service: str
    path: str  # absolute, on the host
    action: str
    target: str = ""  # absolute, in the container (sync actions)
    ignore: IgnoreRules | None = None  # relative to ``path``
    include: IgnoreRules | None = None  # relative to ``path``; None: everything
    context: str = ""  # the service's build context, where ``dockerignore`` applies
    dockerignore: IgnoreRules | None = None
    exec: Hook | None = None
    initial_sync: bool = False

    @property
    def syncs(self) -> bool:
        return self.action in SYNCS

    def concerns(self, path: str, *, folder: bool = False) -> bool:
        """Whether a change of the host's ``path`` is this rule's (under its path, not ignored, included).
        A ``folder`` is, when ``include`` alone leaves it out: files in it may be included."""
        rel = relative(self.path, path)
        if rel is None or ephemeral(path):
            return False
        if rel and self.include is not None and not folder and not self.include.excluded(rel):
            return False
        if rel and self.ignore is not None and self.ignore.excluded(rel):
            return False
        if self.dockerignore is not None:
            in_context = relative(self.context, path)
            if in_context and self.dockerignore.excluded(in_context):
                return False
        return True

    def skips_folder(self, path: str) -> bool:
        """Whether nothing under the folder ``path`` can concern this rule (a walk need not enter it)."""
        rel = relative(self.path, path)
        if rel is None:
            return True
        if ephemeral(path):
            return True
        if rel and self.ignore is not None and not self.ignore.has_exceptions and self.ignore.excluded(rel):
            return True
        if self.dockerignore is not None and not self.dockerignore.has_exceptions:
            in_context = relative(self.context, path)
            if in_context and self.dockerignore.excluded(in_context):
                return True
        return False

    def target_of(self, path: str) -> str:
        """Where the host's ``path`` goes in the container."""
        rel = relative(self.path, path) or ""
        return os.path.normpath(os.path.join(self.target, rel)) if rel else self.target


def relative(root: str, path: str) -> str | None:
    """``path`` relative to ``root`` (slash-separated, "" for ``root`` itself); None when outside it."""
    if not root:
        return None
    if path == root:
        return ""
    prefix = root.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else None


_EPHEMERAL: IgnoreRules | None = None


def ephemeral(path: str) -> bool:
    """An editor's temporary file, or something in a ``.git`` folder."""
    global _EPHEMERAL
    if _EPHEMERAL is None:
        from engine.builder.patterns import IgnoreRules

        _EPHEMERAL = IgnoreRules.parse("\n".join(f"**/{p}" for p in EPHEMERAL))
    return _EPHEMERAL.excluded(path.lstrip("/"))


def _patterns(lines: Sequence[str], where: str) -> IgnoreRules | None:
    from engine.builder.patterns import IgnoreRules

    if not lines:
        return None
    try:
        return IgnoreRules.parse("\n".join(lines))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def dockerignore_of(svc: Service) -> IgnoreRules | None:
    """The build context's ``<Dockerfile>.dockerignore``, else its ``.dockerignore``; None without either."""
    if svc.build is None or not svc.build.context or "://" in svc.build.context:
        return None
    context = svc.build.context
    dockerfile = svc.build.dockerfile or "Dockerfile"
    for name in (os.path.join(context, dockerfile + ".dockerignore"), os.path.join(context, ".dockerignore")):
        try:
            with open(name, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ConfigError(f"service {svc.name}: {name}: {exc.strerror}") from None
        return _patterns(text.splitlines(), f"service {svc.name}: {name}")
    return None


def _bound(path: str, svc: Service) -> bool:
    """Whether ``path`` is in a folder the service binds from the host (then it needs no sync)."""
    return any(m.type == "bind" and m.source and relative(m.source.rstrip("/") or "/", path) is not None
               for m in svc.volumes)


def rules_of(project: Project, services: Iterable[str]) -> tuple[list[Rule], list[str]]:
    """The watch rules of ``services`` (with their dependencies' when they are chosen too), and warnings.

    A ``rebuild`` rule without a ``build`` section, or a ``sync+exec`` rule without a command, is a
    ConfigError naming the service; a sync rule whose path the service binds is left out with a warning.
    """
    rules: list[Rule] = []
    warnings: list[str] = []
    for name in sorted(services):
        svc = project.services[name]
        develop = svc.develop if isinstance(svc.develop, Mapping) else {}
        watch = develop.get("watch") or ()
        ignore_file = dockerignore_of(svc) if watch else None
        for i, raw in enumerate(watch):
            where = f"services.{name}.develop.watch[{i}]"
            action = str(raw.get("action", ""))
            path = os.path.normpath(str(raw.get("path", "")))
            if action == "rebuild" and svc.build is None:
                raise ConfigError(f"{where}: service {name} has no build section, so it cannot be rebuilt "
                                  "(add one, or use sync or restart)")
            hook = _hook(raw.get("exec"))
            if action == "sync+exec" and hook is None:
                raise ConfigError(f"{where}: sync+exec needs exec.command")
            if action in SYNCS and _bound(path, svc):
                warnings.append(f"path '{path}' also declared by a bind mount volume, this path won't be "
                                "monitored!")
                continue
            rules.append(Rule(
                service=name, path=path, action=action, target=_absolute(str(raw.get("target") or "")),
                ignore=_patterns(list(raw.get("ignore") or ()), f"{where}.ignore"),
                include=_patterns(list(raw.get("include") or ()), f"{where}.include"),
                context=svc.build.context if svc.build is not None and ignore_file is not None else "",
                dockerignore=ignore_file, exec=hook if action == "sync+exec" else None,
                initial_sync=bool(raw.get("initial_sync"))))
    return rules, warnings


def _absolute(target: str) -> str:
    """A relative target is relative to the container's root, as Docker's copy API takes it."""
    return os.path.normpath(os.path.join("/", target)) if target else ""


def _hook(raw: object) -> Hook | None:
    if not isinstance(raw, Mapping) or not raw.get("command"):
        return None
    env = raw.get("environment") or {}
    return Hook(command=tuple(str(a) for a in raw["command"]), user=raw.get("user") or None,
                privileged=bool(raw.get("privileged")), working_dir=raw.get("working_dir") or None,
                environment={str(k): str(v) for k, v in env.items() if v is not None})
