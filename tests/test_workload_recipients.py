"""Senders and recipients: Zipf counts, popularity skew, distinct picks, the local/remote mix.

* recipient counts against the truncated zeta pmf, senders and first recipients against their
  Zipf popularity weights (chi-square goodness of fit, p > 0.001);
* the ordered pair of a message's first two recipients against exact successive sampling,
  P(i, j) = w_i * w_j / (1 - w_i), with and without the rejection fallback (chi-square);
* the share of remote recipients: binomial 99.9 % interval (each slot is remote independently).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

import mailsim.workload.recipients as recipients_module
from mailsim.scenario.model import Weighted
from mailsim.scenario.shape import ZipfCount, zipf_weights
from mailsim.scenario.shapeconf import skewed
from mailsim.streams import RandomStreams
from mailsim.workload.recipients import Population, RecipientDraw, count_draw

P_MIN = 0.001
Z = 3.29


def generator(seed: int) -> np.random.Generator:
    return RandomStreams(seed).generator("workload/recipients")


def people(count: int, domain: str = "a.test") -> tuple[Weighted, ...]:
    return tuple(Weighted(f"u{i}@{domain}") for i in range(1, count + 1))


def pooled(observed: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge the cells expected below 5 into one, as the chi-square test needs."""
    small = expected < 5
    if not small.any():
        return observed, expected
    return (
        np.append(observed[~small], observed[small].sum()),
        np.append(expected[~small], expected[small].sum()),
    )


def chi_square_ok(observed: np.ndarray, probabilities: np.ndarray) -> bool:
    observed, expected = pooled(observed, observed.sum() * probabilities)
    return bool(stats.chisquare(observed, expected).pvalue > P_MIN)


@pytest.mark.parametrize(("s", "high"), [(2.0, 20), (1.5, 50), (0.0, 6), (3.0, 2)])
def test_zipf_counts_follow_the_truncated_zeta_pmf(s: float, high: int) -> None:
    law = ZipfCount(s, high)
    counts = count_draw(law, generator(1), 60_000)
    assert counts.min() >= 1 and counts.max() <= high
    observed = np.bincount(counts, minlength=high + 1)[1:]
    assert chi_square_ok(observed, np.asarray(law.pmf()))


def test_zipf_count_with_max_one_is_always_one() -> None:
    assert set(count_draw(ZipfCount(2.0, 1), generator(2), 1000).tolist()) == {1}


def test_zipf_pmf_of_the_default_law() -> None:
    """s = 2 on 1..20: P(1) = 1 / H(20, 2) = 0.6265; the mean is H(20, 1) / H(20, 2) = 2.254."""
    pmf = np.asarray(ZipfCount().pmf())
    assert pmf[0] == pytest.approx(1 / sum(k**-2 for k in range(1, 21)))
    assert float(np.dot(np.arange(1, 21), pmf)) == pytest.approx(2.2540, abs=1e-4)


def test_uniform_counts_keep_the_issue_2_draw() -> None:
    before = generator(3).integers(1, 4, size=1000)
    assert np.array_equal(count_draw((1, 3), generator(3), 1000), before)


def test_population_draws_by_weight() -> None:
    members = skewed(people(30), 1.2)
    picks = Population(members).pick(generator(4), 50_000)
    weights = np.asarray(zipf_weights(30, 1.2))
    assert chi_square_ok(np.bincount(picks, minlength=30), weights / weights.sum())


def test_population_skips_zero_weights() -> None:
    members = (Weighted("a@x", 0.0), Weighted("b@x", 1.0), Weighted("c@x", 0.0))
    population = Population(members)
    assert population.drawable == 1
    assert set(population.pick(generator(5), 1000).tolist()) == {1}


def test_first_recipient_by_popularity_and_all_distinct() -> None:
    local = skewed(people(40), 1.0)
    draw = RecipientDraw(local, ZipfCount(2.0, 20))
    messages = draw.draw(generator(6), 40_000)
    assert all(len(set(m)) == len(m) for m in messages)
    first = np.asarray([int(m[0][1:].partition("@")[0]) - 1 for m in messages])
    weights = np.asarray(zipf_weights(40, 1.0))
    assert chi_square_ok(np.bincount(first, minlength=40), weights / weights.sum())
    sizes = np.bincount([len(m) for m in messages], minlength=21)[1:]
    assert chi_square_ok(sizes, np.asarray(ZipfCount(2.0, 20).pmf()))


def successive_pairs(weights: np.ndarray) -> dict[tuple[int, int], float]:
    """P(first = i, second = j) when drawing without replacement by weight."""
    p = weights / weights.sum()
    return {(i, j): p[i] * p[j] / (1 - p[i]) for i, j in itertools.permutations(range(len(p)), 2)}


@pytest.mark.parametrize("rejections", [64, 0], ids=["rejection", "remainder-only"])
def test_pairs_follow_successive_sampling(rejections: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact without replacement: both the rejection path and the renormalised remainder."""
    monkeypatch.setattr(recipients_module, "REJECTIONS", rejections)
    weights = np.asarray([8.0, 4.0, 2.0, 1.0, 1.0])
    local = tuple(Weighted(f"r{i}@x", w) for i, w in enumerate(weights))
    messages = RecipientDraw(local, (2, 2)).draw(generator(7), 30_000)
    exact = successive_pairs(weights)
    index = {pair: k for k, pair in enumerate(exact)}
    observed = np.zeros(len(exact))
    for first, second in messages:
        observed[index[(int(first[1]), int(second[1]))]] += 1
    assert chi_square_ok(observed, np.asarray(list(exact.values())))


def test_a_count_larger_than_the_population_takes_everyone_once() -> None:
    local = people(3)
    messages = RecipientDraw(local, (5, 5)).draw(generator(8), 500)
    assert all(sorted(m) == sorted(w.value for w in local) for m in messages)


# -- local / remote -------------------------------------------------------------------------------
@pytest.mark.parametrize("share", [0.1, 0.35, 0.8])
def test_remote_share_of_recipients(share: float) -> None:
    draw = RecipientDraw(people(200), ZipfCount(2.0, 20), people(50, "b.test"), share)
    messages = draw.draw(generator(9), 30_000)
    everyone = [r for m in messages for r in m]
    remote = sum(r.endswith("@b.test") for r in everyone)
    assert binomial_ok(remote, len(everyone), share)
    assert all(len(set(m)) == len(m) for m in messages)


def binomial_ok(successes: int, trials: int, p: float) -> bool:
    return abs(successes / trials - p) < Z * np.sqrt(p * (1 - p) / trials)


def test_every_recipient_remote_or_none() -> None:
    all_remote = RecipientDraw(people(5), (1, 3), people(10, "b.test"), 1.0)
    assert all(r.endswith("@b.test") for m in all_remote.draw(generator(10), 2000) for r in m)
    no_remote_list = RecipientDraw(people(5), (1, 3), (), 0.7)
    assert all(r.endswith("@a.test") for m in no_remote_list.draw(generator(10), 2000) for r in m)


def test_a_used_up_side_gives_no_more_recipients() -> None:
    """Two remote addresses: a message never names more than two remote recipients, and its
    local recipients are still distinct."""
    draw = RecipientDraw(people(100), (10, 10), people(2, "b.test"), 0.5)
    for message in draw.draw(generator(11), 3000):
        assert sum(r.endswith("@b.test") for r in message) <= 2
        assert len(set(message)) == len(message)


def test_same_seed_same_recipients() -> None:
    draw = RecipientDraw(people(30), ZipfCount(1.5, 10), people(10, "b.test"), 0.3)
    assert draw.draw(generator(12), 5000) == draw.draw(generator(12), 5000)
    assert draw.draw(generator(12), 5000) != draw.draw(generator(13), 5000)
