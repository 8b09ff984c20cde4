"""The set-based statements under every page apply: multi-row inserts and updates, and look-ups of
a page's ids that stay index probes however stale the table's statistics are."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.base import table_of, utcnow
from portal.db.bulk import insert_rows, probing, probing_objects, update_rows
from portal.db.engine import session_scope
from portal.domain.integrations.models import Connection
from portal.domain.links.models import ExternalLink

LINKS = table_of(ExternalLink)


async def _connection(session: AsyncSession) -> uuid.UUID:
    connection = Connection(vendor="acme", name=f"Acme {uuid.uuid4().hex[:6]}", config={}, secrets_ciphertext="")
    session.add(connection)
    await session.flush()
    return connection.id


def _link(connection_id: uuid.UUID, n: int) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": uuid.uuid4(), "connection_id": connection_id, "remote_type": "case", "remote_id": f"t/{n}",
        "local_type": "ticket", "local_id": uuid.uuid4(), "fingerprint": f"f{n}", "origin": "remote",
        "created_at": now, "updated_at": now,
    }  # fmt: skip


async def test_rows_go_in_and_change_in_one_statement_each(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with session_scope(sessionmaker) as session:
        connection_id = await _connection(session)
        rows = [_link(connection_id, n) for n in range(3)]
        inserted = await insert_rows(session, LINKS, rows, returning=("remote_id",))
        assert sorted(inserted) == [("t/0",), ("t/1",), ("t/2",)]
        # The same remote ids again: the unique index turns them away, nothing is doubled.
        again = await insert_rows(
            session, LINKS, [_link(connection_id, 1)], skip_conflicts=True, returning=("remote_id",)
        )
        assert again == []
        await update_rows(session, LINKS, [{"id": rows[0]["id"], "fingerprint": "changed"}])
    async with sessionmaker() as session:
        statement = select(ExternalLink.remote_id, ExternalLink.fingerprint).where(
            ExternalLink.connection_id == connection_id
        )
        found = {row.remote_id: row.fingerprint for row in await session.execute(statement)}
    assert found == {"t/0": "changed", "t/1": "f1", "t/2": "f2"}


async def test_a_page_s_ids_are_found_by_one_index_probe_each_on_unanalysed_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with session_scope(sessionmaker) as session:
        connection_id = await _connection(session)
        await insert_rows(session, LINKS, [_link(connection_id, n) for n in range(3000)])
    wanted = [f"t/{n}" for n in range(0, 3000, 60)] + ["t/absent"]
    where = (ExternalLink.connection_id == connection_id, ExternalLink.remote_type == "case")
    async with sessionmaker() as session:
        # The statistics still say the table is (nearly) empty, as during a first import.
        rows = (await session.execute(probing([ExternalLink.remote_id], ExternalLink.remote_id, wanted, *where))).all()
        assert sorted(row.remote_id for row in rows) == sorted(wanted[:-1])
        objects = (await session.scalars(probing_objects(ExternalLink, ExternalLink.remote_id, wanted, *where))).all()
        assert {link.remote_id for link in objects} == set(wanted[:-1])
        assert all(isinstance(link, ExternalLink) for link in objects)

        statement = probing([ExternalLink.remote_id], ExternalLink.remote_id, wanted, *where)
        connection = await session.connection()
        compiled = statement.compile(dialect=connection.dialect)
        for _ in range(6):  # past the point where PostgreSQL may switch to a generic plan
            await connection.exec_driver_sql(
                str(compiled), tuple(compiled.params[name] for name in compiled.positiontup or ())
            )
        explained = await connection.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + str(compiled),
            tuple(compiled.params[name] for name in compiled.positiontup or ()),
        )
        plan = json.dumps(explained.scalar())
    assert '"Node Type": "Nested Loop"' in plan
    assert "uq_external_links_remote" in plan
    conditions = [node["Index Cond"] for node in _nodes(json.loads(plan)[0]["Plan"]) if "Index Cond" in node]
    assert any("remote_id" in condition for condition in conditions)  # each id is a probe, not a filter
    assert "Join Filter" not in plan


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(found for child in node.get("Plans", []) for found in _nodes(child))]
