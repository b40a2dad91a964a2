"""Unit tests for loading and validating ``config/salesforce.yaml``."""

from __future__ import annotations

from pathlib import Path

import pytest

from gifting.errors import ConfigurationError
from gifting.salesforce.config import FieldMapping, load_field_mapping
from gifting.settings import PROJECT_ROOT


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "salesforce.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_shipped_file_equals_defaults() -> None:
    shipped = load_field_mapping(PROJECT_ROOT / "config")
    assert shipped.model_dump() == FieldMapping().model_dump()


def test_empty_file_uses_defaults(tmp_path: Path) -> None:
    assert load_field_mapping(_write(tmp_path, "")).model_dump() == FieldMapping().model_dump()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("account:\n  nps: 'NPS__c FROM User --'\n", "account.nps"),
        ("contact:\n  timezone: Time_Zone__c\n", "contact.timezone"),
        ("recipient:\n  rule: lookup_field\n", "recipient.lookup_field"),
        ("trigger:\n  object: Contract\n", "primary_contact_role"),
        ("trigger:\n  object: Quote\n", "trigger.object"),
        ("trigger:\n  opportunity_types: []\n", "trigger.opportunity_types"),
        ("sync:\n  max_api_usage_share: 1.5\n", "sync.max_api_usage_share"),
        ("account: [\n", "not valid YAML"),
    ],
)
def test_invalid_file_names_entry(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_field_mapping(_write(tmp_path, text))
    message = str(raised.value)
    assert str(tmp_path / "salesforce.yaml") in message
    assert expected in message


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="GIFTING_CONFIG_DIR"):
        load_field_mapping(tmp_path)


def test_entries_follow_trigger_object() -> None:
    contract = FieldMapping.model_validate(
        {
            "trigger": {"object": "Contract", "signing_date": "CustomerSignedDate"},
            "recipient": {"rule": "lookup_field", "lookup_field": "CustomerSignedId"},
        }
    )
    assert contract.entries("Contract")["trigger.signing_date"] == "CustomerSignedDate"
    assert contract.entries("Contract")["recipient.lookup_field"] == "CustomerSignedId"
    assert "trigger.signing_date" not in contract.entries("Opportunity")
    assert FieldMapping().entries("Opportunity")["opportunity.type"] == "Type"


@pytest.mark.parametrize(
    "message",
    [
        "No such column 'nps_score__c' on entity 'Account'",
        "\nSELECT Id, NPS_Score__c FROM Account\n           ^\nERROR at Row:1:Column:12\n"
        "No such column 'NPS_Score__c' on entity 'Account'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name.",
    ],
)
def test_invalid_field_error_names_entry(message: str) -> None:
    error = FieldMapping().invalid_field_error("Account", message)
    text = str(error)
    assert "account.nps" in text
    assert "'NPS_Score__c'" in text
    assert "config/salesforce.yaml" in text
    assert "ERROR at Row" not in text


def test_invalid_standard_field_asks_for_access() -> None:
    error = FieldMapping().invalid_field_error("Account", "No such column 'Industry' on entity")
    assert "read access" in str(error)
