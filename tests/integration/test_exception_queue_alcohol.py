"""An out-of-stock gift's replacement follows the alcohol rules personalization applies.

The failed item is the welcome stage's premium pick, so without any rule the replacement is
the champagne. Each rule alone must rule it out.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, insert, select

from gifting import ledger
from gifting.config import Catalog, ProgramConfig
from gifting.exception_queue import work_exception_queue
from gifting.warehouse.schema import Account, Contact, Contract, Gift
from tests.integration.ledger_fixtures import AS_OF

FAILED_SKU = "PRM-BOOKS-13"
CHAMPAGNE = "CEL-CHAMP-01"


def _failed_welcome_gift(
    engine: Engine, *, country: str, preferences: str | None, no_alcohol_policy: bool | None
) -> str:
    stamps = {"system_modstamp": AS_OF, "synced_at": AS_OF}
    with engine.begin() as connection:
        connection.execute(
            insert(Account).values(
                id="001000000000001AAA",
                name="Acme",
                industry="Software",
                gift_policy_no_alcohol=no_alcohol_policy,
                **stamps,
            )
        )
        connection.execute(
            insert(Contact).values(
                id="003000000000001AAA",
                account_id="001000000000001AAA",
                first_name="Ana",
                last_name="Silva",
                email="ana@example.com",
                street="1 Main St",
                city="Springfield",
                country=country,
                preferences=preferences,
                **stamps,
            )
        )
        connection.execute(
            insert(Contract).values(
                id="006000000000001AAA",
                account_id="001000000000001AAA",
                contact_id="003000000000001AAA",
                name="Acme renewal",
                signed_on=date(2026, 5, 30),
                status="won",
                first_seen_at=AS_OF,
                **stamps,
            )
        )
        connection.execute(
            insert(Gift).values(
                id="gift-alcohol-rules",
                contract_id="006000000000001AAA",
                stage="welcome",
                account_id="001000000000001AAA",
                contact_id="003000000000001AAA",
                status=ledger.FAILED,
                reason="out_of_stock",
                due_at=AS_OF,
                window_ends_at=AS_OF + timedelta(days=7),
                budget_min=100,
                budget_max=250,
                sku=FAILED_SKU,
                item_name="Books",
                price=150,
                note="Welcome aboard.",
                attempts=1,
                created_at=AS_OF,
                updated_at=AS_OF,
            )
        )
    return "gift-alcohol-rules"


def _replacement_sku(engine: Engine, program: ProgramConfig, catalog: Catalog) -> str:
    outcome = work_exception_queue(engine, program, catalog, as_of=AS_OF + timedelta(hours=1))
    assert outcome["remedied:replace_item"] == 1
    with engine.connect() as connection:
        return str(connection.scalar(select(Gift.sku).where(Gift.status == ledger.READY)))


@pytest.mark.parametrize("country", ["US", "FR"])
def test_unrestricted_replacement_is_champagne(
    sqlite_engine: Engine, program: ProgramConfig, catalog: Catalog, country: str
) -> None:
    _failed_welcome_gift(sqlite_engine, country=country, preferences=None, no_alcohol_policy=None)
    assert _replacement_sku(sqlite_engine, program, catalog) == CHAMPAGNE


@pytest.mark.parametrize(
    ("country", "preferences", "no_alcohol_policy"),
    [
        pytest.param("FR", None, None, id="blocked-country"),
        pytest.param("US", None, True, id="account-policy"),
        pytest.param("US", "no_alcohol", None, id="recipient-preference"),
    ],
)
def test_replacement_follows_alcohol_rules(
    sqlite_engine: Engine,
    program: ProgramConfig,
    catalog: Catalog,
    country: str,
    preferences: str | None,
    no_alcohol_policy: bool | None,
) -> None:
    # The champagne ships to France, so only the blocked-country rule keeps it from there.
    alcohol = program.compliance.alcohol.model_copy(update={"blocked_countries": ["FR"]})
    compliance = program.compliance.model_copy(update={"alcohol": alcohol})
    program = program.model_copy(update={"compliance": compliance})
    _failed_welcome_gift(
        sqlite_engine, country=country, preferences=preferences, no_alcohol_policy=no_alcohol_policy
    )
    sku = _replacement_sku(sqlite_engine, program, catalog)
    item = next(item for item in catalog.items if item.sku == sku)
    assert sku != FAILED_SKU
    assert "alcohol" not in item.restrictions
