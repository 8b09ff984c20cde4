"""Multi-row writes in one statement each: a page of rows as column arrays through ``unnest``.

``INSERT … SELECT * FROM unnest($1::uuid[], $2::text[], …)`` sends a whole page as one
statement with one array per column, binary-encoded by the driver: the database does the
work of a hand-written loader, and Python does no per-row parameter processing (SQLAlchemy's
ORM or Core ``executemany`` would convert every value of every row on its way). The statements
still go through SQLAlchemy's connection (``exec_driver_sql``), so they run in the session's
transaction and its cursor events (statement counts, logging) see them.

Only for plain values the driver encodes itself: uuid, text, numbers, booleans, aware
datetimes, and JSONB (serialised here).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, Table, bindparam, func, select, true
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

M = TypeVar("M")

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _arrays(table: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[Any]]:
    casts: list[str] = []
    arrays: list[Any] = []
    for index, name in enumerate(columns, start=1):
        column_type = table.c[name].type
        values = [row[name] for row in rows]
        if isinstance(column_type, JSONB):
            values = [None if value is None else json.dumps(value) for value in values]
        casts.append(f"${index}::{column_type.compile(dialect=_DIALECT)}[]")
        arrays.append(values)
    return casts, arrays


async def insert_rows(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_conflicts: bool = False,
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (all with the same keys) in one statement; ``skip_conflicts``: ON CONFLICT DO NOTHING."""
    if not rows:
        return []
    columns = list(rows[0])
    casts, arrays = _arrays(table, columns, rows)
    # Names come from the model's table, never from input; every value travels as a parameter.
    sql = (
        f"INSERT INTO {_quoted(table.name)} ({', '.join(map(_quoted, columns))}) "  # noqa: S608
        f"SELECT * FROM unnest({', '.join(casts)})"
    )
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(map(_quoted, returning))
    connection = await session.connection()
    result = await connection.exec_driver_sql(sql, tuple(arrays))
    return [tuple(row) for row in result] if returning else []


async def update_rows(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], *, key: str = "id"
) -> None:
    """Set each row's columns (all rows with the same keys) where ``key`` matches, in one statement."""
    if not rows:
        return
    columns = list(rows[0])
    casts, arrays = _arrays(table, columns, rows)
    # Names come from the model's table, never from input; every value travels as a parameter.
    sets = ", ".join(f"{_quoted(name)} = v.{_quoted(name)}" for name in columns if name != key)
    sql = (
        f"UPDATE {_quoted(table.name)} AS t SET {sets} "  # noqa: S608
        f"FROM unnest({', '.join(casts)}) AS v({', '.join(map(_quoted, columns))}) "
        f"WHERE t.{_quoted(key)} = v.{_quoted(key)}"
    )
    connection = await session.connection()
    await connection.exec_driver_sql(sql, tuple(arrays))


def probing(columns: Sequence[Any], key: Any, values: Iterable[Any], *where: ColumnElement[bool]) -> Select[Any]:
    """``SELECT columns WHERE key IN values AND where``, as one index probe per value.

    Written as a LATERAL join driven by ``unnest`` of one array parameter, fenced so it stays
    one: a page's look-ups in a table that grew faster than its statistics (a first import) were
    planned as if it were empty, and ``IN``/``ANY`` became a filter or a nested loop over every
    row of the connection for every value (0.4 s a page at 10,000 links). Here each value is one
    probe of the index on ``key`` and ``where``, whatever the statistics say.
    """
    wanted, found = _probe(select(*columns), key, values, where)
    return select(found).select_from(wanted).join(found, true())


def probing_objects(model: type[M], key: Any, values: Iterable[Any], *where: ColumnElement[bool]) -> Select[M]:
    """:func:`probing` for whole ORM objects of ``model``."""
    wanted, found = _probe(select(model), key, values, where)
    return select(aliased(model, found)).select_from(wanted).join(found, true())


def _probe(
    query: Select[Any], key: Any, values: Iterable[Any], where: Sequence[ColumnElement[bool]]
) -> tuple[Any, Any]:
    array = bindparam(None, list(values), type_=ARRAY(key.type))
    wanted = func.unnest(array).table_valued("value").render_derived(name="wanted")
    # OFFSET 0 keeps the subquery from being flattened into a plain join, which the planner may
    # then run as a scan of every row (hash join) or, on stale statistics, a nested loop the wrong
    # way round.
    return wanted, query.where(key == wanted.c.value, *where).offset(0).lateral("found")
