"""Every warehouse column that can hold a contact's personal data is covered by ``forget``.

A new column named like one of these (a phone number, an e-mail, a contact link, free text) fails
this test until ``gifting.privacy.FORGET_PLAN`` states what forgetting does with it.
"""

from __future__ import annotations

import re

from gifting.privacy import CONTACT_ADDRESS_COLUMNS, FORGET_PLAN
from gifting.warehouse.schema import Base, Contact

PERSONAL_NAME = re.compile(
    r"contact_id|recipient|phone|mobile|email|street|postal|address|first_name|last_name|"
    r"note|description|subject|payload|selection_reasons"
)


def test_forget_plan_covers_personal_columns() -> None:
    deleted_tables = {table for (table, column) in FORGET_PLAN if column == "*"}
    missing = [
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if PERSONAL_NAME.search(column.name)
        and table.name not in deleted_tables
        and (table.name, column.name) not in FORGET_PLAN
    ]
    assert missing == []


def test_purged_columns_exist_and_are_nullable() -> None:
    for name in CONTACT_ADDRESS_COLUMNS:
        assert Contact.__table__.columns[name].nullable, name
