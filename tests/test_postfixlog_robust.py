"""The parser never raises and counts every line: garbage, truncated and mangled lines, random
bytes; memory stays bounded on a long log; and the corner cases of the queue-file life cycle."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailsim.postfixlog import (
    KINDS,
    Item,
    Message,
    ParseStats,
    PostfixLogParser,
    Session,
    parse_log,
    read_log,
)
from mailsim.postfixlog.formats import _CLIENT, is_client

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "postfix-logs" / "maillog-postfix-3.7-sample.log"
DAEMONS = ROOT / "data" / "postfix-logs" / "daemons-sample.log"
REAL = SAMPLE.read_text(encoding="utf-8").splitlines()
HAND = DAEMONS.read_text(encoding="utf-8").splitlines()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def accounted(stats: ParseStats, lines: int) -> None:
    """Every line is counted exactly once, and daemon counts cover the lines read."""
    assert stats.lines == lines
    assert stats.parsed + stats.unrelated + stats.malformed == lines
    assert stats.parsed <= sum(stats.by_daemon.values()) <= stats.parsed + stats.malformed
    assert set(stats.by_kind) <= set(KINDS)
    for category in ("unrelated", "malformed", "other"):
        assert len(stats.examples.get(category, [])) <= stats.examples_kept


def parse(lines: list[str]) -> tuple[list[Item], ParseStats]:
    parser = PostfixLogParser(2026)
    return list(parser.parse(lines)), parser.stats


@FAST
@given(st.lists(st.text(), max_size=40))
def test_garbage_is_counted_never_fatal(lines: list[str]) -> None:
    _, stats = parse(lines)
    accounted(stats, len(lines))
    read_log(lines, 2026)  # the event rows too


@FAST
@given(
    st.lists(st.binary(max_size=200), max_size=30), st.sampled_from(["replace", "surrogateescape"])
)
def test_random_bytes(chunks: list[bytes], errors: str) -> None:
    lines = [chunk.decode("utf-8", errors) for chunk in chunks]
    _, stats = parse(lines)
    accounted(stats, len(lines))


@FAST
@given(
    st.lists(
        st.tuples(st.sampled_from(REAL + HAND), st.integers(0, 400), st.text(max_size=12)),
        max_size=30,
    )
)
def test_mangled_real_lines(picks: list[tuple[str, int, str]]) -> None:
    """Real lines with a random piece spliced in at a random place."""
    lines = [line[:cut] + noise + line[cut + len(noise) :] for line, cut, noise in picks]
    _, stats = parse(lines)
    accounted(stats, len(lines))


@FAST
@given(st.one_of(st.text(alphabet="ab[]:1 .\t\u3000\x1c\x85", max_size=12), st.text(max_size=12)))
def test_client_check_agrees_with_its_pattern(value: str) -> None:
    assert is_client(value) == (_CLIENT.fullmatch(value) is not None)


def distinct_lines() -> list[str]:
    """One real line of each shape (queue ids, addresses and numbers aside)."""
    seen: dict[str, str] = {}
    for line in REAL + HAND:
        words = line.split()
        shape = " ".join(words[4:7]) if len(words) > 6 else line
        key = "".join("9" if c.isdigit() else c for c in shape.split("[")[0] + shape[-20:])
        seen.setdefault(key, line)
    return list(seen.values())


def test_every_prefix_of_real_lines() -> None:
    lines = distinct_lines()
    assert len(lines) > 60
    prefixes = [line[:cut] for line in lines for cut in range(len(line) + 1)]
    _, stats = parse(prefixes)
    accounted(stats, len(prefixes))
    # cut at the end of the tag's colon or later, a line stays a Postfix line (read or malformed)
    assert stats.unrelated < len(prefixes) / 2
    assert stats.malformed > 0 and stats.parsed > len(lines)


def test_garbage_between_real_lines_changes_no_fact() -> None:
    noise = random.Random(5)
    alphabet = "abcxyz <>[]:=/()0123456789ABCDEF@.\t\u00e9\u4e2d"
    mixed: list[str] = []
    for line in REAL:
        mixed.append(line)
        if noise.random() < 0.3:
            mixed.append("".join(noise.choice(alphabet) for _ in range(noise.randint(0, 80))))
    clean, dirty = read_log(REAL, 2026), read_log(mixed, 2026)
    assert dirty.stats.lines == len(mixed) and dirty.stats.parsed == 2444
    assert dirty.stats.unrelated + dirty.stats.malformed == len(mixed) - 2444
    for table in ("messages", "deliveries", "rejects", "links"):
        one = getattr(clean, table).drop(columns=["line"])
        other = getattr(dirty, table).drop(columns=["line"])
        assert one.equals(other), table
    assert clean.events.drop(columns="t").equals(dirty.events.drop(columns="t"))


# -- memory ------------------------------------------------------------------------------------


def tiled(copies: int) -> Iterator[str]:
    """The sample ``copies`` times, each copy 400 s later with queue ids and pids renamed."""
    import re

    qid = re.compile(r"\b([0-9A-F]{11})\b")
    for copy in range(copies):
        shift = copy * 400
        for line in REAL:
            clock = line[7:15]
            h, m, s = (int(part) for part in clock.split(":"))
            total = h * 3600 + m * 60 + s + shift
            stamp = f"Nov 28 {total // 3600:02d}:{total // 60 % 60:02d}:{total % 60:02d}"
            body = qid.sub(lambda found, c=copy: f"{c:03X}{found.group(1)[3:]}", line[15:])
            yield stamp + body


def test_memory_does_not_grow_with_the_log() -> None:
    one = PostfixLogParser(2026)
    for _ in one.parse(tiled(1)):
        pass
    many = PostfixLogParser(2026)
    count = Counter(type(item).__name__ for item in many.parse(tiled(12)))
    assert many.stats.lines == 12 * 2444 and many.stats.malformed == 0
    assert count["Message"] == 12 * 306 and count["Session"] == 12 * 171
    assert many.stats.peak_live == one.stats.peak_live < 60


def test_abandoned_files_and_sessions_are_given_up() -> None:
    lines = [
        "Nov 28 08:00:00 neo postfix/smtpd[1]: connect from a.example[192.0.2.1]",
        "Nov 28 08:00:00 neo postfix/smtpd[1]: 0A0A0A0A0A: client=a.example[192.0.2.1]",
        "Nov 28 08:00:05 neo postfix/smtpd[1]: lost connection after DATA from a[192.0.2.1]",
        "Nov 28 08:00:06 neo postfix/smtpd[2]: connect from b.example[192.0.2.2]",
        "Nov 28 09:30:00 neo postfix/qmgr[3]: 0B0B0B0B0B: from=<>, size=1, nrcpt=1 (queue active)",
    ]
    parser = PostfixLogParser(2026, stale=600)
    items = list(parser.feed(lines))
    (message,) = [i for i in items if isinstance(i, Message)]
    assert (message.queue_id, message.gone, message.client) == (
        "0A0A0A0A0A",
        "abandoned",
        "a.example[192.0.2.1]",
    )
    sessions = [i for i in items if isinstance(i, Session)]
    assert [s.client for s in sessions] == ["a.example[192.0.2.1]", "b.example[192.0.2.2]"]
    assert sessions[0].notes[0].text == "lost connection after DATA from a[192.0.2.1]"
    rest = list(parser.flush())
    assert [(m.queue_id, m.gone) for m in rest if isinstance(m, Message)] == [("0B0B0B0B0B", "")]
    # an abandoned file was never accepted: no received row, no queue id in the event log
    log = read_log(lines, 2026, grace=10)
    assert "received" not in set(log.events["event"].astype(str))


def copy_removed_before_its_link(gap: int) -> list[str]:
    """A forwarded copy delivered and removed before local(8) logs "forwarded as"."""
    at, later = "Nov 28 08:00:00 neo postfix", f"Nov 28 08:00:{gap:02d} neo postfix"
    delivery = "relay=local, delay=0, delays=0/0/0/0, dsn=2.0.0, status=sent"
    return [
        f"{at}/pickup[1]: 0A1A1A1A1A: uid=1000 from=<u>",
        f"{at}/qmgr[2]: 0A1A1A1A1A: from=<u@x.example>, size=10, nrcpt=1 (queue active)",
        f"{at}/cleanup[3]: 0B2B2B2B2B: message-id=<m@x.example>",
        f"{at}/qmgr[2]: 0B2B2B2B2B: from=<u@x.example>, size=12, nrcpt=1 (queue active)",
        f"{at}/smtp[4]: 0B2B2B2B2B: to=<v@y.example>, orig_to=<w@x.example>, "
        + delivery.replace("local", "y.example[192.0.2.9]:25")
        + " (250 2.0.0 Ok)",
        f"{at}/qmgr[2]: 0B2B2B2B2B: removed",
        f"{later}/local[5]: 0A1A1A1A1A: to=<w@x.example>, {delivery} (forwarded as 0B2B2B2B2B)",
        f"{later}/qmgr[2]: 0A1A1A1A1A: removed",
    ]


@pytest.mark.parametrize(("gap", "joined"), [(1, True), (9, True), (30, False)])
def test_a_copy_waits_for_its_link(gap: int, joined: bool) -> None:
    items, _ = parse_log(copy_removed_before_its_link(gap), 2026)
    files = [m for m in items if isinstance(m, Message)]
    messages = {m.queue_id: m for m in files}
    assert len(files) == len(messages) == 2  # the late link made no second record
    parent, copy = messages["0A1A1A1A1A"], messages["0B2B2B2B2B"]
    assert [(link.queue_id, link.msg) for link in parent.children] == [("0B2B2B2B2B", copy.msg)]
    if joined:
        assert (copy.origin, copy.parent, copy.msg) == ("forward", "0A1A1A1A1A", parent.msg)
    else:  # waited longer than grace (10 s): yielded on its own
        assert (copy.origin, copy.parent) == ("unknown", "")
        assert copy.msg not in (0, parent.msg)


def test_a_queue_id_used_again_after_removal_is_a_new_file() -> None:
    lines = [
        "Nov 28 08:00:00 neo postfix/pickup[1]: 0C3C3C3C3C: uid=1000 from=<a>",
        "Nov 28 08:00:00 neo postfix/qmgr[2]: 0C3C3C3C3C: removed",
        "Nov 28 09:00:00 neo postfix/pickup[1]: 0C3C3C3C3C: uid=1001 from=<b>",
        "Nov 28 09:00:00 neo postfix/qmgr[2]: 0C3C3C3C3C: removed",
    ]
    items, _ = parse_log(lines, 2026)
    assert [(m.uid, m.msg) for m in items if isinstance(m, Message)] == [(1000, 1), (1001, 2)]
