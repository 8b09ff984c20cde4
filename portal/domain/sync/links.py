"""Idempotent upsert on (connection, remote type, remote id), and recognising our own echoes.

Every import of a remote object goes through :func:`lock_remote` before it looks for or creates
the local row: a transaction-scoped advisory lock on the remote key serialises concurrent
deliveries of the same object (five webhooks, a poll and a webhook...), so the second one finds
the link the first committed. The unique index on ``external_links`` stays the backstop.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.links.models import ExternalLink

# One encoder for every fingerprint: json.dumps with options builds a new one per call. The output is
# exactly json.dumps(data, sort_keys=True, default=str): stored fingerprints stay comparable.
_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def fingerprint(data: Mapping[str, Any]) -> str:
    """A stable hash of the remote fields a mapping reads; equal hashes mean nothing to apply."""
    return hashlib.sha256(_ENCODER.encode(data).encode("utf-8")).hexdigest()


async def lock_remote(
    session: AsyncSession, connection_id: uuid.UUID, remote_type: str, remote_id: str
) -> ExternalLink | None:
    """Take the remote object's lock for this transaction and return its link, if any."""
    key = f"{connection_id}:{remote_type}:{remote_id}"
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
    return await session.scalar(
        select(ExternalLink).where(
            ExternalLink.connection_id == connection_id,
            ExternalLink.remote_type == remote_type,
            ExternalLink.remote_id == remote_id,
        )
    )


def attach(
    session: AsyncSession,
    *,
    connection_id: uuid.UUID,
    remote_type: str,
    remote_id: str,
    local_type: str,
    local_id: uuid.UUID,
    remote_modified_at: datetime | None = None,
    fingerprint: str | None = None,
    remote_url: str | None = None,
    origin: str = "remote",
) -> ExternalLink:
    link = ExternalLink(
        connection_id=connection_id,
        remote_type=remote_type,
        remote_id=remote_id,
        local_type=local_type,
        local_id=local_id,
        remote_modified_at=remote_modified_at,
        fingerprint=fingerprint,
        remote_url=remote_url,
        origin=origin,
    )
    session.add(link)
    return link


async def links_of(session: AsyncSession, local_type: str, local_id: uuid.UUID) -> list[ExternalLink]:
    return list(
        (
            await session.scalars(
                select(ExternalLink).where(ExternalLink.local_type == local_type, ExternalLink.local_id == local_id)
            )
        ).all()
    )


def aspect_fingerprint(parts: Mapping[str, Any]) -> str:
    """One short hash per aspect a sync applies (in ``parts``' order), filling the 64-character fingerprint.

    Equal fingerprints: nothing to do. Otherwise :func:`changed_aspects` says which aspect changed
    since the last import, so a value staff changed in socdesk (a priority, a status) is only
    overwritten when the source's own value for it changed, not whenever anything else did.
    """
    width = 64 // max(1, len(parts))
    return "".join(fingerprint({"v": value})[:width] for value in parts.values())


def changed_aspects(previous: str | None, current: str, aspects: Sequence[str]) -> set[str]:
    """The aspects (the keys given to :func:`aspect_fingerprint`, in order) whose hash differs."""
    width = 64 // max(1, len(aspects))
    if not previous or len(previous) != len(current):
        return set(aspects)
    return {
        aspect
        for index, aspect in enumerate(aspects)
        if previous[index * width : (index + 1) * width] != current[index * width : (index + 1) * width]
    }
