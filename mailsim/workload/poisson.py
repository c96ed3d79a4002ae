"""Poisson message streams, and the run's workload: every stream merged in time order.

A plain stream (``Stream.is_plain``: none of the issue-5 shapes) is drawn here, exactly as in
issue 2; a shaped one by :func:`mailsim.workload.shaped.shaped_arrivals`.

Inter-arrival times are exponential with mean 1/rate. Senders are drawn by weight, recipients
without replacement by weight (the Gumbel top-k trick: exact successive sampling proportional
to weight, vectorised over a batch), sizes from the stream's size distribution, and, for a
stream that lists header sets (``Stream.headers``: subjects and the like, which MDA rules
match), one set per message by weight. Everything is drawn in numpy batches from the stream's
own named random stream; a stream without header sets draws nothing for them, so its arrivals
are the same as before header sets existed.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import numpy as np

from mailsim.scenario.model import Distribution, Scenario, Stream
from mailsim.streams import RandomStreams
from mailsim.workload.records import Arrival
from mailsim.workload.shaped import shaped_arrivals
from mailsim.workload.sizes import draw_sizes

__all__ = ["stream_arrivals", "scenario_arrivals"]

_BATCH = 4096
_CELLS = 1 << 21  # batch x population cells drawn at once for recipient choice

Headers = tuple[tuple[str, str], ...]
_NO_HEADERS: Headers = ()


def stream_arrivals(
    stream: Stream, generator: np.random.Generator, horizon: float
) -> Iterator[tuple[float, str, tuple[str, ...], int, Headers]]:
    """Yield (t, sender, recipients, size, headers) for ``stream`` until min(stream.stop,
    horizon); ``headers`` is () unless the stream lists header sets. A shaped stream is drawn
    by :func:`~mailsim.workload.shaped.shaped_arrivals`."""
    if stream.is_plain:
        return _plain_arrivals(stream, generator, horizon)
    return shaped_arrivals(stream, generator, horizon)


def _plain_arrivals(
    stream: Stream, generator: np.random.Generator, horizon: float
) -> Iterator[tuple[float, str, tuple[str, ...], int, Headers]]:
    """The homogeneous Poisson stream of issue 2 (its numbers must not move)."""
    stop = horizon if stream.stop is None else min(stream.stop, horizon)
    if stream.rate <= 0 or stop <= stream.start or not stream.senders or not stream.recipients:
        return
    senders = [w.value for w in stream.senders]
    sender_p = _probabilities([w.weight for w in stream.senders])
    population = [w.value for w in stream.recipients]
    log_weights = np.log(np.asarray([w.weight for w in stream.recipients], dtype=float))
    assert isinstance(stream.recipients_per_message, tuple)
    assert isinstance(stream.size, Distribution)
    low, high = stream.recipients_per_message
    high = min(high, len(population))
    low = min(low, high)
    size = stream.size
    header_sets = [headers for headers, _ in stream.headers]
    header_p = _probabilities([weight for _, weight in stream.headers]) if header_sets else None
    batch = max(1, min(_BATCH, _CELLS // max(1, len(population))))
    t = stream.start
    while True:
        gaps = generator.exponential(1.0 / stream.rate, batch)
        times = t + np.cumsum(gaps)
        sender_index = generator.choice(len(senders), size=batch, p=sender_p)
        counts = generator.integers(low, high + 1, size=batch)
        chosen = _top_k(generator, log_weights, batch, high)
        sizes = _sizes(generator, size, batch)
        headers = (
            [header_sets[k] for k in generator.choice(len(header_sets), size=batch, p=header_p)]
            if header_p is not None
            else None
        )
        for i in range(batch):
            now = float(times[i])
            if now >= stop:
                return
            picks = chosen[i, : counts[i]]
            yield (
                now,
                senders[sender_index[i]],
                tuple(population[j] for j in picks),
                int(sizes[i]),
                _NO_HEADERS if headers is None else headers[i],
            )
        t = float(times[-1])


def scenario_arrivals(scenario: Scenario, streams: RandomStreams) -> Iterator[Arrival]:
    """Yield every stream's arrivals merged in time order, numbered run-wide from 1.

    Ties in time keep the streams' order in the scenario, so the result is deterministic.
    """
    workload = scenario.workload.streams
    extras = [(s.name, s.client_address, s.connect_to, s.service) for s in workload]
    generators = [streams.generator(f"workload/{stream.name}") for stream in workload]
    if len(workload) == 1:  # the common case, without the merge machinery
        extra = extras[0]
        for number, (t, sender, rcpts, size, headers) in enumerate(
            stream_arrivals(workload[0], generators[0], scenario.duration), start=1
        ):
            yield Arrival(t, number, sender, rcpts, size, *extra, headers)
        return
    iterators = [
        _tagged(order, stream, generator, scenario.duration)
        for order, (stream, generator) in enumerate(zip(workload, generators, strict=True))
    ]
    # (t, order) never ties between two streams, so plain tuple order is the (t, order) order
    merged = heapq.merge(*iterators)
    for number, (t, order, sender, rcpts, size, headers) in enumerate(merged, start=1):
        name, client_address, connect_to, service = extras[order]
        yield Arrival(
            t, number, sender, rcpts, size, name, client_address, connect_to, service, headers
        )


def _tagged(
    order: int, stream: Stream, generator: np.random.Generator, horizon: float
) -> Iterator[tuple[float, int, str, tuple[str, ...], int, Headers]]:
    """Yield a stream's arrivals tagged with its position (the tie-breaker)."""
    for t, sender, recipients, size, headers in stream_arrivals(stream, generator, horizon):
        yield t, order, sender, recipients, size, headers


def _probabilities(weights: list[float]) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
    array: np.ndarray[tuple[int], np.dtype[np.float64]] = np.asarray(weights, dtype=float)
    return array / float(array.sum())


def _top_k(
    generator: np.random.Generator,
    log_weights: np.ndarray[tuple[int], np.dtype[np.float64]],
    batch: int,
    k: int,
) -> np.ndarray[tuple[int, int], np.dtype[np.intp]]:
    """Return ``batch`` rows of ``k`` distinct indices, each a weighted draw without replacement."""
    if len(log_weights) == 1:
        return np.zeros((batch, 1), dtype=np.intp)
    keys = log_weights + generator.gumbel(size=(batch, len(log_weights)))
    if k >= len(log_weights):
        return np.argsort(-keys, axis=1)
    top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def _sizes(
    generator: np.random.Generator, size: Distribution, batch: int
) -> np.ndarray[tuple[int], np.dtype[np.int64]]:
    """Draw ``batch`` message sizes in bytes (at least 1)."""
    return draw_sizes(generator, size, batch)
