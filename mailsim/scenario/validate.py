"""Collect scenario problems with their place (file, path, line) and convert checked values.

A scenario is written by hand, so loading reports every problem at once, each naming the file,
the field path and what would have been accepted, instead of stopping at the first one.

Paths join mapping keys with dots and put list indexes in brackets (``users[3].host``). A key
that is not a plain word, such as a host name or zone origin with dots in it, is written in
brackets too: ``hosts[neo.firma1.intr].postfix.mynetworks``, ``dns.zones[firma1.intr].mx[0]``.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from mailsim.errors import ScenarioIssue
from mailsim.scenario.model import Distribution
from mailsim.scenario.suggest import DISTRIBUTION_PARAMETERS, closest
from mailsim.units import parse_bandwidth, parse_duration, parse_rate, parse_size

__all__ = [
    "EXPECTED",
    "Checker",
    "LineList",
    "LineMap",
    "Quantity",
    "Where",
    "describe",
]

Quantity = Literal["duration", "size", "rate", "bandwidth"]

#: What each kind of quantity accepts, as issues say it.
EXPECTED: dict[str, str] = {
    "duration": "a duration such as 300s, 5m, 2h or 5d (a bare number is seconds)",
    "size": "a size such as 4096, 4KB, 20MB or 1MiB (a bare number is bytes)",
    "rate": "a rate such as 240/h, 2000/d or 0.5 (a bare number is per second)",
    "bandwidth": "a bandwidth such as 10MB/s or 100KB/s (a bare number is bytes/s, 0 unlimited)",
}
_PARSERS: dict[str, Callable[[object], float]] = {
    "duration": parse_duration,
    "size": parse_size,
    "rate": parse_rate,
    "bandwidth": parse_bandwidth,
}
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class LineMap(dict[object, object]):
    """A YAML mapping that remembers the line of each key, and keys given twice."""

    def __init__(self) -> None:
        super().__init__()
        self.key_lines: dict[object, int] = {}
        self.duplicates: list[tuple[object, int, int]] = []  # (key, first line, repeat line)


class LineList(list[object]):
    """A YAML sequence that remembers the line of each item."""

    def __init__(self) -> None:
        super().__init__()
        self.item_lines: list[int] = []


@dataclass(frozen=True, slots=True)
class Where:
    """A place in the input: file, field path and (for YAML and Postfix files) line."""

    file: str
    path: str = ""
    line: int | None = None

    def key(self, key: object, container: object = None) -> Where:
        """Return the place of ``container[key]`` (its line if the container knows it)."""
        text = str(key)
        if _PLAIN_KEY.fullmatch(text):
            path = f"{self.path}.{text}" if self.path else text
        else:
            path = f"{self.path}[{text}]"
        line = container.key_lines.get(key) if isinstance(container, LineMap) else None
        return Where(self.file, path, self.line if line is None else line)

    def index(self, index: int, container: object = None) -> Where:
        """Return the place of ``container[index]``."""
        lines = container.item_lines if isinstance(container, LineList) else []
        line = lines[index] if index < len(lines) else self.line
        return Where(self.file, f"{self.path}[{index}]", line)

    def at_line(self, file: str, line: int | None) -> Where:
        """Return the same path in another file (a main.cf or aliases file) at ``line``."""
        return Where(file, self.path, line)


def describe(value: object) -> str:
    """Return how an issue shows a value it did not accept."""
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        shown = repr(list(value))
        scalars = all(isinstance(item, str | int | float) for item in value)
        return shown if scalars and len(shown) <= 60 else "a list"
    return repr(value)


class Checker:
    """Collect issues and warnings; convert values, reporting (not raising) what is wrong.

    Every converter returns None after recording an issue, so the caller goes on and later
    problems are found too.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.issues: list[ScenarioIssue] = []
        self.warnings: list[str] = []

    def issue(self, at: Where, expected: str, got: str = "", suggestion: str = "") -> None:
        """Record a problem at ``at``."""
        self.issues.append(ScenarioIssue(at.file, at.path, expected, got, suggestion, at.line))

    def warn(self, at: Where, text: str) -> None:
        """Record something accepted but worth knowing (the scenario's own file is implied)."""
        where = ""
        if at.file != self.source:
            where = f"{at.file}: " if at.line is None else f"{at.file}:{at.line}: "
        self.warnings.append(f"{where}{at.path}: {text}")

    # -- structure ----------------------------------------------------------------------------
    def mapping(self, at: Where, value: object) -> Mapping[object, object] | None:
        """Return ``value`` if it is a mapping (null is an empty one); report repeated keys."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.issue(at, "a mapping", describe(value))
            return None
        for key, first, again in value.duplicates if isinstance(value, LineMap) else ():
            self.issue(
                Where(at.file, at.key(key).path, again),
                "each key once (YAML keeps only the last value)",
                f"{key} again, first on line {first}",
            )
        return value

    def fields(
        self,
        at: Where,
        value: object,
        what: str,
        known: Collection[str],
        required: Mapping[str, str] | None = None,
    ) -> Mapping[object, object] | None:
        """Return a mapping after reporting unknown keys (with the closest known) and missing
        required keys (``required`` maps each to what it expects)."""
        data = self.mapping(at, value)
        if data is None:
            return None
        for key in data:
            if key not in known:
                self.issue(at.key(key, data), f"a known {what} key", str(key), closest(key, known))
        for key, expected in (required or {}).items():
            if data.get(key) is None:
                self.issue(at.key(key, data), expected, "nothing")
        return data

    def sequence(self, at: Where, value: object) -> Sequence[object] | None:
        """Return ``value`` if it is a list (null is an empty one)."""
        if value is None:
            return []
        if isinstance(value, list | tuple):
            return value
        self.issue(at, "a list", describe(value))
        return None

    # -- scalars ------------------------------------------------------------------------------
    def text(self, at: Where, value: object, expected: str = "a string") -> str | None:
        """Return a non-empty string."""
        if isinstance(value, str) and value.strip():
            return value.strip()
        self.issue(at, expected, describe(value))
        return None

    def integer(self, at: Where, value: object, low: int = 0, expected: str = "") -> int | None:
        """Return an integer >= ``low``."""
        if isinstance(value, int) and not isinstance(value, bool) and value >= low:
            return value
        self.issue(at, expected or f"an integer >= {low}", describe(value))
        return None

    def number(self, at: Where, value: object, expected: str = "a number >= 0") -> float | None:
        """Return a finite number >= 0."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            if math.isfinite(number) and number >= 0:
                return number
        self.issue(at, expected, describe(value))
        return None

    def boolean(self, at: Where, value: object) -> bool | None:
        """Return a YAML boolean (true/false, yes/no)."""
        if isinstance(value, bool):
            return value
        self.issue(at, "true or false", describe(value))
        return None

    def quantity(self, at: Where, value: object, kind: Quantity) -> float | None:
        """Return a duration (s), size (bytes), rate (1/s) or bandwidth (bytes/s), >= 0.

        The units parsers raise ValueError quoting the value; that becomes the issue.
        """
        expected = EXPECTED[kind]
        if isinstance(value, Mapping | list | tuple) or value is None:
            self.issue(at, expected, describe(value))
            return None
        try:
            result = float(_PARSERS[kind](value))
        except ValueError as exc:
            negative = str(exc).startswith("negative")
            self.issue(at, f"a non-negative {kind}" if negative else expected, describe(value))
            return None
        if not math.isfinite(result):
            self.issue(at, expected, describe(value))
            return None
        return result

    def choice(self, at: Where, value: object, options: Collection[str], what: str) -> str | None:
        """Return ``value`` if it is one of ``options``; else suggest the closest."""
        if isinstance(value, str) and value in options:
            return value
        listed = ", ".join(sorted(options)) if len(options) <= 12 else f"one of {len(options)}"
        self.issue(at, f"{what} ({listed})", describe(value), closest(value, options))
        return None

    def ip_address(self, at: Where, value: object, version: int | None = None) -> str | None:
        """Return a normalised IP address (IPv4 only when ``version`` is 4)."""
        expected = "an IPv4 address" if version == 4 else "an IP address"
        try:
            address = ipaddress.ip_address(value) if isinstance(value, str) else None
        except ValueError:
            address = None
        if address is None or (version is not None and address.version != version):
            self.issue(at, f"{expected} such as 195.113.106.168", describe(value))
            return None
        return str(address)

    def ip_network(self, at: Where, value: object) -> str | None:
        """Return a normalised network ``address/prefix``; host bits set are an issue, as
        Postfix's "non-null host address bits" warning, with the network as suggestion."""
        if not isinstance(value, str):
            self.issue(at, "an IP network such as 195.113.106.0/24", describe(value))
            return None
        try:
            return str(ipaddress.ip_network(value.strip()))
        except ValueError:
            pass
        try:
            loose = str(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            self.issue(at, "an IP network such as 195.113.106.0/24", describe(value))
            return None
        self.issue(at, "a network address with no host bits set", describe(value), loose)
        return None

    def distribution(self, at: Where, value: object, kind: Quantity) -> Distribution | None:
        """Return a Distribution of durations or sizes.

        A bare value is a constant; a mapping names its kind with ``dist`` and gives that kind's
        parameters (:data:`~mailsim.scenario.suggest.DISTRIBUTION_PARAMETERS`); ``sigma`` is a
        plain number, the others take units.
        """
        if not isinstance(value, Mapping):
            constant = self.quantity(at, value, kind)
            return None if constant is None else Distribution.constant(constant)
        data = self.mapping(at, value)
        if data is None:
            return None
        kinds = DISTRIBUTION_PARAMETERS
        name = self.choice(at.key("dist", data), data.get("dist"), kinds, "a distribution kind")
        if name is None:
            return None
        params = DISTRIBUTION_PARAMETERS[name]
        self.fields(at, data, f"{name} distribution", ("dist", *params))
        got: dict[str, float] = {}
        for param in params:
            where = at.key(param, data)
            if data.get(param) is None:
                self.issue(where, f"the {param} of the {name} distribution", "nothing")
                continue
            number = (
                self.number(where, data[param])
                if param == "sigma"
                else self.quantity(where, data[param], kind)
            )
            if number is not None:
                got[param] = number
        if len(got) < len(params):
            return None
        if name == "uniform" and got["low"] > got["high"]:
            self.issue(at.key("high", data), "high >= low", describe(data["high"]))
            return None
        if name == "exponential":
            return Distribution.exponential(got["mean"])
        if name == "uniform":
            return Distribution.uniform(got["low"], got["high"])
        if name == "lognormal":
            return Distribution.lognormal(got["median"], got["sigma"])
        return Distribution.constant(got["value"])
