"""Mail clients (MUAs): submitting the workload's messages and polling mailboxes.

Submission: the client connects to its submit host (``smtp`` from inside mynetworks, or
``submission`` with SASL AUTH from outside), after one link latency. Fetching: each user whose
scenario entry has ``fetch`` polls every ``interval`` seconds (first poll at a random phase, from
the user's own random stream). A POP3 client (RFC 1939) retrieves new messages and deletes them
(DELE, QUIT); an IMAP client (RFC 3501) fetches them and leaves them on the server, so an IMAP
mailbox keeps counting against mailbox_size_limit.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from mailsim.scenario.model import User
from mailsim.sim.mailbox import StoredMessage
from mailsim.sim.records import SMTPTransaction
from mailsim.sim.stage import TimedStage
from mailsim.workload.records import Arrival

if TYPE_CHECKING:
    from mailsim.sim.engine import Simulation
    from mailsim.sim.mta import MTANode

__all__ = ["Fetcher", "Submitter"]


class Submitter:
    """Turn workload arrivals into SMTP transactions at the right MTA."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.users = {user.address.lower(): user for user in sim.scenario.users}
        self._routes: dict[tuple[str, str, str, str], _Route] = {}

    def _route(self, arrival: Arrival) -> _Route:
        """Work out (once per sender and override) where and how the client connects."""
        user = self.users.get(arrival.sender.lower())
        client_address = arrival.client_address or (user.client_address if user else "")
        target_name = arrival.connect_to or (user.submit_host or user.host if user else "")
        service = arrival.service or (user.submit_service if user else "smtp")
        sasl = user.address if user is not None and user.sasl and service == "submission" else ""
        client_name = user.address if user is not None else f"[{client_address}]"
        target = self.sim.nodes[target_name]
        delay = self.sim.network.latency(client_address, target_name)
        label = f"{client_name}[{client_address}]"
        return (client_name, client_address, target, target_name, service, sasl, delay, label)

    def submit(self, arrival: Arrival) -> None:
        sim = self.sim
        key = (arrival.sender, arrival.client_address, arrival.connect_to, arrival.service)
        route = self._routes.get(key)
        if route is None:
            route = self._routes[key] = self._route(arrival)
        client_name, client_address, target, target_name, service, sasl, delay, label = route
        sim.log.append(
            (
                sim.env._now,
                client_name,
                "client",
                "submit",
                arrival.msg,
                0,
                arrival.sender,
                "",
                arrival.size,
                "",
                target_name,
                f"{service} nrcpt={len(arrival.recipients)}",
            )
        )
        tx = SMTPTransaction(
            arrival.msg,
            arrival.sender,
            arrival.recipients,
            arrival.size,
            client_name,
            client_address,
            sasl,
            label,
            headers=arrival.headers,
        )
        if delay > 0:
            simpy.events.Timeout(sim.env, delay, tx).callbacks.append(target.receive_event)
        else:
            target.receive(tx)


_Route = tuple[str, str, "MTANode", str, str, str, float, str]


class Fetcher:
    """One user's mail client polling its mailbox by POP3 or IMAP."""

    def __init__(self, sim: Simulation, user: User, server: MTANode) -> None:
        assert user.fetch is not None
        self.sim = sim
        self.user = user
        self.server = server
        self.protocol = user.fetch.protocol
        self.interval = user.fetch.interval
        daemon = "pop3d" if self.protocol == "pop3" else "imapd"
        self.daemon = daemon
        self._generator = sim.streams.generator(f"client/{user.address}")
        self.stage = server.fetch_stage(daemon)

    def run(self) -> Generator[simpy.Event, Any, None]:
        env = self.sim.env
        yield env.timeout(float(self._generator.uniform(0.0, self.interval)))
        mailbox = self.sim.mailbox(self.user.address, self.server)
        while True:
            new = mailbox.take_unseen()
            if new:
                done = env.event()
                self.stage.arrive((self, new, done))
                yield done
                if self.protocol == "pop3":
                    mailbox.expunge_seen()
            yield env.timeout(self.interval)

    def retrieved(self, messages: list[StoredMessage]) -> None:
        sim = self.sim
        relay = self.user.client_address or self.user.address
        for stored in messages:
            sim.log.append(
                (
                    sim.env.now,
                    self.server.name,
                    self.daemon,
                    "fetched",
                    stored.msg,
                    0,
                    "",
                    self.user.address,
                    stored.size,
                    "",
                    relay,
                    self.protocol,
                )
            )


def fetch_stage(
    node: MTANode, daemon: str
) -> TimedStage[tuple[Fetcher, list[StoredMessage], simpy.Event]]:
    """Build the POP3 or IMAP server stage of ``node``: one service time per message plus the
    transfer of the bytes to the client."""
    network = node.sim.network

    def started(job: tuple[Fetcher, list[StoredMessage], simpy.Event]) -> float:
        fetcher, messages, _ = job
        size = sum(m.size for m in messages)
        per_message = node.host.capacity.of(daemon).mean * (len(messages) - 1)
        return per_message + network.transfer_time(
            fetcher.user.client_address or fetcher.user.address, node.name, size
        )

    def done(job: tuple[Fetcher, list[StoredMessage], simpy.Event]) -> None:
        fetcher, messages, event = job
        fetcher.retrieved(messages)
        event.succeed()

    return TimedStage(
        node.env,
        f"{node.name}/{daemon}",
        node.host.postfix.integer("default_process_limit"),
        node.sampler(daemon),
        done=done,
        started=started,
    )
