"""Converting Bulk API 2.0 CSV text back to the values the REST API sends as JSON."""

from __future__ import annotations

from typing import Any

import pytest

from gifting.salesforce.bulk_csv import CsvRecordReader, FieldKind, convert_value, read_csv_records


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("", None, None),
        ("", "boolean", None),
        ("", "number", None),
        ("true", "boolean", True),
        ("FALSE", "boolean", False),
        ("maybe", "boolean", "maybe"),
        ("0", "number", 0),
        ("12", "number", 12),
        ("1234.5", "number", 1234.5),
        ("1.0E7", "number", 10_000_000.0),
        ("twelve", "number", "twelve"),
        ("2024-03-05T17:22:10.000Z", "datetime", "2024-03-05T17:22:10.000+0000"),
        ("2024-03-05T17:22:10.000+0000", "datetime", "2024-03-05T17:22:10.000+0000"),
        ("2024-03-05", None, "2024-03-05"),
        ("true", None, "true"),
        ("007", None, "007"),
    ],
)
def test_convert_value(text: str, kind: FieldKind | None, expected: Any) -> None:
    converted = convert_value(text, kind)
    assert converted == expected
    assert type(converted) is type(expected)


def test_relationship_columns_nest() -> None:
    reader = CsvRecordReader(
        ["Id", "Account.Name", "Account.Owner.Name", "Account.Strategic__c"],
        {"account.strategic__c": "boolean"},
    )
    full = reader.record(["006A", "Acme", "Ursula", "true"])
    assert full == {
        "Id": "006A",
        "Account": {"Name": "Acme", "Owner": {"Name": "Ursula"}, "Strategic__c": True},
    }
    no_owner = reader.record(["006B", "Acme", "", "false"])
    assert no_owner["Account"]["Owner"] is None
    no_account = reader.record(["006C", "", "", ""])
    assert no_account == {"Id": "006C", "Account": None}


def test_row_length_mismatch_raises() -> None:
    reader = CsvRecordReader(["Id", "Name"], {})
    with pytest.raises(ValueError, match="2"):
        reader.record(["001A"])


def test_quoted_fields_keep_text() -> None:
    content = (
        '\ufeff"Id","Name"\n"001A","Line one\nLine two, ""quoted"""\n"001B","🎁 株式会社 شركة"\n'
    ).encode()
    records = list(read_csv_records(content, {}))
    assert records == [
        {"Id": "001A", "Name": 'Line one\nLine two, "quoted"'},
        {"Id": "001B", "Name": "🎁 株式会社 شركة"},
    ]
    assert list(read_csv_records(b"", {})) == []
