"""Measure how fast the sample-org generator runs and how much memory it needs.

By default the script streams ``iter_sample_records`` and keeps only per-object counts, which is
how a 100,000-account org is produced without holding it. ``--store`` fills an ``OrgStore``
instead, as the sandbox does at start-up.

Example::

    .venv/bin/python benchmarks/bench_sample_org.py --accounts 10000
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import Counter
from datetime import datetime

from gifting.sandbox.sample_org import SampleOrgSpec, generate_sample_org, iter_sample_records


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000, help="number of Accounts")
    parser.add_argument("--seed", type=int, default=7, help="seed of the sample org")
    parser.add_argument(
        "--as-of",
        type=datetime.fromisoformat,
        default=datetime.fromisoformat("2026-11-30T18:00:00+00:00"),
        help="reference time as ISO 8601 with a UTC offset of +00:00",
    )
    parser.add_argument(
        "--store", action="store_true", help="fill an in-memory OrgStore instead of streaming"
    )
    return parser.parse_args(argv)


def count_records(spec: SampleOrgSpec, *, into_store: bool) -> Counter[str]:
    """Generate the org and return the number of records per sObject."""
    if into_store:
        store = generate_sample_org(spec)
        return Counter({sobject: store.count(sobject) for sobject in store.objects})
    counts: Counter[str] = Counter()
    for sobject, _fields in iter_sample_records(spec):
        counts[sobject] += 1
    return counts


def main(argv: list[str]) -> None:
    arguments = parse_arguments(argv)
    spec = SampleOrgSpec(accounts=arguments.accounts, seed=arguments.seed, as_of=arguments.as_of)

    started = time.perf_counter()
    counts = count_records(spec, into_store=arguments.store)
    elapsed = time.perf_counter() - started

    total = sum(counts.values())
    # On Linux ru_maxrss is in KiB.
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mode = "store" if arguments.store else "stream"
    print(f"mode={mode} accounts={spec.accounts} seed={spec.seed} as_of={spec.as_of.isoformat()}")
    for sobject, count in counts.items():
        print(f"  {sobject:<24} {count:>10,}")
    print(f"records={total:,} seconds={elapsed:.2f} records_per_second={total / elapsed:,.0f}")
    print(f"peak_rss_mib={peak_rss_mib:.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
