"""How fast are the workload generators? 1,000,000 records from an organisation description.

The organisation (``--users`` users, 40 messages per user per day, peak hour 15 %, 35 % of
recipients at 200 partner addresses, 30 % spam, the office profile, Zipf recipient counts and
popularity, lognormal+Pareto sizes with attachments) compiles to three shaped streams that are
merged in time order; the reference is one plain Poisson stream of issue 2 shaped like
firma1.yaml's internal mail (8 senders, 10 recipients, 1-3 recipients per message, lognormal
sizes), run in the same process. Both go through ``scenario_arrivals`` and build every
``Arrival`` record; nothing is kept, so memory stays flat. Prints a table and, as its last line,
one JSON object with the figures.

(A plain stream over the organisation's thousands of users is not the reference: its Gumbel
top-k recipient draw costs one random number per user per message, which is what the shaped
streams' rejection draw avoids.)

Usage: ``python bench/workload_gen.py [--records N] [--users N] [--repeat K]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARTNERS = 200


def organisation(users: int) -> dict[str, Any]:
    """The organisation scenario as the YAML structure (firma1.intr grown to ``users``)."""
    partners = [f"contact{i}@partner.example" for i in range(1, PARTNERS + 1)]
    return {
        "name": "bench-organisation",
        "seed": 5,
        "duration": "10000d",
        "hosts": {
            "neo.firma1.intr": {
                "address": "10.0.0.1",
                "network": "10.0.0.0/16",
                "services": ["smtp"],
                "postfix": {"mydomain": "firma1.intr", "mydestination": "$myhostname, $mydomain",
                            "mynetworks": "10.0.0.0/16"},
            },
            "mx.partner.example": {
                "address": "192.0.2.25",
                "services": ["smtp"],
                "postfix": {"mydomain": "partner.example",
                            "mydestination": "$myhostname, $mydomain"},
            },
        },
        "users": [{"address": a, "host": "mx.partner.example"} for a in partners],
        "workload": {
            "organisation": {
                "domain": "firma1.intr",
                "users": users,
                "messages_per_user_per_day": 40,
                "peak_hour_share": 0.15,
                "outside_share": 0.35,
                "spam_share": 0.3,
                "profile": "office",
                "popularity": {"senders": 0.5, "recipients": 0.5},
                "recipients_per_message": {"dist": "zipf", "s": 2.0, "max": 20},
                "size": {"dist": "mixture", "attachment_share": 0.2,
                         "attachment": {"dist": "lognormal", "median": "200KB", "sigma": 1.3}},
            }
        },
    }  # fmt: skip


def plain() -> dict[str, Any]:
    """One issue-2 Poisson stream shaped like firma1.yaml's internal mail."""
    office = [f"{name}@firma1.intr" for name in
              ("jura", "nekdo", "petra", "martin", "eva", "tomas", "lucie", "karel")]  # fmt: skip
    return {
        "name": "bench-plain",
        "seed": 5,
        "duration": "10000d",
        "hosts": {"neo.firma1.intr": {
            "address": "10.0.0.1",
            "network": "10.0.0.0/16",
            "services": ["smtp"],
            "postfix": {"mydomain": "firma1.intr", "mydestination": "$myhostname, $mydomain",
                        "mynetworks": "10.0.0.0/16"},
        }},
        "users": [{"address": a, "host": "neo.firma1.intr"} for a in office],
        "workload": {"streams": [{
            "name": "internal",
            "rate": "240/h",
            "senders": office,
            "recipients": [*office, "info@firma1.intr", "obchod@firma1.intr"],
            "recipients_per_message": [1, 3],
            "size": {"dist": "lognormal", "median": "3.5KB", "sigma": 1.1},
        }]},
    }  # fmt: skip


def generate(scenario: Any, records: int) -> int:
    """Build ``records`` arrivals of ``scenario`` and drop them; return how many there were."""
    from mailsim.streams import RandomStreams
    from mailsim.workload import scenario_arrivals

    arrivals = scenario_arrivals(scenario, RandomStreams(scenario.seed))
    counted = itertools.count()
    deque(zip(itertools.islice(arrivals, records), counted, strict=False), maxlen=0)
    return next(counted)


def best_of(repeat: int, func: Callable[[], int]) -> tuple[float, int]:
    """Return the fastest (seconds, result) of ``repeat`` runs, with mailsim's GC settings."""
    from mailsim.sim.engine import fewer_gc_passes

    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        with fewer_gc_passes():
            result = func()
        runs.append((time.perf_counter() - start, result))
    return min(runs, key=lambda run: run[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    from mailsim.scenario import scenario_from_dict

    started = time.perf_counter()
    org = scenario_from_dict(organisation(args.users))
    compile_s = time.perf_counter() - started
    reference = scenario_from_dict(plain())
    org_s, org_count = best_of(args.repeat, lambda: generate(org, args.records))
    plain_s, plain_count = best_of(args.repeat, lambda: generate(reference, args.records))
    figures = {
        "records": org_count,
        "organisation_users": args.users,
        "organisation_streams": len(org.workload.streams),
        "load_and_compile_s": compile_s,
        "organisation_s": org_s,
        "organisation_records_per_s": org_count / org_s,
        "plain_records": plain_count,
        "plain_s": plain_s,
        "plain_records_per_s": plain_count / plain_s,
        "organisation_vs_plain": (org_count / org_s) / (plain_count / plain_s),
    }
    rows = [
        ("records generated", f"{org_count:,} (organisation), {plain_count:,} (plain)"),
        ("organisation", f"{args.users:,} users, {len(org.workload.streams)} shaped streams"),
        ("load + compile the organisation", f"{compile_s:.2f} s"),
        ("organisation: records / s", f"{figures['organisation_records_per_s']:,.0f}"
                                      f" ({org_s:.2f} s)"),
        ("plain Poisson stream: records / s", f"{figures['plain_records_per_s']:,.0f}"
                                              f" ({plain_s:.2f} s)"),
        ("organisation / plain", f"{figures['organisation_vs_plain']:.2f}"),
    ]  # fmt: skip
    print(f"workload generation: {args.records:,} records, best of {args.repeat}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
