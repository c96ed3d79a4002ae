"""How a stream's traffic is shaped: daily and weekly profile, bursts, sizes, recipient counts.

These records only describe; :mod:`mailsim.workload` draws from them. A stream that uses none of
them is the plain Poisson stream of issue 2 and draws exactly the numbers it always drew.

Where the defaults come from (values we read off published figures are rounded and say so):

* **Profile.** Mail written by people follows office hours and the working week, spam does not:
  Gomes, Cazita, Almeida, Almeida, Meira, "Characterizing a spam traffic", IMC 2004, and
  "Workload models of spam and legitimate e-mails", Performance Evaluation 64 (2007) 690-714,
  found daily and weekly cycles in legitimate mail arriving at a university and a nearly flat
  rate of spam. Rates constant within each hour are the model Paxson and Floyd ("Wide area
  traffic: the failure of Poisson modeling", IEEE/ACM ToN 3(3), 1995) found to fit the arrivals
  of user-started sessions. :data:`OFFICE_HOURLY` is our rounded reading of that shape (a
  morning and an afternoon peak around a lunch dip, little at night), not a fit.
* **Sizes.** The lognormal body uses mu 8.48 and sigma 1.62 (ln bytes: median about 4.8 kB),
  the fit of mailing-list message sizes quoted in issue 5. The Pareto tail follows the splice
  of Barford and Crovella's SURGE ("Generating representative Web workloads for network and
  server performance evaluation", SIGMETRICS 1998: lognormal body, Pareto tail with
  alpha = 1.1 above k = 133 kB), which we take over for the threshold and the tail index.
* **Recipients per message** and **popularity** are Zipf-like in Gomes et al. (most messages
  have one recipient, a few have many; a few users send and receive most mail). Their
  exponents vary from site to site; the defaults here (s = 2 on 1..20 recipients, no
  popularity skew) are a starting point, not a fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TypeAlias

from mailsim.scenario.model import Distribution

__all__ = [
    "FLAT_HOURLY",
    "FLAT_WEEKLY",
    "OFFICE_HOURLY",
    "OFFICE_WEEKLY",
    "AttachmentMixture",
    "Burst",
    "LognormalPareto",
    "Profile",
    "SizeLaw",
    "ZipfCount",
    "zipf_weights",
]

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY

#: Relative hourly rate of mail people write, hour 0 (00:00-01:00) to 23: see the module notes.
OFFICE_HOURLY: tuple[float, ...] = (
    0.10, 0.06, 0.05, 0.05, 0.05, 0.08, 0.25, 0.80, 1.70, 2.20, 2.30, 2.00,
    1.40, 1.90, 2.10, 1.90, 1.50, 1.00, 0.60, 0.45, 0.40, 0.35, 0.25, 0.15,
)  # fmt: skip
#: Relative daily volume, Monday first: the working week, little at weekends.
OFFICE_WEEKLY: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 0.9, 0.2, 0.15)
FLAT_HOURLY: tuple[float, ...] = (1.0,) * 24
FLAT_WEEKLY: tuple[float, ...] = (1.0,) * 7


def _check_weights(name: str, weights: tuple[float, ...], count: int) -> None:
    if len(weights) != count:
        raise ValueError(f"{name} needs {count} weights, got {len(weights)}")
    if any(not math.isfinite(w) or w < 0 for w in weights) or not any(w > 0 for w in weights):
        raise ValueError(f"{name} weights must be >= 0 with one > 0: {weights!r}")


@dataclass(frozen=True, slots=True)
class Profile:
    """A rate that changes by hour of day and day of week, constant within each hour.

    The intensity at time ``t`` of the run is ``rate * h[hour] / mean(h) * w[day] / max(w)``
    where hour and day are those of ``origin + t`` (``origin``: seconds after Monday 00:00 at
    which the run starts). So a stream's ``rate`` is its mean rate over a full day (a day of
    the largest weekly weight): ``rate * 86400`` messages on such a day.
    """

    hourly: tuple[float, ...] = OFFICE_HOURLY
    weekly: tuple[float, ...] = FLAT_WEEKLY
    origin: float = 0.0

    def __post_init__(self) -> None:
        _check_weights("hourly", self.hourly, 24)
        _check_weights("weekly", self.weekly, 7)
        if not math.isfinite(self.origin) or self.origin < 0:
            raise ValueError(f"negative or infinite origin {self.origin!r}")

    @classmethod
    def office(cls, origin: float = 0.0) -> Profile:
        """Office hours on working days (:data:`OFFICE_HOURLY`, :data:`OFFICE_WEEKLY`)."""
        return cls(OFFICE_HOURLY, OFFICE_WEEKLY, origin)

    @classmethod
    def flat(cls, origin: float = 0.0) -> Profile:
        """The same rate at every hour of every day (spam, machines)."""
        return cls(FLAT_HOURLY, FLAT_WEEKLY, origin)

    def multipliers(self) -> tuple[float, ...]:
        """Return the 168 factors on ``rate``, one per hour of the week from Monday 00:00."""
        hour_mean = sum(self.hourly) / 24
        day_max = max(self.weekly)
        return tuple(h / hour_mean * w / day_max for w in self.weekly for h in self.hourly)

    @property
    def peak_share(self) -> float:
        """Return the share of a day's mail that arrives in its busiest hour."""
        return max(self.hourly) / sum(self.hourly)

    def peak_share_range(self) -> tuple[float, float]:
        """Return the open interval of peak shares :meth:`with_peak_share` can reach."""
        positive = sum(1 for h in self.hourly if h > 0)
        top = sum(1 for h in self.hourly if h == max(self.hourly))
        return 1.0 / positive, 1.0 / top

    def with_peak_share(self, share: float) -> Profile:
        """Return this profile sharpened or flattened so its busiest hour carries ``share``.

        The hourly weights are raised to a power g (g > 1 sharpens, g < 1 flattens), which
        keeps the order of the hours and the hours without mail; g is found by bisection.
        Raises ValueError for a share outside :meth:`peak_share_range`.
        """
        if share == self.peak_share:
            return self
        low, high = self.peak_share_range()
        if not low < share < high:
            raise ValueError(f"peak share {share!r} outside ({low:.4g}, {high:.4g})")
        top = max(self.hourly)
        scaled = [h / top for h in self.hourly]

        def share_at(power: float) -> float:
            return 1.0 / sum(math.pow(h, power) for h in scaled if h > 0)

        below, above = 0.0, 1.0
        while share_at(above) < share:
            below, above = above, above * 2
        for _ in range(200):
            middle = (below + above) / 2
            below, above = (middle, above) if share_at(middle) < share else (below, middle)
        power = (below + above) / 2
        hourly = tuple(math.pow(h, power) if h > 0 else 0.0 for h in scaled)
        return Profile(hourly, self.weekly, self.origin)


@dataclass(frozen=True, slots=True)
class Burst:
    """A campaign: ``messages`` messages from ``at`` on, spread evenly at random over ``over``
    seconds (the order statistics of uniform times: a Poisson process given its count), or,
    with ``rate`` instead, one after another with exponential gaps at that rate."""

    at: float
    messages: int
    over: float = 0.0
    rate: float = 0.0

    def __post_init__(self) -> None:
        if self.messages < 1 or self.at < 0:
            raise ValueError(f"a burst needs messages >= 1 and at >= 0: {self!r}")
        if (self.over > 0) == (self.rate > 0):
            raise ValueError(f"a burst needs exactly one of over > 0 and rate > 0: {self!r}")


@dataclass(frozen=True, slots=True)
class LognormalPareto:
    """Message size in bytes: lognormal (``mu``, ``sigma`` of ln bytes) up to ``threshold``,
    Pareto with index ``alpha`` above it.

    The CDF is the lognormal's up to the threshold and ``1 - (1 - F_ln(threshold)) *
    (threshold / x) ** alpha`` above, so the tail keeps the lognormal's probability mass but
    decays as a power law. Defaults: see the module notes.
    """

    mu: float = 8.48
    sigma: float = 1.62
    threshold: float = 133_000.0
    alpha: float = 1.1

    def __post_init__(self) -> None:
        if self.sigma < 0 or self.threshold <= 0 or self.alpha <= 0:
            raise ValueError(f"need sigma >= 0, threshold > 0, alpha > 0: {self!r}")

    @property
    def tail_probability(self) -> float:
        """Return P(size > threshold)."""
        if self.sigma == 0:
            return 1.0 if math.exp(self.mu) > self.threshold else 0.0
        z = (math.log(self.threshold) - self.mu) / self.sigma
        return 0.5 * math.erfc(z / math.sqrt(2))


@dataclass(frozen=True, slots=True)
class AttachmentMixture:
    """Message sizes as a mixture: every message has a ``body``; a share ``attachment_share`` of
    them also carries an attachment whose (encoded) size follows ``attachment``.

    The share and the attachment law are the site's own figures (no default: published
    measurements of attachments vary too much to pick one).
    """

    attachment_share: float
    attachment: Distribution | LognormalPareto
    body: Distribution | LognormalPareto = field(default_factory=LognormalPareto)

    def __post_init__(self) -> None:
        if not 0 <= self.attachment_share <= 1:
            raise ValueError(f"attachment_share {self.attachment_share!r} outside [0, 1]")


@dataclass(frozen=True, slots=True)
class ZipfCount:
    """A count on 1..``maximum`` with P(k) proportional to k ** -s (a truncated zeta law)."""

    s: float = 2.0
    maximum: int = 20

    def __post_init__(self) -> None:
        if self.maximum < 1 or not math.isfinite(self.s) or self.s < 0:
            raise ValueError(f"need maximum >= 1 and s >= 0: {self!r}")

    def pmf(self) -> tuple[float, ...]:
        """Return P(1), ..., P(maximum)."""
        weights = zipf_weights(self.maximum, self.s)
        total = sum(weights)
        return tuple(w / total for w in weights)


#: What a message size may follow: a classic kind, the spliced law, or body plus attachment.
SizeLaw: TypeAlias = Distribution | LognormalPareto | AttachmentMixture


def zipf_weights(count: int, s: float) -> tuple[float, ...]:
    """Return the Zipf popularity weights 1, 2**-s, ..., count**-s (rank 1 first)."""
    return tuple(math.pow(rank, -s) for rank in range(1, count + 1))
