"""Poisson message streams (homogeneous; diurnal profiles and log replay come with issue 5).

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

__all__ = ["stream_arrivals", "scenario_arrivals"]

_BATCH = 4096
_CELLS = 1 << 21  # batch x population cells drawn at once for recipient choice

Headers = tuple[tuple[str, str], ...]
_NO_HEADERS: Headers = ()


def stream_arrivals(
    stream: Stream, generator: np.random.Generator, horizon: float
) -> Iterator[tuple[float, str, tuple[str, ...], int, Headers]]:
    """Yield (t, sender, recipients, size, headers) for ``stream`` until min(stream.stop,
    horizon); ``headers`` is () unless the stream lists header sets."""
    stop = horizon if stream.stop is None else min(stream.stop, horizon)
    if stream.rate <= 0 or stop <= stream.start or not stream.senders or not stream.recipients:
        return
    senders = [w.value for w in stream.senders]
    sender_p = _probabilities([w.weight for w in stream.senders])
    population = [w.value for w in stream.recipients]
    log_weights = np.log(np.asarray([w.weight for w in stream.recipients], dtype=float))
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
    by_stream = {stream.name: stream for stream in scenario.workload.streams}
    iterators = [
        _tagged(order, stream, streams.generator(f"workload/{stream.name}"), scenario.duration)
        for order, stream in enumerate(scenario.workload.streams)
    ]
    if len(scenario.workload.streams) == 1:  # the common case, without the merge machinery
        stream = scenario.workload.streams[0]
        generator = streams.generator(f"workload/{stream.name}")
        extra = (stream.name, stream.client_address, stream.connect_to, stream.service)
        for number, (t, sender, rcpts, size, headers) in enumerate(
            stream_arrivals(stream, generator, scenario.duration), start=1
        ):
            yield Arrival(t, number, sender, rcpts, size, *extra, headers)
        return
    merged = heapq.merge(*iterators, key=lambda item: (item[0], item[1]))
    for number, (t, _order, name, sender, rcpts, size, headers) in enumerate(merged, start=1):
        stream = by_stream[name]
        yield Arrival(
            t=t,
            msg=number,
            sender=sender,
            recipients=rcpts,
            size=size,
            stream=name,
            client_address=stream.client_address,
            connect_to=stream.connect_to,
            service=stream.service,
            headers=headers,
        )


def _tagged(
    order: int, stream: Stream, generator: np.random.Generator, horizon: float
) -> Iterator[tuple[float, int, str, str, tuple[str, ...], int, Headers]]:
    """Yield a stream's arrivals tagged with its position (the tie-breaker) and name."""
    for t, sender, recipients, size, headers in stream_arrivals(stream, generator, horizon):
        yield t, order, stream.name, sender, recipients, size, headers


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
    kind = size.kind
    if kind == "constant":
        raw = np.full(batch, size.mean)
    elif kind == "exponential":
        raw = generator.exponential(size.mean, batch)
    elif kind == "uniform":
        raw = generator.uniform(size.low, size.high, batch)
    elif kind == "lognormal":
        raw = generator.lognormal(np.log(size.median), size.sigma, batch)
    else:
        raise ValueError(f"unknown size distribution {kind!r}")
    sizes: np.ndarray[tuple[int], np.dtype[np.int64]] = np.maximum(1, np.rint(raw)).astype(np.int64)
    return sizes
