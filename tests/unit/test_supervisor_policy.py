"""The supervisor's restart decisions and back-off, as pure functions (Docker's rules)."""

from __future__ import annotations

import pytest

from engine.runtime.policy import backoff_ceiling, next_backoff, should_restart


@pytest.mark.parametrize("policy,code,count,stopping,expected", [
    ("no", 0, 0, False, False),
    ("no", 1, 0, False, False),
    ("no", 137, 5, False, False),
    ("always", 0, 0, False, True),
    ("always", 1, 1000, False, True),
    ("always", 1, 0, True, False),  # being stopped: never
    ("unless-stopped", 0, 3, False, True),
    ("unless-stopped", 2, 3, True, False),
    ("on-failure", 0, 0, False, False),  # a clean exit is not a failure
    ("on-failure", 1, 0, False, True),
    ("on-failure", 137, 99, False, True),  # no limit
    ("on-failure", 1, 0, True, False),
    ("on-failure:3", 1, 0, False, True),
    ("on-failure:3", 1, 2, False, True),
    ("on-failure:3", 1, 3, False, False),  # three restarts done
    ("on-failure:3", 0, 0, False, False),
    ("on-failure:1", 127, 0, False, True),
    ("on-failure:1", 127, 1, False, False),
    ("on-failure:0", 1, 0, False, False),
])
def test_should_restart(policy, code, count, stopping, expected):
    assert should_restart(policy, code, count, stopping) is expected


@pytest.mark.parametrize("previous,ran_for,expected", [
    (0.1, 0.0, 0.2),  # the first quick exit waits 200 ms
    (0.2, 0.5, 0.4),
    (0.4, 9.9, 0.8),
    (12.8, 1.0, 25.6),
    (25.6, 1.0, 51.2),
    (51.2, 1.0, 60.0),  # capped at a minute
    (60.0, 0.0, 60.0),
    (60.0, 10.0, 60.0),  # 10 s exactly is not more than 10 s
    (60.0, 10.5, 0.1),  # ran long enough: start over
    (0.8, 3600.0, 0.1),
])
def test_next_backoff(previous, ran_for, expected):
    assert next_backoff(previous, ran_for) == pytest.approx(expected)


@pytest.mark.parametrize("previous,ran_for,ceiling,expected", [
    (0.1, 0.0, 0.01, 0.01),
    (0.01, 0.0, 0.01, 0.01),
    (0.1, 20.0, 0.01, 0.01),  # even the restart value stays under the ceiling
    (0.1, 0.0, 0.0, 0.0),
])
def test_next_backoff_with_a_lower_ceiling(previous, ran_for, ceiling, expected):
    assert next_backoff(previous, ran_for, ceiling=ceiling) == pytest.approx(expected)


@pytest.mark.parametrize("environ,expected", [
    ({}, 60.0),
    ({"PYCOMPOSE_RESTART_BACKOFF_MAX": "0.01"}, 0.01),
    ({"PYCOMPOSE_RESTART_BACKOFF_MAX": "5"}, 5.0),
    ({"PYCOMPOSE_RESTART_BACKOFF_MAX": "600"}, 60.0),  # never above Docker's minute
    ({"PYCOMPOSE_RESTART_BACKOFF_MAX": "-1"}, 0.0),
    ({"PYCOMPOSE_RESTART_BACKOFF_MAX": "soon"}, 60.0),
])
def test_backoff_ceiling_from_the_environment(environ, expected):
    assert backoff_ceiling(environ) == expected
