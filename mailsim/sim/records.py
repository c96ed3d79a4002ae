"""Mutable per-message state the simulation passes between stages (hot path: plain slots)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailsim.eventlog import format_delays
from mailsim.policy import SMTPReply

__all__ = ["DeliveryJob", "QueueFile", "SessionResult", "SMTPTransaction"]


@dataclass(frozen=True, slots=True)
class SessionResult:
    """What an smtpd answered a client: one reply per recipient, and the queue id if queued."""

    replies: dict[str, SMTPReply]
    queue_id: str = ""


@dataclass(slots=True, eq=False)
class SMTPTransaction:
    """One message offered to an smtpd over one connection (one MAIL transaction)."""

    msg: int
    sender: str
    recipients: tuple[str, ...]
    size: int
    client_name: str
    client_address: str
    sasl_username: str = ""
    client_label: str = ""
    on_reply: Callable[[SessionResult], object] | None = None
    replies: dict[str, SMTPReply] | None = None
    #: when an smtpd process took the connection
    connected_at: float = 0.0
    #: message headers that matter to the model (Subject, List-Id, ...; MDA rules match them)
    headers: tuple[tuple[str, str], ...] = ()

    def label(self) -> str:
        """Postfix's ``name[address]`` form of the client, used in every smtpd event."""
        if not self.client_label:
            self.client_label = f"{self.client_name}[{self.client_address}]"
        return self.client_label


@dataclass(slots=True, eq=False)
class QueueFile:
    """A message in one MTA's queue (Postfix: a queue file, named by its queue id).

    ``recipients`` are the recipients to deliver in this round; ``deferred`` those that failed
    temporarily (None until one does); ``orig_to`` maps an alias-expanded recipient to the
    address it came from (None until one is); ``outstanding`` counts unfinished delivery jobs.
    """

    msg: int
    qid: int
    sender: str
    size: int
    recipients: list[str]
    queued_at: float
    #: when the message arrived at this MTA (smtpd took the connection; cleanup for local
    #: copies): the start of Postfix's delays=a/b/c/d
    arrived_at: float = 0.0
    #: when qmgr last moved it into the active queue (end of "a", start of "b")
    active_at: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    orig_to: dict[str, str] | None = None
    deferred: list[str] | None = None
    outstanding: int = 0
    next_retry: float = 0.0

    def defer(self, recipient: str) -> None:
        """Note that ``recipient`` failed temporarily in this round."""
        if self.deferred is None:
            self.deferred = []
        self.deferred.append(recipient)

    def note_orig_to(self, recipient: str, orig_to: str) -> None:
        """Remember the alias ``recipient`` was expanded from (logged as orig_to=<...>)."""
        if self.orig_to is None:
            self.orig_to = {}
        self.orig_to[recipient] = orig_to


@dataclass(slots=True, eq=False)
class DeliveryJob:
    """Recipients of one queue file going to one (transport, nexthop) in one attempt."""

    queue_file: QueueFile
    transport: str
    nexthop: str
    recipients: list[str]
    #: when a delivery agent process took the job (end of delays "b")
    started_at: float = 0.0
    #: when the agent had its connection set up (end of "c"; = started_at for local)
    connected_at: float = 0.0

    def delays(self, now: float) -> str:
        """Return Postfix's ``a/b/c/d`` split for an outcome logged at ``now`` (postconf(5)
        delay_logging_resolution_limit: values below 0.01 s print as 0)."""
        qf = self.queue_file
        return format_delays(
            qf.active_at - qf.arrived_at,
            self.started_at - qf.active_at,
            self.connected_at - self.started_at,
            now - self.connected_at,
        )
