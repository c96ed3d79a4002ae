"""Replay a real Postfix log: what its clients offered becomes a workload for either engine.

The capacity planner's question "what would last week's traffic do to the new setup?" needs
last week's *offered* load, not its outcome: every message a client handed to the logged server,
when, from whom, to whom and how big — whatever the server then did with it. This module reads
that from a log parsed by :mod:`mailsim.postfixlog` and yields the :class:`Arrival` records both
engines consume:

* one arrival per original message: a queue file that smtpd received (``client=``) or pickup
  picked up (``sendmail``); local(8)'s ``forwarded as`` copies and bounce(8)'s notifications are
  not arrivals, the model makes its own;
* its recipients as the client gave them: every recipient with a status line, by its
  ``orig_to`` when an alias expanded it, and those refused at RCPT in the same transaction
  (``NOQUEUE: reject: RCPT`` lines of the session, or ``QID: reject:`` lines);
* transactions that were refused whole (a relay attempt: every RCPT ``554 5.7.1``) are offered
  load too and arrive with their refused recipients, from their client's address, so the model
  refuses them again; a refusal at MAIL (the announced size) names no recipient and cannot be
  replayed: it is counted in :attr:`ReplayStats.skipped`;
* size: qmgr's ``size=``; a refused transaction's size is unknown and gets the log's median;
* where and from: each arrival connects to the scenario host that wrote the log (the log's host
  field ``neo`` is the scenario host ``neo.*``, or as mapped), from the client's address in the
  log; a picked-up message comes from the host's own address over ``smtp`` (the model has no
  ``sendmail`` pickup; its local submission goes through smtpd from inside mynetworks).

Options: ``speed`` replays faster (2: twice as fast; arrival times are divided by it) and
``thin`` keeps each arrival with that probability, drawn from the named random stream
``workload/replay`` (a seeded run is reproducible). Time 0 is the first arrival.

Memory: the arrivals are sorted by time, so they are held (about 200 bytes each); the parser
itself streams the log in constant memory.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mailsim.errors import MailsimError
from mailsim.postfixlog import Message, PostfixLogParser, Reject, Session
from mailsim.scenario.model import Scenario
from mailsim.workload.records import Arrival

__all__ = ["ReplayError", "ReplayStats", "arrivals_of", "log_arrivals", "replay_arrivals"]

#: queue files that are original messages (not copies or notifications the model makes itself)
_ORIGINAL = ("smtpd", "pickup")


class ReplayError(MailsimError):
    """The log cannot be replayed into the scenario (an unknown host, no arrivals, ...)."""


@dataclass(slots=True)
class _Offer:
    """One transaction a client offered: built up from the log's lines, by message number."""

    time: float
    host: str
    sender: str = ""
    client: str = ""
    size: int | None = None
    pickup: bool = False
    recipients: dict[str, None] = field(default_factory=dict)


@dataclass(slots=True)
class ReplayStats:
    """What the replay took from the log: arrivals made, by origin, and what it skipped."""

    arrivals: int = 0
    received: int = 0
    picked_up: int = 0
    refused: int = 0
    thinned: int = 0
    #: transactions without a recipient to replay (refused at MAIL, or no status line at all)
    skipped: int = 0
    first: float = 0.0
    last: float = 0.0

    def __str__(self) -> str:
        return (
            f"{self.arrivals} arrivals over {self.last - self.first:.0f} s of log "
            f"({self.received} received by smtpd, {self.picked_up} picked up, {self.refused} "
            f"refused whole; {self.thinned} thinned out, {self.skipped} not replayable)"
        )


def log_arrivals(items: Iterable[object]) -> tuple[list[_Offer], int]:
    """Collect the offered transactions from parsed log items, sorted by time; also return how
    many could not be replayed (no recipient)."""
    offers: dict[int, _Offer] = {}
    for item in items:
        if isinstance(item, Message):
            if item.origin in _ORIGINAL or (item.origin == "unknown" and item.sender):
                offer = _offer(offers, item.msg, item.arrival, item.host)
                offer.sender = item.sender or ""
                offer.size = item.size
                offer.client = item.client
                offer.pickup = item.origin == "pickup"
                for delivery in item.deliveries:
                    offer.recipients[delivery.orig_to or delivery.recipient] = None
                _add_refused(offers, item.rejects)
        elif isinstance(item, Session):
            _add_refused(offers, item.rejects)
    usable = sorted(
        (offer for offer in offers.values() if offer.recipients and offer.sender is not None),
        key=lambda offer: offer.time,
    )
    return usable, len(offers) - len(usable)


def _offer(offers: dict[int, _Offer], msg: int, time: float, host: str) -> _Offer:
    offer = offers.get(msg)
    if offer is None:
        offer = offers[msg] = _Offer(time, host)
    else:
        offer.time = min(offer.time, time)
    return offer


def _add_refused(offers: dict[int, _Offer], rejects: Iterable[Reject]) -> None:
    """Add smtpd's refusals to their transactions (RCPT refusals name a recipient)."""
    for reject in rejects:
        if reject.daemon != "smtpd" or reject.action != "reject":
            continue
        offer = _offer(offers, reject.msg, reject.time, reject.host)
        if not offer.sender:
            offer.sender = reject.sender
        if not offer.client:
            offer.client = reject.client
        if reject.stage == "RCPT" and reject.recipient:
            offer.recipients[reject.recipient] = None


def replay_arrivals(
    source: str | Path | Iterable[str],
    scenario: Scenario,
    generator: np.random.Generator,
    *,
    speed: float = 1.0,
    thin: float = 1.0,
    hosts: Mapping[str, str] | None = None,
    year: int | None = None,
    stats: ReplayStats | None = None,
) -> Iterator[Arrival]:
    """Yield the arrivals of a Postfix log (a path, plain or compressed, or lines) for
    ``scenario``, in time order, numbered from 1 (see the module docstring).

    ``generator`` draws the thinning (``RandomStreams.generator("workload/replay")``);
    ``hosts`` maps the log's host field to scenario hosts (default: by first label);
    ``year`` reads classic syslog timestamps (default: the file's modification time);
    ``stats``, if given, is filled in as the arrivals are made.
    """
    parser = PostfixLogParser(year)
    items = parser.parse_file(source) if isinstance(source, str | Path) else parser.parse(source)
    return arrivals_of(items, scenario, generator, speed=speed, thin=thin, hosts=hosts, stats=stats)


def arrivals_of(
    items: Iterable[object],
    scenario: Scenario,
    generator: np.random.Generator,
    *,
    speed: float = 1.0,
    thin: float = 1.0,
    hosts: Mapping[str, str] | None = None,
    stats: ReplayStats | None = None,
) -> Iterator[Arrival]:
    """:func:`replay_arrivals` of a log already parsed (:class:`~mailsim.postfixlog.
    PostfixLogParser`'s items), for a caller that also builds its tables from them."""
    if speed <= 0:
        raise ReplayError(f"speed must be positive, not {speed!r}")
    if not 0 < thin <= 1:
        raise ReplayError(f"thin must be a probability in (0, 1], not {thin!r}")
    offers, skipped = log_arrivals(items)
    stats = stats if stats is not None else ReplayStats()
    stats.skipped = skipped
    if not offers:
        raise ReplayError("the log has no message to replay (no smtpd or pickup queue file)")
    targets = _targets(scenario, {offer.host for offer in offers}, hosts or {})
    sizes = [offer.size for offer in offers if offer.size]
    typical = int(statistics.median(sizes)) if sizes else 4096
    origin = offers[0].time
    stats.first, stats.last = origin, offers[-1].time
    keep = generator.random(len(offers)) < thin if thin < 1 else None
    number = 0
    for index, offer in enumerate(offers):
        if keep is not None and not keep[index]:
            stats.thinned += 1
            continue
        number += 1
        target = targets[offer.host]
        if offer.pickup:
            stats.picked_up += 1
            client = scenario.hosts[target].address
        else:
            client = _address(offer.client) or scenario.hosts[target].address
            if offer.size is None:
                stats.refused += 1
            else:
                stats.received += 1
        stats.arrivals += 1
        yield Arrival(
            t=(offer.time - origin) / speed,
            msg=number,
            sender=offer.sender,
            recipients=tuple(offer.recipients),
            size=offer.size or typical,
            stream="replay",
            client_address=client,
            connect_to=target,
            service="smtp",
        )


def _targets(scenario: Scenario, logged: set[str], hosts: Mapping[str, str]) -> dict[str, str]:
    """Map each host field of the log to a scenario host (explicitly, else by first label)."""
    found: dict[str, str] = {}
    for host in sorted(logged):
        name = hosts.get(host)
        if name is None:
            matches = [h for h in scenario.hosts if h.split(".")[0] == host.split(".")[0]]
            name = matches[0] if len(matches) == 1 else None
        if name is None or name not in scenario.hosts:
            known = ", ".join(sorted(scenario.hosts))
            raise ReplayError(
                f"the log's host {host!r} is no host of scenario {scenario.name!r} (hosts: "
                f"{known}); map it with --host {host}=<scenario host>"
            )
        found[host] = name
    return found


def _address(client: str) -> str:
    """The address of ``name[address]`` (``unknown[127.0.5.10]`` -> ``127.0.5.10``)."""
    start = client.rfind("[")
    return client[start + 1 : -1] if start >= 0 and client.endswith("]") else ""
