"""Stream the records of a SOQL query page by page and check them against ``totalSize``.

``query_all_iter`` hides ``totalSize`` and ``done``, so this module follows ``nextRecordsUrl``
itself. Salesforce may send fewer records per page than its batch size, so the end of a result is
``done: true``, never a short page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gifting.salesforce.session import SalesforceSession

logger = logging.getLogger(__name__)


@dataclass
class QueryProgress:
    """Counts of one query, filled in while its records stream.

    Attributes:
        total_size: ``totalSize`` of the first page, the number of records the query matched.
        received: Records yielded so far.
        pages: Pages fetched so far.
        done: Whether a page with ``done: true`` arrived.
    """

    total_size: int | None = None
    received: int = 0
    pages: int = 0
    done: bool = False

    @property
    def mismatch(self) -> bool:
        """Tell whether a finished query yielded another number of records than it announced."""
        return self.done and self.total_size is not None and self.received != self.total_size


def stream_query(
    session: SalesforceSession,
    soql: str,
    progress: QueryProgress,
    *,
    include_deleted: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield every record of ``soql``, fetching the next page only when the last one is used up.

    Memory stays at one page. ``progress`` is updated as pages arrive, so a caller that stops
    early can still read how far the query got.
    """
    page = session.query(soql, include_deleted=include_deleted)
    progress.total_size = _total_size(page)
    while True:
        records = page.get("records") or []
        progress.pages += 1
        logger.debug(
            "query page %d: %d records (%d of %s)",
            progress.pages, len(records), progress.received + len(records), progress.total_size,
        )  # fmt: skip
        for record in records:
            progress.received += 1
            yield dict(record)
        next_url = page.get("nextRecordsUrl")
        if page.get("done", True):
            break
        if not next_url:
            logger.warning("query page %d has done false but no nextRecordsUrl", progress.pages)
            break
        page = session.query_more(next_url)
    progress.done = True
    if progress.mismatch:
        logger.warning(
            "query returned %d records but announced totalSize %s",
            progress.received, progress.total_size,
        )  # fmt: skip


def _total_size(page: dict[str, Any]) -> int | None:
    value = page.get("totalSize")
    return value if isinstance(value, int) else None
