"""The upsert stores the same values whether it sends one row or many.

On SQLite many rows skip SQLAlchemy's parameter handling and go to ``executemany`` as tuples,
with datetimes written by ``isoformat``; the stored text must match SQLAlchemy's own.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from gifting.warehouse.schema import Account
from gifting.warehouse.upsert import upsert

STAMP = datetime(2026, 5, 1, 9, 30, 15, 123000)


def account_row(account_id: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": account_id,
        "name": "Geschenke & Co. 🎁",
        "industry": None,
        "country": "DE",
        "state": None,
        "owner_id": None,
        "is_strategic": True,
        "gift_policy_cap_usd": Decimal("150.50"),
        "gift_policy_no_gifts": None,
        "gift_policy_no_alcohol": False,
        "is_deleted": False,
        "system_modstamp": STAMP,
        "synced_at": datetime(2026, 6, 1, 12),
    }
    row.update(changes)
    return row


def test_many_rows_match_single_row(engine: Engine) -> None:
    single = account_row("0015g0000000001AAA")
    many = [account_row("0015g0000000002AAA"), account_row("0015g0000000003AAA")]
    with engine.begin() as connection:
        upsert(connection, Account.__table__, [single], ["id"])
        upsert(connection, Account.__table__, many, ["id"])
    with engine.connect() as connection:
        stored = {row.id: row._asdict() for row in connection.execute(select(Account.__table__))}
        # The raw text, read without the column type, must match too.
        raw = dict(connection.exec_driver_sql("SELECT id, system_modstamp FROM accounts").all())
    expected = {key: value for key, value in single.items() if key != "id"}
    for account_id in ("0015g0000000002AAA", "0015g0000000003AAA"):
        assert {key: stored[account_id][key] for key in expected} == expected
        assert raw[account_id] == raw["0015g0000000001AAA"]
    assert stored["0015g0000000002AAA"]["system_modstamp"] == STAMP


def test_many_rows_update_existing(engine: Engine) -> None:
    first = [account_row("0015g0000000004AAA"), account_row("0015g0000000005AAA")]
    later = STAMP.replace(second=59, microsecond=7)
    second = [
        account_row("0015g0000000004AAA", name="Renamed", system_modstamp=later),
        account_row("0015g0000000005AAA", gift_policy_cap_usd=None, is_strategic=False),
    ]
    with engine.begin() as connection:
        upsert(connection, Account.__table__, first, ["id"])
        upsert(connection, Account.__table__, second, ["id"])
    with engine.connect() as connection:
        stored = {row.id: row for row in connection.execute(select(Account.__table__))}
    assert stored["0015g0000000004AAA"].name == "Renamed"
    assert stored["0015g0000000004AAA"].system_modstamp == later
    assert stored["0015g0000000005AAA"].gift_policy_cap_usd is None
    assert stored["0015g0000000005AAA"].is_strategic is False


def test_many_rows_fill_python_defaults(engine: Engine) -> None:
    rows = [account_row("0015g0000000006AAA"), account_row("0015g0000000007AAA")]
    for row in rows:
        del row["is_deleted"]  # the column's default is False
    with engine.begin() as connection:
        upsert(connection, Account.__table__, rows, ["id"])
    with engine.connect() as connection:
        stored = connection.execute(select(Account.is_deleted)).scalars().all()
    assert stored == [False, False]
