"""The words of progress events, and how each is drawn: under way, done, a warning or an error."""

from __future__ import annotations

DRY_RUN_PREFIX = " DRY-RUN MODE - "

# Statuses of work under way; Error, Unhealthy and Warning are their own; every other status is done.
WORKING = frozenset({"Creating", "Starting", "Waiting", "Restarting", "Restart", "Stopping", "Killing", "Removing",
                     "Building", "Pulling", "Pushing", "Recreate", "Copying", "Exporting", "Committing", "Pausing",
                     "Unpausing", "Running job", "Attaching"})
ERRORS = frozenset({"Error", "Unhealthy"})
WARNINGS = frozenset({"Warning", "Resource is still in use", "No resource found to remove"})


def kind_of(status: str) -> str:
    """``working``, ``done``, ``warning`` or ``error``: how a status is drawn."""
    if status in WORKING:
        return "working"
    if status in ERRORS or status.startswith("Error"):
        return "error"
    if status in WARNINGS or status.startswith("Skipped"):
        return "warning"
    return "done"
