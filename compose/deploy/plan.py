"""What ``up`` does to one service's containers: desired against actual, as a pure function.

Given the replicas wanted, the config hash and image the service should run
and what exists now, ``plan_service`` returns the actions in order. It calls
nothing, so every decision is tested without an engine; ``converge`` carries
the actions out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum


class Step(Enum):
    CREATE = "create"  # no container with this number: make one (and start it)
    START = "start"  # it exists, unchanged, stopped: start it
    RESTART = "restart"  # unchanged and running, but a dependency with ``restart: true`` was recreated
    KEEP = "keep"  # unchanged and as wanted ("Running")
    RECREATE = "recreate"  # its config or image changed: replace it
    REMOVE = "remove"  # beyond the replicas wanted


@dataclass(frozen=True)
class Existing:
    """What the plan needs to know of one existing container."""

    number: int
    config_hash: str
    image_id: str
    running: bool


@dataclass(frozen=True)
class Action:
    step: Step
    number: int


@dataclass(frozen=True)
class Policy:
    """The flags of ``up`` that change decisions."""

    force_recreate: bool = False
    no_recreate: bool = False
    no_start: bool = False


def plan_service(want: int, config_hash: str, image_id: str, existing: Mapping[int, Existing],
                 policy: Policy = Policy(), dependency_recreated: bool = False) -> list[Action]:
    """The actions that bring a service from ``existing`` to ``want`` replicas of ``config_hash`` on ``image_id``.

    ``dependency_recreated``: a dependency declared with ``restart: true`` was
    recreated by this ``up``, so running containers that are kept restart.
    """
    actions: list[Action] = []
    for number in range(1, want + 1):
        c = existing.get(number)
        if c is None:
            actions.append(Action(Step.CREATE, number))
            continue
        same = c.config_hash == config_hash and c.image_id == image_id
        if policy.no_recreate or (same and not policy.force_recreate):
            if dependency_recreated and c.running and not policy.no_start:
                actions.append(Action(Step.RESTART, number))
            elif not c.running and not policy.no_start:
                actions.append(Action(Step.START, number))
            else:
                actions.append(Action(Step.KEEP, number))
            continue
        actions.append(Action(Step.RECREATE, number))
    actions += [Action(Step.REMOVE, n) for n in sorted(existing) if n > want]
    return actions
