"""Users, Accounts and Contacts of the sample org, with names and addresses per country."""

from __future__ import annotations

import math
import random
import unicodedata
from datetime import date, datetime, timedelta

from gifting.sandbox import sample_org_data as data
from gifting.sandbox.sample_org_story import AccountStory, IdAllocator, Record, fill_pattern

# Per-record probabilities, chosen so the sync meets each edge case at a realistic rate.
STRATEGIC_SHARE = 0.10
MISSING_STREET_SHARE = 0.03
TIME_ZONE_SHARE = 0.70
EMAIL_OPT_OUT_SHARE = 0.06
PREFERENCES_SHARE = 0.55
ABROAD_SHARE = 0.05
LOST_ATTEMPT_SHARE = 0.12


def build_users(ids: IdAllocator, as_of: datetime, history_days: int) -> list[Record]:
    """Build the account owners: all active except the last, who has left the company."""
    users = []
    first_hire = as_of - timedelta(days=history_days + 400)
    for position, (first, last) in enumerate(data.OWNER_NAMES):
        created = first_hire + timedelta(days=23 * position, hours=9)
        user = {
            "Id": ids.next("User"),
            "Name": f"{first} {last}",
            "Email": f"{ascii_slug(first)}.{ascii_slug(last)}@{data.SELLER_DOMAIN}",
            "IsActive": position < len(data.OWNER_NAMES) - 1,
            "CreatedDate": created,
            "SystemModstamp": created,
            "IsDeleted": False,
        }
        users.append(user)
    return users


def ascii_slug(text: str) -> str:
    """Reduce ``text`` to lower-case ASCII letters and digits, for Email local parts and domains.

    Accents are dropped ("Müller" becomes "muller"). Japanese names go through the romanised
    tables first, because they have no ASCII decomposition.
    """
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(
        character for character in decomposed.lower() if character.isascii() and character.isalnum()
    )


def company_name(rng: random.Random, country: data.Country) -> tuple[str, str]:
    """Return an invented company name and the ASCII stem of its Email domain."""
    if country.code == "JP":
        stem, stem_latin = rng.choice(list(data.JAPANESE_COMPANY_STEMS.items()))
        kind, kind_latin = rng.choice(list(data.JAPANESE_COMPANY_KINDS.items()))
        # Both placements of 株式会社 (kabushiki kaisha) are common in registered names.
        name = f"{stem}{kind}株式会社" if rng.random() < 0.5 else f"株式会社{stem}{kind}"
        return name, f"{stem_latin}-{kind_latin}"
    stem = rng.choice(data.COMPANY_STEMS)
    kind = rng.choice(data.COMPANY_KINDS)
    suffix = rng.choice(country.company_suffixes)
    return f"{stem} {kind} {suffix}", f"{ascii_slug(stem)}-{ascii_slug(kind)}"


def person_name(rng: random.Random, country: data.Country) -> tuple[str, str, str]:
    """Return first name, last name and the ASCII ``first.last`` Email local part."""
    first = rng.choice(country.first_names)
    last = rng.choice(country.last_names)
    if country.code == "JP":
        local = f"{data.JAPANESE_FIRST_NAMES[first]}.{data.JAPANESE_LAST_NAMES[last]}"
    else:
        local = f"{ascii_slug(first)}.{ascii_slug(last)}"
    return first, last, local


def street(rng: random.Random, country: data.Country) -> str:
    name = rng.choice(country.street_names)
    return country.street.format(name=name, number=rng.randint(1, 480))


def employee_count(rng: random.Random) -> int:
    """Draw a log-normal company size: median about 200, long tail into six figures."""
    return max(8, min(150_000, round(math.exp(rng.gauss(5.3, 1.3)))))


def new_story(
    rng: random.Random,
    ids: IdAllocator,
    index: int,
    owner_id: str,
    close_date: date,
    as_of: datetime,
) -> AccountStory:
    """Start an account's story: who it is, where, and when the winning deal opened and closed."""
    country = rng.choices(data.COUNTRIES, weights=data.COUNTRY_WEIGHTS)[0]
    city = rng.choice(country.cities)
    name, domain_stem = company_name(rng, country)
    story = AccountStory(
        index=index,
        account_id=ids.next("Account"),
        owner_id=owner_id,
        country=country,
        city=city,
        name=name,
        domain=f"{domain_stem}-{index}.example",
        created_at=as_of,
        opened_at=as_of,
        close_date=close_date,
        close_at=as_of,
        as_of=as_of,
    )
    story.office_street = street(rng, country)
    story.office_postal_code = fill_pattern(rng, country.postal_code)
    story.close_at = story.at(rng, close_date)
    story.opened_at = story.at(rng, close_date - timedelta(days=rng.randint(25, 150)))
    first_touch = story.opened_at.date()
    if rng.random() < LOST_ATTEMPT_SHARE:
        # An earlier New Business deal that was lost before this one was won.
        story.lost_attempt_close = first_touch - timedelta(days=rng.randint(30, 200))
        first_touch = story.lost_attempt_close - timedelta(days=rng.randint(20, 90))
        story.lost_attempt_opened = first_touch
    story.created_at = story.at(rng, first_touch - timedelta(days=rng.randint(1, 60)))
    return story


def build_contacts(
    rng: random.Random, ids: IdAllocator, story: AccountStory, opt_out_share: float
) -> list[Record]:
    """Build 2–4 Contacts. The first is the senior buyer who becomes the deal's primary contact."""
    count = rng.choices((2, 3, 4), weights=(35, 40, 25))[0]
    contacts = []
    for position in range(count):
        country = story.country
        if position > 0 and rng.random() < ABROAD_SHARE:
            country = rng.choices(data.COUNTRIES, weights=data.COUNTRY_WEIGHTS)[0]
        contact = _contact(rng, ids, story, country, senior=position == 0)
        contact["Gift_Opt_Out__c"] = rng.random() < opt_out_share
        if country is story.country and rng.random() < 0.6:
            contact["MailingStreet"] = story.office_street
            contact["MailingPostalCode"] = story.office_postal_code
        if rng.random() < MISSING_STREET_SHARE:
            contact["MailingStreet"] = None
            contact["MailingPostalCode"] = None
        contacts.append(contact)
    return contacts


def _contact(
    rng: random.Random,
    ids: IdAllocator,
    story: AccountStory,
    country: data.Country,
    *,
    senior: bool,
) -> Record:
    first, last, local = person_name(rng, country)
    city = story.city if country is story.country else rng.choice(country.cities)
    created = story.at(rng, story.day_between(rng, story.created_at.date(), story.close_date))
    return {
        "Id": ids.next("Contact"),
        "AccountId": story.account_id,
        "FirstName": first,
        "LastName": last,
        "Title": rng.choice(data.SENIOR_TITLES if senior else data.STAFF_TITLES),
        "Email": f"{local}@{story.domain}",
        "Phone": fill_pattern(rng, country.phone),
        "MailingStreet": street(rng, country),
        "MailingCity": city.name,
        "MailingState": city.state,
        "MailingPostalCode": fill_pattern(rng, country.postal_code),
        "MailingCountry": country.code,
        "Time_Zone__c": city.time_zone if rng.random() < TIME_ZONE_SHARE else None,
        "Gift_Opt_Out__c": False,
        "Gift_Preferences__c": _preferences(rng),
        "HasOptedOutOfEmail": rng.random() < EMAIL_OPT_OUT_SHARE,
        "OwnerId": story.owner_id,
        "CreatedDate": created,
        "SystemModstamp": created,
        "IsDeleted": False,
    }


def _preferences(rng: random.Random) -> str | None:
    """Draw the semicolon list stored in the multi-select picklist ``Gift_Preferences__c``."""
    if rng.random() >= PREFERENCES_SHARE:
        return None
    chosen = set(rng.sample(data.GIFT_PREFERENCES, rng.randint(1, 3)))
    if "vegan" in chosen:
        chosen.discard("vegetarian")
    # Salesforce returns multi-select values in picklist order, not selection order.
    return ";".join(value for value in data.GIFT_PREFERENCES if value in chosen)


def build_account(
    rng: random.Random,
    story: AccountStory,
    *,
    nps_score: int | None,
    referrals: int,
    modified_at: datetime,
) -> Record:
    """Build the Account record once the story's outcome (churn, NPS, referrals) is known."""
    return {
        "Id": story.account_id,
        "Name": story.name,
        "Industry": rng.choices(data.INDUSTRIES, weights=data.INDUSTRY_WEIGHTS)[0],
        "Type": "Customer",
        "BillingStreet": story.office_street,
        "BillingCity": story.city.name,
        "BillingState": story.city.state,
        "BillingPostalCode": story.office_postal_code,
        "BillingCountry": story.country.code,
        "NumberOfEmployees": employee_count(rng),
        "OwnerId": story.owner_id,
        "Strategic__c": rng.random() < STRATEGIC_SHARE,
        "Churn_Date__c": story.churn_date,
        "NPS_Score__c": nps_score,
        "Referrals__c": referrals,
        "CreatedDate": story.created_at,
        "SystemModstamp": max(story.created_at, modified_at),
        "IsDeleted": False,
    }
