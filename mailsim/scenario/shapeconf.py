"""Read the issue-5 shapes of a stream from YAML: profile, burst, size laws, Zipf counts.

::

    profile: office                      # or flat, or 24 hourly weights (hour 0 first), or
    profile: {hourly: office, weekly: [1, 1, 1, 1, 1, 0.2, 0.1], origin: "Mon 08:00"}
    burst: {at: 2h30m, messages: 6000, over: 2m}        # or rate: 50/s instead of over
    size: {dist: lognormal_pareto, mu: 8.48, sigma: 1.62, threshold: 133KB, alpha: 1.1}
    size: {dist: mixture, attachment_share: 0.2, attachment: {dist: lognormal, median: 200KB,
           sigma: 1.3}, body: {dist: lognormal_pareto}}
    recipients_per_message: {dist: zipf, s: 2.0, max: 20}
    popularity: {senders: 1.0, recipients: 0.8}         # Zipf skew over the listed order

Every problem is reported like the rest of the loader's: file, field path, expectation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from mailsim.scenario.model import Weighted
from mailsim.scenario.shape import (
    FLAT_HOURLY,
    FLAT_WEEKLY,
    OFFICE_HOURLY,
    OFFICE_WEEKLY,
    AttachmentMixture,
    Burst,
    LognormalPareto,
    Profile,
    SizeLaw,
    ZipfCount,
    zipf_weights,
)
from mailsim.scenario.suggest import (
    BURST_KEYS,
    DISTRIBUTION_PARAMETERS,
    POPULARITY_KEYS,
    PROFILE_KEYS,
    PROFILE_NAMES,
    SIZE_LAW_KEYS,
    ZIPF_KEYS,
)
from mailsim.scenario.validate import Checker, Where, describe
from mailsim.units import parse_duration

__all__ = [
    "build_burst",
    "build_recipient_count",
    "build_popularity",
    "build_profile",
    "build_size",
    "build_zipf",
    "share",
    "skewed",
]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ORIGIN = re.compile(r"(?i)\s*(mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?\s+([0-9]{1,2}):([0-9]{2})\s*")
_EXPECT_PROFILE = "a profile: office, flat, 24 hourly weights, or {hourly, weekly, origin}"
_EXPECT_ORIGIN = "a weekday and time such as 'Mon 08:00', or a duration after Monday 00:00"
_HOURLY = {"office": OFFICE_HOURLY, "flat": FLAT_HOURLY}
_WEEKLY = {"office": OFFICE_WEEKLY, "flat": FLAT_WEEKLY}


def share(chk: Checker, at: Where, value: object) -> float | None:
    """Return a share: a number from 0 to 1."""
    number = chk.number(at, value, "a share from 0 to 1")
    if number is not None and number > 1:
        chk.issue(at, "a share from 0 to 1", describe(value))
        return None
    return number


# -- profile --------------------------------------------------------------------------------------
def build_profile(chk: Checker, at: Where, value: object) -> Profile | None:
    """Return the profile: ``office`` (office hours and week), ``flat``, 24 hourly weights (the
    same every day), or a mapping whose ``hourly`` defaults to office and ``weekly`` to flat."""
    if isinstance(value, str):
        name = chk.choice(at, value, PROFILE_NAMES, "a named profile")
        if name is None:
            return None
        return Profile.office() if name == "office" else Profile.flat()
    if isinstance(value, list | tuple):
        hourly = _weights(chk, at, value, _HOURLY, 24, "hourly weights, hour 0 first")
        return None if hourly is None else Profile(hourly, FLAT_WEEKLY)
    if not isinstance(value, Mapping):
        chk.issue(at, _EXPECT_PROFILE, describe(value))
        return None
    data = chk.fields(at, value, "profile", PROFILE_KEYS)
    if data is None:
        return None
    hourly = _weights(
        chk, at.key("hourly", data), data.get("hourly", "office"), _HOURLY, 24,
        "hourly weights, hour 0 first",
    )  # fmt: skip
    weekly = _weights(
        chk, at.key("weekly", data), data.get("weekly", "flat"), _WEEKLY, 7,
        "weekly weights, Monday first",
    )  # fmt: skip
    origin = _origin(chk, at.key("origin", data), data.get("origin", 0))
    if hourly is None or weekly is None or origin is None:
        return None
    return Profile(hourly, weekly, origin)


def _weights(
    chk: Checker,
    at: Where,
    value: object,
    named: Mapping[str, tuple[float, ...]],
    count: int,
    what: str,
) -> tuple[float, ...] | None:
    """Return ``count`` weights >= 0 (one > 0), or a named set of them."""
    if isinstance(value, str):
        name = chk.choice(at, value, named, f"{count} {what} or a name")
        return None if name is None else named[name]
    expected = f"{count} {what} (numbers >= 0, one > 0), or {' or '.join(sorted(named))}"
    if not isinstance(value, list | tuple) or len(value) != count:
        got = f"{len(value)} numbers" if isinstance(value, list | tuple) else describe(value)
        chk.issue(at, expected, got)
        return None
    numbers: list[float] = []
    for index, item in enumerate(value):
        number = chk.number(at.index(index, value), item, "a weight >= 0")
        if number is None:
            return None
        numbers.append(number)
    if not any(numbers):
        chk.issue(at, expected, "all weights 0")
        return None
    return tuple(numbers)


def _origin(chk: Checker, at: Where, value: object) -> float | None:
    """Return the seconds after Monday 00:00 at which the run starts (within one week)."""
    if isinstance(value, str):
        match = _ORIGIN.fullmatch(value)
        if match is not None:
            hours, minutes = int(match.group(2)), int(match.group(3))
            if hours < 24 and minutes < 60:
                day = _DAYS.index(match.group(1).lower())
                return day * 86400.0 + hours * 3600.0 + minutes * 60.0
            chk.issue(at, _EXPECT_ORIGIN, describe(value))
            return None
    try:
        seconds = parse_duration(value) if isinstance(value, str | int | float) else -1.0
    except ValueError:
        seconds = -1.0
    if 0 <= seconds < 7 * 86400.0:
        return seconds
    chk.issue(at, _EXPECT_ORIGIN, describe(value))
    return None


# -- sizes ----------------------------------------------------------------------------------------
def build_size(chk: Checker, at: Where, value: object, nested: bool = False) -> SizeLaw | None:
    """Return a message-size law: a distribution, ``lognormal_pareto`` or ``mixture`` (not
    inside another mixture)."""
    kinds = [*DISTRIBUTION_PARAMETERS, *SIZE_LAW_KEYS]
    if nested:
        kinds.remove("mixture")
    if isinstance(value, Mapping) and value.get("dist") is not None:
        kind = chk.choice(at.key("dist", value), value["dist"], kinds, "a size distribution kind")
        if kind is None:
            return None
        if kind == "lognormal_pareto":
            return _lognormal_pareto(chk, at, value)
        if kind == "mixture":
            return _mixture(chk, at, value)
    return chk.distribution(at, value, "size")


def _lognormal_pareto(
    chk: Checker, at: Where, data: Mapping[object, object]
) -> LognormalPareto | None:
    chk.fields(at, data, "lognormal_pareto size", ("dist", *SIZE_LAW_KEYS["lognormal_pareto"]))
    default = LognormalPareto()
    mu: float | None = default.mu
    if "mu" in data and "median" in data:
        chk.issue(at.key("median", data), "either mu or median, not both", describe(data["median"]))
        mu = None
    elif "mu" in data:
        mu = chk.number(at.key("mu", data), data["mu"], "mu, the mean of ln(bytes), >= 0")
    elif "median" in data:
        median = chk.quantity(at.key("median", data), data["median"], "size")
        if median == 0:
            chk.issue(at.key("median", data), "a median size > 0", describe(data["median"]))
        mu = math.log(median) if median else None
    sigma = chk.number(at.key("sigma", data), data.get("sigma", default.sigma))
    threshold = chk.quantity(
        at.key("threshold", data), data.get("threshold", default.threshold), "size"
    )
    if threshold == 0:
        chk.issue(at.key("threshold", data), "a threshold size > 0", describe(data["threshold"]))
        threshold = None
    alpha = chk.number(at.key("alpha", data), data.get("alpha", default.alpha), "a tail index > 0")
    if alpha == 0:
        chk.issue(at.key("alpha", data), "a tail index > 0", describe(data["alpha"]))
        alpha = None
    if mu is None or sigma is None or threshold is None or alpha is None:
        return None
    return LognormalPareto(mu, sigma, threshold, alpha)


def _mixture(chk: Checker, at: Where, data: Mapping[object, object]) -> AttachmentMixture | None:
    required = {
        "attachment_share": "the share of messages with an attachment (0 to 1)",
        "attachment": "the size distribution of an attachment",
    }
    chk.fields(at, data, "mixture size", ("dist", *SIZE_LAW_KEYS["mixture"]), required)
    fraction = None
    if data.get("attachment_share") is not None:
        fraction = share(chk, at.key("attachment_share", data), data["attachment_share"])
    attachment = None
    if data.get("attachment") is not None:
        attachment = build_size(chk, at.key("attachment", data), data["attachment"], nested=True)
    body: SizeLaw | None = LognormalPareto()
    if data.get("body") is not None:
        body = build_size(chk, at.key("body", data), data["body"], nested=True)
    if fraction is None or attachment is None or body is None:
        return None
    assert not isinstance(attachment, AttachmentMixture)  # nested=True excludes it
    assert not isinstance(body, AttachmentMixture)
    return AttachmentMixture(fraction, attachment, body)


# -- recipients, bursts, popularity ---------------------------------------------------------------
def build_recipient_count(
    chk: Checker, at: Where, value: object, count: int
) -> tuple[int, int] | ZipfCount | None:
    """Return distinct recipients per message: ``n``, ``[min, max]`` or a Zipf law; never more
    than ``count`` (the distinct recipients to choose from, when known)."""
    if isinstance(value, Mapping):
        law = build_zipf(chk, at, value)
        if law is not None and count and law.maximum > count:
            expected = f"max at most {count} (the number of distinct recipients)"
            chk.issue(at.key("max", value), expected, describe(law.maximum))
            return None
        return law
    pair = value if isinstance(value, list | tuple) and len(value) == 2 else (value, value)
    low, high = (
        v if isinstance(v, int) and not isinstance(v, bool) and v >= 1 else 0 for v in pair
    )
    if not low or not high:
        chk.issue(at, "a number of recipients >= 1, or [min, max]", describe(value))
        return None
    if low > high:
        chk.issue(at, "[min, max] with min <= max", describe(value))
        return None
    if count and high > count:
        chk.issue(at, f"at most {count} (the number of distinct recipients)", describe(value))
        return None
    return low, high


def build_zipf(chk: Checker, at: Where, value: Mapping[object, object]) -> ZipfCount | None:
    """Return ``{dist: zipf, s: 2.0, max: 20}``: a count on 1..max with P(k) ~ k**-s."""
    data = chk.fields(at, value, "zipf count", ZIPF_KEYS)
    if data is None:
        return None
    if chk.choice(at.key("dist", data), data.get("dist"), ("zipf",), "a count law") is None:
        return None
    s = chk.number(at.key("s", data), data.get("s", 2.0), "an exponent s >= 0")
    high = chk.integer(at.key("max", data), data.get("max", 20), 1)
    if s is None or high is None:
        return None
    return ZipfCount(s, high)


def build_burst(chk: Checker, at: Where, value: object) -> Burst | None:
    """Return ``{at, messages, over}`` or ``{at, messages, rate}``."""
    required = {"at": "when the burst starts, such as 2h30m", "messages": "how many messages"}
    data = chk.fields(at, value, "burst", BURST_KEYS, required)
    if data is None or data.get("at") is None or data.get("messages") is None:
        return None
    start = chk.quantity(at.key("at", data), data["at"], "duration")
    messages = chk.integer(at.key("messages", data), data["messages"], 1)
    over = rate = 0.0
    if ("over" in data) == ("rate" in data):
        got = "both" if "over" in data else "neither"
        chk.issue(at, "either over (a duration > 0) or rate (> 0)", got)
        return None
    if "over" in data:
        over = chk.quantity(at.key("over", data), data["over"], "duration") or 0.0
        if not over:
            chk.issue(at.key("over", data), "a duration > 0", describe(data["over"]))
    else:
        rate = chk.quantity(at.key("rate", data), data["rate"], "rate") or 0.0
        if not rate:
            chk.issue(at.key("rate", data), "a rate > 0", describe(data["rate"]))
    if start is None or messages is None or not (over or rate):
        return None
    return Burst(start, messages, over=over, rate=rate)


def build_popularity(chk: Checker, at: Where, value: object) -> tuple[float, float] | None:
    """Return the Zipf skew (senders, recipients) over the listed order, 0 meaning none."""
    data = chk.fields(at, value, "popularity", POPULARITY_KEYS)
    if data is None:
        return None
    senders = chk.number(at.key("senders", data), data.get("senders", 0.0), "a Zipf skew >= 0")
    recipients = chk.number(
        at.key("recipients", data), data.get("recipients", 0.0), "a Zipf skew >= 0"
    )
    if senders is None or recipients is None:
        return None
    return senders, recipients


def skewed(population: Sequence[Weighted], s: float) -> tuple[Weighted, ...]:
    """Return ``population`` with each weight multiplied by its Zipf weight rank**-s (rank 1
    is the first listed); s = 0 leaves it as it is."""
    if s == 0:
        return tuple(population)
    ranks = zipf_weights(len(population), s)
    return tuple(Weighted(w.value, w.weight * r) for w, r in zip(population, ranks, strict=True))
