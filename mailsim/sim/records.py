"""Mutable per-message state the simulation passes between stages (hot path: plain slots)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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
    replies: dict[str, SMTPReply] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.client_label:
            # Postfix's client name[address] form, used in every smtpd event of the session
            self.client_label = f"{self.client_name}[{self.client_address}]"


@dataclass(slots=True, eq=False)
class QueueFile:
    """A message in one MTA's queue (Postfix: a queue file, named by its queue id).

    ``pending`` are the recipients still to deliver in this round; ``deferred`` those that failed
    temporarily; ``outstanding`` the delivery jobs not yet finished.
    """

    msg: int
    qid: int
    sender: str
    size: int
    recipients: list[str]
    queued_at: float
    orig_to: dict[str, str] = field(default_factory=dict)
    deferred: list[str] = field(default_factory=list)
    outstanding: int = 0
    next_retry: float = 0.0


@dataclass(slots=True, eq=False)
class DeliveryJob:
    """Recipients of one queue file going to one (transport, nexthop) in one attempt."""

    queue_file: QueueFile
    transport: str
    nexthop: str
    recipients: list[str]
