"""Unit tests for the watermark tracker, the query field list and the page stream."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest

from gifting.salesforce import mapping
from gifting.salesforce.batch import WatermarkTracker
from gifting.salesforce.config import FieldMapping
from gifting.salesforce.query import QueryProgress, stream_query

T0 = datetime(2026, 1, 1, 9)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_tracker_keeps_stored_until_records_arrive() -> None:
    tracker = WatermarkTracker(_at(0))
    assert tracker.mid_query() == _at(0)
    assert tracker.complete() == _at(0)


def test_tracker_stops_short_of_newest_stamp_mid_query() -> None:
    tracker = WatermarkTracker(None)
    for minutes in (1, 2, 2, 3, 3):
        tracker.observe(_at(minutes))
    assert tracker.mid_query() == _at(2)
    assert tracker.complete() == _at(3)


def test_tracker_never_moves_back() -> None:
    tracker = WatermarkTracker(_at(10))
    for minutes in (6, 7, 8):  # re-read inside the lookback window
        tracker.observe(_at(minutes))
    assert tracker.mid_query() == _at(10)
    assert tracker.complete() == _at(10)


def test_tracker_holds_mid_query_watermark_when_unordered(caplog: pytest.LogCaptureFixture) -> None:
    tracker = WatermarkTracker(None)
    for minutes in (1, 5, 3, 6):
        tracker.observe(_at(minutes))
    assert tracker.mid_query() is None
    assert tracker.complete() == _at(6)
    assert "SystemModstamp" in caplog.text


def test_query_fields_add_mapped_fields_once() -> None:
    fields = FieldMapping.model_validate({"contact": {"time_zone": "mailingstreet"}})
    names = mapping.query_fields("Contact", fields)
    assert [name.casefold() for name in names].count("mailingstreet") == 1
    assert "Gift_Opt_Out__c" in names
    assert "Time_Zone__c" not in names


@pytest.mark.parametrize(
    ("value", "expected"),
    [("001000000000001", "001000000000001AAA"), ("001000000000001aaa", "001000000000001AAA")],
)
def test_lookup_ids_become_18_characters(value: str, expected: str) -> None:
    assert mapping.salesforce_id({"AccountId": value}, "AccountId") == expected


@pytest.mark.parametrize("value", ["0010000001", 12345])
def test_invalid_lookup_id_is_data_quality_error(value: object) -> None:
    with pytest.raises(mapping.DataQualityError, match="AccountId"):
        mapping.salesforce_id({"AccountId": value}, "AccountId")


class PagedSession:
    """Serves the given pages in order through ``query`` and ``query_more``."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.urls: list[str] = []

    def query(self, soql: str, *, include_deleted: bool = False) -> dict[str, Any]:
        return self.pages.pop(0)

    def query_more(self, url: str) -> dict[str, Any]:
        self.urls.append(url)
        return self.pages.pop(0)


def _page(ids: list[int], total: int, next_url: str | None) -> dict[str, Any]:
    page: dict[str, Any] = {
        "totalSize": total,
        "done": next_url is None,
        "records": [{"Id": str(n)} for n in ids],
    }
    if next_url:
        page["nextRecordsUrl"] = next_url
    return page


def test_stream_follows_next_url_not_page_size() -> None:
    session = PagedSession(
        [_page([1, 2], 5, "/q/01g-2"), _page([3], 5, "/q/01g-3"), _page([4, 5], 5, None)]
    )
    progress = QueryProgress()
    ids = [r["Id"] for r in stream_query(session, "SELECT Id FROM Account", progress)]  # type: ignore[arg-type]
    assert ids == ["1", "2", "3", "4", "5"]
    assert session.urls == ["/q/01g-2", "/q/01g-3"]
    assert progress.pages == 3
    assert not progress.mismatch


def test_stream_reports_total_mismatch(caplog: pytest.LogCaptureFixture) -> None:
    session = PagedSession([_page([1, 2], 3, None)])
    progress = QueryProgress()
    with caplog.at_level(logging.WARNING):
        list(stream_query(session, "SELECT Id FROM Account", progress))  # type: ignore[arg-type]
    assert progress.mismatch
    assert "totalSize 3" in caplog.text


def test_stream_stops_early_without_mismatch() -> None:
    session = PagedSession([_page([1, 2], 4, "/q/01g-2"), _page([3, 4], 4, None)])
    progress = QueryProgress()
    records = stream_query(session, "SELECT Id FROM Account", progress)  # type: ignore[arg-type]
    next(records)
    assert progress.received == 1
    assert not progress.mismatch
