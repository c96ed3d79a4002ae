"""A user's mailbox in the simulation: what the MDA wrote and the client has not yet taken.

Messages are kept as three parallel arrays (message id, size, delivery time) rather than one
object each: a mailbox nobody empties (a scenario without fetching clients) holds every message
of the run, and a million objects would cost a hundred megabytes.
"""

from __future__ import annotations

from array import array
from typing import NamedTuple

__all__ = ["Mailbox", "StoredMessage"]


class StoredMessage(NamedTuple):
    """A message in a mailbox, as handed to the client that fetches it."""

    msg: int
    size: int
    delivered_at: float


class Mailbox:
    """Messages in one user's mailbox on ``host``; ``size`` counts bytes against
    mailbox_size_limit (POP3 clients delete what they fetch, IMAP clients keep it)."""

    __slots__ = ("_msgs", "_sizes", "_times", "address", "host", "size", "unseen")

    def __init__(self, address: str, host: str) -> None:
        self.address = address
        self.host = host
        self.size = 0
        self.unseen = 0
        self._msgs: array[int] = array("q")
        self._sizes: array[int] = array("q")
        self._times: array[float] = array("d")

    def __len__(self) -> int:
        return len(self._msgs)

    def add(self, msg: int, size: int, now: float) -> None:
        self._msgs.append(msg)
        self._sizes.append(size)
        self._times.append(now)
        self.size += size

    @property
    def messages(self) -> list[StoredMessage]:
        """Every message in the mailbox, oldest first."""
        return [
            StoredMessage(*row) for row in zip(self._msgs, self._sizes, self._times, strict=True)
        ]

    def take_unseen(self) -> list[StoredMessage]:
        """Return messages the client has not fetched yet and mark them seen."""
        start = self.unseen
        self.unseen = len(self._msgs)
        return [
            StoredMessage(*row)
            for row in zip(
                self._msgs[start:], self._sizes[start:], self._times[start:], strict=True
            )
        ]

    def expunge_seen(self) -> None:
        """Delete every seen message (POP3 DELE + QUIT)."""
        seen = self.unseen
        self.size -= sum(self._sizes[:seen])
        del self._msgs[:seen]
        del self._sizes[:seen]
        del self._times[:seen]
        self.unseen = 0
