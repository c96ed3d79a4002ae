"""Splitting syslog lines (classic and ISO 8601 prefixes, instances, pids, years), and reading
the same log in another timestamp format or compressed gives the same facts."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from mailsim.postfixlog import (
    EventBuilder,
    PostfixLog,
    PostfixLogParser,
    SyslogLine,
    SyslogReader,
    compression,
    read_log,
)
from mailsim.postfixlog.syslog import MALFORMED, MONTHS, NOT_POSTFIX, parse_tag

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "postfix-logs" / "maillog-postfix-3.7-sample.log"


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_classic_line() -> None:
    reader = SyslogReader(2026)
    line = "Nov 28 00:13:15 neo postfix/smtpd[29357]: connect from localhost[127.0.0.1]\n"
    assert reader.split(line) == SyslogLine(
        ts(2026, 11, 28, 0, 13, 15),
        "neo",
        "postfix/smtpd",
        "smtpd",
        29357,
        "connect from localhost[127.0.0.1]",
    )


def test_space_padded_day_and_multi_instance_names_and_no_pid() -> None:
    reader = SyslogReader(2026)
    out = reader.split("Nov  8 09:00:01 mx1 postfix-out/smtp[4711]: 4NPm0D1xLwz2xqh: removed")
    assert out is not None
    assert (out.time, out.program, out.daemon, out.instance) == (
        ts(2026, 11, 8, 9, 0, 1),
        "postfix-out/smtp",
        "smtp",
        "postfix-out",
    )
    sub = reader.split("Nov  8 09:00:02 mx1 postfix/submission/smtpd[12]: connect from a[1.2.3.4]")
    assert sub is not None and (sub.daemon, sub.instance, sub.pid) == ("smtpd", "postfix", 12)
    bare = reader.split(
        "Nov  8 09:00:03 mx1 postfix/postfix-script: starting the Postfix mail system"
    )
    assert bare is not None and (bare.daemon, bare.pid) == ("postfix-script", None)
    hostless = reader.split("Nov  8 09:00:04 postfix/master[1]: daemon started -- version 3.7.11")
    assert hostless is not None and (hostless.host, hostless.daemon) == ("", "master")


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-11-28T00:13:10.123456+00:00", ts(2026, 11, 28, 0, 13, 10) + 0.123456),
        ("2026-11-28T01:13:10.5+01:00", ts(2026, 11, 28, 0, 13, 10) + 0.5),
        ("2026-11-28T00:13:10Z", ts(2026, 11, 28, 0, 13, 10)),
        ("2026-11-28T01:13:10+0100", ts(2026, 11, 28, 0, 13, 10)),
        ("2026-11-28T00:13:10", ts(2026, 11, 28, 0, 13, 10)),  # no offset: the reader's zone
    ],
)
def test_iso_timestamps(stamp: str, expected: float) -> None:
    out = SyslogReader().split(f"{stamp} neo postfix/qmgr[1]: 0A1B2C3D4E: removed\n")
    assert out is not None
    assert out.time == pytest.approx(expected, abs=1e-6)
    assert (out.host, out.daemon, out.text) == ("neo", "qmgr", "0A1B2C3D4E: removed")


def test_classic_times_in_a_given_zone() -> None:
    cet = timezone(timedelta(hours=1))
    out = SyslogReader(2026, tz=cet).split("Nov 28 01:13:10 neo postfix/qmgr[1]: x")
    assert out is not None and out.time == ts(2026, 11, 28, 0, 13, 10)
    assert out.datetime(cet).hour == 1


def test_year_rolls_over_in_a_stream_and_stragglers_stay_behind() -> None:
    reader = SyslogReader(2025)
    times = [
        reader.split(f"{stamp} neo postfix/qmgr[1]: x")
        for stamp in (
            "Dec 31 23:59:58",
            "Jan  1 00:00:01",
            "Dec 31 23:59:59",  # written late by another process
            "Jan  1 00:00:02",
            "Feb  1 00:00:00",
        )
    ]
    assert [t.time for t in times if t] == [
        ts(2025, 12, 31, 23, 59, 58),
        ts(2026, 1, 1, 0, 0, 1),
        ts(2025, 12, 31, 23, 59, 59),
        ts(2026, 1, 1, 0, 0, 2),
        ts(2026, 2, 1, 0, 0, 0),
    ]


@pytest.mark.parametrize(
    ("reference", "year"),
    [
        (date(2026, 12, 1), 2026),  # the log is not later than its reference
        (date(2027, 1, 3), 2026),  # Nov 28 of 2027 would be after the reference
        (datetime(2026, 11, 28, 0, 0, tzinfo=UTC), 2026),  # the same day counts
    ],
)
def test_reference_date_gives_the_year(reference: date, year: int) -> None:
    out = SyslogReader(reference=reference).split("Nov 28 00:13:10 neo postfix/qmgr[1]: x")
    assert out is not None and out.datetime().year == year


def test_leap_day_without_year_is_an_earlier_leap_year() -> None:
    out = SyslogReader(reference=date(2027, 3, 1)).split("Feb 29 10:00:00 neo postfix/qmgr[1]: x")
    assert out is not None and out.datetime().date() == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("", NOT_POSTFIX),
        ("\n", NOT_POSTFIX),
        ("Nov 28 00:13:10 neo dovecot: imap-login: Login: user=<jura>", NOT_POSTFIX),
        ("Nov 28 00:13:10 neo kernel: [ 1.0] eth0 up", NOT_POSTFIX),
        ("-- Logs begin at Sat 2026-11-28 --", NOT_POSTFIX),
        ("Nov 28 00:13:10 neo postfix/smtpd[29357]:", MALFORMED),  # no text
        ("Nov 28 00:13:10 neo postfix/smtpd[29", MALFORMED),  # tag cut short
        ("Nov 28 00:13", NOT_POSTFIX),
        ("Nov 31 00:13:10 neo postfix/smtpd[1]: connect from a[1.2.3.4]", MALFORMED),
        ("Xyz 28 00:13:10 neo postfix/smtpd[1]: connect from a[1.2.3.4]", MALFORMED),
        ("Nov 28 25:13:10 neo postfix/smtpd[1]: connect from a[1.2.3.4]", MALFORMED),
        ("2026-13-28T00:13:10Z neo postfix/smtpd[1]: connect from a[1.2.3.4]", MALFORMED),
        ("2026-11-28T00:13:10Z neo sshd[1]: Accepted publickey", NOT_POSTFIX),
    ],
)
def test_lines_that_are_not_postfix_lines(line: str, code: int) -> None:
    reader = SyslogReader(2026)
    assert reader.fields(line) == code
    assert reader.split(line) is None


def test_tags() -> None:
    assert parse_tag("postfix/smtpd[123]:") == ("postfix/smtpd", "smtpd", "postfix", 123)
    assert parse_tag("postfix-out/smtp:") == ("postfix-out/smtp", "smtp", "postfix-out", None)
    for bad in (
        "postfix/smtpd[12a]:",
        "postfix/smtpd[123]",
        "postfixsmtpd",
        "dovecot:",
        "postfix//x:",
    ):
        assert parse_tag(bad) is None, bad


# -- the same log in other clothes gives the same facts ----------------------------------------


def to_iso(line: str, fraction: int) -> str:
    """``Nov 28 00:13:10 neo ...`` -> ``2026-11-28T00:13:10.000123+00:00 neo ...``."""
    month, day, clock, rest = line.split(None, 3)
    return f"2026-{MONTHS[month]:02d}-{int(day):02d}T{clock}.{fraction:06d}+00:00 {rest}"


def facts(log: PostfixLog) -> dict[str, pd.DataFrame]:
    return {
        "events": log.events.astype({"t": "float64"}),
        "messages": log.messages,
        "deliveries": log.deliveries,
        "links": log.links,
        "rejects": log.rejects,
        "sessions": log.sessions,
    }


@pytest.fixture(scope="module")
def plain() -> PostfixLog:
    return read_log(SAMPLE, 2026)


def assert_same_facts(one: PostfixLog, other: PostfixLog) -> None:
    for name, table in facts(one).items():
        pd.testing.assert_frame_equal(table, facts(other)[name], obj=name)
    assert one.stats == other.stats


def test_iso_timestamps_give_identical_facts(plain: PostfixLog) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    iso = read_log([to_iso(line, 0) for line in lines])
    assert iso.start == plain.start
    # the stats differ only in where they were seen: the same counts
    assert iso.stats.by_kind == plain.stats.by_kind and iso.stats.lines == plain.stats.lines
    for name, table in facts(plain).items():
        pd.testing.assert_frame_equal(facts(iso)[name], table, obj=name)


def test_iso_microseconds_are_kept_and_only_shift_times(plain: PostfixLog) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    iso = read_log([to_iso(line, 250_000) for line in lines])
    pd.testing.assert_frame_equal(
        iso.events.drop(columns="t"), plain.events.drop(columns="t"), check_categorical=False
    )
    assert (iso.events["t"] - plain.events["t"]).abs().max() == 0  # every line moved alike
    assert iso.start is not None and iso.start.microsecond == 250_000


@pytest.mark.parametrize(
    ("opener", "kind"),
    [(gzip.open, "gzip"), (bz2.open, "bzip2"), (lzma.open, "xz")],
)
def test_compressed_input_equals_plain(
    plain: PostfixLog, tmp_path: Path, opener: object, kind: str
) -> None:
    packed = tmp_path / "mail.log.1"  # the name says nothing: magic bytes do
    with opener(packed, "wb") as out:  # type: ignore[operator]
        out.write(SAMPLE.read_bytes())
    assert compression(packed) == kind and compression(SAMPLE) == ""
    assert_same_facts(read_log(packed, 2026), plain)


def test_crlf_and_undecodable_bytes(plain: PostfixLog, tmp_path: Path) -> None:
    raw = SAMPLE.read_bytes().replace(b"\n", b"\r\n") + b"\xff\xfe junk\r\n"
    crlf = tmp_path / "crlf.log"
    crlf.write_bytes(raw)
    log = read_log(crlf, 2026)
    assert log.stats.lines == 2445 and log.stats.unrelated == 1
    for name, table in facts(plain).items():
        pd.testing.assert_frame_equal(facts(log)[name], table, obj=name)


def test_file_reference_is_its_modification_time(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("Dec 31 23:59:59 neo postfix/qmgr[1]: 0A1B2C3D4E: removed\n")
    stamp = datetime(2027, 1, 2, tzinfo=UTC).timestamp()
    os.utime(log, (stamp, stamp))
    parsed = read_log(log)
    assert parsed.start == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_parser_reads_lines_in_pieces(plain: PostfixLog) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    parser = PostfixLogParser(2026)
    builder = EventBuilder()
    for start in range(0, len(lines), 100):
        builder.extend(parser.feed(lines[start : start + 100]))
    builder.extend(parser.flush())
    assert parser.stats.lines == 2444 and parser.stats.report().startswith("2444 lines")
    assert_same_facts(builder.build(parser.stats), plain)
