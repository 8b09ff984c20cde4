"""The OData subset ARM list calls take: ``$filter``, ``$orderby``, ``$top`` and an opaque ``$skipToken``.

``$filter``: ``path op literal`` with ``eq ne gt ge lt le``, ``and``/``or``/``not`` and
parentheses; paths like ``properties/lastModifiedTimeUtc``; literals ``'text'`` (``''`` for a
quote), numbers, ``true``/``false``/``null``, and unquoted ISO 8601 datetimes (up to 7
fractional digits, as Sentinel prints them). Text compares case-insensitively, times by value.
``$skipToken`` is keyset, not an offset: it holds the sort key of the last item served, so an
item changed while a client pages is seen again at its new place instead of shifting the
pages and being skipped.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from portal.integrations.emulation.app import EmulatedError
from portal.integrations.sentinel.emulator.times import DATETIME, parse_ticks

Item = Mapping[str, Any]
Predicate = Callable[[Item], bool]
MAX_TOP = 1000
TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<string>'(?:[^']|'')*')"
    rf"|(?P<datetime>{DATETIME.pattern.strip('^$')})|(?P<number>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][\w/.]*))"
)
OPERATORS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})


def bad(message: str) -> EmulatedError:
    return EmulatedError(400, "BadRequest", message)


def value_at(item: Item, path: str) -> Any:
    value: Any = item
    for part in path.split("/"):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def comparable(value: Any) -> Any:
    """Times as ticks, text case-folded: what values are compared and sorted by."""
    if isinstance(value, str):
        return parse_ticks(value) if DATETIME.match(value) else value.casefold()
    return value


def _compare(left: Any, op: str, right: Any) -> bool:
    if op in ("eq", "ne"):
        return bool(left == right) == (op == "eq")
    if left is None or right is None:
        return False
    try:
        return bool({"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op])
    except TypeError:
        return False


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise bad(f"Invalid $filter: could not read it at '{text[position : position + 20]}'.")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
            while position < len(text) and text[position].isspace():
                position += 1
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise bad("Invalid $filter: it ends too early.")
        self.position += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.position += 1
            return True
        return False

    def expression(self) -> Predicate:
        left = self.conjunction()
        while self.keyword("or"):
            right = self.conjunction()
            left = functools.partial(lambda a, b, item: a(item) or b(item), left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.unary()
        while self.keyword("and"):
            right = self.unary()
            left = functools.partial(lambda a, b, item: a(item) and b(item), left, right)
        return left

    def unary(self) -> Predicate:
        if self.keyword("not"):
            inner = self.unary()
            return lambda item: not inner(item)
        kind, text = self.take()
        if kind == "open":
            inner = self.expression()
            if self.take()[0] != "close":
                raise bad("Invalid $filter: a parenthesis is not closed.")
            return inner
        if kind != "word":
            raise bad(f"Invalid $filter: expected a property path, found '{text}'.")
        path = text
        op_kind, op = self.take()
        if op_kind != "word" or op.lower() not in OPERATORS:
            raise bad(f"Invalid $filter: '{op}' is not a comparison operator.")
        literal = self.literal()
        operator = op.lower()
        return lambda item: _compare(comparable(value_at(item, path)), operator, literal)

    def literal(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return text[1:-1].replace("''", "'").casefold()
        if kind == "datetime":
            return parse_ticks(text)
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "word" and text.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text.lower()]
        raise bad(f"Invalid $filter: '{text}' is not a literal.")


def parse_filter(text: str | None) -> Predicate:
    if not text or not text.strip():
        return lambda item: True
    parser = _Parser(text)
    predicate = parser.expression()
    if parser.peek() is not None:
        raise bad(f"Invalid $filter: unexpected '{parser.peek()[1]}'.")  # type: ignore[index]
    return predicate


@dataclass(frozen=True)
class Order:
    path: str
    descending: bool


def parse_orderby(text: str | None, default: Sequence[Order]) -> list[Order]:
    if not text or not text.strip():
        return list(default)
    orders = []
    for clause in text.split(","):
        words = clause.split()
        if not 1 <= len(words) <= 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise bad(f"Invalid $orderby clause '{clause.strip()}'.")
        orders.append(Order(words[0], len(words) == 2 and words[1].lower() == "desc"))
    return orders


def parse_top(text: str | None, default: int) -> int:
    if text is None or text == "":
        return default
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_TOP:
        raise bad(f"The value '{text}' of $top is invalid. It must be an integer between 1 and {MAX_TOP}.")
    return int(text)


def _key(item: Item, orders: Sequence[Order]) -> list[Any]:
    # (is-null, value) per clause, then the name: a total order even when values tie.
    key: list[Any] = []
    for order in orders:
        value = comparable(value_at(item, order.path))
        key.append([value is None, value])
    key.append([False, str(item.get("name", ""))])
    return key


def _cmp(left: list[Any], right: list[Any], orders: Sequence[Order]) -> int:
    for index, (a, b) in enumerate(zip(left, right, strict=True)):
        descending = index < len(orders) and orders[index].descending
        if a == b:
            continue
        try:
            result = -1 if a < b else 1
        except TypeError:
            result = -1 if str(a) < str(b) else 1
        return -result if descending else result
    return 0


def encode_skip_token(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_skip_token(token: str) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise bad("The $skipToken is invalid.") from None
    if not isinstance(key, list):
        raise bad("The $skipToken is invalid.")
    return key


def page(
    items: Sequence[Item], query: Mapping[str, str], *, default_order: Sequence[Order], default_top: int
) -> tuple[list[Item], str | None]:
    """One page of ``items`` for an OData query, and the ``$skipToken`` of the next (None: last page)."""
    predicate = parse_filter(query.get("$filter"))
    orders = parse_orderby(query.get("$orderby"), default_order)
    top = parse_top(query.get("$top"), default_top)
    keyed = [(_key(item, orders), item) for item in items if predicate(item)]
    keyed.sort(key=functools.cmp_to_key(lambda a, b: _cmp(a[0], b[0], orders)))  # type: ignore[index]
    token = query.get("$skipToken")
    if token:
        after = decode_skip_token(token)
        if len(after) != len(orders) + 1:
            raise bad("The $skipToken does not belong to this query.")
        keyed = [(key, item) for key, item in keyed if _cmp(key, after, orders) > 0]
    chosen = keyed[:top]
    more = len(keyed) > top
    return [item for _, item in chosen], encode_skip_token(chosen[-1][0]) if more and chosen else None
