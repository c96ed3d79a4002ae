"""A user's mailbox in the simulation: what the MDA wrote and the client has not yet taken."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["Mailbox", "StoredMessage"]


class StoredMessage(NamedTuple):
    """A message in a mailbox (a NamedTuple: created once per delivery, so kept cheap)."""

    msg: int
    size: int
    delivered_at: float


@dataclass(slots=True, eq=False)
class Mailbox:
    """Messages in one user's mailbox on ``host``; ``size`` counts bytes against
    mailbox_size_limit (POP3 clients delete what they fetch, IMAP clients keep it)."""

    address: str
    host: str
    size: int = 0
    messages: list[StoredMessage] = field(default_factory=list)
    unseen: int = 0

    def add(self, msg: int, size: int, now: float) -> None:
        self.messages.append(StoredMessage(msg, size, now))
        self.size += size

    def take_unseen(self) -> list[StoredMessage]:
        """Return messages the client has not fetched yet and mark them seen."""
        new = self.messages[self.unseen :]
        self.unseen = len(self.messages)
        return new

    def expunge_seen(self) -> None:
        """Delete every seen message (POP3 DELE + QUIT)."""
        removed = self.messages[: self.unseen]
        self.size -= sum(m.size for m in removed)
        del self.messages[: self.unseen]
        self.unseen = 0
