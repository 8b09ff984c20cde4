"""List requests the way the v2.1 API reads them: filters, sorting and cursor paging.

- Array values are comma-separated (``ids=1,2``); ids are numeric strings.
- Time filters take a suffix (``updatedAt__gt``, ``__gte``, ``__lt``, ``__lte``) and an ISO 8601
  time or epoch milliseconds; ``__between`` takes ``<ms>-<ms>``.
- ``limit`` is 1-1000 (default 10; over 1000 is a 400), ``skip`` 0-1000, ``countOnly=true``
  answers only ``totalItems``, ``skipCount=true`` leaves it null.
- The cursor is opaque (base64 of the last record's sort key). A client repeats its filters with
  it, as every known client does; a cursor sent with other filters than it was made for is a 400,
  so a client that forgets them learns it at once instead of reading the wrong records.
- Unknown query parameters are a 400 naming them: a misspelt filter never silently matches everything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from portal.integrations.sentinelone.emulator.errors import invalid
from portal.integrations.sentinelone.emulator.state import parse_iso

T = TypeVar("T")

MAX_LIMIT = 1000
DEFAULT_LIMIT = 10
MAX_SKIP = 1000
PAGING = frozenset({"limit", "skip", "cursor", "countOnly", "skipCount", "sortBy", "sortOrder"})
RANGE_SUFFIXES = ("gt", "gte", "lt", "lte", "between")
NOT_FILTERS = PAGING - {"sortBy", "sortOrder"}  # what may differ between the pages of one listing


def time_filters(*fields: str) -> frozenset[str]:
    return frozenset(f"{name}__{suffix}" for name in fields for suffix in RANGE_SUFFIXES)


class ListQuery:
    """One list request's parameters, checked against what the endpoint accepts."""

    def __init__(self, params: Mapping[str, str], allowed: Iterable[str]) -> None:
        self.params = dict(params)
        unknown = set(self.params) - set(allowed) - PAGING
        if unknown:
            raise invalid(f"{', '.join(sorted(unknown))}: Unknown field.")

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value not in (None, "") else None

    def strings(self, name: str, choices: Sequence[str] | None = None) -> list[str] | None:
        value = self.text(name)
        if value is None:
            return None
        items = [item.strip() for item in value.split(",") if item.strip()]
        if choices is not None:
            wrong = [item for item in items if item not in choices]
            if wrong:
                raise invalid(f"{name}: {', '.join(wrong)} not one of {', '.join(choices)}.")
        return items

    def ids(self, name: str) -> list[str] | None:
        items = self.strings(name)
        if items is not None and not all(item.isdigit() for item in items):
            raise invalid(f"{name}: ids are numbers.")
        return items

    def boolean(self, name: str) -> bool | None:
        value = self.text(name)
        if value is None:
            return None
        if value.lower() not in ("true", "false"):
            raise invalid(f"{name}: must be true or false.")
        return value.lower() == "true"

    def time_predicates(self, name: str) -> list[Callable[[datetime], bool]]:
        checks: list[Callable[[datetime], bool]] = []
        for suffix in RANGE_SUFFIXES:
            value = self.text(f"{name}__{suffix}")
            if value is None:
                continue
            if suffix == "between":
                low, high = _between(f"{name}__between", value)
                checks.append(_within(low, high))
                continue
            checks.append(_compare(suffix, _moment(f"{name}__{suffix}", value)))
        return checks

    def filter_signature(self) -> str:
        filters = sorted((key, value) for key, value in self.params.items() if key not in NOT_FILTERS)
        return hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:16]


def _within(low: datetime, high: datetime) -> Callable[[datetime], bool]:
    return lambda moment: low <= moment <= high


def _compare(suffix: str, bound: datetime) -> Callable[[datetime], bool]:
    if suffix == "gt":
        return lambda moment: moment > bound
    if suffix == "gte":
        return lambda moment: moment >= bound
    if suffix == "lt":
        return lambda moment: moment < bound
    return lambda moment: moment <= bound


def _moment(name: str, value: str) -> datetime:
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    try:
        return parse_iso(value)
    except ValueError:
        raise invalid(f"{name}: must be an ISO 8601 time or epoch milliseconds.") from None


def _between(name: str, value: str) -> tuple[datetime, datetime]:
    low, _, high = value.partition("-")
    if not (low.isdigit() and high.isdigit()):
        raise invalid(f"{name}: must be <ms>-<ms>.")
    return datetime.fromtimestamp(int(low) / 1000, UTC), datetime.fromtimestamp(int(high) / 1000, UTC)


def matches_time(query: ListQuery, name: str, value: str | None) -> bool:
    checks = query.time_predicates(name)
    if not checks:
        return True
    if value is None:
        return False
    moment = parse_iso(value)
    return all(check(moment) for check in checks)


@dataclass(frozen=True)
class Sorting:
    """The sort keys an endpoint offers: ``sortBy`` name -> the record's value (a string or a number)."""

    keys: Mapping[str, Callable[[Any], Any]]
    default: str


def _integer(query: ListQuery, name: str, default: int, low: int, high: int) -> int:
    value = query.text(name)
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise invalid(f"{name}: Must be between {low} and {high}.")
    return int(value)


def _encode_cursor(key: tuple[Any, int], signature: str) -> str:
    raw = json.dumps({"k": key[0], "i": key[1], "f": signature}).encode()
    return base64.b64encode(raw).decode()


def _decode_cursor(cursor: str, signature: str) -> tuple[Any, int]:
    try:
        data = json.loads(base64.b64decode(cursor, validate=True))
        key = (data["k"], int(data["i"]))
        made_for = data["f"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid("cursor: Invalid cursor.") from None
    if made_for != signature:
        raise invalid("cursor: The cursor belongs to a query with other filters; repeat them with the cursor.")
    return key


def paged(
    query: ListQuery,
    records: Iterable[T],
    *,
    sorting: Sorting,
    record_id: Callable[[T], str],
    render: Callable[[T], dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(one page of rendered records, the ``pagination`` object) for an already filtered listing."""
    limit = _integer(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    skip = _integer(query, "skip", 0, 0, MAX_SKIP)
    sort_by = query.text("sortBy") or sorting.default
    if sort_by not in sorting.keys:
        raise invalid(f"sortBy: must be one of {', '.join(sorted(sorting.keys))}.")
    order = query.text("sortOrder") or "asc"
    if order not in ("asc", "desc"):
        raise invalid("sortOrder: must be asc or desc.")
    value_of = sorting.keys[sort_by]

    def key(record: T) -> tuple[Any, int]:
        value = value_of(record)
        return ("" if value is None else value), int(record_id(record))

    ordered = sorted(records, key=key, reverse=order == "desc")
    total = None if query.boolean("skipCount") else len(ordered)
    if query.boolean("countOnly"):
        return [], {"nextCursor": None, "totalItems": len(ordered)}
    signature = query.filter_signature()
    cursor = query.text("cursor")
    if cursor:
        after = _decode_cursor(cursor, signature)
        ordered = [record for record in ordered if (key(record) > after if order == "asc" else key(record) < after)]
    window = ordered[skip : skip + limit]
    more = len(ordered) > skip + limit
    next_cursor = _encode_cursor(key(window[-1]), signature) if more and window else None
    return [render(record) for record in window], {"nextCursor": next_cursor, "totalItems": total}
