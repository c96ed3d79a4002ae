"""Choose senders and recipients: populations by weight, Zipf counts, a local/remote mix.

A :class:`Population` draws by weight through its cumulative weights (one uniform and a binary
search per draw). :class:`RecipientDraw` gives each message a count (``[min, max]`` uniform or
a truncated zeta law, :class:`~mailsim.scenario.shape.ZipfCount`, drawn by inverting its CDF),
marks each recipient slot remote with probability ``remote_share`` and fills the slots, in
order, by weight without repeating an address: a slot that repeats an earlier address of its
side is drawn again. That rejection is exact successive sampling (each slot proportional to
weight among the addresses not yet chosen, as the Gumbel top-k draw of the plain streams);
after :data:`REJECTIONS` rounds the few slots left draw from the renormalised remainder. A
side whose population is used up gives the message no further recipients on that side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mailsim.scenario.model import Weighted
from mailsim.scenario.shape import ZipfCount

__all__ = ["REJECTIONS", "Population", "RecipientDraw", "count_draw"]

REJECTIONS = 64

Indices = np.ndarray[tuple[int], np.dtype[np.intp]]
Floats = np.ndarray[tuple[int], np.dtype[np.float64]]


class Population:
    """Addresses with weights, drawn with replacement by weight."""

    def __init__(self, members: Sequence[Weighted]) -> None:
        self.values: list[str] = [w.value for w in members]
        weights = np.asarray([w.weight for w in members], dtype=float)
        self.weights: Floats = weights / weights.sum() if len(members) else weights
        self.cumulative: Floats = np.cumsum(self.weights)
        if len(members):
            self.cumulative[-1] = 1.0
        #: how many distinct addresses can be drawn (those of weight > 0)
        self.drawable = int(np.count_nonzero(weights > 0))

    def __len__(self) -> int:
        return len(self.values)

    def pick(self, generator: np.random.Generator, count: int) -> Indices:
        """Return ``count`` indices drawn by weight."""
        found: Indices = np.searchsorted(self.cumulative, generator.random(count), side="right")
        return np.minimum(found, len(self.values) - 1)


def count_draw(
    law: tuple[int, int] | ZipfCount, generator: np.random.Generator, count: int
) -> Indices:
    """Draw ``count`` recipient counts from ``[min, max]`` (uniform) or a Zipf law."""
    if isinstance(law, ZipfCount):
        cdf = np.cumsum(law.pmf())
        cdf[-1] = 1.0
        found: Indices = np.searchsorted(cdf, generator.random(count), side="right") + 1
        return np.minimum(found, law.maximum)
    low, high = law
    drawn: Indices = generator.integers(low, high + 1, size=count).astype(np.intp)
    return drawn


class RecipientDraw:
    """Draw the recipients of a batch of messages (see the module docstring)."""

    def __init__(
        self,
        local: Sequence[Weighted],
        law: tuple[int, int] | ZipfCount,
        remote: Sequence[Weighted] = (),
        remote_share: float = 0.0,
    ) -> None:
        self.sides = (Population(local), Population(remote))
        self.law = law
        self.remote_share = remote_share if remote else 0.0
        self.values = [*self.sides[0].values, *self.sides[1].values]
        self.offset = len(self.sides[0])  # codes: local index, or offset + remote index
        self.singles = [(value,) for value in self.values]
        self.objects = np.asarray(self.values, dtype=object)

    def draw(self, generator: np.random.Generator, count: int) -> list[tuple[str, ...]]:
        """Return the recipient tuples of ``count`` messages."""
        counts = count_draw(self.law, generator, count)
        if self.remote_share == 0 and int(counts.max(initial=0)) <= 1:
            singles = self.singles
            return [singles[i] for i in self.sides[0].pick(generator, count).tolist()]
        width = int(counts.max())
        filled = np.arange(width)[None, :] < counts[:, None]
        remote = np.zeros((count, width), dtype=bool)
        if self.remote_share > 0:
            remote[filled] = generator.random(int(filled.sum())) < self.remote_share
        codes = np.full((count, width), -1, dtype=np.intp)
        for side, mask in ((0, filled & ~remote), (1, remote)):
            codes[mask] = self._codes(side, generator, int(mask.sum()))
        for slot in range(1, width):
            self._distinct(generator, codes, remote, slot)
        singles = self.singles
        messages = [singles[code] for code in codes[:, 0].tolist()]  # slot 0 is always filled
        kept = codes >= 0
        lengths = kept.sum(axis=1)
        several = np.flatnonzero(lengths > 1)
        if len(several):
            addresses = self.objects[codes[several][kept[several]]].tolist()  # in slot order
            ends = np.cumsum(lengths[several]).tolist()
            for row, first, end in zip(several.tolist(), [0, *ends[:-1]], ends, strict=True):
                messages[row] = tuple(addresses[first:end])
        return messages

    def _codes(self, side: int, generator: np.random.Generator, count: int) -> Indices:
        picks = self.sides[side].pick(generator, count)
        return picks + self.offset if side else picks

    def _distinct(
        self,
        generator: np.random.Generator,
        codes: np.ndarray[tuple[int, int], np.dtype[np.intp]],
        remote: np.ndarray[tuple[int, int], np.dtype[np.bool_]],
        slot: int,
    ) -> None:
        """Redraw column ``slot`` where it repeats an earlier address of the message."""
        for side in (0, 1):
            rows = np.flatnonzero((codes[:, slot] >= 0) & (remote[:, slot] == bool(side)))
            if not len(rows):
                continue
            earlier = codes[rows, :slot]
            same_side = (earlier >= 0) & (remote[rows, :slot] == bool(side))
            full = same_side.sum(axis=1) >= self.sides[side].drawable
            codes[rows[full], slot] = -1
            left = self._reject(generator, codes, side, rows[~full], earlier[~full], slot)
            if len(left):
                self._remainder(generator, codes, side, left, slot)

    def _reject(
        self,
        generator: np.random.Generator,
        codes: np.ndarray[tuple[int, int], np.dtype[np.intp]],
        side: int,
        rows: Indices,
        earlier: np.ndarray[tuple[int, int], np.dtype[np.intp]],
        slot: int,
    ) -> Indices:
        """Redraw clashing slots up to REJECTIONS times; return the rows that still clash."""
        for _ in range(REJECTIONS):
            clash = (earlier == codes[rows, slot][:, None]).any(axis=1)
            if not clash.any():
                return rows[:0]
            rows, earlier = rows[clash], earlier[clash]
            codes[rows, slot] = self._codes(side, generator, len(rows))
        clash = (earlier == codes[rows, slot][:, None]).any(axis=1)
        left: Indices = rows[clash]
        return left

    def _remainder(
        self,
        generator: np.random.Generator,
        codes: np.ndarray[tuple[int, int], np.dtype[np.intp]],
        side: int,
        rows: Indices,
        slot: int,
    ) -> None:
        """Draw the slot from the addresses of its side not yet in the message: the exact
        conditional law the rejection converges to."""
        population = self.sides[side]
        shift = self.offset if side else 0
        for row in rows.tolist():
            weights = population.weights.copy()
            taken = [c - shift for c in codes[row, :slot].tolist() if c >= 0]
            taken = [c for c in taken if 0 <= c < len(population)]
            weights[taken] = 0.0
            weights /= weights.sum()
            codes[row, slot] = int(generator.choice(len(population), p=weights)) + shift
