"""Write gift activity back to Salesforce as completed Tasks on the contact and the deal."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from gifting.errors import RetriableError

logger = logging.getLogger(__name__)


class TaskWriter:
    """Creates one completed Task per gift event; ``__call__`` returns the Task's Id."""

    def __init__(self, sf: Salesforce, *, today: date) -> None:
        self.sf = sf
        self.today = today

    def __call__(self, gift: dict[str, Any]) -> str:
        description = f"{gift['note']}\n\nCost: {gift['price']} USD. Gift id: {gift['id']}."
        if gift.get("transfer_of_value"):
            description += (
                " Transfer of value to a healthcare professional: include it in the disclosure."
            )
        fields = {
            "WhoId": gift["contact_id"],
            "WhatId": gift["contract_id"],
            "AccountId": gift["account_id"],
            "Subject": f"Gift sent: {gift['item_name']} ({gift['stage']})",
            "Description": description,
            "Status": "Completed",
            "Type": "Gift",
            "ActivityDate": self.today.isoformat(),
        }
        try:
            result = self.sf.Task.create(fields)
        except SalesforceError as error:
            raise RetriableError(
                f"creating the CRM Task for gift {gift['id']} failed: {error}"
            ) from error
        return str(result["id"])
