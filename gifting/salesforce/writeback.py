"""Write gift activity back to Salesforce as completed Tasks on the contact and the deal.

Each Task's Subject ends with the activity's marker (``[gift <id> <state> #<attempt>]``). A
Task created by a run that died before recording its Id is found again by that marker, so it
is never created twice. The lookup filters on ``WhatId``, which Salesforce indexes, and matches
the marker here: ``Description`` is a long text area, which SOQL cannot filter on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import SalesforceError

from gifting.crm_activity import GiftActivity
from gifting.errors import RetriableError

logger = logging.getLogger(__name__)

SUBJECT_LENGTH = 255  # Task.Subject is a 255-character string field
_HEADLINES = {"sent": "Gift sent", "delivered": "Gift delivered", "failed": "Gift failed"}


class TaskWriter:
    """Finds and creates the completed Tasks that record gift activity."""

    def __init__(self, sf: Salesforce, *, today: date) -> None:
        self.sf = sf
        self.today = today

    def find(self, activities: Sequence[GiftActivity]) -> dict[str, str]:
        """Return the Id of each activity's Task that already exists, keyed by marker."""
        expected = {activity.marker for activity in activities}
        deals = sorted({activity.contract_id for activity in activities})
        if not deals:
            return {}
        soql = format_soql(
            "SELECT Id, Subject FROM Task WHERE WhatId IN {} AND Type = 'Gift'", deals
        )
        try:
            records = self.sf.query_all(soql)["records"]
        except SalesforceError as error:
            raise RetriableError(
                f"looking up the CRM Tasks of {len(deals)} deals failed: {error}"
            ) from error
        found: dict[str, str] = {}
        for record in records:
            marker = _marker_of(record.get("Subject") or "")
            if marker in expected:
                found.setdefault(marker, str(record["Id"]))
        return found

    def create(self, activity: GiftActivity) -> str:
        """Create the activity's Task and return its Id."""
        try:
            result = self.sf.Task.create(self.fields(activity))
        except SalesforceError as error:
            raise RetriableError(
                f"creating the CRM Task for gift {activity.gift_id} ({activity.state}) "
                f"failed: {error}"
            ) from error
        return str(result["id"])

    def fields(self, activity: GiftActivity) -> dict[str, str]:
        """Build the Task's fields: item, note, cost and status, on the contact, deal and account.

        The contact is ``WhoId``, the deal ``WhatId`` and the account ``AccountId``.
        """
        description = (
            f"{activity.note or ''}\n\nCost: {activity.price} USD. Gift id: {activity.gift_id}."
        )
        if activity.state == "failed" and activity.reason:
            description += f" Failed: {activity.reason}."
        if activity.transfer_of_value:
            description += (
                " Transfer of value to a healthcare professional: include it in the disclosure."
            )
        suffix = f" ({activity.stage}) {activity.marker}"
        headline = f"{_HEADLINES.get(activity.state, activity.state)}: {activity.item_name}"
        fields = {
            "WhatId": activity.contract_id,
            "Subject": headline[: SUBJECT_LENGTH - len(suffix)] + suffix,
            "Description": description,
            "Status": "Completed",
            "Type": "Gift",
            "ActivityDate": self.today.isoformat(),
        }
        if activity.contact_id:
            fields["WhoId"] = activity.contact_id
        if activity.account_id:
            fields["AccountId"] = activity.account_id
        return fields


def _marker_of(subject: str) -> str:
    start = subject.rfind("[gift ")
    return subject[start:] if start >= 0 and subject.endswith("]") else ""
