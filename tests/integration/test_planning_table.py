"""Planning edge cases on both backends, one table row per case.

Each row seeds a few accounts, contacts and won contracts, runs ``plan_gifts`` at a fixed
``as_of`` and checks the exact status, reason and due time of the gifts it wrote. The shipped
program is used with the holdout switched off, so every seeded contract can get gifts.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert, select, update

from gifting import ledger
from gifting.config import ProgramConfig, load_program
from gifting.planning.milestones import plan_gifts
from gifting.sandbox.org import id_checksum
from gifting.settings import PROJECT_ROOT
from gifting.warehouse.schema import Account, Activity, Contact, Contract, Gift, GiftEvent

CHICAGO = ZoneInfo("America/Chicago")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
SEEDED_AT = datetime(2026, 1, 1)


@pytest.fixture
def program() -> ProgramConfig:
    program = load_program(PROJECT_ROOT / "config").model_copy(deep=True)
    program.holdout.share = 0.0
    return program


def _id(prefix: str, number: int) -> str:
    id15 = f"{prefix}{number:012d}"
    return id15 + id_checksum(id15)


def _seed(engine: Engine, numbers: range, signed_on: date, **contact: Any) -> None:
    """Insert one account, contact and won contract per number, in Chicago unless overridden."""
    contact_values = {
        "time_zone": "America/Chicago",
        "country": "US",
        "state": "TX",
        "email": None,
        "gift_opt_out": False,
        **contact,
    }
    stamps = {"system_modstamp": SEEDED_AT, "synced_at": SEEDED_AT}
    accounts = [
        {"id": _id("001", n), "name": f"Account {n}", "industry": "Technology", **stamps}
        for n in numbers
    ]
    contacts = [
        {
            "id": _id("003", n),
            "account_id": _id("001", n),
            "last_name": f"L{n}",
            "street": "1 Main St",
            **contact_values,
            **stamps,
        }
        for n in numbers
    ]
    contracts = [
        {
            "id": _id("006", n),
            "account_id": _id("001", n),
            "contact_id": _id("003", n),
            "name": f"Deal {n}",
            "signed_on": signed_on,
            "status": "won",
            "amount": 50000,
            "first_seen_at": SEEDED_AT,
            **stamps,
        }
        for n in numbers
    ]
    with engine.begin() as connection:
        connection.execute(insert(Account), accounts)
        connection.execute(insert(Contact), contacts)
        connection.execute(insert(Contract), contracts)


def _add_event(engine: Engine, account_number: int, kind: str, when: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(Activity).values(
                id=_id("00U", account_number),
                account_id=_id("001", account_number),
                kind=kind,
                subject=kind,
                occurred_at=when,
                is_deleted=False,
                system_modstamp=SEEDED_AT,
            )
        )


def _gifts(engine: Engine) -> dict[tuple[int, str], Any]:
    """Return every gift by (account number, stage)."""
    with engine.connect() as connection:
        rows = connection.execute(select(Gift)).all()
    return {(int(row.account_id[3:15]), row.stage): row for row in rows}


# (signed_on, contact overrides, QBR day or None, as_of, stage, status, reason,
#  UTC due time, local due time, recipient zone)
ONE_GIFT_CASES = {
    # Day 90 is Wednesday 2 September. The QBR on day 104 moves the arrival to two days
    # before it (Monday 14 September), so the gift is sent three business days earlier.
    "qbr_two_weeks_after_day_90": (
        date(2026, 6, 4),
        {},
        datetime(2026, 9, 16, 15, 0),
        datetime(2026, 6, 4, 16, 0),
        "first_quarter",
        ledger.PLANNED,
        "aligned to QBR on 2026-09-16",
        datetime(2026, 9, 9, 15, 0),
        datetime(2026, 9, 9, 10, 0),
        CHICAGO,
    ),
    # The welcome window is 24 hours from the due time: a first sync at its last minute plans
    # the gift, one minute later skips it.
    "first_sync_at_window_end": (
        date(2026, 6, 1),
        {},
        None,
        datetime(2026, 6, 2, 15, 0),
        "welcome",
        ledger.PLANNED,
        None,
        datetime(2026, 6, 1, 15, 0),
        datetime(2026, 6, 1, 10, 0),
        CHICAGO,
    ),
    "first_sync_after_window": (
        date(2026, 6, 1),
        {},
        None,
        datetime(2026, 6, 2, 15, 1),
        "welcome",
        ledger.SKIPPED,
        "window_missed",
        datetime(2026, 6, 1, 15, 0),
        datetime(2026, 6, 1, 10, 0),
        CHICAGO,
    ),
    # Signed at 23:30 in Los Angeles on 10 June and planned 15 minutes later (06:45 UTC on
    # 11 June): the welcome is due on the local signing day, not the UTC day.
    "signed_2330_local": (
        date(2026, 6, 10),
        {"time_zone": "America/Los_Angeles", "state": "CA"},
        None,
        datetime(2026, 6, 11, 6, 45),
        "welcome",
        ledger.PLANNED,
        None,
        datetime(2026, 6, 10, 17, 0),
        datetime(2026, 6, 10, 10, 0),
        LOS_ANGELES,
    ),
    "opted_out_contact": (
        date(2026, 6, 1),
        {"gift_opt_out": True},
        None,
        datetime(2026, 6, 1, 16, 0),
        "welcome",
        ledger.SKIPPED,
        "opted_out",
        datetime(2026, 6, 1, 15, 0),
        datetime(2026, 6, 1, 10, 0),
        CHICAGO,
    ),
    # A .gov recipient gets gifts of at most 20 USD and 50 USD a year: welcome and first_week
    # use 40, so the first_month gift (day 30 is Wednesday 1 July, sent three business days
    # earlier) would pass the yearly limit.
    "gov_recipient_welcome": (
        date(2026, 6, 1),
        {"email": "kim@transportation.gov"},
        None,
        datetime(2026, 6, 1, 16, 0),
        "welcome",
        ledger.PLANNED,
        "public_sector compliance limits the gift to 20 USD",
        datetime(2026, 6, 1, 15, 0),
        datetime(2026, 6, 1, 10, 0),
        CHICAGO,
    ),
    "gov_recipient_over_yearly_limit": (
        date(2026, 6, 1),
        {"email": "kim@transportation.gov"},
        None,
        datetime(2026, 6, 1, 16, 0),
        "first_month",
        ledger.SKIPPED,
        "compliance_public_sector_yearly",
        datetime(2026, 6, 26, 15, 0),
        datetime(2026, 6, 26, 10, 0),
        CHICAGO,
    ),
    # Day 90 is Memorial Day, Monday 29 May 2028: arrival Tuesday 30 May, sent three
    # business days earlier on Wednesday 24 May.
    "signed_on_29_february": (
        date(2028, 2, 29),
        {},
        None,
        datetime(2028, 2, 29, 16, 0),
        "first_quarter",
        ledger.PLANNED,
        None,
        datetime(2028, 5, 24, 15, 0),
        datetime(2028, 5, 24, 10, 0),
        CHICAGO,
    ),
}


@pytest.mark.parametrize(
    (
        "signed_on",
        "contact",
        "qbr_at",
        "as_of",
        "stage",
        "status",
        "reason",
        "due_utc",
        "due_local",
        "zone",
    ),
    list(ONE_GIFT_CASES.values()),
    ids=list(ONE_GIFT_CASES),
)
def test_plan_one_gift(
    engine: Engine,
    program: ProgramConfig,
    signed_on: date,
    contact: dict[str, Any],
    qbr_at: datetime | None,
    as_of: datetime,
    stage: str,
    status: str,
    reason: str | None,
    due_utc: datetime,
    due_local: datetime,
    zone: ZoneInfo,
) -> None:
    _seed(engine, range(1, 2), signed_on, **contact)
    if qbr_at is not None:
        _add_event(engine, 1, "qbr", qbr_at)
    plan_gifts(engine, program, as_of=as_of)
    gift = _gifts(engine)[(1, stage)]
    assert gift.status == status
    assert gift.reason == reason
    assert gift.due_at == due_utc
    assert (
        gift.due_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None)
        == due_local
    )


@pytest.mark.parametrize("contract_status", ["lost", "deleted"])
def test_contract_leaving_cancels_unsent_gifts(
    engine: Engine, program: ProgramConfig, contract_status: str
) -> None:
    # Planned on 1 June, a contract signed 1 May has missed its welcome and first_week windows.
    now = datetime(2026, 6, 1, 12, 0)
    _seed(engine, range(1, 2), date(2026, 5, 1))
    plan_gifts(engine, program, as_of=now)
    with engine.begin() as connection:
        connection.execute(update(Contract).values(status=contract_status))

    result = plan_gifts(engine, program, as_of=datetime(2026, 6, 1, 13, 0))

    gifts = _gifts(engine)
    assert result.cancelled == 2
    assert (gifts[(1, "welcome")].status, gifts[(1, "welcome")].reason) == (
        ledger.SKIPPED,
        "window_missed",
    )
    assert gifts[(1, "first_week")].status == ledger.SKIPPED
    assert gifts[(1, "first_month")].status == ledger.CANCELLED
    assert gifts[(1, "first_quarter")].status == ledger.CANCELLED
    with engine.connect() as connection:
        reasons = connection.scalars(
            select(GiftEvent.reason).where(GiftEvent.to_status == ledger.CANCELLED)
        ).all()
    assert reasons == [f"contract_{contract_status}"] * 2


STAGES = ("welcome", "first_week", "first_month", "first_quarter")

# (caps to set, contracts, gifts planned by (account number, stage), planned total by month)
BUDGET_CASES = {
    # 850 USD fits three welcome gifts at their 250 USD maximum, not a fourth.
    "stage_cap_mid_batch": (
        {"monthly_stage_usd": {"welcome": Decimal(850)}},
        5,
        {(n, s) for n in range(1, 6) for s in STAGES} - {(4, "welcome"), (5, "welcome")},
        {(2026, 6): Decimal(3 * 250 + 5 * 150 + 5 * 200), (2026, 8): Decimal(5 * 250)},
    ),
    # Welcome (250), first_week (150) and first_month (200) are all due in June. Contract 1
    # reserves 600 and contract 2 another 400, reaching the 1000 USD cap exactly, so nothing
    # after them fits in June. In August four first_quarter gifts (250 each) fit.
    "program_cap_mid_batch": (
        {"monthly_budget_usd": Decimal(1000)},
        6,
        {(1, "welcome"), (1, "first_week"), (1, "first_month"), (2, "welcome"), (2, "first_week")}
        | {(n, "first_quarter") for n in range(1, 5)},
        {(2026, 6): Decimal(1000), (2026, 8): Decimal(1000)},
    ),
}


@pytest.mark.parametrize(
    ("caps", "contracts", "planned", "totals"),
    list(BUDGET_CASES.values()),
    ids=list(BUDGET_CASES),
)
def test_budget_cap_reached_mid_batch(
    engine: Engine,
    program: ProgramConfig,
    caps: dict[str, Any],
    contracts: int,
    planned: set[tuple[int, str]],
    totals: dict[tuple[int, int], Decimal],
) -> None:
    if "monthly_budget_usd" in caps:
        program.monthly_budget_usd = caps["monthly_budget_usd"]
    program.budget_caps.monthly_stage_usd.update(caps.get("monthly_stage_usd", {}))
    _seed(engine, range(1, contracts + 1), date(2026, 6, 1))

    plan_gifts(engine, program, as_of=datetime(2026, 6, 1, 16, 0))

    gifts = _gifts(engine)
    assert len(gifts) == contracts * len(STAGES)
    assert {key for key, gift in gifts.items() if gift.status == ledger.PLANNED} == planned
    skipped = {gift.reason for gift in gifts.values() if gift.status == ledger.SKIPPED}
    assert skipped == {"budget_exhausted"}
    spent: dict[tuple[int, int], Decimal] = {}
    for gift in gifts.values():
        if gift.status == ledger.PLANNED:
            month = (gift.due_at.year, gift.due_at.month)
            spent[month] = spent.get(month, Decimal(0)) + Decimal(gift.budget_max)
    assert spent == totals
