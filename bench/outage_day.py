"""One simulated day, a million messages, and the biggest destination down for three hours.

The capacity planner's question from the README ("what happens to the deferred queue if our
biggest peer is down for 3 hours?") at full scale: an outbound relay ``relay.isp.example``
receives 1,000,000 messages over 24 h from its LAN (Poisson, about 11.6 messages/s) for ten
partner domains whose shares follow a Zipf law (the biggest, ``big.example``, gets about a third);
``mx.big.example`` is down from 10:00 to 13:00. Every partner runs its own simulated MTA, so each
message makes two hops. Prints wall time, simulated messages/s, events/s, peak RSS, the deferred
queue's peak and when it drained, and as its last line one JSON object.

Target (issue 3) on this 2-core machine: under 2 minutes and under 1.5 GiB.

Usage: ``python bench/outage_day.py [--messages N] [--hours H]``
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from outage_builders import OUTAGE, outage_scenario  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--hours", type=float, default=24.0)
    args = parser.parse_args()

    from mailsim.sim import Simulation

    scenario = outage_scenario(args.messages, args.hours)
    started = time.perf_counter()
    sim = Simulation(scenario)
    sim.run()
    wall = time.perf_counter() - started
    events = len(sim.log)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    frame = sim.log.to_frame()
    relay = frame[frame["node"] == "relay.isp.example"]
    kinds = relay["event"].astype(str)
    deferred_attempts = int(((kinds == "deferred") & (relay["recipient"] != "")).sum())
    figures = {
        "messages": sim.arrived,
        "events": events,
        "wall_s": wall,
        "messages_per_s": sim.arrived / wall,
        "events_per_s": events / wall,
        "peak_rss_mib": rss_mib,
        "deferred_attempts_at_relay": deferred_attempts,
        "delivered": int((frame["event"].astype(str) == "delivered").sum()),
    }
    rows = [
        ("simulated messages", f"{sim.arrived:,}"),
        ("events", f"{events:,}"),
        ("wall time", f"{wall:.1f} s (target < 120 s)"),
        ("messages / s", f"{figures['messages_per_s']:,.0f}"),
        ("events / s", f"{figures['events_per_s']:,.0f}"),
        ("peak RSS", f"{rss_mib:,.0f} MiB (target < 1536 MiB)"),
        ("deferred delivery attempts at the relay", f"{deferred_attempts:,}"),
        ("recipients delivered", f"{figures['delivered']:,}"),
    ]
    print(
        f"outage day: {args.hours:g} h, big.example down {OUTAGE[0] / 3600:g}:00-"
        f"{OUTAGE[1] / 3600:g}:00"
    )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
