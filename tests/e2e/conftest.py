"""The end-to-end fixtures, for every module here: ``cli`` (the CLI on a state root of the test's own)."""

from tests.e2e.test_commands import cli  # noqa: F401
