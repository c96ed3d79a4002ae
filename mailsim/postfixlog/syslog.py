"""Split one mail-log line into its syslog fields: time, host, program, daemon, pid and text.

Postfix does not format its own log lines: every daemon hands ``text`` to syslog(3) (or, with
``maillog_file``, to postlogd(8)) under its ``syslog_name`` (postconf(5): ``postfix`` by
default, ``postfix-<name>`` for a second instance made with postmulti(1), ``postfix/submission``
when master.cf sets ``-o syslog_name=postfix/submission``), and the logger prefixes time and
host. Two prefixes are read here:

- the classic BSD syslog prefix (RFC 3164), as Debian's rsyslog default and postlogd write it::

      Nov 28 00:13:10 neo postfix/smtpd[29357]: connect from localhost[127.0.0.1]

  The day is space-padded (``Nov  8``), there is no year and no time zone: the caller gives the
  year (or a reference date the log is not later than) and the zone, and the year is carried
  over December -> January as the stream goes on;
- RFC 3339 / ISO 8601 timestamps, as rsyslog's high-precision format
  (``RSYSLOG_FileFormat``) and ``journalctl -o short-iso[-precise]`` write them::

      2026-11-28T00:13:10.123456+00:00 neo postfix/smtpd[29357]: connect from ...

The program is everything before ``[pid]`` (``postfix-out/smtp``, ``postfix/submission/smtpd``),
the daemon is its last part (``smtp``, ``smtpd``), the *instance* its first (``postfix``,
``postfix-out``). A line of another program, or one that is not a syslog line at all, is not
a Postfix line; one whose prefix is cut short or broken is *malformed*. Nothing here raises.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Final, NamedTuple

__all__ = ["MALFORMED", "NOT_POSTFIX", "SyslogLine", "SyslogReader", "Tag", "parse_tag"]

MONTHS: Final[dict[str, int]] = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

#: Codes :meth:`SyslogReader.fields` returns for a line it cannot split.
NOT_POSTFIX: Final = 0
MALFORMED: Final = 1

_TAG_CACHE_LIMIT = 8192
_STAMP_CACHE_LIMIT = 4096


class Tag(NamedTuple):
    """The syslog tag of a Postfix line: ``postfix-out/smtp[123]`` -> program ``postfix-out/smtp``,
    daemon ``smtp``, instance ``postfix-out``, pid 123 (None when the line has none)."""

    program: str
    daemon: str
    instance: str
    pid: int | None


class SyslogLine(NamedTuple):
    """One Postfix line, split. ``time`` is POSIX seconds (UTC based)."""

    time: float
    host: str
    program: str
    daemon: str
    pid: int | None
    text: str

    @property
    def instance(self) -> str:
        """The Postfix instance's syslog name: ``postfix``, ``postfix-out``, ..."""
        return self.program.split("/", 1)[0]

    def datetime(self, tz: tzinfo = UTC) -> datetime:
        """The time as an aware datetime in ``tz``."""
        return datetime.fromtimestamp(self.time, tz)


def parse_tag(token: str) -> Tag | None:
    """Return the tag of ``token`` (``postfix/smtpd[123]:``), or None if it is no Postfix tag.

    The token must end with ``:``; its first part must start with ``postfix`` (the default
    syslog_name and the ``postfix-<name>`` of postmulti instances); a pid, if any, is decimal.
    """
    if len(token) < 8 or token[-1] != ":" or not token.startswith("postfix"):
        return None
    name = token[:-1]
    pid: int | None = None
    if name[-1] == "]":
        name, bracket, number = name[:-1].partition("[")
        if not bracket or not number.isdigit() or not number.isascii():
            return None
        pid = int(number)
    if not name or "[" in name or "]" in name or " " in name:
        return None
    parts = name.split("/")
    if not all(parts):
        return None
    return Tag(name, parts[-1], parts[0], pid)


class SyslogReader:
    """Split the lines of one log stream; remembers the year across the stream.

    ``year`` is the year of the first classic (year-less) timestamp. Without it, ``reference``
    (a date or datetime the log is not later than, e.g. the file's modification time) gives
    the latest year that does not put the first line after it; with neither, today's date is
    the reference. Classic timestamps are read in ``tz`` (UTC by default); ISO timestamps carry
    their own offset (``tz`` only for one without). A month more than six months before the
    previous line's starts a new year (Dec -> Jan); one more than six months after it is a
    straggler of the previous year and leaves the year as it is.
    """

    __slots__ = (
        "_clock",
        "_day",
        "_iso_cache",
        "_last_time",
        "_midnights",
        "_month",
        "_month_name",
        "_reference",
        "_stamp_cache",
        "_year",
        "tags",
        "tz",
    )

    def __init__(
        self,
        year: int | None = None,
        *,
        reference: date | datetime | None = None,
        tz: tzinfo = UTC,
    ) -> None:
        self.tz = tz
        self._year = year
        if reference is None and year is None:
            reference = datetime.now(tz)
        self._reference: date | None = (
            reference.date() if isinstance(reference, datetime) else reference
        )
        self._month = 0
        #: the tags seen: token (``postfix/smtpd[123]:``) -> Tag, or None for no Postfix tag
        self.tags: dict[str, Tag | None] = {}
        self._stamp_cache: dict[tuple[int, int, int, str], float] = {}
        #: POSIX time of midnight by (year, month, day), for a fixed-offset ``tz`` only
        self._midnights: dict[tuple[int, int, int], float] | None = (
            {} if isinstance(tz, timezone) else None
        )
        self._iso_cache: dict[tuple[str, str], float] = {}
        self._clock = self._day = self._month_name = ""
        self._last_time = 0.0

    def split(self, line: str) -> SyslogLine | None:
        """Return the fields of a Postfix line, or None for any other line (never raises)."""
        found = self.fields(line)
        if isinstance(found, int):
            return None
        time, host, tag, text = found
        return SyslogLine(time, host, tag.program, tag.daemon, tag.pid, text)

    def fields(self, line: str) -> tuple[float, str, Tag, str] | int:
        """Return (time, host, tag, text), or :data:`NOT_POSTFIX` / :data:`MALFORMED`.

        The fast path of :meth:`split`, used by the parser: no object per line but the tuple.
        A classic line of a known tag in the same second as the line before costs one split.
        """
        parts = line.split(None, 5)
        if len(parts) == 6:
            tag = self.tags.get(parts[4])
            if (
                tag is not None
                and parts[2] == self._clock
                and parts[1] == self._day
                and parts[0] == self._month_name
            ):
                return self._last_time, parts[3], tag, parts[5].rstrip("\r\n")
        return self.fields_of(line, parts)

    def classic_stamp(self) -> tuple[str, str, str, float]:
        """(month, day, clock, time) of the last classic timestamp read: a line with the same
        three words has that time (callers with a fast path of their own use it)."""
        return self._month_name, self._day, self._clock, self._last_time

    def fields_of(self, line: str, parts: list[str]) -> tuple[float, str, Tag, str] | int:
        """:meth:`fields` of ``line``, given ``parts = line.split(None, 5)``."""
        first = line[:1]
        if first.isdigit():
            return self._iso(line)
        if not first.isalpha():
            return NOT_POSTFIX
        if len(parts) < 5:
            return MALFORMED if _looks_postfix(parts) else NOT_POSTFIX
        month, day, clock, host, token = parts[0], parts[1], parts[2], parts[3], parts[4]
        tag = self._tag(token)
        if tag is None:
            if token.startswith("postfix"):  # a Postfix tag cut short or broken
                return MALFORMED
            tag = self._tag(host)
            if tag is None:
                return NOT_POSTFIX
            host = ""  # RFC 3164 without a host name
            rest = line.split(None, 4)
            text = rest[4] if len(rest) > 4 else ""
        elif len(parts) == 6:
            text = parts[5]
        else:
            text = ""
        if clock != self._clock or day != self._day or month != self._month_name:
            stamp = self._classic(month, day, clock)
            if stamp is None:
                return MALFORMED
            self._last_time = stamp
            self._clock, self._day, self._month_name = clock, day, month
        text = text.rstrip("\r\n")
        if not text:
            return MALFORMED
        return self._last_time, host, tag, text

    def _tag(self, token: str) -> Tag | None:
        cache = self.tags
        try:
            return cache[token]
        except KeyError:
            pass
        tag = parse_tag(token)
        if len(cache) >= _TAG_CACHE_LIMIT:
            cache.clear()
        cache[token] = tag
        return tag

    def _classic(self, month_name: str, day_text: str, clock: str) -> float | None:
        """POSIX time of ``Mmm dd HH:MM:SS[.ffffff]`` in the stream's current year."""
        month = MONTHS.get(month_name)
        if month is None or len(day_text) > 2 or not day_text.isdigit() or not day_text.isascii():
            return None
        day = int(day_text)
        if not 1 <= day <= 31:
            return None
        whole, _, fraction = clock.partition(".")
        if len(whole) != 8 or whole[2] != ":" or whole[5] != ":":
            return None
        if fraction and not (fraction.isdigit() and fraction.isascii()):
            return None
        year = self._year_of(month, day)
        if self._midnights is not None and 1 < year < 9999:  # (no overflow at the ends)
            base = self._fixed_offset(year, month, day, whole)
            if base is None:
                return None
            if fraction:
                return base + int(fraction) / 10.0 ** len(fraction)
            return base
        key = (year, month, day, whole)
        cache = self._stamp_cache
        base = cache.get(key)
        if base is None:
            try:
                hour, minute, second = int(whole[:2]), int(whole[3:5]), int(whole[6:])
                base = datetime(year, month, day, hour, minute, second, tzinfo=self.tz).timestamp()
            except (ValueError, OverflowError):
                return None
            if len(cache) >= _STAMP_CACHE_LIMIT:
                cache.clear()
            cache[key] = base
        if fraction:
            return base + int(fraction) / 10.0 ** len(fraction)
        return base

    def _fixed_offset(self, year: int, month: int, day: int, whole: str) -> float | None:
        """POSIX time of ``HH:MM:SS`` on a day in a fixed-offset ``tz`` (no DST): the day's
        midnight (cached) plus the seconds, as ``datetime(...).timestamp()`` but cheaper."""
        midnights = self._midnights
        assert midnights is not None
        try:
            hour, minute, second = int(whole[:2]), int(whole[3:5]), int(whole[6:])
        except ValueError:
            return None
        if not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second <= 59):
            return None  # as datetime() says
        key = (year, month, day)
        midnight = midnights.get(key)
        if midnight is None:
            try:
                midnight = datetime(year, month, day, tzinfo=self.tz).timestamp()
            except (ValueError, OverflowError):
                return None
            if len(midnights) >= _STAMP_CACHE_LIMIT:
                midnights.clear()
            midnights[key] = midnight
        return midnight + (hour * 3600 + minute * 60 + second)

    def _year_of(self, month: int, day: int) -> int:
        """The year of a classic timestamp, following the stream (see the class docstring)."""
        if self._year is None:
            reference = self._reference or date(1970, 1, 1)
            latest = reference + timedelta(days=1)
            year = reference.year
            for candidate in range(reference.year, reference.year - 8, -1):
                try:  # the latest year not after the reference (29 Feb: a leap year)
                    if date(candidate, month, day) <= latest:
                        year = candidate
                        break
                except ValueError:
                    continue
            self._year = year
            self._month = month
            return year
        previous = self._month
        if month != previous:
            if previous and month < previous - 5:
                self._year += 1
            elif previous and month > previous + 5:
                return self._year - 1  # a straggler from before the new year
            self._month = month
        return self._year

    def _iso(self, line: str) -> tuple[float, str, Tag, str] | int:
        parts = line.split(None, 3)
        if len(parts) < 3:
            return MALFORMED if _looks_postfix(parts) else NOT_POSTFIX
        stamp, host, token = parts[0], parts[1], parts[2]
        tag = self._tag(token)
        if tag is None:
            return MALFORMED if token.startswith("postfix") else NOT_POSTFIX
        time = self._iso_time(stamp)
        if time is None:
            return MALFORMED
        text = parts[3].rstrip("\r\n") if len(parts) == 4 else ""
        if not text:
            return MALFORMED
        return time, host, tag, text

    def _iso_time(self, stamp: str) -> float | None:
        """POSIX time of ``YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+HH:MM|+HHMM]``."""
        if len(stamp) < 19 or stamp[10] not in "T ":
            return None
        head, rest = stamp[:19], stamp[19:]
        fraction = ""
        if rest[:1] in (".", ","):
            end = 1
            while end < len(rest) and rest[end].isdigit():
                end += 1
            fraction, rest = rest[1:end], rest[end:]
            if not fraction.isascii():
                return None
        key = (head, rest)
        base = self._iso_cache.get(key)
        if base is None:
            try:
                moment = datetime.fromisoformat(head + rest)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=self.tz)
                base = moment.timestamp()
            except (ValueError, OverflowError):
                return None
            if len(self._iso_cache) >= _STAMP_CACHE_LIMIT:
                self._iso_cache.clear()
            self._iso_cache[key] = base
        if fraction:
            return base + int(fraction) / 10.0 ** len(fraction)
        return base


def _looks_postfix(parts: list[str]) -> bool:
    """A line cut short: does any of its few words begin like a Postfix tag?"""
    return any(word.startswith("postfix") for word in parts)
