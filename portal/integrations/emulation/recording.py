"""What an emulator was asked: the last few hundred requests, for tests and ``GET /_emulator/requests``."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    at: datetime
    method: str
    path: str
    query: str
    status: int | None  # None: the client went away before an answer started
    auth: str  # the Authorization scheme ("bearer", "basic") or "" — never its value
    fault: str  # the injected fault kind that answered, or ""

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "auth": self.auth,
            "fault": self.fault,
        }


class RequestLog:
    def __init__(self, limit: int = 500) -> None:
        self._entries: deque[RecordedRequest] = deque(maxlen=limit)

    def add(self, entry: RecordedRequest) -> None:
        self._entries.append(entry)

    def entries(self, *, method: str | None = None, path_prefix: str = "") -> list[RecordedRequest]:
        return [
            entry
            for entry in self._entries
            if (method is None or entry.method == method.upper()) and entry.path.startswith(path_prefix)
        ]

    def clear(self) -> None:
        self._entries.clear()
