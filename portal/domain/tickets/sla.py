"""Service levels: when an open ticket is due a first response and a resolution, from its priority.

A ticket is *breached* when it is still waiting past a target (no first response after the
response target, or still open after the resolve target), and *at risk* when it is not breached
but less than a quarter of a target's time is left. Closed tickets are neither. Both are SQL
conditions, so the dashboard counts and the queue lists the very same tickets.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ColumnElement, Float, and_, false, func, literal, or_
from sqlalchemy.orm import InstrumentedAttribute

from portal.domain.tickets.models import Priority, Status, Ticket

AT_RISK_SHARE = 0.25  # the part of a target's time left when a ticket counts as about to breach


class SlaFilter(enum.StrEnum):
    BREACHED = "breached"
    AT_RISK = "at_risk"


def _due(minutes: InstrumentedAttribute[int | None], share: float = 1.0) -> ColumnElement[datetime]:
    """``opened_at`` plus ``share`` of the target (NULL when the priority has no target: never due)."""
    seconds = minutes * literal(60.0 * share, Float)
    return Ticket.opened_at + func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def breached(now: datetime) -> ColumnElement[bool]:
    """Needs ``Priority`` and ``Status`` joined."""
    return and_(
        Status.is_closed.is_(False),
        or_(
            and_(Ticket.first_response_at.is_(None), _due(Priority.sla_response_minutes) < now),
            _due(Priority.sla_resolve_minutes) < now,
        ),
    )


def at_risk(now: datetime) -> ColumnElement[bool]:
    """Not breached yet, but under a quarter of a target's time left. Needs ``Priority`` and ``Status`` joined."""
    left = 1 - AT_RISK_SHARE
    return and_(
        Status.is_closed.is_(False),
        ~breached(now),
        or_(
            and_(Ticket.first_response_at.is_(None), _due(Priority.sla_response_minutes, left) < now),
            _due(Priority.sla_resolve_minutes, left) < now,
        ),
    )


def condition(which: SlaFilter | None, now: datetime) -> ColumnElement[bool] | None:
    if which is None:
        return None
    if which is SlaFilter.BREACHED:
        return breached(now)
    if which is SlaFilter.AT_RISK:
        return at_risk(now)
    return false()


def state(ticket: Ticket, now: datetime) -> SlaFilter | None:
    """The same rules for one loaded ticket (its priority and status loaded): for row colouring."""
    if ticket.status.is_closed:
        return None
    priority = ticket.priority
    targets = [priority.sla_resolve_minutes]
    if ticket.first_response_at is None:
        targets.append(priority.sla_response_minutes)
    elapsed = (now - ticket.opened_at).total_seconds() / 60
    minutes = [target for target in targets if target is not None]
    if any(elapsed > target for target in minutes):
        return SlaFilter.BREACHED
    if any(elapsed > target * (1 - AT_RISK_SHARE) for target in minutes):
        return SlaFilter.AT_RISK
    return None
