"""Draw message sizes in bytes from a stream's size law, a numpy batch at a time.

The classic kinds (constant, exponential, uniform, lognormal) draw exactly what the Poisson
streams of issue 2 drew. The spliced law (:class:`~mailsim.scenario.shape.LognormalPareto`)
draws the lognormal and replaces each value above the threshold by a Pareto draw: the
lognormal decides *whether* a message is in the tail (probability ``1 - F_ln(threshold)``),
the Pareto law *where* in the tail, which is exactly the spliced CDF. A mixture adds an
attachment to a share of the messages. Defaults and their sources: :mod:`mailsim.scenario.shape`.
"""

from __future__ import annotations

import numpy as np

from mailsim.scenario.model import Distribution
from mailsim.scenario.shape import AttachmentMixture, LognormalPareto, SizeLaw

__all__ = ["MAX_SIZE", "attachment_parts", "draw_sizes", "size_floats"]

#: Sizes are capped at 2**53 bytes (the largest integer a float holds exactly): a Pareto tail
#: draws such values with probability below 1e-14 and they would overflow int64 further up.
MAX_SIZE = float(2**53)

Floats = np.ndarray[tuple[int], np.dtype[np.float64]]
Ints = np.ndarray[tuple[int], np.dtype[np.int64]]


def draw_sizes(generator: np.random.Generator, law: SizeLaw, count: int) -> Ints:
    """Draw ``count`` message sizes in whole bytes (at least 1)."""
    raw = size_floats(generator, law, count)
    sizes: Ints = np.maximum(1, np.rint(np.minimum(raw, MAX_SIZE))).astype(np.int64)
    return sizes


def size_floats(generator: np.random.Generator, law: SizeLaw, count: int) -> Floats:
    """Draw ``count`` sizes in bytes, before rounding."""
    if isinstance(law, AttachmentMixture):
        body, attachment = attachment_parts(generator, law, count)
        total: Floats = body + attachment
        return total
    if isinstance(law, LognormalPareto):
        return _lognormal_pareto(generator, law, count)
    return _classic(generator, law, count)


def attachment_parts(
    generator: np.random.Generator, law: AttachmentMixture, count: int
) -> tuple[Floats, Floats]:
    """Draw (body, attachment) sizes; the attachment is 0 for messages without one."""
    body = size_floats(generator, law.body, count)
    attached = generator.random(count) < law.attachment_share
    attachment = np.zeros(count)
    attachment[attached] = size_floats(generator, law.attachment, int(attached.sum()))
    return body, attachment


def _lognormal_pareto(generator: np.random.Generator, law: LognormalPareto, count: int) -> Floats:
    values: Floats = generator.lognormal(law.mu, law.sigma, count)
    tail = values > law.threshold
    # 1 - U lies in (0, 1], so the Pareto draw threshold * (1 - U) ** (-1 / alpha) is finite
    values[tail] = law.threshold * (1.0 - generator.random(int(tail.sum()))) ** (-1.0 / law.alpha)
    return values


def _classic(generator: np.random.Generator, law: Distribution, count: int) -> Floats:
    """The issue-2 draws, unchanged (a stream's numbers must not move)."""
    kind = law.kind
    if kind == "constant":
        return np.full(count, law.mean)
    if kind == "exponential":
        return generator.exponential(law.mean, count)
    if kind == "uniform":
        return generator.uniform(law.low, law.high, count)
    if kind == "lognormal":
        return generator.lognormal(np.log(law.median), law.sigma, count)
    raise ValueError(f"unknown size distribution {kind!r}")
