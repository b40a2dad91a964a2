"""SOQL parser and evaluator of the Salesforce sandbox.

Each clause gets a test that shows the rows differ with and without it, because a clause the
sandbox parsed but ignored would let a wrong query pass every dry run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gifting.sandbox.org import OrgStore
from gifting.sandbox.soql import SoqlError, parse_soql, run_soql
from gifting.sandbox.soql_ast import Comparison, FieldPath, RelativeDate

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)


@pytest.fixture
def store() -> OrgStore:
    """Three accounts, four opportunities and two users with nulls in useful places."""
    store = OrgStore()
    ursula = store.insert("User", {"Name": "Ursula Owner"})
    store.insert("User", {"Name": "Victor Vacant"})
    acme = store.insert(
        "Account",
        {"Name": "Acme", "Industry": "Tech", "AnnualRevenue": 500.0, "OwnerId": ursula},
        now=datetime(2025, 12, 31, 23, 0, tzinfo=UTC),
    )
    obrien = store.insert(
        "Account",
        {"Name": "O'Brien & Sons", "Industry": None, "AnnualRevenue": 50.0, "OwnerId": None},
        now=datetime(2026, 1, 1, 0, 30, tzinfo=UTC),
    )
    store.insert(
        "Account",
        {"Name": "C:\\Backslash_Co", "Industry": "Retail", "AnnualRevenue": None, "OwnerId": None},
        now=NOW - timedelta(hours=2),
    )
    opportunities = [
        ("Renewal 2026", acme, date(2026, 1, 1), 1000, "Closed Won"),
        ("Upsell", acme, date(2025, 12, 31), 250, "Closed Won"),
        ("New 100% deal", obrien, date(2026, 3, 9), 75, "Prospecting"),
        ("Orphan", None, date(2026, 3, 10), None, "Closed Lost"),
    ]
    for name, account_id, close_date, amount, stage in opportunities:
        store.insert(
            "Opportunity",
            {
                "Name": name,
                "AccountId": account_id,
                "OwnerId": ursula,
                "CloseDate": close_date,
                "Amount": amount,
                "StageName": stage,
            },
        )
    return store


def names(store: OrgStore, soql: str, **options: object) -> list[str]:
    """Run a query and return the Name of each row, in result order."""
    result = run_soql(soql, store, now=NOW, **options)  # type: ignore[arg-type]
    return [row.fields["Name"] for row in result.records]


def rejected(store: OrgStore, soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        run_soql(soql, store, now=NOW)
    return caught.value


# --- each clause changes the result -----------------------------------------------------------


def test_where_filters_rows(store: OrgStore) -> None:
    base = "SELECT Name FROM Account"
    assert len(names(store, base)) == 3
    assert names(store, base + " WHERE Industry = 'Tech'") == ["Acme"]


def test_order_by_sorts_rows(store: OrgStore) -> None:
    base = "SELECT Name FROM Opportunity"
    assert names(store, base) == ["Renewal 2026", "Upsell", "New 100% deal", "Orphan"]
    assert names(store, base + " ORDER BY Name") == [
        "New 100% deal",
        "Orphan",
        "Renewal 2026",
        "Upsell",
    ]


def test_order_by_desc_reverses(store: OrgStore) -> None:
    ascending = names(store, "SELECT Name FROM Opportunity ORDER BY CloseDate ASC")
    descending = names(store, "SELECT Name FROM Opportunity ORDER BY CloseDate DESC")
    assert ascending == ["Upsell", "Renewal 2026", "New 100% deal", "Orphan"]
    assert descending == list(reversed(ascending))


def test_order_by_nulls_first_by_default(store: OrgStore) -> None:
    soql = "SELECT Name FROM Account ORDER BY AnnualRevenue"
    assert names(store, soql) == ["C:\\Backslash_Co", "O'Brien & Sons", "Acme"]
    assert names(store, soql + " DESC") == ["C:\\Backslash_Co", "Acme", "O'Brien & Sons"]


def test_order_by_nulls_last(store: OrgStore) -> None:
    soql = "SELECT Name FROM Account ORDER BY AnnualRevenue"
    assert names(store, soql + " NULLS LAST") == ["O'Brien & Sons", "Acme", "C:\\Backslash_Co"]
    assert names(store, soql + " DESC NULLS LAST") == [
        "Acme",
        "O'Brien & Sons",
        "C:\\Backslash_Co",
    ]


def test_order_by_second_key_breaks_ties(store: OrgStore) -> None:
    one_key = "SELECT Name FROM Opportunity ORDER BY StageName"
    two_keys = one_key + ", Amount DESC"
    assert names(store, one_key) == ["Orphan", "Renewal 2026", "Upsell", "New 100% deal"]
    assert names(store, two_keys) == ["Orphan", "Renewal 2026", "Upsell", "New 100% deal"]
    assert names(store, one_key + ", Amount ASC") == [
        "Orphan",
        "Upsell",
        "Renewal 2026",
        "New 100% deal",
    ]


def test_order_by_ignores_case(store: OrgStore) -> None:
    store.insert("Account", {"Name": "apex"})
    assert names(store, "SELECT Name FROM Account WHERE Name LIKE 'a%' ORDER BY Name") == [
        "Acme",
        "apex",
    ]


def test_limit_caps_rows(store: OrgStore) -> None:
    base = "SELECT Name FROM Opportunity ORDER BY Name"
    assert len(names(store, base)) == 4
    assert names(store, base + " LIMIT 2") == ["New 100% deal", "Orphan"]
    assert names(store, base + " LIMIT 0") == []


def test_offset_skips_rows(store: OrgStore) -> None:
    base = "SELECT Name FROM Opportunity ORDER BY Name"
    assert names(store, base + " OFFSET 3") == ["Upsell"]
    assert names(store, base + " LIMIT 2 OFFSET 1") == ["Orphan", "Renewal 2026"]


def test_offset_above_2000_rejected(store: OrgStore) -> None:
    error = rejected(store, "SELECT Name FROM Account OFFSET 2001")
    assert error.error_code == "NUMBER_OUTSIDE_VALID_RANGE"


def test_count_returns_size_only(store: OrgStore) -> None:
    result = run_soql("SELECT COUNT() FROM Opportunity", store)
    filtered = run_soql("SELECT count() FROM Opportunity WHERE Amount > 100", store)
    assert result.total_size == 4
    assert result.records == []
    assert filtered.total_size == 2


def test_query_hides_deleted_rows(store: OrgStore) -> None:
    acme = next(row for row in store.records("Account") if row["Name"] == "Acme")
    store.delete("Account", acme["Id"])
    assert "Acme" not in names(store, "SELECT Name FROM Account")
    assert "Acme" in names(store, "SELECT Name FROM Account", include_deleted=True)


# --- operators --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("Amount = 250", ["Upsell"]),
        ("Amount != 250", ["Renewal 2026", "New 100% deal", "Orphan"]),
        ("Amount <> 250", ["Renewal 2026", "New 100% deal", "Orphan"]),
        ("Amount < 250", ["New 100% deal"]),
        ("Amount <= 250", ["Upsell", "New 100% deal"]),
        ("Amount > 250", ["Renewal 2026"]),
        ("Amount >= 250", ["Renewal 2026", "Upsell"]),
        ("Amount = null", ["Orphan"]),
        ("Amount != null", ["Renewal 2026", "Upsell", "New 100% deal"]),
        ("Amount >= -1.5", ["Renewal 2026", "Upsell", "New 100% deal"]),
    ],
)
def test_comparison_operators(store: OrgStore, condition: str, expected: list[str]) -> None:
    assert names(store, f"SELECT Name FROM Opportunity WHERE {condition}") == expected


def test_string_equality_ignores_case(store: OrgStore) -> None:
    assert names(store, "SELECT Name FROM Account WHERE Name = 'ACME'") == ["Acme"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("'ac%'", ["Acme"]),
        ("'%SONS'", ["O'Brien & Sons"]),
        ("'_cme'", ["Acme"]),
        ("'a_me'", ["Acme"]),
        ("'acm'", []),
        ("'%\\_%'", ["C:\\Backslash_Co"]),
    ],
)
def test_like_patterns(store: OrgStore, pattern: str, expected: list[str]) -> None:
    assert names(store, f"SELECT Name FROM Account WHERE Name LIKE {pattern}") == expected


def test_like_escaped_percent_is_literal(store: OrgStore) -> None:
    soql = "SELECT Name FROM Opportunity WHERE Name LIKE '%100\\% deal'"
    assert names(store, soql) == ["New 100% deal"]
    assert names(store, "SELECT Name FROM Opportunity WHERE Name LIKE '%1\\%'") == []


def test_in_and_not_in(store: OrgStore) -> None:
    base = "SELECT Name FROM Account WHERE Industry"
    assert names(store, base + " IN ('tech', 'Retail')") == ["Acme", "C:\\Backslash_Co"]
    # SOQL has no three-valued logic: a null Industry is "not in" the list.
    assert names(store, base + " NOT IN ('Tech')") == ["O'Brien & Sons", "C:\\Backslash_Co"]


def test_not_negates(store: OrgStore) -> None:
    base = "SELECT Name FROM Account WHERE "
    assert names(store, base + "Industry = 'Tech'") == ["Acme"]
    assert names(store, base + "NOT Industry = 'Tech'") == ["O'Brien & Sons", "C:\\Backslash_Co"]
    assert names(store, base + "NOT (Industry = 'Tech' OR Industry = 'Retail')") == [
        "O'Brien & Sons"
    ]


def test_and_or_parentheses(store: OrgStore) -> None:
    base = "SELECT Name FROM Opportunity WHERE "
    assert names(store, base + "StageName = 'Closed Won' AND Amount > 500") == ["Renewal 2026"]
    assert names(store, base + "StageName = 'Closed Lost' OR Amount < 100") == [
        "New 100% deal",
        "Orphan",
    ]
    grouped = base + "(StageName = 'Closed Lost' OR Amount < 100) AND CloseDate = 2026-03-10"
    assert names(store, grouped) == ["Orphan"]


def test_mixed_and_or_needs_parentheses(store: OrgStore) -> None:
    error = rejected(
        store, "SELECT Name FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'"
    )
    assert error.error_code == "MALFORMED_QUERY"
    assert "unexpected token: OR" in str(error)


# --- literals ---------------------------------------------------------------------------------


def test_date_literal_is_a_date() -> None:
    query = parse_soql("SELECT Name FROM Opportunity WHERE CloseDate = 2026-01-01")
    assert query.where == Comparison(FieldPath(("CloseDate",)), "=", date(2026, 1, 1))


def test_date_literal_filters_date_field(store: OrgStore) -> None:
    soql = "SELECT Name FROM Opportunity WHERE CloseDate >= 2026-01-01 ORDER BY CloseDate"
    assert names(store, soql) == ["Renewal 2026", "New 100% deal", "Orphan"]


def test_datetime_literal_filters_datetime_field(store: OrgStore) -> None:
    soql = "SELECT Name FROM Account WHERE CreatedDate >= 2026-01-01T00:00:00Z"
    assert names(store, soql) == ["O'Brien & Sons", "C:\\Backslash_Co"]


def test_datetime_literal_offset_converts_to_utc(store: OrgStore) -> None:
    # 01:00+02:00 is 2025-12-31T23:00Z, exactly Acme's CreatedDate.
    soql = "SELECT Name FROM Account WHERE CreatedDate = 2026-01-01T01:00:00+02:00"
    assert names(store, soql) == ["Acme"]
    assert names(store, "SELECT Name FROM Account WHERE CreatedDate = 2026-01-01T01:00:00Z") == []


def test_date_literal_on_datetime_field_rejected(store: OrgStore) -> None:
    error = rejected(store, "SELECT Name FROM Account WHERE CreatedDate > 2026-01-01")
    assert error.error_code == "INVALID_FIELD"
    assert "must be of type dateTime" in str(error)


def test_datetime_literal_on_date_field_rejected(store: OrgStore) -> None:
    error = rejected(store, "SELECT Name FROM Opportunity WHERE CloseDate > 2026-01-01T00:00:00Z")
    assert error.error_code == "INVALID_FIELD"
    assert "must be of type date" in str(error)


def test_quoted_number_rejected(store: OrgStore) -> None:
    error = rejected(store, "SELECT Name FROM Opportunity WHERE Amount = '250'")
    assert error.error_code == "INVALID_FIELD"


def test_unquoted_string_value_rejected(store: OrgStore) -> None:
    error = rejected(store, "SELECT Name FROM Account WHERE Name = 5")
    assert error.error_code == "INVALID_FIELD"
    assert "should be enclosed in quotes" in str(error)


def test_today_on_date_field(store: OrgStore) -> None:
    assert names(store, "SELECT Name FROM Opportunity WHERE CloseDate = TODAY") == ["Orphan"]
    assert names(store, "SELECT Name FROM Opportunity WHERE CloseDate = yesterday") == [
        "New 100% deal"
    ]
    assert names(store, "SELECT Name FROM Opportunity WHERE CloseDate < TODAY ORDER BY Name") == [
        "New 100% deal",
        "Renewal 2026",
        "Upsell",
    ]


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("=", ["New 100% deal"]),
        ("!=", ["Renewal 2026", "Upsell", "Orphan"]),
        ("<", ["Renewal 2026", "Upsell"]),
        ("<=", ["Renewal 2026", "Upsell", "New 100% deal"]),
        (">", ["Orphan"]),
        (">=", ["New 100% deal", "Orphan"]),
    ],
)
def test_relative_date_operators(store: OrgStore, operator: str, expected: list[str]) -> None:
    soql = f"SELECT Name FROM Opportunity WHERE CloseDate {operator} YESTERDAY"
    assert names(store, soql) == expected


def test_today_on_datetime_field(store: OrgStore) -> None:
    assert names(store, "SELECT Name FROM Account WHERE CreatedDate = TODAY") == [
        "C:\\Backslash_Co"
    ]


def test_last_n_days_includes_today(store: OrgStore) -> None:
    base = "SELECT Name FROM Opportunity WHERE CloseDate = "
    assert names(store, base + "LAST_N_DAYS:1") == ["New 100% deal", "Orphan"]
    # 2026-01-01 is 68 days before 2026-03-10; 2025-12-31 is 69.
    assert names(store, base + "LAST_N_DAYS:68") == ["Renewal 2026", "New 100% deal", "Orphan"]
    assert names(store, "SELECT Name FROM Opportunity WHERE CloseDate < LAST_N_DAYS:68") == [
        "Upsell"
    ]


def test_last_n_days_on_datetime_field(store: OrgStore) -> None:
    soql = "SELECT Name FROM Account WHERE CreatedDate = LAST_N_DAYS:68"
    assert names(store, soql) == ["O'Brien & Sons", "C:\\Backslash_Co"]


def test_relative_date_parsed() -> None:
    query = parse_soql("SELECT Id FROM Account WHERE CreatedDate = last_n_days:30")
    assert query.where == Comparison(
        FieldPath(("CreatedDate",)), "=", RelativeDate("LAST_N_DAYS", 30)
    )


def test_escaped_quote(store: OrgStore) -> None:
    assert names(store, "SELECT Name FROM Account WHERE Name = 'O\\'Brien & Sons'") == [
        "O'Brien & Sons"
    ]


def test_escaped_backslash(store: OrgStore) -> None:
    assert names(store, "SELECT Name FROM Account WHERE Name = 'C:\\\\Backslash_Co'") == [
        "C:\\Backslash_Co"
    ]


@pytest.mark.parametrize(
    ("literal", "decoded"),
    [
        ("'a\\nb'", "a\nb"),
        ("'a\\Nb'", "a\nb"),
        ("'a\\tb'", "a\tb"),
        ("'say \\\"hi\\\"'", 'say "hi"'),
        ("'it''s'", None),
    ],
)
def test_string_escapes_decode(literal: str, decoded: str | None) -> None:
    soql = f"SELECT Id FROM Account WHERE Name = {literal}"
    if decoded is None:
        with pytest.raises(SoqlError):
            parse_soql(soql)
        return
    query = parse_soql(soql)
    assert isinstance(query.where, Comparison)
    assert query.where.value == decoded


@pytest.mark.parametrize("escape", ["\\q", "\\%", "\\_", "\\u0041"])
def test_invalid_escape_rejected(escape: str) -> None:
    with pytest.raises(SoqlError) as caught:
        parse_soql(f"SELECT Id FROM Account WHERE Name = 'a{escape}'")
    assert caught.value.error_code == "MALFORMED_QUERY"


# --- names and relationships ------------------------------------------------------------------


def test_names_ignore_case_and_come_back_canonical(store: OrgStore) -> None:
    result = run_soql("select NAME, industry from ACCOUNT where INDUSTRY = 'Tech'", store)
    assert result.sobject == "Account"
    assert result.records[0].fields == {"Name": "Acme", "Industry": "Tech"}


def test_parent_fields_nest(store: OrgStore) -> None:
    soql = (
        "SELECT Name, Account.Name, Account.Owner.Name FROM Opportunity WHERE Name = 'Renewal 2026'"
    )
    row = run_soql(soql, store).records[0]
    account = row.fields["Account"]
    assert account.sobject == "Account"
    assert account.fields["Name"] == "Acme"
    assert account.fields["Owner"].fields == {"Name": "Ursula Owner"}


def test_empty_lookup_is_none(store: OrgStore) -> None:
    rows = run_soql(
        "SELECT Name, Account.Name, Account.Owner.Name FROM Opportunity ORDER BY Name", store
    ).records
    by_name = {row.fields["Name"]: row for row in rows}
    assert by_name["Orphan"].fields["Account"] is None
    assert by_name["New 100% deal"].fields["Account"].fields["Owner"] is None


def test_where_on_parent_field(store: OrgStore) -> None:
    soql = "SELECT Name FROM Opportunity WHERE Account.Owner.Name LIKE 'ursula%' ORDER BY Name"
    assert names(store, soql) == ["Renewal 2026", "Upsell"]


def test_order_by_parent_field(store: OrgStore) -> None:
    soql = "SELECT Name FROM Opportunity ORDER BY Account.Name DESC NULLS LAST, Name"
    assert names(store, soql) == ["New 100% deal", "Renewal 2026", "Upsell", "Orphan"]


def test_id_filter_accepts_15_characters(store: OrgStore) -> None:
    acme = next(row for row in store.records("Account") if row["Name"] == "Acme")
    soql = f"SELECT Name FROM Opportunity WHERE AccountId = '{acme['Id'][:15]}' ORDER BY Name"
    assert names(store, soql) == ["Renewal 2026", "Upsell"]


# --- rejected queries -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "soql",
    [
        pytest.param("SELECT Name FROM Account extra", id="trailing-text"),
        pytest.param("SELECT Name FROM Account WHERE Name = 'a' junk", id="trailing-after-where"),
        pytest.param("SELECT Name FROM Account LIMIT 5 LIMIT 5", id="repeated-clause"),
        pytest.param("SELECT Industry FROM Account GROUP BY Industry", id="group-by"),
        pytest.param("SELECT Name FROM Account HAVING COUNT() > 1", id="having"),
        pytest.param("SELECT Name, (SELECT LastName FROM Contacts) FROM Account", id="subquery"),
        pytest.param(
            "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact)",
            id="semi-join",
        ),
        pytest.param("SELECT MAX(AnnualRevenue) FROM Account", id="aggregate-function"),
        pytest.param("SELECT COUNT(Id) FROM Account", id="count-field"),
        pytest.param(
            "SELECT Name FROM Account WHERE CALENDAR_YEAR(CreatedDate) = 2026",
            id="date-function",
        ),
        pytest.param("SELECT Name FROM Account WHERE (Name = 'a'", id="unclosed-parenthesis"),
        pytest.param("SELECT Name FROM Account WHERE Name = 'a')", id="extra-parenthesis"),
        pytest.param("SELECT Name FROM Account WHERE Name = 'a", id="unclosed-string"),
        pytest.param("SELECT Name FROM Account FOR UPDATE", id="for-update"),
        pytest.param("SELECT Name FROM Account WITH SECURITY_ENFORCED", id="with"),
        pytest.param("SELECT Name FROM Account a", id="alias"),
        pytest.param("SELECT FROM Account", id="empty-field-list"),
        pytest.param("SELECT Name", id="missing-from"),
        pytest.param("SELECT Name FROM Account WHERE", id="empty-where"),
        pytest.param("SELECT Name FROM Account LIMIT 1.5", id="fractional-limit"),
        pytest.param("SELECT Name FROM Account LIMIT -1", id="negative-limit"),
        pytest.param('SELECT Name FROM Account WHERE Name = "Acme"', id="double-quotes"),
        pytest.param(
            "SELECT Name FROM Account WHERE CreatedDate > 2026-13-01T00:00:00Z", id="bad-month"
        ),
        pytest.param(
            "SELECT Name FROM Account WHERE CreatedDate > 2026-01-01T00:00:00", id="no-offset"
        ),
        pytest.param("SELECT Name, Name FROM Account", id="duplicate-field"),
        pytest.param("SELECT Name FROM Account WHERE Industry > null", id="ordering-null"),
        pytest.param("", id="empty"),
    ],
)
def test_malformed_query_rejected(store: OrgStore, soql: str) -> None:
    assert rejected(store, soql).error_code == "MALFORMED_QUERY"


def test_syntax_error_points_at_token(store: OrgStore) -> None:
    message = str(rejected(store, "SELECT Name FROM Account GROUP BY Name"))
    assert "ERROR at Row:1:Column:26" in message
    assert "unexpected token: GROUP" in message


@pytest.mark.parametrize(
    ("soql", "named"),
    [
        ("SELECT Nmae FROM Account", "Nmae"),
        ("SELECT Name FROM Account WHERE Revenue__c > 5", "Revenue__c"),
        ("SELECT Name FROM Account ORDER BY Rating", "Rating"),
        ("SELECT Account.Nmae FROM Opportunity", "Nmae"),
        ("SELECT Acount.Name FROM Opportunity", "Acount"),
        ("SELECT Account FROM Opportunity", "Account"),
    ],
)
def test_unknown_field_rejected(store: OrgStore, soql: str, named: str) -> None:
    error = rejected(store, soql)
    assert error.error_code == "INVALID_FIELD"
    assert f"'{named}'" in str(error)


def test_unknown_object_rejected(store: OrgStore) -> None:
    error = rejected(store, "SELECT Id FROM Gift__c")
    assert error.error_code == "INVALID_TYPE"
    assert "Gift__c" in str(error)


def test_empty_object_standard_fields_queryable(store: OrgStore) -> None:
    result = run_soql(
        "SELECT Id, WhoId, AccountId, IsDeleted, CreatedDate, SystemModstamp FROM Task", store
    )
    assert result.total_size == 0
