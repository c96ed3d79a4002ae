"""Build a simulated mail system from a scenario and run it.

``simulate(scenario)`` is the one call notebooks and the CLI use: it creates one
:class:`~mailsim.sim.mta.MTANode` per host, the DNS resolver, the mail clients, feeds the
workload's arrivals in time order and runs the SimPy clock until arrivals end plus the scenario's
``drain`` time. The result is a :class:`~mailsim.analysis.Run` over the event log.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import simpy

from mailsim.eventlog import EventLog
from mailsim.scenario.model import Scenario
from mailsim.sim.client import Fetcher, Submitter
from mailsim.sim.dns import ZoneResolver
from mailsim.sim.mailbox import Mailbox
from mailsim.sim.mta import MTANode
from mailsim.sim.network import Network
from mailsim.sim.postsuper import QueueOperations
from mailsim.sim.qmgr import QueueManager
from mailsim.streams import RandomStreams
from mailsim.workload.poisson import scenario_arrivals
from mailsim.workload.records import Arrival

if TYPE_CHECKING:
    from mailsim.analysis import Run

__all__ = ["FIRST_CREATED_MSG_ID", "Simulation", "simulate"]

#: Message ids of mail the system creates itself start here (arrival ids count up from 1).
FIRST_CREATED_MSG_ID = 1 << 30


class Simulation:
    """The simulated world of one scenario: SimPy environment, nodes, resolver, log."""

    def __init__(
        self,
        scenario: Scenario,
        arrivals: Iterator[Arrival] | None = None,
        seed: int | None = None,
        queue_manager: Callable[[MTANode], QueueManager] | None = None,
    ) -> None:
        #: what builds each node's queue manager (issue 3 plugs in Postfix's exact qmgr here)
        self.queue_manager = queue_manager
        self.scenario = scenario
        self.env = simpy.Environment()
        self.log = EventLog()
        self.streams = RandomStreams(scenario.seed if seed is None else seed)
        self.network = Network(scenario)
        self.resolver = ZoneResolver(scenario.dns)
        self.nodes: dict[str, MTANode] = {}
        self._by_address: dict[str, MTANode] = {}
        for name in sorted(scenario.hosts):
            node = MTANode(self, scenario.hosts[name])
            self.nodes[name] = node
            self._by_address[node.address] = node
        self.mailboxes: dict[str, Mailbox] = {}
        self.submitter = Submitter(self)
        self._arrivals = (
            arrivals if arrivals is not None else scenario_arrivals(scenario, self.streams)
        )
        self.arrived = 0
        self._next_msg_id = FIRST_CREATED_MSG_ID
        self._next_arrival: Arrival | None = None
        self._feed()
        for user in scenario.users:
            if user.fetch is not None:
                server = self.nodes[user.fetch.host or user.host]
                self.env.process(Fetcher(self, user, server).run())

    def new_msg_id(self) -> int:
        """Return a run-wide id for a message the mail system writes itself (bounce and delay
        notifications, vacation replies): 2**30, 2**30 + 1, ...; arrivals count up from 1."""
        found = self._next_msg_id
        self._next_msg_id += 1
        return found

    # -- postsuper(1) and postqueue(1): call between run() calls; they act at the current time --
    def hold(self, node: str, queue_id: int | str) -> bool:
        """``postsuper -h``: put message ``queue_id`` (int, or hex as the log prints it) of
        host ``node`` on hold; return whether it was found (see :mod:`mailsim.sim.postsuper`)."""
        return self._queue_operations(node).hold(_queue_id(queue_id))

    def release(self, node: str, queue_id: int | str) -> bool:
        """``postsuper -H``: release a held message to the deferred queue."""
        return self._queue_operations(node).release(_queue_id(queue_id))

    def requeue(self, node: str, queue_id: int | str) -> bool:
        """``postsuper -r``: requeue a message through cleanup (it gets a new queue id)."""
        return self._queue_operations(node).requeue(_queue_id(queue_id))

    def flush(self, node: str) -> None:
        """``postqueue -f``: revive dead destinations and retry all deferred mail now."""
        self._queue_operations(node).flush()

    def _queue_operations(self, node: str) -> QueueOperations:
        found = self.nodes.get(node)
        if found is None:
            raise ValueError(f"unknown host {node!r} (hosts: {', '.join(self.nodes)})")
        qmgr = found.qmgr
        if not isinstance(qmgr, QueueOperations):
            raise TypeError(f"{node}: queue manager {type(qmgr).__name__} has no postsuper")
        return qmgr

    def mta_at(self, address: str) -> MTANode | None:
        """Return the node listening on ``address``, or None (connection refused)."""
        return self._by_address.get(address)

    def mailbox(self, address: str, node: MTANode) -> Mailbox:
        """Return (creating on first use) the mailbox of ``address`` on ``node``."""
        key = address.lower()
        found = self.mailboxes.get(key)
        if found is None:
            found = self.mailboxes[key] = Mailbox(key, node.name)
        return found

    def _feed(self, event: simpy.Event | None = None) -> None:
        """Submit the arrival that is due and schedule the next one (a callback chain: cheaper
        than a generator process at one call per message)."""
        arrival = self._next_arrival
        if arrival is not None:
            self.submitter.submit(arrival)
            self.arrived += 1
            if self.arrived & 1023 == 0:
                self.log.maybe_compact()
        arrival = self._next_arrival = next(self._arrivals, None)
        if arrival is not None:
            delay = arrival.t - self.env.now
            simpy.events.Timeout(self.env, delay if delay > 0 else 0.0).callbacks.append(self._feed)

    def run(
        self, until: float | None = None, progress: Callable[[float], None] | None = None
    ) -> None:
        """Advance the clock to ``until`` (default: duration + drain), reporting progress."""
        end = self.scenario.duration + self.scenario.drain if until is None else until
        with fewer_gc_passes():
            if progress is None:
                self.env.run(until=end)
            else:
                step = max(end / 200.0, 1e-9)
                while self.env.now < end:
                    self.env.run(until=min(end, self.env.now + step))
                    progress(self.env.now)
            self.log.compact()


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Run the clock with a lazier cyclic garbage collector, then restore its thresholds.

    A run allocates millions of short-lived events and records that are freed by reference
    counting; the default thresholds make the collector rescan the long-lived simulation state
    every 700 allocations, which costs about a quarter of the run (bench/outage_day.py). Cycles
    are still collected, just less often.
    """
    saved = gc.get_threshold()
    gc.set_threshold(max(saved[0], 50_000), max(saved[1], 20), max(saved[2], 100))
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def _queue_id(queue_id: int | str) -> int:
    """Return a queue id given as an int or as the hex string the log prints."""
    if isinstance(queue_id, int):
        return queue_id
    try:
        return int(queue_id, 16)
    except ValueError:
        raise ValueError(f"not a queue id: {queue_id!r}") from None


def simulate(
    scenario: Scenario,
    *,
    until: float | None = None,
    seed: int | None = None,
    arrivals: Iterator[Arrival] | None = None,
    progress: bool = False,
) -> Run:
    """Run ``scenario`` in the simulation and return its :class:`~mailsim.analysis.Run`.

    ``seed`` overrides the scenario's (replications); ``arrivals`` replaces its workload (any
    iterator of :class:`~mailsim.workload.Arrival` in time order); ``progress`` shows a tqdm bar
    over simulated time.
    """
    from mailsim.analysis import Run

    sim = Simulation(scenario, arrivals=arrivals, seed=seed)
    end = scenario.duration + scenario.drain if until is None else until
    if progress:
        from tqdm.auto import tqdm

        with tqdm(total=round(end), unit="sim-s", desc=scenario.name, leave=False) as bar:

            def advance(now: float) -> None:
                bar.update(round(now) - bar.n)

            sim.run(until=end, progress=advance)
    else:
        sim.run(until=end)
    meta = {
        "scenario": scenario.name,
        "source": scenario.source,
        "seed": sim.streams.seed,
        "engine": "sim",
        "until": end,
        "arrivals": sim.arrived,
    }
    return Run.from_eventlog(sim.log, name=scenario.name, meta=meta)
