"""Named random streams from one root seed (DESIGN.md section 4).

Each component asks for its own stream by name (``"workload/office"``,
``"sim/neo.firma1.intr/smtpd"``).
A stream's generator is seeded from ``SeedSequence(root_seed, spawn_key=crc32(name))``, so adding a
component (a new name) never shifts the numbers another component draws, and the same seed gives
the same run bit for bit. No global RNG is ever used.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

import numpy as np

from mailsim.scenario.model import Distribution

__all__ = ["RandomStreams", "BatchSampler"]

_BATCH = 4096
_Draw = Callable[[int], "np.ndarray[tuple[int], np.dtype[np.float64]]"]


class RandomStreams:
    """Hand out independent, reproducible numpy Generators by name."""

    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError(f"negative seed {seed}")
        self.seed = seed
        self._cache: dict[str, np.random.Generator] = {}

    def generator(self, name: str) -> np.random.Generator:
        """Return the generator for ``name`` (the same object on repeated calls)."""
        found = self._cache.get(name)
        if found is None:
            key = zlib.crc32(name.encode("utf-8"))
            sequence = np.random.SeedSequence(self.seed, spawn_key=(key,))
            found = self._cache[name] = np.random.Generator(np.random.PCG64(sequence))
        return found

    def sampler(self, name: str, distribution: Distribution) -> BatchSampler:
        """Return a sampler drawing ``distribution`` from the stream ``name``."""
        return BatchSampler(distribution, self.generator(name))


class BatchSampler:
    """Draw from a Distribution in numpy batches; ``next(sampler)`` costs a list index.

    Drawing one float at a time from numpy costs about a microsecond; the simulation needs one per
    stage visit, so values are drawn 4096 at a time and handed out from a Python list.
    """

    __slots__ = ("_buffer", "_draw", "_index", "constant", "distribution")

    def __init__(self, distribution: Distribution, generator: np.random.Generator) -> None:
        self.distribution = distribution
        self.constant: float | None = (
            float(distribution.mean) if distribution.kind == "constant" else None
        )
        self._draw = _drawer(distribution, generator)
        self._buffer: list[float] = []
        self._index = 0

    def __iter__(self) -> Iterator[float]:
        return self

    def __next__(self) -> float:
        if self.constant is not None:
            return self.constant
        index = self._index
        if index >= len(self._buffer):
            self._buffer = self._draw(_BATCH).tolist()
            index = 0
        self._index = index + 1
        return self._buffer[index]


def _drawer(distribution: Distribution, generator: np.random.Generator) -> _Draw:
    kind = distribution.kind
    if kind == "constant":
        value = distribution.mean
        return lambda n: np.full(n, value)
    if kind == "exponential":
        mean = distribution.mean
        return lambda n: generator.exponential(mean, n)
    if kind == "uniform":
        low, high = distribution.low, distribution.high
        return lambda n: generator.uniform(low, high, n)
    if kind == "lognormal":
        mu, sigma = float(np.log(distribution.median)), distribution.sigma
        return lambda n: generator.lognormal(mu, sigma, n)
    raise ValueError(f"unknown distribution kind {kind!r}")
