"""Planning rules on both backends: alignment, local time, pilot, budgets, compliance, holdout."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from gifting import ledger
from gifting.config import ProgramConfig, load_program
from gifting.planning.holdout import is_holdout
from gifting.planning.milestones import plan_gifts
from gifting.planning.reschedule import reschedule_for_item
from gifting.sandbox.org import id_checksum
from gifting.settings import PROJECT_ROOT
from gifting.warehouse.schema import Account, Activity, Contact, Contract, Gift

NOW = datetime(2026, 6, 1, 12, 0)
EVENT_NUMBERS = itertools.count(1)


@pytest.fixture
def program() -> ProgramConfig:
    """Return the shipped program with no holdout, so every seeded contract can get gifts."""
    program = load_program(PROJECT_ROOT / "config").model_copy(deep=True)
    program.holdout.share = 0.0
    return program


def _id(prefix: str, number: int) -> str:
    id15 = f"{prefix}000000{number:06d}"
    return id15 + id_checksum(id15)


def _seed(engine: Engine, number: int, signed_on: date, **fields: Any) -> str:
    """Insert one account, contact and won contract; ``fields`` override their columns."""
    account_id, contact_id, contract_id = _id("001", number), _id("003", number), _id("006", number)
    account = {"industry": "Technology", "country": "US", "state": "TX", "owner_id": None}
    contact = {
        "time_zone": "America/Chicago",
        "country": "US",
        "state": "TX",
        "email": None,
        "street": "1 Main St",
    }
    for key in list(fields):
        if key.startswith("account_"):
            account[key.removeprefix("account_")] = fields.pop(key)
        elif key.startswith("contact_"):
            contact[key.removeprefix("contact_")] = fields.pop(key)
    with engine.begin() as connection:
        connection.execute(
            Account.__table__.insert().values(
                id=account_id,
                name=f"Account {number}",
                system_modstamp=NOW,
                synced_at=NOW,
                **account,
            )
        )
        connection.execute(
            Contact.__table__.insert().values(
                id=contact_id,
                account_id=account_id,
                last_name=f"L{number}",
                system_modstamp=NOW,
                synced_at=NOW,
                **contact,
            )
        )
        connection.execute(
            Contract.__table__.insert().values(
                id=contract_id,
                account_id=account_id,
                contact_id=contact_id,
                name=f"Deal {number}",
                signed_on=signed_on,
                status="won",
                first_seen_at=NOW,
                system_modstamp=NOW,
                synced_at=NOW,
                **{"amount": 50000, **fields},
            )
        )
    return account_id


def _event(
    engine: Engine, account_id: str, kind: str, when: datetime, deleted: bool = False
) -> None:
    with engine.begin() as connection:
        connection.execute(
            Activity.__table__.insert().values(
                id=_id("00U", next(EVENT_NUMBERS)),
                account_id=account_id,
                kind=kind,
                subject=kind,
                occurred_at=when,
                is_deleted=deleted,
                system_modstamp=NOW,
            )
        )


def _gifts(engine: Engine, **filters: object) -> list[Any]:
    query = select(Gift).order_by(Gift.contract_id, Gift.due_at)
    for column, value in filters.items():
        query = query.where(getattr(Gift, column) == value)
    with engine.connect() as connection:
        return list(connection.execute(query))


def _gift(engine: Engine, account_id: str, stage: str) -> Any:
    (gift,) = _gifts(engine, account_id=account_id, stage=stage)
    return gift


def test_first_quarter_aligns_to_qbr(engine: Engine, program: ProgramConfig) -> None:
    account_id = _seed(engine, 1, date(2026, 3, 2))
    _event(engine, account_id, "qbr", datetime(2026, 6, 11, 15, 0))  # day 101, a Thursday
    plan_gifts(engine, program, as_of=NOW)
    gift = _gift(engine, account_id, "first_quarter")
    # Arrive Tuesday 9 June (two days before), sent three business days earlier.
    assert gift.due_at == datetime(2026, 6, 4, 15, 0)
    assert gift.reason == "aligned to QBR on 2026-06-11"
    assert gift.selection_reasons[0] == "aligned to QBR on 2026-06-11"


def test_qbr_outside_window_is_ignored(engine: Engine, program: ProgramConfig) -> None:
    account_id = _seed(engine, 1, date(2026, 3, 2))
    _event(engine, account_id, "qbr", datetime(2026, 6, 25, 15, 0))  # day 115
    _event(engine, account_id, "qbr", datetime(2026, 5, 28, 15, 0), deleted=True)
    plan_gifts(engine, program, as_of=NOW)
    gift = _gift(engine, account_id, "first_quarter")
    # Day 90 is Sunday 31 May, so it arrives Monday 1 June and is sent Wednesday 27 May.
    assert gift.due_at == datetime(2026, 5, 27, 15, 0)
    assert gift.reason is None


def test_go_live_shifts_first_month(engine: Engine, program: ProgramConfig) -> None:
    account_id = _seed(engine, 1, date(2026, 6, 1))
    _event(engine, account_id, "go_live", datetime(2026, 7, 8, 14, 0))  # day 37
    plan_gifts(engine, program, as_of=NOW)
    gift = _gift(engine, account_id, "first_month")
    # Arrive Thursday 9 July; three business days earlier is Monday 6 July.
    assert gift.due_at == datetime(2026, 7, 6, 15, 0)
    assert gift.reason == "aligned to go-live on 2026-07-08"


def test_zone_derived_from_address(engine: Engine, program: ProgramConfig) -> None:
    berlin = _seed(
        engine,
        1,
        date(2026, 6, 1),
        contact_time_zone=None,
        contact_country="DE",
        contact_state="BY",
    )
    nowhere = _seed(engine, 2, date(2026, 6, 1), contact_time_zone="Bad/Zone", contact_country="ZZ")
    plan_gifts(engine, program, as_of=NOW)
    assert _gift(engine, berlin, "welcome").due_at == datetime(2026, 6, 1, 8, 0)
    assert "derived from DE BY" in _gift(engine, berlin, "welcome").selection_reasons[0]
    assert _gift(engine, nowhere, "welcome").due_at == datetime(2026, 6, 1, 10, 0)
    assert _gift(engine, nowhere, "welcome").selection_reasons[0] == "time zone unknown, so UTC"


def test_contract_first_seen_late(engine: Engine, program: ProgramConfig) -> None:
    account_id = _seed(engine, 1, date(2026, 5, 1))
    plan_gifts(engine, program, as_of=NOW)
    statuses = {g.stage: (g.status, g.reason) for g in _gifts(engine, account_id=account_id)}
    assert statuses["welcome"] == (ledger.SKIPPED, "window_missed")
    assert statuses["first_week"] == (ledger.SKIPPED, "window_missed")
    # Day 30 is Sunday 31 May: sent Wednesday 27 May, and its 120-hour window is still open.
    assert statuses["first_month"] == (ledger.PLANNED, None)
    assert _gift(engine, account_id, "first_month").window_ends_at == datetime(2026, 6, 1, 15, 0)
    assert statuses["first_quarter"] == (ledger.PLANNED, None)


def test_contract_first_seen_after_window(engine: Engine, program: ProgramConfig) -> None:
    account_id = _seed(engine, 1, date(2026, 5, 1))
    plan_gifts(engine, program, as_of=datetime(2026, 6, 1, 15, 1))
    assert _gift(engine, account_id, "first_month").reason == "window_missed"


def test_late_contract_backfill(engine: Engine, program: ProgramConfig) -> None:
    account_id = _seed(engine, 1, date(2026, 1, 5))
    plan_gifts(engine, program, as_of=NOW, backfill=True)
    gifts = _gifts(engine, account_id=account_id)
    assert [g.status for g in gifts] == [ledger.PLANNED] * 4
    assert all(g.due_at < NOW for g in gifts)


def test_pilot_outside_is_skipped(engine: Engine, program: ProgramConfig) -> None:
    program.pilot.industries = ["Technology"]
    program.pilot.min_amount_usd = Decimal(20000)
    inside = _seed(engine, 1, NOW.date())
    retail = _seed(engine, 2, NOW.date(), account_industry="Retail")
    small = _seed(engine, 3, NOW.date(), amount=19999)
    plan_gifts(engine, program, as_of=NOW)
    assert {g.status for g in _gifts(engine, account_id=inside)} == {ledger.PLANNED}
    for account_id in (retail, small):
        gifts = _gifts(engine, account_id=account_id)
        assert len(gifts) == 4
        assert {(g.status, g.reason) for g in gifts} == {(ledger.SKIPPED, "outside_pilot")}


def test_widened_pilot_plans_new_contracts(engine: Engine, program: ProgramConfig) -> None:
    program.pilot.effective_from = date(2026, 5, 20)
    old = _seed(engine, 1, date(2026, 5, 19))
    new = _seed(engine, 2, date(2026, 5, 20))
    plan_gifts(engine, program, as_of=NOW)
    assert {g.reason for g in _gifts(engine, account_id=old)} == {"before_pilot"}
    assert ledger.PLANNED in {g.status for g in _gifts(engine, account_id=new)}


def test_widened_pilot_backfill(engine: Engine, program: ProgramConfig) -> None:
    program.pilot.effective_from = date(2026, 5, 20)
    old = _seed(engine, 1, date(2026, 5, 19))
    plan_gifts(engine, program, as_of=NOW, backfill=True)
    assert {g.status for g in _gifts(engine, account_id=old)} == {ledger.PLANNED}


def test_stage_cap_fits_exactly_n(engine: Engine, program: ProgramConfig) -> None:
    program.budget_caps.monthly_stage_usd["welcome"] = Decimal(3 * 250)
    for number in range(1, 6):
        _seed(engine, number, NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    welcome = _gifts(engine, stage="welcome")
    planned = [g for g in welcome if g.status == ledger.PLANNED]
    assert len(planned) == 3
    assert sum(Decimal(g.budget_max) for g in planned) == Decimal(750)
    assert {g.reason for g in welcome if g.status == ledger.SKIPPED} == {"budget_exhausted"}
    assert "monthly_stage_usd.welcome" in welcome[-1].selection_reasons[-1]


def test_cap_holds_across_runs(engine: Engine, program: ProgramConfig) -> None:
    program.budget_caps.monthly_stage_usd["welcome"] = Decimal(2 * 250)
    _seed(engine, 1, NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    _seed(engine, 2, NOW.date())
    _seed(engine, 3, NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    assert len(_gifts(engine, stage="welcome", status=ledger.PLANNED)) == 2
    with engine.begin() as connection:
        gift = connection.execute(select(Gift.id).where(Gift.stage == "welcome")).first()
        ledger.move(connection, gift.id, ledger.PLANNED, ledger.CANCELLED, at=NOW, actor="test")
    _seed(engine, 4, NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    assert len(_gifts(engine, stage="welcome", status=ledger.PLANNED)) == 2


def test_chosen_price_counts_against_cap(engine: Engine, program: ProgramConfig) -> None:
    program.budget_caps.monthly_stage_usd["welcome"] = Decimal(250 + 120)
    _seed(engine, 1, NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    with engine.begin() as connection:
        connection.execute(update(Gift).where(Gift.stage == "welcome").values(price=120))
    _seed(engine, 2, NOW.date())
    _seed(engine, 3, NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    assert len(_gifts(engine, stage="welcome", status=ledger.PLANNED)) == 2


def test_recipient_yearly_cap(engine: Engine, program: ProgramConfig) -> None:
    program.budget_caps.recipient_yearly_usd = Decimal(400)
    account_id = _seed(engine, 1, NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    statuses = {g.stage: (g.status, g.reason) for g in _gifts(engine, account_id=account_id)}
    # Welcome reserves 250 and first_week 150; the rest no longer fit 400 USD a year.
    assert statuses["welcome"][0] == statuses["first_week"][0] == ledger.PLANNED
    assert statuses["first_month"] == (ledger.SKIPPED, "budget_exhausted")
    assert statuses["first_quarter"] == (ledger.SKIPPED, "budget_exhausted")


def test_healthcare_budget_is_capped(engine: Engine, program: ProgramConfig) -> None:
    hospital = _seed(engine, 1, NOW.date(), account_industry="Healthcare")
    plan_gifts(engine, program, as_of=NOW)
    gifts = _gifts(engine, account_id=hospital)
    assert {g.status for g in gifts} == {ledger.PLANNED}
    assert max(Decimal(g.budget_max) for g in gifts) == Decimal(100)
    first_month = next(g for g in gifts if g.stage == "first_month")
    assert Decimal(first_month.budget_min) == Decimal(75)
    assert first_month.reason == "healthcare compliance limits the gift to 100 USD"
    assert {(g.compliance_rule, g.transfer_of_value) for g in gifts} == {("healthcare", True)}


def test_holdout_share_change_keeps_flags(engine: Engine, program: ProgramConfig) -> None:
    program.holdout.share = 0.5
    ids = [_seed(engine, number, NOW.date()) for number in range(1, 21)]
    plan_gifts(engine, program, as_of=NOW)
    expected = {a: is_holdout(a, program.holdout.salt, 0.5) for a in ids}
    assert 0 < sum(expected.values()) < len(ids)
    program.holdout.share = 0.0
    program.holdout.salt = "another-salt"
    ids.append(_seed(engine, 21, NOW.date()))
    plan_gifts(engine, program, as_of=NOW + timedelta(days=1))
    with engine.connect() as connection:
        flags = dict(connection.execute(select(Account.id, Account.holdout)).all())
    assert {a: flags[a] for a in expected} == expected
    assert flags[ids[-1]] is False


def test_reschedule_for_item_lead_time(engine: Engine, program: ProgramConfig) -> None:
    account_id = _seed(engine, 1, date(2026, 6, 1))
    plan_gifts(engine, program, as_of=NOW)
    gift = _gift(engine, account_id, "first_month")
    # Day 30 is Wednesday 1 July; the planned lead time of three business days gives 26 June.
    assert gift.due_at == datetime(2026, 6, 26, 15, 0)
    with engine.begin() as connection:
        slow = reschedule_for_item(
            connection, program, gift.id, lead_time_days=6, kind="physical", as_of=NOW
        )
        egift = reschedule_for_item(
            connection, program, gift.id, lead_time_days=6, kind="egift", as_of=NOW
        )
    assert slow is not None and slow.at == datetime(2026, 6, 23, 15, 0)
    assert egift is not None and egift.at == datetime(2026, 7, 1, 15, 0)
    moved = _gift(engine, account_id, "first_month")
    assert moved.due_at == datetime(2026, 7, 1, 15, 0)
    assert moved.window_ends_at == datetime(2026, 7, 6, 15, 0)


def test_reschedule_ignores_skipped_gift(engine: Engine, program: ProgramConfig) -> None:
    account_id = _seed(engine, 1, NOW.date(), account_industry="Government")
    plan_gifts(engine, program, as_of=NOW)
    gift = _gift(engine, account_id, "first_month")
    with engine.begin() as connection:
        result = reschedule_for_item(
            connection, program, gift.id, lead_time_days=0, kind="egift", as_of=NOW
        )
    assert result is None
    assert _gift(engine, account_id, "first_month").due_at == gift.due_at
