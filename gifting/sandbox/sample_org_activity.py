"""Tasks, Events and Cases: the activity history that personalisation and health checks read.

No Task or Case is dated after the account's churn date or after ``as_of``. Events may lie after
``as_of`` only when they were already scheduled by then (their CreatedDate is not after it).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from gifting.sandbox import sample_org_data as data
from gifting.sandbox.sample_org_story import (
    AccountStory,
    IdAllocator,
    Record,
    local_business_time,
)

PREFERENCE_NOTE_SHARE = 0.6
# (Type, Subject, description, first day, last day, share of accounts, days before it is scheduled)
ONBOARDING_EVENTS: tuple[tuple[str, str, str, int, int, float, int], ...] = (
    ("Kickoff", "Kickoff", "Project plan, owners and success criteria agreed.", 1, 5, 0.92, 5),
    ("Go-Live", "Go-Live", "Cut-over to production and hypercare plan.", 20, 45, 0.85, 14),
    (
        "QBR",
        "Quarterly business review",
        "Adoption, open cases and next quarter's goals.",
        85,
        100,
        0.80,
        30,
    ),
)
CASE_COUNT_WEIGHTS = (45, 25, 15, 10, 5)


def build_tasks(rng: random.Random, ids: IdAllocator, story: AccountStory) -> list[Record]:
    """Build calls, emails and notes from the sales cycle and from life as a customer."""
    tasks = []
    for _ in range(rng.randint(2, 5)):
        day = story.day_between(rng, story.opened_at.date(), story.close_date)
        template = rng.choice(data.SALES_NOTES)
        tasks.append(_task(rng, ids, story, day, template, story.new_business_id))

    first_customer_day = story.close_date + timedelta(days=3)
    if first_customer_day <= story.last_active:
        for _ in range(rng.randint(1, 6)):
            day = story.day_between(rng, first_customer_day, story.last_active)
            what_id = story.new_business_id if rng.random() < 0.3 else None
            tasks.append(_task(rng, ids, story, day, rng.choice(data.CUSTOMER_NOTES), what_id))

    tasks.extend(_preference_notes(rng, ids, story))
    tasks.sort(key=lambda task: task["CreatedDate"])
    return tasks


def _preference_notes(rng: random.Random, ids: IdAllocator, story: AccountStory) -> list[Record]:
    """Write down, for some contacts with gift preferences, a remark that reveals one of them."""
    notes = []
    for contact in story.contacts:
        preferences = contact["Gift_Preferences__c"]
        if preferences is None or rng.random() >= PREFERENCE_NOTE_SHARE:
            continue
        hint = data.PREFERENCE_HINTS[rng.choice(preferences.split(";"))]
        day = story.day_between(rng, story.opened_at.date(), story.last_active)
        template = ("Call", "Catch-up call", "Talked about the rollout timeline. " + hint)
        note = _task(rng, ids, story, day, template, None, contact=contact)
        notes.append(note)
    return notes


def _task(
    rng: random.Random,
    ids: IdAllocator,
    story: AccountStory,
    day: date,
    template: tuple[str, str, str],
    what_id: str | None,
    contact: Record | None = None,
) -> Record:
    kind, subject, description = template
    if contact is None:
        contact = story.primary if rng.random() < 0.6 else rng.choice(story.contacts)
    stamp = story.at(rng, day)
    return {
        "Id": ids.next("Task"),
        "WhoId": contact["Id"],
        "WhatId": what_id,
        "AccountId": story.account_id,
        "Subject": subject,
        "Description": description.format(team=rng.choice(data.TEAMS), first=contact["FirstName"]),
        "ActivityDate": day,
        "Type": kind,
        "Status": "Completed",
        "OwnerId": story.owner_id,
        "CreatedDate": stamp,
        "SystemModstamp": stamp,
        "IsDeleted": False,
    }


def build_events(rng: random.Random, ids: IdAllocator, story: AccountStory) -> list[Record]:
    """Build sales meetings and the Kickoff, Go-Live and QBR milestones after signing."""
    events = []
    for _ in range(rng.randint(1, 2)):
        day = story.day_between(rng, story.opened_at.date(), story.close_date)
        starts = story.at(rng, day)
        scheduled = max(story.opened_at, starts - timedelta(days=rng.randint(2, 10)))
        events.append(_event(ids, story, "Meeting", "Product demo", starts, scheduled))

    for kind, subject, description, first, last, share, lead_days in ONBOARDING_EVENTS:
        if rng.random() >= share:
            continue
        day = story.close_date + timedelta(days=rng.randint(first, last))
        # Not clamped to as_of, because a milestone may already be on the calendar for later.
        starts = local_business_time(rng, day, story.zone)
        scheduled = max(story.close_at, starts - timedelta(days=lead_days))
        if not _happens(story, starts, scheduled):
            continue
        event = _event(ids, story, kind, f"{subject}: {story.name}", starts, scheduled)
        event["Description"] = description
        events.append(event)
    return events


def _happens(story: AccountStory, starts: datetime, scheduled: datetime) -> bool:
    """Keep an event if it was on the calendar by ``as_of`` and the account had not churned."""
    if scheduled > story.as_of:
        return False
    return story.churn_date is None or starts.date() <= story.churn_date


def _event(
    ids: IdAllocator,
    story: AccountStory,
    kind: str,
    subject: str,
    starts: datetime,
    scheduled: datetime,
) -> Record:
    return {
        "Id": ids.next("Event"),
        "WhoId": story.primary["Id"],
        "AccountId": story.account_id,
        "Subject": subject,
        "Description": "Walked through the platform with the buying committee.",
        "ActivityDateTime": starts,
        "Type": kind,
        "OwnerId": story.owner_id,
        "CreatedDate": scheduled,
        "SystemModstamp": scheduled,
        "IsDeleted": False,
    }


def build_cases(rng: random.Random, ids: IdAllocator, story: AccountStory) -> list[Record]:
    """Build support Cases opened while the account was a customer, most of them closed."""
    first_day = story.close_date + timedelta(days=10)
    if first_day > story.last_active:
        return []
    count = rng.choices(range(len(CASE_COUNT_WEIGHTS)), weights=CASE_COUNT_WEIGHTS)[0]
    cases = []
    for _ in range(count):
        opened = story.at(rng, story.day_between(rng, first_day, story.last_active))
        closed_at = opened + timedelta(hours=rng.randint(2, 240))
        is_closed = closed_at <= story.as_of and rng.random() < 0.9
        cases.append(
            {
                "Id": ids.next("Case"),
                "AccountId": story.account_id,
                "ContactId": rng.choice(story.contacts)["Id"],
                "Subject": rng.choice(data.CASE_SUBJECTS),
                "Priority": rng.choices(("High", "Medium", "Low"), weights=(20, 45, 35))[0],
                "Status": "Closed" if is_closed else rng.choice(data.OPEN_CASE_STATUSES),
                "IsClosed": is_closed,
                "CreatedDate": opened,
                "ClosedDate": closed_at if is_closed else None,
                "SystemModstamp": closed_at if is_closed else opened,
                "IsDeleted": False,
            }
        )
    cases.sort(key=lambda case: case["CreatedDate"])
    return cases
