"""Parse a 1,000,000-line Postfix log: lines/s, memory, and the cost against reading the file.

The log is the real Postfix 3.7 sample (data/postfix-logs/maillog-postfix-3.7-sample.log, 2,444
lines of ~5 minutes) tiled until it has ``--lines`` lines: each copy 310 s after the one before
(so the log runs for about 35 hours, over midnight) with its queue ids renamed (the first three
hex digits become the copy's number), written to a temporary file. Then, in the same process:

- the reference: a plain Python loop that only reads the file and splits each line
  (``for line in f: line.split()``);
- the parser: ``PostfixLogParser(2026).parse_file(path)``, every item consumed (messages,
  sessions, refusals, notices are counted).

Each is timed ``--repeat`` times, alternately, and the best time of each is kept (the machine
may be busy). The parser's resident memory is sampled at a quarter and at the end of the file to
show it does not grow with the log (it keeps only the queue files still in the queue).

Target (issue 5): the parser at most 4x the reference's time, memory constant.

Usage: ``python bench/parse_log.py [--lines N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailsim.postfixlog import Message, PostfixLogParser, Session  # noqa: E402

SAMPLE = ROOT / "data" / "postfix-logs" / "maillog-postfix-3.7-sample.log"
SHIFT_S = 310
TARGET_RATIO = 4.0
_QID = re.compile(r"\b[0-9A-F]{11}\b")


def write_log(path: Path, lines: int) -> int:
    """Tile the sample into ``path`` until it has ``lines`` lines; return its size in bytes."""
    sample = SAMPLE.read_text(encoding="utf-8").splitlines()
    base = datetime(2026, 11, 28, 0, 13, 10)
    offsets = [_seconds(line[:15]) - _seconds("Nov 28 00:13:10") for line in sample]
    stamps: dict[int, str] = {}
    written = 0
    with open(path, "w", encoding="utf-8") as out:
        copy = 0
        while written < lines:
            prefix = f"{copy:03X}"
            chunk = []
            for line, offset in zip(sample, offsets, strict=True):
                if written == lines:
                    break
                moment = offset + copy * SHIFT_S
                stamp = stamps.get(moment)
                if stamp is None:
                    when = base + timedelta(seconds=moment)
                    stamp = stamps[moment] = f"{when:%b} {when.day:2d} {when:%H:%M:%S}"
                body = _QID.sub(lambda found, p=prefix: p + found.group(0)[3:], line[15:])
                chunk.append(f"{stamp}{body}\n")
                written += 1
            out.writelines(chunk)
            copy += 1
    return path.stat().st_size


def _seconds(stamp: str) -> int:
    day, clock = int(stamp[4:6]), stamp[7:15]
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return ((day * 24 + hours) * 60 + minutes) * 60 + seconds


def rss_mib() -> float:
    """Resident memory now (MiB): /proc/self/statm on Linux, else the peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reference(path: Path) -> float:
    started = time.perf_counter()
    with open(path, encoding="utf-8") as log:
        for line in log:
            line.split()
    return time.perf_counter() - started


def parse(path: Path, lines: int) -> tuple[float, Counter[str], dict[str, float], PostfixLogParser]:
    """Parse the file, consuming every item; sample memory at a quarter and at the end."""
    parser = PostfixLogParser(2026)
    counts: Counter[str] = Counter()
    memory: dict[str, float] = {}
    quarter = lines // 4
    started = time.perf_counter()
    for item in parser.parse_file(path):
        counts[type(item).__name__] += 1
        if isinstance(item, Message):
            counts["deliveries"] += len(item.deliveries)
        elif isinstance(item, Session):
            counts["session rejects"] += len(item.rejects)
        if not memory and parser.stats.lines >= quarter:
            memory["quarter"] = rss_mib()
    elapsed = time.perf_counter() - started
    memory["end"] = rss_mib()
    memory.setdefault("quarter", memory["end"])
    return elapsed, counts, memory, parser


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--lines", type=int, default=1_000_000)
    options.add_argument("--repeat", type=int, default=3)
    args = options.parse_args()

    with tempfile.TemporaryDirectory(prefix="mailsim-parse-") as folder:
        path = Path(folder) / "mail.log"
        started = time.perf_counter()
        size = write_log(path, args.lines)
        generated = time.perf_counter() - started
        reference(path)  # warm the page cache for both contestants
        best_reference = best_parse = float("inf")
        for _ in range(max(args.repeat, 1)):
            best_reference = min(best_reference, reference(path))
            elapsed, counts, memory, parser = parse(path, args.lines)
            best_parse = min(best_parse, elapsed)
        stats = parser.stats

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    quarter = f"{args.lines // 4:,}"
    figures = {
        "lines": stats.lines,
        "file_mib": size / 2**20,
        "reference_s": best_reference,
        "parse_s": best_parse,
        "ratio": best_parse / best_reference,
        "target_ratio": TARGET_RATIO,
        "lines_per_s": stats.lines / best_parse,
        "reference_lines_per_s": stats.lines / best_reference,
        "rss_mib_quarter": memory["quarter"],
        "rss_mib_end": memory["end"],
        "peak_rss_mib": peak,
        "peak_live": stats.peak_live,
        "messages": counts["Message"],
        "deliveries": counts["deliveries"],
        "sessions": counts["Session"],
        "malformed": stats.malformed,
        "unrelated": stats.unrelated,
    }
    rows = [
        ("log", f"{stats.lines:,} lines, {size / 2**20:,.1f} MiB (generated in {generated:.1f} s)"),
        (
            "reference: read + split",
            f"{best_reference:.2f} s  ({figures['reference_lines_per_s']:,.0f} lines/s)",
        ),
        ("parser", f"{best_parse:.2f} s  ({figures['lines_per_s']:,.0f} lines/s)"),
        ("parser / reference", f"{figures['ratio']:.2f}x (target <= {TARGET_RATIO:g}x)"),
        (f"RSS after {quarter} lines", f"{memory['quarter']:,.1f} MiB"),
        (f"RSS after {stats.lines:,} lines", f"{memory['end']:,.1f} MiB"),
        ("peak RSS of the process", f"{peak:,.1f} MiB"),
        ("most queue files + sessions held", f"{stats.peak_live:,}"),
        (
            "queue files / status lines / sessions",
            f"{counts['Message']:,} / {counts['deliveries']:,} / {counts['Session']:,}",
        ),
        ("malformed / unrelated lines", f"{stats.malformed:,} / {stats.unrelated:,}"),
    ]
    print(f"parse a Postfix log: best of {args.repeat} runs each")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
