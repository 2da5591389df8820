"""``up``'s decision for one service (deploy.plan), table-driven."""

import pytest

from compose.deploy.plan import Action, Existing, Policy, Step, plan_service

HASH, IMAGE = "hash-1", "sha256:image-1"


def ex(number, *, config_hash=HASH, image_id=IMAGE, running=True):
    return Existing(number=number, config_hash=config_hash, image_id=image_id, running=running)


@pytest.mark.parametrize("want,existing,policy,bounced,expected", [
    # nothing there: create each replica
    (2, {}, Policy(), False, [Action(Step.CREATE, 1), Action(Step.CREATE, 2)]),
    # unchanged and running: keep; stopped: start
    (1, {1: ex(1)}, Policy(), False, [Action(Step.KEEP, 1)]),
    (1, {1: ex(1, running=False)}, Policy(), False, [Action(Step.START, 1)]),
    # --no-start leaves a stopped container stopped
    (1, {1: ex(1, running=False)}, Policy(no_start=True), False, [Action(Step.KEEP, 1)]),
    # the config or the image changed: recreate
    (1, {1: ex(1, config_hash="old")}, Policy(), False, [Action(Step.RECREATE, 1)]),
    (1, {1: ex(1, image_id="sha256:old")}, Policy(), False, [Action(Step.RECREATE, 1)]),
    # --force-recreate even when unchanged; --no-recreate never
    (1, {1: ex(1)}, Policy(force_recreate=True), False, [Action(Step.RECREATE, 1)]),
    (1, {1: ex(1, config_hash="old")}, Policy(no_recreate=True), False, [Action(Step.KEEP, 1)]),
    # scaling down removes the highest numbers; up fills the gaps
    (1, {1: ex(1), 2: ex(2), 3: ex(3)}, Policy(), False,
     [Action(Step.KEEP, 1), Action(Step.REMOVE, 2), Action(Step.REMOVE, 3)]),
    (3, {2: ex(2)}, Policy(), False, [Action(Step.CREATE, 1), Action(Step.KEEP, 2), Action(Step.CREATE, 3)]),
    (0, {1: ex(1)}, Policy(), False, [Action(Step.REMOVE, 1)]),
    # depends_on restart: true and the dependency was recreated: running ones restart, stopped ones start
    (2, {1: ex(1), 2: ex(2, running=False)}, Policy(), True, [Action(Step.RESTART, 1), Action(Step.START, 2)]),
    (1, {1: ex(1)}, Policy(no_start=True), True, [Action(Step.KEEP, 1)]),
    # a changed container is recreated, not restarted, when its dependency was recreated too
    (1, {1: ex(1, config_hash="old")}, Policy(), True, [Action(Step.RECREATE, 1)]),
])
def test_plan_service(want, existing, policy, bounced, expected):
    assert plan_service(want, HASH, IMAGE, existing, policy, dependency_recreated=bounced) == expected
