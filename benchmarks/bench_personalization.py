"""Measure in-memory personalization: item selection plus note rendering, with no database.

Run ``python benchmarks/bench_personalization.py [--gifts N]``. It builds a catalog of 200
generated items and random recipients from a fixed seed, times ``ItemSelector.select`` and
``render_note`` on one core, and prints gifts per second with the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from decimal import Decimal

from gifting.config import Catalog, CatalogItem, load_program
from gifting.personalization.notes import NoteContext, note_environment, render_note
from gifting.personalization.selection import ItemSelector, Recipient
from gifting.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "config"
CATEGORIES = ["celebration", "premium", "gourmet", "useful", "experience", "donation"]
COUNTRIES = ["US", "CA", "GB", "DE", "FR", "JP", "BR", "IN", "ZA", None]
PREFERENCES = ["no_alcohol", "vegan", "vegetarian", "coffee", "books", "music", "outdoors"]
RELATIONSHIPS = ["executive_sponsor", "champion", "decision_maker", "end_user", None]
NAMES = ["Ana", "Jürgen", "由美", "مريم", None]


def generated_catalog(rng: random.Random, size: int = 200) -> Catalog:
    """Return ``size`` random items plus the two recipient's-choice e-gifts."""
    items = [
        CatalogItem(
            sku=f"GEN-{number:04d}",
            name=f"Generated coffee gift {number}" if number % 7 == 0 else f"Gift {number}",
            price=Decimal(rng.randrange(40, 260)),
            currency="USD",
            categories=rng.sample(CATEGORIES, rng.randint(1, 3)),
            restrictions=rng.sample(["alcohol", "perishable", "allergens"], rng.randint(0, 1)),
            ships_to=["*"] if rng.random() < 0.4 else rng.sample(COUNTRIES[:-1], 4),
            lead_time_days=3,
            kind="physical" if rng.random() < 0.8 else "egift",
        )
        for number in range(size - 2)
    ]
    for price in (50, 100):
        items.append(
            CatalogItem(
                sku=f"CHC-EGIFT-{price}",
                name="Recipient's-choice e-gift card",
                price=Decimal(price),
                currency="USD",
                categories=CATEGORIES,
                restrictions=[],
                ships_to=["*"],
                lead_time_days=0,
                kind="egift",
            )
        )
    return Catalog(items=items)


def random_recipient(rng: random.Random) -> Recipient:
    return Recipient(
        country=rng.choice(COUNTRIES),
        has_address=rng.random() < 0.85,
        preferences=frozenset(rng.sample(PREFERENCES, rng.randint(0, 2))),
        categories_received=frozenset(rng.sample(CATEGORIES, rng.randint(0, 2))),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gifts", type=int, default=100_000, help="number of gifts to personalize")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random catalog and people")
    arguments = parser.parse_args()
    rng = random.Random(arguments.seed)
    program = load_program(CONFIG)
    catalog = generated_catalog(rng)
    environment = note_environment(CONFIG / "templates")
    selector = ItemSelector(catalog)
    work = [
        (
            rng.choice(program.stages),
            random_recipient(rng),
            rng.choice(NAMES),
            rng.choice(RELATIONSHIPS),
        )
        for _ in range(arguments.gifts)
    ]
    # NOTE: pins the process to one CPU where the OS allows it, so the figure is per core.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    started = time.perf_counter()
    rendered = 0
    for stage, recipient, first_name, relationship in work:
        selection = selector.select(stage, recipient)
        if selection is None:
            continue
        context = NoteContext(
            first_name=first_name,
            company="Example GmbH",
            title="Head of Data",
            stage=stage.name,
            purpose=stage.purpose,
            item_name=selection.item.name,
            use_case="Automate invoice reconciliation" if rendered % 2 else None,
            goals="Cut month-end close from 10 to 4 days",
            relationship=relationship,
            recent_topic="Rollout plan" if rendered % 3 else None,
            went_live_on="5 March 2026",
        )
        render_note(environment, stage.template, context)
        rendered += 1
    elapsed = time.perf_counter() - started
    print(f"gifts: {arguments.gifts} ({rendered} with a note), catalog: {len(catalog.items)} items")
    rate = arguments.gifts / elapsed
    print(f"elapsed: {elapsed:.2f} s, throughput: {rate:,.0f} gifts/s on one core")
    print(f"machine: {platform.machine()} {platform.processor() or ''} {_cpu_model()}".strip())
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"python: {python}, {platform.system()}")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


if __name__ == "__main__":
    main()
