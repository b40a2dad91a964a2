"""Recipient profiles from the warehouse, on SQLite and PostgreSQL: facts, cut-off and batching."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert

from gifting.personalization.enrichment import GiftKeys, load_profiles
from gifting.warehouse.schema import Account, Activity, Contact, Contract

AS_OF = datetime(2026, 6, 1)
STAMP = datetime(2026, 1, 1)


def _activity(number: int, kind: str, occurred_at: datetime, **values: Any) -> dict[str, Any]:
    return {
        "id": f"00T{number:015d}",
        "kind": kind,
        "subject": f"{kind} {number}",
        "occurred_at": occurred_at,
        "is_deleted": False,
        "system_modstamp": STAMP,
        "account_id": "001000000000000001",
        "contact_id": None,
        **values,
    }


@pytest.fixture
def warehouse(engine: Engine) -> Engine:
    """Two contacts of one account, with calls, notes and onboarding events around ``AS_OF``."""
    account = "001000000000000001"
    with engine.begin() as connection:
        connection.execute(
            insert(Account),
            [
                {"id": account, "name": "Müller AG", "industry": "Manufacturing"}
                | {"system_modstamp": STAMP, "synced_at": STAMP}
            ],
        )
        for number, (first, title, preferences) in enumerate(
            [("Jürgen", "Geschäftsführer", "coffee;no_alcohol"), (None, "Data Engineer", None)],
            start=1,
        ):
            connection.execute(
                insert(Contact).values(
                    id=f"003{number:015d}",
                    account_id=account,
                    first_name=first,
                    last_name="Example",
                    title=title,
                    preferences=preferences,
                    system_modstamp=STAMP,
                    synced_at=STAMP,
                )
            )
            connection.execute(
                insert(Contract).values(
                    id=f"800{number:015d}",
                    account_id=account,
                    contact_id=f"003{number:015d}",
                    contact_role="Executive Sponsor" if number == 1 else "End User",
                    name="Deal",
                    signed_on=date(2026, 1, 5),
                    status="Activated",
                    first_seen_at=STAMP,
                    system_modstamp=STAMP,
                    synced_at=STAMP,
                )
            )
        connection.execute(
            insert(Activity),
            [
                _activity(1, "kickoff", datetime(2026, 1, 10)),
                _activity(2, "go_live", datetime(2026, 2, 20)),
                _activity(3, "qbr", datetime(2026, 4, 2)),
                _activity(4, "qbr", datetime(2026, 6, 20)),  # after as_of: unknown yet
                _activity(
                    5,
                    "call",
                    datetime(2026, 5, 1),
                    subject="RE: Rollout\nplan",
                    contact_id="003000000000000001",
                ),
                _activity(6, "note", datetime(2026, 5, 20), subject="Account review"),
                _activity(7, "email", datetime(2026, 5, 25), subject="Invoice copy"),
                _activity(
                    8, "meeting", datetime(2026, 5, 30), subject="{% for x in y %}", is_deleted=True
                ),
                _activity(9, "meeting", datetime(2026, 7, 1), subject="Future meeting"),
            ],
        )
    return engine


def _keys() -> list[GiftKeys]:
    account = "001000000000000001"
    return [
        GiftKeys("g1", "003000000000000001", account, "800000000000000001"),
        GiftKeys("g2", "003000000000000002", account, "800000000000000002"),
        GiftKeys("g3", None, account, "800000000000000404"),
    ]


@pytest.fixture
def statements(warehouse: Engine) -> Iterator[list[str]]:
    executed: list[str] = []

    def record(*args: Any) -> None:
        executed.append(args[2])

    event.listen(warehouse, "before_cursor_execute", record)
    yield executed
    event.remove(warehouse, "before_cursor_execute", record)


def test_profile_holds_known_facts(warehouse: Engine) -> None:
    with warehouse.connect() as connection:
        profiles = load_profiles(
            connection,
            _keys(),
            as_of=AS_OF,
            categories_received={"003000000000000001": ["gourmet"]},
        )
    sponsor = profiles["g1"]
    assert sponsor.seniority == "executive"
    assert sponsor.relationship == "executive_sponsor"
    assert sponsor.industry == "Manufacturing"
    assert sponsor.preferences == frozenset({"coffee", "no_alcohol"})
    assert sponsor.kickoff_on == date(2026, 1, 10)
    assert sponsor.went_live_on == date(2026, 2, 20)
    assert sponsor.last_qbr_on == date(2026, 4, 2)
    assert sponsor.categories_received == frozenset({"gourmet"})


def test_topics_newest_first_own_before_account(warehouse: Engine) -> None:
    with warehouse.connect() as connection:
        profiles = load_profiles(connection, _keys(), as_of=AS_OF)
    assert profiles["g1"].recent_topics == ("Rollout plan", "Account review")
    assert profiles["g2"].recent_topics == ("Account review", "Rollout plan")


def test_unknown_contact_and_contract_default(warehouse: Engine) -> None:
    with warehouse.connect() as connection:
        profile = load_profiles(connection, _keys(), as_of=AS_OF)["g3"]
    assert profile.relationship == "other"
    assert profile.seniority is None
    assert profile.industry == "Manufacturing"


def test_one_query_per_table(warehouse: Engine, statements: list[str]) -> None:
    with warehouse.connect() as connection:
        load_profiles(connection, _keys() * 50, as_of=AS_OF)
    assert len(statements) == 4


def test_empty_batch_runs_no_query(warehouse: Engine, statements: list[str]) -> None:
    with warehouse.connect() as connection:
        assert load_profiles(connection, [], as_of=AS_OF) == {}
    assert statements == []
