"""Free-text search helpers shared by every list that takes a ``q``."""

from __future__ import annotations


def like_pattern(text: str) -> str:
    """A substring pattern (use with ``escape="\\\\"``) in which the user's % and _ match themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
