"""Seed a warehouse with due, personalized gifts, for load, fault and crash runs of dispatch.

Planning a sample org gives a few hundred due gifts at most. Dispatch tests and benchmarks need
thousands, so this module bulk-inserts accounts, contacts, won contracts and one gift each, in
the state that personalization leaves them: item chosen, price set, note written. The recipients
are US addresses and ``example.com`` e-mails, which the vendor sandbox accepts.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from gifting import ledger
from gifting.config import Catalog, CatalogItem
from gifting.sandbox.org import id_checksum
from gifting.warehouse.schema import Account, Contact, Contract, Gift, GiftEvent

ACTOR = "seed"
STAGE = "welcome"
_GIFT_NAMESPACE = uuid.UUID("4f1c2a8e-63b5-4a0e-9d55-0c6f3b1e7a21")


def seed_due_gifts(
    engine: Engine,
    catalog: Catalog,
    count: int,
    *,
    as_of: datetime,
    status: str = ledger.PLANNED,
    first_number: int = 0,
    batch_size: int = 2000,
) -> list[str]:
    """Insert ``count`` contracts, each with one gift due an hour before ``as_of``.

    Args:
        engine: A migrated warehouse without rows for the seeded ids.
        catalog: Items cycled through for the gifts; only items that ship to the US are used.
        count: Number of gifts.
        as_of: Naive UTC time the gifts are due by; their window ends a week later.
        status: ``planned`` (dispatch releases them first) or ``ready``.
        first_number: Number of the first seeded contract. Seed again with a higher one to add
            gifts in another status; ids and due times follow the numbers.
        batch_size: Rows per insert statement.

    Returns:
        The gift ids, in the order dispatch claims them.
    """
    if status not in (ledger.PLANNED, ledger.READY):
        raise ValueError(f"status {status!r} is invalid: seed gifts as planned or ready")
    items = [item for item in catalog.items if item.ships_to_country("US")]
    if not items:
        raise ValueError("the catalog has no item that ships to the US")
    gift_ids: list[str] = []
    stop = first_number + count
    for start in range(first_number, stop, batch_size):
        numbers = range(start, min(start + batch_size, stop))
        rows = [_rows(number, items[number % len(items)], as_of, status) for number in numbers]
        with engine.begin() as connection:
            connection.execute(insert(Account), [row["account"] for row in rows])
            connection.execute(insert(Contact), [row["contact"] for row in rows])
            connection.execute(insert(Contract), [row["contract"] for row in rows])
            connection.execute(insert(Gift), [row["gift"] for row in rows])
            connection.execute(insert(GiftEvent), [row["event"] for row in rows])
        gift_ids.extend(row["gift"]["id"] for row in rows)
    return gift_ids


def _salesforce_id(prefix: str, number: int) -> str:
    id15 = f"{prefix}{number:012d}"
    return id15 + id_checksum(id15)


def _rows(number: int, item: CatalogItem, as_of: datetime, status: str) -> dict[str, Any]:
    account_id = _salesforce_id("001", number)
    contact_id = _salesforce_id("003", number)
    contract_id = _salesforce_id("006", number)
    gift_id = str(uuid.uuid5(_GIFT_NAMESPACE, str(number)))
    stamps = {"system_modstamp": as_of, "synced_at": as_of}
    # Claims go in due order, so spreading due times by a millisecond each keeps that order
    # equal to the seeding order.
    due_at = as_of - timedelta(hours=1) + timedelta(milliseconds=number)
    return {
        "account": {"id": account_id, "name": f"Seeded Account {number}", **stamps},
        "contact": {
            "id": contact_id,
            "account_id": account_id,
            "first_name": "Sam",
            "last_name": f"Seed {number}",
            "email": f"contact{number}@example.com",
            "street": f"{number} Main St",
            "city": "Austin",
            "state": "TX",
            "postal_code": "73301",
            "country": "US",
            "gift_opt_out": False,
            **stamps,
        },
        "contract": {
            "id": contract_id,
            "account_id": account_id,
            "contact_id": contact_id,
            "name": f"Seeded Deal {number}",
            "signed_on": date(as_of.year, as_of.month, as_of.day) - timedelta(days=1),
            "status": "won",
            "first_seen_at": as_of,
            **stamps,
        },
        "gift": {
            "id": gift_id,
            "contract_id": contract_id,
            "stage": STAGE,
            "account_id": account_id,
            "contact_id": contact_id,
            "status": status,
            "due_at": due_at,
            "window_ends_at": as_of + timedelta(days=7),
            "budget_min": item.price,
            "budget_max": item.price,
            "sku": item.sku,
            "item_name": item.name,
            "price": item.price,
            "currency": item.currency,
            "note": f"Sam, welcome aboard. We are glad to work with you ({number}).",
            "attempts": 0,
            "created_at": as_of,
            "updated_at": as_of,
        },
        "event": {
            "gift_id": gift_id,
            "occurred_at": as_of,
            "from_status": None,
            "to_status": status,
            "actor": ACTOR,
            "reason": None,
        },
    }
