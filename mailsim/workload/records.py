"""The workload record both engines consume (DESIGN.md section 1, workload/)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Arrival"]


class Arrival(NamedTuple):
    """One message entering the mail system.

    ``client_address`` and ``connect_to`` are empty when the sender is a scenario user: the
    engine then uses that user's client address and submit host. ``service`` is ``smtp`` or
    ``submission`` (empty: the user's own setting). ``msg`` numbers arrivals run-wide from 1.

    A NamedTuple rather than a frozen dataclass: just as immutable, and several times cheaper to
    create, which matters at a million arrivals.
    """

    t: float
    msg: int
    sender: str
    recipients: tuple[str, ...]
    size: int
    stream: str = ""
    client_address: str = ""
    connect_to: str = ""
    service: str = ""
    headers: tuple[tuple[str, str], ...] = ()
