"""Sentinel's times: UTC with 100-nanosecond precision, printed with 7 fractional digits.

Python's datetime keeps microseconds, so times are kept as ticks (100 ns since the epoch). A
client that truncates ``...36.5416527Z`` to microseconds must still see the incident with ``ge``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

TICKS_PER_SECOND = 10_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})$")


def to_ticks(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10


def from_ticks(ticks: int) -> datetime:
    return EPOCH + timedelta(microseconds=ticks // 10)


def format_ticks(ticks: int) -> str:
    """``2025-08-10T01:53:36.5416527Z``."""
    whole = EPOCH + timedelta(seconds=ticks // TICKS_PER_SECOND)
    return f"{whole:%Y-%m-%dT%H:%M:%S}.{ticks % TICKS_PER_SECOND:07d}Z"


def parse_ticks(text: str) -> int:
    """An ISO 8601 time (``Z`` or an offset, up to 7 fractional digits) as ticks; ValueError otherwise."""
    match = re.match(r"^(.*?)(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})$", text.strip())
    if not DATETIME.match(text.strip()) or match is None:
        raise ValueError(f"not an ISO 8601 time: {text!r}")
    head, fraction, zone = match.groups()
    moment = datetime.fromisoformat(head + ("+00:00" if zone == "Z" else zone))
    return to_ticks(moment) + int((fraction or "").ljust(7, "0"))
