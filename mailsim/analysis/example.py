"""Hand-made event logs: a builder, and a five-message story that shows every outcome.

:class:`Story` writes the rows one hop at a time with the schema's conventions (message-level
queue transitions without recipient, outcomes with one), so tests, docs and lessons can state a
log in a few lines and predict every table exactly.

:func:`example_eventlog` is the story the docs and tests use. Two MTAs, ``neo.firma1.intr``
(firma1's server, where alice submits) and ``mx.firma2.intr``; alice's mail client is the node
``alice@firma1.intr``. In scenario seconds:

- m1 (1000 B) to bob@firma2.intr: relayed neo -> mx, delivered at 3.5, fetched by POP3 at 60;
- m2 (2000 B) to carol@firma1.intr (local, delivered at 11.5) and dave@firma2.intr: mx refuses
  connections, so dave is deferred at 12 and the message waits 300 s in neo's deferred queue;
  the retry at 312 relays it and dave gets it at 315;
- m3 (300 B) to nobody@firma1.intr: refused by neo's smtpd with 5.1.1 (user unknown) at 20.3;
- m4 (500 B) to frank@firma3.intr: bounced by neo at 31 (5.4.4, no such domain);
- m5 (700 B) to gina@firma2.intr: deferred at 41 and still in neo's deferred queue at the end.
"""

from __future__ import annotations

from mailsim.eventlog import EventLog

__all__ = ["ALICE", "MX", "NEO", "RELAY_MX", "Story", "example_eventlog"]

NEO = "neo.firma1.intr"
MX = "mx.firma2.intr"
ALICE = "alice@firma1.intr"
RELAY_MX = "mx.firma2.intr[195.113.107.10]:25"
_REFUSED = "connect to mx.firma2.intr[195.113.107.10]:25: Connection refused"


class Story:
    """Append the events of hand-made mail journeys to an :class:`EventLog`."""

    def __init__(self, sender: str = ALICE, client: str = ALICE) -> None:
        self.log = EventLog()
        self.sender = sender
        self.client = client

    def submit(self, t: float, msg: int, size: int = 0) -> None:
        """The client starts to hand message ``msg`` to its MTA."""
        self.log.emit(t, self.client, "client", "submit", msg=msg, sender=self.sender, size=size)

    def connect(self, t: float, node: str, msg: int, client: str = "") -> None:
        """An smtpd process of ``node`` takes the connection (``client``: "name[address]")."""
        self.log.emit(t, node, "smtpd", "connect", msg=msg, relay=client)

    def received(self, t: float, node: str, msg: int, qid: int, size: int = 0) -> None:
        """smtpd of ``node`` accepts the message as queue file ``qid``."""
        self.log.emit(t, node, "smtpd", "received", msg, qid, self.sender, size=size)

    def queue(self, t: float, node: str, event: str, msg: int, qid: int) -> None:
        """A message-level queue transition: queued, active, deferred, removed, expired."""
        daemon = "cleanup" if event == "queued" else "qmgr"
        self.log.emit(t, node, daemon, event, msg, qid, self.sender)

    def accept(
        self, times: tuple[float, float, float, float], node: str, msg: int, qid: int
    ) -> None:
        """Emit connect, received, queued and active at the four ``times``."""
        self.connect(times[0], node, msg)
        self.received(times[1], node, msg, qid)
        self.queue(times[2], node, "queued", msg, qid)
        self.queue(times[3], node, "active", msg, qid)

    def outcome(
        self,
        t: float,
        node: str,
        event: str,
        msg: int,
        qid: int,
        rcpt: str,
        dsn: str = "2.0.0",
        relay: str = "local",
        detail: str = "",
    ) -> None:
        """One recipient's sent/delivered/deferred/bounced (daemon from the relay)."""
        daemon = "local" if relay == "local" else "smtp"
        self.log.emit(t, node, daemon, event, msg, qid, self.sender, rcpt, 0, dsn, relay, detail)

    def reject(self, t: float, node: str, msg: int, rcpt: str = "", dsn: str = "5.1.1") -> None:
        """smtpd refuses one recipient, or the whole message when ``rcpt`` is empty."""
        self.log.emit(t, node, "smtpd", "reject", msg, 0, self.sender, rcpt, 0, dsn)

    def fetched(self, t: float, node: str, msg: int, rcpt: str, daemon: str = "pop3d") -> None:
        """The recipient's mail client retrieves the message from ``node``."""
        self.log.emit(t, node, daemon, "fetched", msg=msg, recipient=rcpt)


def example_eventlog() -> EventLog:
    """Return the five-message log described in the module docstring."""
    story = Story()
    log = story.log
    story.submit(0.0, 1, 1000)
    story.accept((0.5, 1.0, 1.2, 1.5), NEO, 1, 1)
    log.emit(1.6, NEO, "dns", "dns_query", 1, 1, detail="MX firma2.intr: mx.firma2.intr")
    story.connect(2.0, MX, 1, client="neo.firma1.intr[195.113.106.10]")
    story.received(2.4, MX, 1, 1)
    story.outcome(2.5, NEO, "sent", 1, 1, "bob@firma2.intr", relay=RELAY_MX)
    story.queue(2.5, NEO, "removed", 1, 1)
    story.queue(2.6, MX, "queued", 1, 1)
    story.queue(3.0, MX, "active", 1, 1)
    story.outcome(3.5, MX, "delivered", 1, 1, "bob@firma2.intr")
    story.queue(3.5, MX, "removed", 1, 1)

    story.submit(10.0, 2, 2000)
    story.accept((10.0, 10.5, 10.6, 11.0), NEO, 2, 2)
    story.outcome(11.5, NEO, "delivered", 2, 2, "carol@firma1.intr")
    story.outcome(12.0, NEO, "deferred", 2, 2, "dave@firma2.intr", "4.4.1", RELAY_MX, _REFUSED)
    story.queue(12.0, NEO, "deferred", 2, 2)

    story.submit(20.0, 3, 300)
    story.connect(20.2, NEO, 3)
    story.reject(20.3, NEO, 3, "nobody@firma1.intr", "5.1.1")

    story.submit(30.0, 4, 500)
    story.accept((30.1, 30.4, 30.5, 30.8), NEO, 4, 3)
    story.outcome(31.0, NEO, "bounced", 4, 3, "frank@firma3.intr", "5.4.4", "none")
    story.queue(31.0, NEO, "removed", 4, 3)

    story.submit(40.0, 5, 700)
    story.accept((40.0, 40.3, 40.4, 40.6), NEO, 5, 4)
    story.outcome(41.0, NEO, "deferred", 5, 4, "gina@firma2.intr", "4.4.1", RELAY_MX, _REFUSED)
    story.queue(41.0, NEO, "deferred", 5, 4)

    story.fetched(60.0, MX, 1, "bob@firma2.intr")

    story.queue(312.0, NEO, "active", 2, 2)
    story.connect(313.0, MX, 2, client="neo.firma1.intr[195.113.106.10]")
    story.received(313.5, MX, 2, 2)
    story.outcome(314.0, NEO, "sent", 2, 2, "dave@firma2.intr", relay=RELAY_MX)
    story.queue(314.0, NEO, "removed", 2, 2)
    story.queue(314.2, MX, "queued", 2, 2)
    story.queue(314.5, MX, "active", 2, 2)
    story.outcome(315.0, MX, "delivered", 2, 2, "dave@firma2.intr")
    story.queue(315.0, MX, "removed", 2, 2)
    return log
