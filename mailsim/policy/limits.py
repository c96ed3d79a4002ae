"""Size, quota, process and concurrency limits of one host (postconf(5), master(5)).

* message_size_limit: smtpd(8) refuses a MAIL FROM whose SIZE= exceeds it and cleanup(8) a
  message that turns out larger; both answer ``552 5.3.4 Message size exceeds fixed limit``
  (smtpd_check_size(), smtpd.c). 0 means no limit.
* mailbox_size_limit: local(8) writes with the file size limit set to it, so the write that
  would pass it fails with EFBIG. An mbox file holds the whole mailbox (``cannot update mailbox
  /var/mail/erin for user erin. error writing message: File too large``); a maildir holds one
  file per message, so only a single message larger than the limit fails there. 0 means no limit.
* Process limits: ``<service>_process_limit``, else default_process_limit; qmgr and pickup run
  as one process each (master.cf ``maxproc`` = 1).
* Destination concurrency: ``<transport>_destination_concurrency_limit``, else
  default_destination_concurrency_limit.
"""

from __future__ import annotations

from mailsim.policy.reply import (
    R250_OK,
    R250_SENDER_OK,
    R552_MESSAGE_TOO_BIG,
    SMTPReply,
    mailbox_full,
    maildir_full,
)
from mailsim.scenario.postfix import PostfixSettings

__all__ = ["HostLimits"]

#: Services master.cf runs as a single process whatever default_process_limit says.
SINGLE_PROCESS: frozenset[str] = frozenset({"qmgr", "pickup"})


class HostLimits:
    """The limits of one host, read once from its settings."""

    def __init__(self, settings: PostfixSettings, maildir: bool) -> None:
        self.settings = settings
        self.message_size_limit = settings.size("message_size_limit")
        self.mailbox_size_limit = settings.size("mailbox_size_limit")
        self.maildir = maildir
        self._process: dict[str, int] = {}
        self._concurrency: dict[str, int] = {}

    def check_declared_size(self, declared_size: int | None) -> SMTPReply:
        """Answer MAIL FROM with an optional SIZE= (RFC 1870) against message_size_limit."""
        if declared_size is not None and self._too_big(declared_size):
            return R552_MESSAGE_TOO_BIG
        return R250_SENDER_OK

    def check_message_size(self, size: int) -> SMTPReply:
        """Answer the end of DATA for a message of ``size`` bytes."""
        return R552_MESSAGE_TOO_BIG if self._too_big(size) else R250_OK

    def _too_big(self, size: int) -> bool:
        return 0 < self.message_size_limit < size

    def check_quota(self, mailbox_bytes: int, message_size: int, path: str, user: str) -> SMTPReply:
        """Answer whether local(8) can write ``message_size`` more bytes for ``user``.

        ``mailbox_bytes`` is the current mbox size (ignored for maildir, where every message is
        a new file); ``path`` is the mailbox as local(8) names it in the bounce.
        """
        limit = self.mailbox_size_limit
        if limit <= 0:
            return R250_OK
        if self.maildir:
            return maildir_full() if message_size > limit else R250_OK
        if mailbox_bytes + message_size > limit:
            return mailbox_full(path, user)
        return R250_OK

    def process_limit(self, daemon: str) -> int:
        """Return how many ``daemon`` processes master(8) runs at most."""
        found = self._process.get(daemon)
        if found is None:
            name = daemon.replace("-", "_")
            if name in SINGLE_PROCESS:
                found = 1
            else:
                key = f"{name}_process_limit"
                found = self.settings.integer(
                    key if key in self.settings else "default_process_limit"
                )
            self._process[daemon] = found
        return found

    def destination_concurrency_limit(self, transport: str) -> int:
        """Return the parallel deliveries qmgr(8) allows per destination of ``transport``."""
        found = self._concurrency.get(transport)
        if found is None:
            key = f"{transport}_destination_concurrency_limit"
            found = self.settings.integer(
                key if key in self.settings else "default_destination_concurrency_limit"
            )
            self._concurrency[transport] = found
        return found
