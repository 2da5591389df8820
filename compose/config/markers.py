"""Values the YAML loader wraps to carry Compose's ``!reset`` and ``!override`` tags.

They live only inside the loader pipeline (load -> interpolate -> merge) and
are gone from the merged result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Reset:
    """``key: !reset value``: when merged, drop the key from what came before."""

    value: Any = None


@dataclass
class Override:
    """``key: !override value``: when merged, replace what came before instead of merging."""

    value: Any = None
