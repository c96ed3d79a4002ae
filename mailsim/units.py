"""Parse the durations, sizes and rates that scenarios and main.cf files are written in.

Postfix time values are a number with an optional unit letter, ``s`` (the default), ``m``, ``h``,
``d`` or ``w`` (postconf(5), "time units"); sizes in main.cf are plain bytes, and scenarios may
also write ``20MB`` or ``4KiB``. Rates are ``120/h`` or a bare number per second; bandwidths are
a size per time, ``10MB/s``, or a bare number of bytes per second.
"""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_bandwidth", "parse_duration", "parse_rate", "parse_size"]

_TIME_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_COMPOUND_PART = re.compile(r"([0-9]*\.?[0-9]+)(ms|w|d|h|m|s)")
_COMPOUND = re.compile(r"(?:[0-9]*\.?[0-9]+(?:ms|w|d|h|m|s)){2,}")
_NUMBER_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_duration(value: object, default_unit: str = "s") -> float:
    """Return ``value`` in seconds: ``300``, ``"300s"``, ``"5m"``, ``"1.5h"``, ``"5d"``, ``"2w"``,
    or a sum of such parts, ``"2h30m"`` (a convenience beyond Postfix's single-unit syntax).

    Raises ValueError quoting the bad value, as SimPy does for a negative delay.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value) * _TIME_UNITS[default_unit]
    else:
        text = str(value).strip()
        match = _NUMBER_UNIT.match(text)
        if match is None and _COMPOUND.fullmatch(text.lower()):
            return sum(
                float(number) * _TIME_UNITS[unit]
                for number, unit in _COMPOUND_PART.findall(text.lower())
            )
        unit = (match.group(2).lower() if match else "") or default_unit
        if not match or unit not in _TIME_UNITS:
            raise ValueError(f"not a duration: {value!r} (use e.g. 300s, 5m, 2h, 2h30m, 5d)")
        seconds = float(match.group(1)) * _TIME_UNITS[unit]
    if seconds < 0:
        raise ValueError(f"negative duration: {value!r}")
    return seconds


def parse_size(value: object) -> int:
    """Return ``value`` in bytes: ``10240000``, ``"20MB"``, ``"4KiB"``."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, float) and value.is_integer():
        size = int(value)
    else:
        match = _NUMBER_UNIT.match(str(value))
        unit = match.group(2).lower() if match else ""
        if not match or unit not in _SIZE_UNITS:
            raise ValueError(f"not a size: {value!r} (use bytes, or e.g. 4KB, 20MB, 1MiB)")
        size = round(float(match.group(1)) * _SIZE_UNITS[unit])
    if size < 0:
        raise ValueError(f"negative size: {value!r}")
    return size


def parse_rate(value: object) -> float:
    """Return events per second from ``0.5``, ``"120/h"``, ``"2000/d"``, ``"3/m"``, ``"1/s"``."""
    if isinstance(value, bool):
        raise ValueError(f"not a rate: {value!r}")
    if isinstance(value, int | float):
        rate = float(value)
    else:
        text = str(value).strip()
        count, _, per = text.partition("/")
        try:
            rate = float(count) / (
                parse_duration("1" + per)
                if per and per[0].isalpha()
                else parse_duration(per)
                if per
                else 1.0
            )
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"not a rate: {value!r} (use e.g. 0.5, 120/h, 2000/d)") from None
    if rate < 0:
        raise ValueError(f"negative rate: {value!r}")
    return rate


def parse_bandwidth(value: object) -> float:
    """Return bytes per second from ``12500000``, ``"10MB/s"``, ``"100KB/s"``, ``"1GB/m"``.

    A link's bandwidth; 0 means unlimited (no transfer time).
    """
    if isinstance(value, bool):
        raise ValueError(f"not a bandwidth: {value!r}")
    if isinstance(value, int | float):
        rate = float(value)
    else:
        size, _, per = str(value).strip().partition("/")
        try:
            rate = parse_size(size) / _per(per)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"not a bandwidth: {value!r} (use e.g. 10MB/s, 100KB/s)") from None
    if rate != rate:  # NaN
        raise ValueError(f"not a bandwidth: {value!r}")
    if rate < 0:
        raise ValueError(f"negative bandwidth: {value!r}")
    return rate


def _per(text: str) -> float:
    """Return the seconds of the ``per`` part of a rate: ``h`` -> 3600, ``5m`` -> 300, "" -> 1."""
    if not text:
        return 1.0
    return parse_duration("1" + text if text[0].isalpha() else text)


def format_duration(seconds: float) -> str:
    """Return a short human form (``90s`` -> ``1m30s``) for reports."""
    whole = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    if whole or not parts:
        parts.append(f"{whole}s")
    return "".join(parts)
