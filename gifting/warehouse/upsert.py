"""Portable insert-or-update for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    *,
    keep: Sequence[str] = (),
) -> None:
    """Insert rows, or update every column but ``key`` and ``keep`` where the key exists.

    Args:
        connection: An open connection inside a transaction.
        table: The target table.
        rows: Rows as dicts; all rows must have the same keys.
        key: Columns of the primary key or a unique constraint.
        keep: Columns that keep their stored value on update, such as ``first_seen_at``.
    """
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    # Rows go as executemany parameters, not as one multi-row VALUES clause, so SQLAlchemy
    # compiles and caches one statement per table instead of one per batch size.
    statement = dialect.insert(table)
    updated = {
        name: statement.excluded[name] for name in rows[0] if name not in key and name not in keep
    }
    if updated:
        statement = statement.on_conflict_do_update(index_elements=list(key), set_=updated)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key))
    connection.execute(statement, list(rows))
