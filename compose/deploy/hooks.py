"""``post_start`` and ``pre_stop``: commands run inside a service's container after it starts and before a
command of ours stops it (not when it exits on its own), as Docker Compose runs them (an exec)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import UpError

if TYPE_CHECKING:
    from engine.runtime.containers import Container

    from ..config.model import Service
    from .session import Session


@dataclass(frozen=True)
class Hook:
    command: tuple[str, ...]
    user: str | None = None
    privileged: bool = False
    working_dir: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)


def _environment(raw: object) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(k): "" if v is None else str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return dict(str(item).partition("=")[::2] for item in raw)
    return {}


def parse(raw: object) -> list[Hook]:
    """The hooks of a ``post_start``/``pre_stop`` list as the schema validated it."""
    out = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        command = item.get("command")
        argv = tuple(shlex.split(command)) if isinstance(command, str) else tuple(str(a) for a in command or ())
        privileged = item.get("privileged")
        out.append(Hook(command=argv, user=str(item["user"]) if item.get("user") else None,
                        privileged=privileged is True or str(privileged).lower() == "true",
                        working_dir=str(item["working_dir"]) if item.get("working_dir") else None,
                        environment=_environment(item.get("environment"))))
    return out


def run(session: Session, svc: Service, c: Container, which: str) -> None:
    """Run ``svc``'s ``which`` hooks (``post_start`` or ``pre_stop``) in ``c``; UpError when one fails."""
    hooks: Sequence[Hook] = parse(getattr(svc, which))
    if not hooks:
        return
    from engine.runtime.exec import ExecOptions, exec_container

    for hook in hooks:
        code = exec_container(session.rt, c.id, ExecOptions(
            argv=list(hook.command), env=dict(hook.environment), user=hook.user, working_dir=hook.working_dir,
            privileged=hook.privileged))
        if code != 0:
            raise UpError(f"service {svc.name}: {which} hook ({shlex.join(hook.command)}) in {c.name} "
                          f"exited with code {code}")
