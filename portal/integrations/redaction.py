"""Keeping secrets out of logs: headers, URLs and bodies are redacted before anything is stored."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"
EXCERPT_LIMIT = 2000

_SENSITIVE = re.compile(
    r"(authorization|token|secret|password|passwd|api[-_]?key|cookie|code_verifier|assertion|credential|"
    r"signature|^code$|^nonce$|^state$)",
    re.IGNORECASE,
)


def is_sensitive(name: str) -> bool:
    return bool(_SENSITIVE.search(name))


def headers(values: Mapping[str, str]) -> dict[str, str]:
    return {name: (REDACTED if is_sensitive(name) else value) for name, value in values.items()}


def url(address: str) -> str:
    parts = urlsplit(address)
    if not parts.query:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))
    query = urlencode(
        [(key, REDACTED if is_sensitive(key) else value) for key, value in parse_qsl(parts.query, True)], safe="[]$:,"
    )
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1], query=query))


class _Budget:
    """Roughly how many more characters the excerpt can show: a page of 500 records is cut after
    the first few, not redacted whole only to keep its first 2,000 characters."""

    def __init__(self, characters: int) -> None:
        self.left = characters

    def spend(self, value: Any) -> bool:
        self.left -= len(str(value)) + 4
        return self.left > 0


def _walk(value: Any, budget: _Budget) -> Any:
    if isinstance(value, dict):
        walked: dict[Any, Any] = {}
        for key, item in value.items():
            if not budget.spend(key):
                break
            walked[key] = REDACTED if is_sensitive(str(key)) else _walk(item, budget)
        return walked
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            if budget.left <= 0:
                break
            items.append(_walk(item, budget))
        return items
    budget.spend(value)
    return value


def body(content: bytes | str, content_type: str = "", *, known_secrets: Iterable[str] = ()) -> str:
    """A bounded, redacted excerpt of a request or response body."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    if not text:
        return ""
    if "json" in content_type or text.lstrip()[:1] in {"{", "["}:
        with contextlib.suppress(ValueError):
            text = json.dumps(_walk(json.loads(text), _Budget(EXCERPT_LIMIT)), ensure_ascii=False)
    elif "x-www-form-urlencoded" in content_type:
        text = urlencode([(key, REDACTED if is_sensitive(key) else value) for key, value in parse_qsl(text, True)])
    return scrub(text, known_secrets)[:EXCERPT_LIMIT]


def scrub(text: str, known_secrets: Iterable[str]) -> str:
    """Replace any literal secret value that survived key-based redaction (e.g. in an error message)."""
    for secret in known_secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, REDACTED)
    return text
