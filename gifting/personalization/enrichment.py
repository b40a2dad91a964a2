"""Build a profile of each gift's recipient from the warehouse, so a note can show we know them.

Profiles are loaded for a batch of gifts with one query per table. Only facts recorded before
``as_of`` are used, so a backfill writes the note it would have written on the day.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Connection, and_, or_, select

from gifting.personalization.notes import NoteContext
from gifting.personalization.selection import parse_preferences
from gifting.warehouse.schema import Account, Activity, Contact, Contract

logger = logging.getLogger(__name__)

Seniority = Literal["executive", "director", "manager", "individual"]
Relationship = Literal[
    "executive_sponsor", "champion", "decision_maker", "end_user", "partner", "other"
]

MAX_TOPICS = 3
MAX_TOPIC_CHARACTERS = 80
TOPIC_KINDS = ("call", "meeting", "note")
MILESTONE_KINDS = ("kickoff", "go_live", "qbr")
# Checked in order, so "Vice President" is an executive before "President" could match anything
# lower. Keywords are matched against the casefolded title, as whole words where they are Latin.
SENIORITY_KEYWORDS: tuple[tuple[Seniority, tuple[str, ...]], ...] = (
    (
        "executive",
        (
            "chief",
            "ceo",
            "cfo",
            "cto",
            "coo",
            "cio",
            "cro",
            "cmo",
            "president",
            "founder",
            "owner",
            "vp",
            "vice president",
            "evp",
            "svp",
            "managing director",
            "geschäftsführer",
            "geschaftsfuhrer",
            "vorstand",
            "directeur général",
            "directeur general",
            "pdg",
            "director general",
            "社長",
            "取締役",
            "代表",
            "本部長",
        ),
    ),
    (
        "director",
        (
            "director",
            "head",
            "directeur",
            "directrice",
            "leiter",
            "leiterin",
            "direktor",
            "responsable",
            "部長",
        ),
    ),
    ("manager", ("manager", "lead", "supervisor", "gerente", "chef", "課長", "マネージャー")),
)
ROLE_RELATIONSHIPS: dict[str, Relationship] = {
    "executive sponsor": "executive_sponsor",
    "champion": "champion",
    "decision maker": "decision_maker",
    "economic buyer": "decision_maker",
    "end user": "end_user",
    "partner": "partner",
    "reseller": "partner",
    "implementation partner": "partner",
}
# Subject prefixes that name how a message travelled rather than its topic.
SUBJECT_PREFIXES = ("re:", "fw:", "fwd:", "aw:", "wg:", "tr:", "call:", "meeting:", "note:")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True)
class GiftKeys:
    """The ids that tie one gift to its recipient, contract and account."""

    gift_id: str
    contact_id: str | None
    account_id: str
    contract_id: str


@dataclass(frozen=True)
class RecipientProfile:
    """Facts the warehouse stores about one gift's recipient before ``as_of``.

    Attributes:
        recent_topics: Subjects of the recipient's or account's calls, meetings and notes,
            newest first, each on one line of at most 80 characters.
        categories_received: Gift categories the contact has received or will receive.
    """

    seniority: Seniority | None = None
    relationship: Relationship = "other"
    industry: str | None = None
    preferences: frozenset[str] = frozenset()
    recent_topics: tuple[str, ...] = ()
    kickoff_on: date | None = None
    went_live_on: date | None = None
    last_qbr_on: date | None = None
    categories_received: frozenset[str] = field(default_factory=frozenset)


def seniority_from_title(title: str | None) -> Seniority | None:
    """Classify a job title, or return ``None`` when there is none."""
    if not title or not title.strip():
        return None
    words = f" {' '.join(_letters_only(title.casefold()).split())} "
    for level, keywords in SENIORITY_KEYWORDS:
        for keyword in keywords:
            if keyword.isascii() and f" {keyword} " in words:
                return level
            if not keyword.isascii() and keyword in words:
                return level
    return "individual"


def _letters_only(text: str) -> str:
    return "".join(char if char.isalnum() else " " for char in text)


def relationship_from_role(role: str | None) -> Relationship:
    """Map a Salesforce contact role such as ``Executive Sponsor`` to a relationship type."""
    key = " ".join((role or "").casefold().replace("_", " ").split())
    return ROLE_RELATIONSHIPS.get(key, "other")


def clean_topic(subject: str | None) -> str | None:
    """Return a subject as one short line of plain text, or ``None`` when nothing is left.

    Mail prefixes go, whitespace and line breaks collapse to single spaces, and a long subject is
    cut at a word boundary to at most 80 characters.
    """
    text = " ".join((subject or "").split())
    while text.casefold().startswith(SUBJECT_PREFIXES):
        text = text.split(":", 1)[1].strip()
    if len(text) > MAX_TOPIC_CHARACTERS:
        cut = text[: MAX_TOPIC_CHARACTERS - 1]
        text = (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:-") + "…"
    return text or None


def note_date(day: date | None) -> str | None:
    """Write a date as a note does (``5 March 2026``), independent of the process locale."""
    return None if day is None else f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def load_profiles(
    connection: Connection,
    gifts: Sequence[GiftKeys],
    *,
    as_of: datetime,
    categories_received: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, RecipientProfile]:
    """Return a profile for each gift id, with one query per table for the whole batch."""
    if not gifts:
        return {}
    contacts = _by_id(connection, Contact, {g.contact_id for g in gifts if g.contact_id})
    contracts = _by_id(connection, Contract, {g.contract_id for g in gifts})
    accounts = _by_id(connection, Account, {g.account_id for g in gifts})
    activities = _activities(connection, gifts, as_of)
    received = categories_received or {}
    profiles = {}
    for gift in gifts:
        contact = contacts.get(gift.contact_id or "")
        contract = contracts.get(gift.contract_id)
        account = accounts.get(gift.account_id)
        profiles[gift.gift_id] = RecipientProfile(
            seniority=seniority_from_title(contact.title if contact else None),
            relationship=relationship_from_role(contract.contact_role if contract else None),
            industry=account.industry if account else None,
            preferences=parse_preferences(contact.preferences if contact else None),
            recent_topics=_topics(activities, gift),
            **_milestones(activities.get(("account", gift.account_id), [])),
            categories_received=frozenset(received.get(gift.contact_id or "", ())),
        )
    logger.debug("loaded %d recipient profiles from %d activities", len(profiles), len(activities))
    return profiles


def _by_id(connection: Connection, table: Any, ids: set[str]) -> dict[str, Any]:
    if not ids:
        return {}
    rows = connection.execute(select(table).where(table.id.in_(sorted(ids))))
    return {row.id: row for row in rows}


def _activities(
    connection: Connection, gifts: Sequence[GiftKeys], as_of: datetime
) -> dict[tuple[str, str], list[Any]]:
    """Return the batch's activities before ``as_of``, newest first, by contact and by account."""
    contact_ids = sorted({g.contact_id for g in gifts if g.contact_id})
    account_ids = sorted({g.account_id for g in gifts})
    # NOTE: the IN lists grow with the batch. A batch of many thousand gifts may reach a
    # driver's bind parameter limit, so callers should keep batches to a few thousand gifts.
    query = (
        select(Activity.contact_id, Activity.account_id, Activity.kind, Activity.subject)
        .add_columns(Activity.occurred_at)
        .where(
            Activity.is_deleted.is_(False),
            Activity.occurred_at < as_of,
            Activity.kind.in_(TOPIC_KINDS + MILESTONE_KINDS),
            or_(
                Activity.account_id.in_(account_ids),
                and_(Activity.contact_id.is_not(None), Activity.contact_id.in_(contact_ids)),
            ),
        )
        .order_by(Activity.occurred_at.desc(), Activity.id)
    )
    grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in connection.execute(query):
        if row.account_id:
            grouped[("account", row.account_id)].append(row)
        if row.contact_id:
            grouped[("contact", row.contact_id)].append(row)
    return grouped


def _topics(activities: Mapping[tuple[str, str], list[Any]], gift: GiftKeys) -> tuple[str, ...]:
    """Return the latest distinct topics, the recipient's own before the account's."""
    own = activities.get(("contact", gift.contact_id or ""), [])
    account = activities.get(("account", gift.account_id), [])
    topics: list[str] = []
    for row in [*own, *account]:
        topic = clean_topic(row.subject) if row.kind in TOPIC_KINDS else None
        if topic and topic not in topics:
            topics.append(topic)
        if len(topics) == MAX_TOPICS:
            break
    return tuple(topics)


def _milestones(rows: list[Any]) -> dict[str, date | None]:
    """Return the first kickoff and go-live and the latest QBR, from rows sorted newest first."""
    days: dict[str, list[date]] = defaultdict(list)
    for row in rows:
        if row.kind in MILESTONE_KINDS and row.occurred_at is not None:
            days[row.kind].append(row.occurred_at.date())
    return {
        "kickoff_on": min(days["kickoff"], default=None),
        "went_live_on": min(days["go_live"], default=None),
        "last_qbr_on": max(days["qbr"], default=None),
    }


def enrich_context(context: NoteContext, profile: RecipientProfile | None) -> NoteContext:
    """Return ``context`` with the profile's facts added, or unchanged without a profile."""
    if profile is None:
        return context
    return NoteContext(
        **{
            **context.__dict__,
            "relationship": profile.relationship,
            "seniority": profile.seniority,
            "industry": profile.industry,
            "recent_topic": profile.recent_topics[0] if profile.recent_topics else None,
            "went_live_on": note_date(profile.went_live_on),
            "kickoff_on": note_date(profile.kickoff_on),
        }
    )
