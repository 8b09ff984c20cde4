"""A clock tests can stop and move, so remote change times are exactly what a test says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class EmulatorClock:
    """Real UTC time until :meth:`set` freezes it; :meth:`advance` then moves it by hand."""

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._frozen_at: datetime | None = None
        if frozen_at is not None:
            self.set(frozen_at)

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def now(self) -> datetime:
        return self._frozen_at if self._frozen_at is not None else datetime.now(UTC)

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the emulator clock needs an aware datetime")
        self._frozen_at = moment.astimezone(UTC)

    def advance(self, seconds: float) -> datetime:
        """Move a frozen clock forward (a running clock is frozen at now first)."""
        self._frozen_at = self.now() + timedelta(seconds=seconds)
        return self._frozen_at

    def release(self) -> None:
        self._frozen_at = None
