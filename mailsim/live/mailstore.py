"""The contract of the live mailbox store: one API for the MDA, POP3 and (later) IMAP.

A host's mail lives under one directory (``MailStore.root``); each user has a mailbox in the
host's ``mailbox_format`` (Dovecot's mail_location: ``maildir`` or ``mbox``). Messages carry a
persistent UID (RFC 3501 UIDVALIDITY/UIDNEXT; POP3's UIDL derives from it) that survives restarts.
Delivery is durable: ``deliver`` returns only after the message is on disk (written, fsynced and
renamed into place), so an SMTP server may answer 250 after it.

Implementations: :mod:`mailsim.live.maildir` and :mod:`mailsim.live.mbox`; both satisfy
:class:`Mailbox`. This module holds only the shared records and protocols.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

__all__ = ["MailboxBusy", "Mailbox", "MailStore", "StoredMessage"]


class MailboxBusy(Exception):
    """Another session holds the mailbox's exclusive lock (POP3 answers ``-ERR [IN-USE]``)."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message in a mailbox folder.

    ``key`` identifies it inside its mailbox (a Maildir base name, an mbox message number's
    stable key); ``size`` is its size in octets with CRLF line endings, as POP3 (RFC 1939 STAT,
    LIST) and IMAP (RFC822.SIZE) count it; ``flags`` are Maildir info letters (``S`` seen,
    ``R`` replied, ``F`` flagged, ``T`` trashed, ``D`` draft); ``internal_date`` POSIX seconds.
    """

    uid: int
    key: str
    size: int
    flags: frozenset[str] = frozenset()
    internal_date: float = 0.0


class Mailbox(Protocol):
    """A user's mailbox: an INBOX (folder ``""``) and optional sub-folders (``.Spam``)."""

    @property
    def uidvalidity(self) -> int: ...

    def uidnext(self, folder: str = "") -> int: ...

    def deliver(
        self, data: bytes, *, folder: str = "", flags: Iterable[str] = (), when: float | None = None
    ) -> StoredMessage:
        """Store ``data`` (any line endings; stored with LF, counted with CRLF) durably and return
        its record. Creates the folder on first use."""
        ...

    def messages(self, folder: str = "") -> list[StoredMessage]:
        """The folder's messages in UID order (a fresh scan: sees other sessions' changes)."""
        ...

    def read(self, key: str, folder: str = "") -> bytes:
        """The message as stored, with CRLF line endings (ready for RETR / FETCH)."""
        ...

    def delete(self, keys: Iterable[str], folder: str = "") -> None:
        """Remove messages for good (POP3 UPDATE state, IMAP EXPUNGE); durable on return."""
        ...

    def set_flags(self, key: str, flags: Iterable[str], folder: str = "") -> StoredMessage: ...

    def size(self) -> int:
        """Bytes used by the whole mailbox (what mailbox_size_limit is checked against)."""
        ...

    def folders(self) -> list[str]: ...

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the mailbox for one session (POP3, RFC 1939 section 8: one session per
        maildrop); raise :class:`MailboxBusy` at once if another session holds it."""
        ...


class MailStore(Protocol):
    """All mailboxes of one host."""

    def mailbox(self, user: str) -> Mailbox:
        """The mailbox of local user ``user`` (created empty on first use)."""
        ...

    def users(self) -> Iterator[str]: ...
