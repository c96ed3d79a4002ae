"""Message sizes: the lognormal body with a Pareto tail, the attachment mixture, the classics.

* the spliced law against its CDF, written out here with scipy (Kolmogorov-Smirnov), over the
  whole range and above the threshold;
* the tail index by the Hill estimator: above the threshold ``alpha * sum(ln(x / threshold))``
  is Gamma(k, 1) for a Pareto tail, so the exact 99.9 % interval for alpha must contain it;
* the share of messages in the tail and with an attachment: binomial 99.9 % intervals;
* the classic kinds draw exactly what the plain streams of issue 2 drew.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mailsim.scenario.model import Distribution
from mailsim.scenario.shape import AttachmentMixture, LognormalPareto
from mailsim.streams import RandomStreams
from mailsim.workload.sizes import MAX_SIZE, attachment_parts, draw_sizes, size_floats

P_MIN = 0.001
Z = 3.29  # two-sided 99.9 % normal quantile


def generator(seed: int) -> np.random.Generator:
    return RandomStreams(seed).generator("workload/sizes")


def spliced_cdf(law: LognormalPareto, x: np.ndarray) -> np.ndarray:
    body = stats.lognorm.cdf(x, law.sigma, scale=np.exp(law.mu))
    tail_mass = stats.lognorm.sf(law.threshold, law.sigma, scale=np.exp(law.mu))
    tail = 1.0 - tail_mass * (law.threshold / np.maximum(x, law.threshold)) ** law.alpha
    result: np.ndarray = np.where(x <= law.threshold, body, tail)
    return result


def binomial_ok(successes: int, trials: int, p: float) -> bool:
    return abs(successes / trials - p) < Z * np.sqrt(p * (1 - p) / trials)


@pytest.mark.parametrize(
    "law",
    [
        LognormalPareto(),
        LognormalPareto(mu=9.0, sigma=1.0, threshold=20_000.0, alpha=1.8),
        LognormalPareto(mu=8.0, sigma=2.0, threshold=5_000.0, alpha=0.9),
    ],
    ids=["defaults", "heavier-body", "infinite-mean-tail"],
)
def test_spliced_law_matches_its_cdf(law: LognormalPareto) -> None:
    sizes = size_floats(generator(1), law, 40_000)
    assert stats.kstest(sizes, lambda x: spliced_cdf(law, x)).pvalue > P_MIN
    tail = sizes[sizes > law.threshold]
    conditional = stats.pareto(law.alpha, scale=law.threshold).cdf
    assert stats.kstest(tail, conditional).pvalue > P_MIN
    assert binomial_ok(len(tail), len(sizes), law.tail_probability)


@pytest.mark.parametrize("alpha", [0.8, 1.1, 1.6, 2.5])
def test_hill_estimator_interval_contains_the_tail_index(alpha: float) -> None:
    law = LognormalPareto(mu=8.48, sigma=1.62, threshold=30_000.0, alpha=alpha)
    sizes = size_floats(generator(7), law, 200_000)
    tail = sizes[sizes > law.threshold]
    k = len(tail)
    log_excess = float(np.sum(np.log(tail / law.threshold)))
    hill = k / log_excess
    # alpha * log_excess ~ Gamma(k, 1): invert for an exact interval
    low, high = stats.gamma.ppf([0.0005, 0.9995], k) / log_excess
    assert k > 1000 and low < alpha < high, (hill, low, high)


def test_default_law_is_the_published_one() -> None:
    """mu 8.48, sigma 1.62 (issue 5's mailing-list fit), SURGE's tail: alpha 1.1 above 133 kB;
    about 2 % of messages fall in the tail."""
    law = LognormalPareto()
    assert (law.mu, law.sigma, law.threshold, law.alpha) == (8.48, 1.62, 133_000.0, 1.1)
    assert law.tail_probability == pytest.approx(0.0203, abs=5e-4)
    sizes = draw_sizes(generator(2), law, 50_000)
    assert sizes.dtype == np.int64 and sizes.min() >= 1
    assert abs(np.median(np.log(sizes)) - 8.48) < 0.05


def test_sizes_are_capped_below_int64_overflow() -> None:
    law = LognormalPareto(mu=30.0, sigma=0.1, threshold=1.0, alpha=0.05)
    sizes = draw_sizes(generator(3), law, 1000)
    assert sizes.max() <= MAX_SIZE and sizes.min() >= 1


# -- attachments ----------------------------------------------------------------------------------
def test_attachment_share_body_and_attachment_laws() -> None:
    attachment = Distribution.lognormal(200_000.0, 1.3)
    law = AttachmentMixture(0.2, attachment, LognormalPareto())
    body, attached = attachment_parts(generator(4), law, 50_000)
    carrying = attached > 0
    assert binomial_ok(int(carrying.sum()), len(body), 0.2)
    assert stats.kstest(body, lambda x: spliced_cdf(LognormalPareto(), x)).pvalue > P_MIN
    assert stats.kstest(attached[carrying], "lognorm", args=(1.3, 0, 200_000.0)).pvalue > P_MIN


def test_mixture_sizes_are_body_plus_attachment() -> None:
    law = AttachmentMixture(0.3, LognormalPareto(mu=11.0), Distribution.constant(2000.0))
    body, attached = attachment_parts(generator(5), law, 1000)
    total = size_floats(generator(5), law, 1000)
    assert np.array_equal(total, body + attached)
    assert np.array_equal(draw_sizes(generator(5), law, 1000), np.rint(total).astype(np.int64))


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_attachment_share_extremes(share: float) -> None:
    law = AttachmentMixture(share, Distribution.constant(1000.0), Distribution.constant(500.0))
    sizes = draw_sizes(generator(6), law, 200)
    assert set(sizes.tolist()) == {500 + 1000 * int(share)}


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_attachment_share_outside_zero_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match=f"attachment_share {share} outside"):
        AttachmentMixture(share, Distribution.constant(1.0))


# -- the issue-2 kinds ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "law",
    [
        Distribution.constant(1234.4),
        Distribution.exponential(5000.0),
        Distribution.uniform(100.0, 900.0),
        Distribution.lognormal(3500.0, 1.1),
    ],
    ids=lambda law: law.kind,
)
def test_classic_kinds_draw_what_issue_2_drew(law: Distribution) -> None:
    """The plain streams' size draw, written out as it was before issue 5."""
    draws = {
        "constant": lambda g: np.full(500, law.mean),
        "exponential": lambda g: g.exponential(law.mean, 500),
        "uniform": lambda g: g.uniform(law.low, law.high, 500),
        "lognormal": lambda g: g.lognormal(np.log(law.median), law.sigma, 500),
    }
    before = np.maximum(1, np.rint(draws[law.kind](generator(9)))).astype(np.int64)
    assert np.array_equal(draw_sizes(generator(9), law, 500), before)


def test_spliced_law_refuses_bad_parameters() -> None:
    with pytest.raises(ValueError, match="need sigma >= 0, threshold > 0, alpha > 0"):
        LognormalPareto(alpha=0.0)
