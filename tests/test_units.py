"""Durations, sizes and rates as scenarios and main.cf write them (postconf(5) time units)."""

from __future__ import annotations

import pytest

from mailsim.units import format_duration, parse_duration, parse_rate, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (300, 300.0),
        ("300s", 300.0),
        ("5m", 300.0),
        ("1.5h", 5400.0),
        ("5d", 432000.0),
        ("2w", 1209600.0),
        ("20ms", 0.02),
        ("0", 0.0),
        ("2h30m", 9000.0),
        ("1d2h", 93600.0),
        ("1m30s", 90.0),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_bare_number_uses_the_default_unit() -> None:
    """postconf(5): maximal_queue_lifetime = 5 means five days."""
    assert parse_duration("5", default_unit="d") == 432000.0


@pytest.mark.parametrize("bad", ["5x", "fast", "-3s", True, "", "2h30", "h30m"])
def test_bad_duration_quotes_the_value(bad: object) -> None:
    with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(")):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [(10240000, 10240000), ("20MB", 20_000_000), ("4KiB", 4096), ("3.5KB", 3500), ("0", 0)],
)
def test_parse_size(text: object, size: int) -> None:
    assert parse_size(text) == size


def test_bad_size() -> None:
    with pytest.raises(ValueError, match="'12 parsecs'"):
        parse_size("12 parsecs")


@pytest.mark.parametrize(
    ("text", "rate"),
    [(0.5, 0.5), ("120/h", 120 / 3600), ("2000/d", 2000 / 86400), ("3/m", 0.05), ("10/30s", 1 / 3)],
)
def test_parse_rate(text: object, rate: float) -> None:
    assert parse_rate(text) == pytest.approx(rate)


def test_format_duration() -> None:
    assert format_duration(90) == "1m30s" and format_duration(0) == "0s"
    assert format_duration(90061) == "1d1h1m1s"
