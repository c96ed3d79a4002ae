"""Arrivals of a shaped stream: profile or burst times, Zipf counts, local/remote mix, size laws.

A stream that uses any of the issue-5 shapes (``Stream.is_plain`` is false) is drawn here; a
plain one keeps the Poisson generator of :mod:`mailsim.workload.poisson`, so its numbers do not
move. Each batch draws, from the stream's own generator and in this order: the times, the
senders, the recipients, the sizes, the header sets. Everything is a numpy batch; the only
per-message Python work is building the record.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mailsim.scenario.model import Stream, Weighted
from mailsim.workload.burst import burst_times
from mailsim.workload.profile import profile_times
from mailsim.workload.recipients import Population, RecipientDraw
from mailsim.workload.sizes import draw_sizes

__all__ = ["shaped_arrivals"]

BATCH = 8192

Headers = tuple[tuple[str, str], ...]
Floats = np.ndarray[tuple[int], np.dtype[np.float64]]


def shaped_arrivals(
    stream: Stream, generator: np.random.Generator, horizon: float
) -> Iterator[tuple[float, str, tuple[str, ...], int, Headers]]:
    """Yield (t, sender, recipients, size, headers) for ``stream`` until its stop or
    ``horizon``, in time order."""
    if not stream.senders or not stream.recipients:
        return
    senders = Population(stream.senders)
    recipients = RecipientDraw(
        stream.recipients,
        stream.recipients_per_message,
        stream.remote_recipients,
        stream.remote_share,
    )
    header_values: list[Headers] = [headers for headers, _ in stream.headers]
    header_choice = (
        Population([Weighted(str(i), w) for i, (_, w) in enumerate(stream.headers)])
        if header_values
        else None
    )
    names = senders.values
    for times in _times(stream, generator, horizon):
        count = len(times)
        if not count:
            continue
        who = [names[i] for i in senders.pick(generator, count).tolist()]
        to = recipients.draw(generator, count)
        sizes = draw_sizes(generator, stream.size, count).tolist()
        if header_choice is None:
            headers: list[Headers] = [()] * count
        else:
            headers = [header_values[i] for i in header_choice.pick(generator, count).tolist()]
        yield from zip(times.tolist(), who, to, sizes, headers, strict=True)


def _times(stream: Stream, generator: np.random.Generator, horizon: float) -> Iterator[Floats]:
    """Yield the stream's arrival times in batches: burst, profile or homogeneous Poisson."""
    if stream.burst is not None:
        yield from burst_times(stream.burst, generator, horizon, BATCH)
        return
    stop = horizon if stream.stop is None else min(stream.stop, horizon)
    if stream.profile is not None:
        yield from profile_times(stream.profile, stream.rate, stream.start, stop, generator, BATCH)
        return
    if stream.rate <= 0 or stop <= stream.start:
        return
    t = stream.start
    while t < stop:
        times = t + np.cumsum(generator.exponential(1.0 / stream.rate, BATCH))
        t = float(times[-1])
        yield times[times < stop]
