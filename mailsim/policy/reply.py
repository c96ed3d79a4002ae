"""SMTP replies with the exact codes, enhanced status codes and texts Postfix 3.x sends.

Every reply of the policy layer is an :class:`SMTPReply`; both engines log and send it as it is,
so a simulated node and a live node say the same words. Constants are named after their code
(``R552_MESSAGE_TOO_BIG``); replies that quote an address or a path are built by factories.
Texts follow smtpd(8) (smtpd.c, smtpd_check.c) and local(8) (mailbox.c, maildir.c, alias.c,
unknown.c); the reference log in ``shared/data/postfix-logs`` shows them in use.

local(8) results have no SMTP code of their own; they carry the code a remote server would have
used for the same enhanced status (552 for 5.2.2, 550 otherwise), so that ``ok``, ``temporary``
and ``permanent`` work the same for every outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "R221_BYE",
    "R235_AUTH_OK",
    "R250_OK",
    "R250_RECIPIENT_OK",
    "R250_SENDER_OK",
    "R354_START_DATA",
    "R450_SERVICE_UNAVAILABLE",
    "R451_CONFIG_ERROR",
    "R451_QUEUE_WRITE_ERROR",
    "R452_INSUFFICIENT_STORAGE",
    "R452_TOO_MANY_RECIPIENTS",
    "R501_BAD_RECIPIENT_SYNTAX",
    "R501_BAD_SENDER_SYNTAX",
    "R502_UNKNOWN_COMMAND",
    "R503_NEED_MAIL",
    "R503_NEED_RCPT",
    "R503_NESTED_MAIL",
    "R530_STARTTLS_FIRST",
    "R535_AUTH_FAILED",
    "R552_MESSAGE_TOO_BIG",
    "R554_NO_VALID_RECIPIENTS",
    "SMTPReply",
    "access_denied",
    "alias_loop",
    "banner",
    "domain_not_found",
    "local_unknown_user",
    "mailbox_full",
    "maildir_full",
    "need_fqdn",
    "queued",
    "relay_denied",
    "timeout",
    "too_many_errors",
    "try_again_later",
    "unknown_local_user",
]


@dataclass(frozen=True, slots=True)
class SMTPReply:
    """One reply: ``code`` (RFC 5321 4.2), ``dsn`` (RFC 3463 enhanced status, may be empty) and
    ``text``. ``str(reply)`` is the reply line as sent, without CRLF."""

    code: int
    dsn: str
    text: str

    @property
    def ok(self) -> bool:
        """True for a positive reply (1xx, 2xx, 3xx)."""
        return self.code < 400

    @property
    def temporary(self) -> bool:
        """True for a transient negative reply (4xx): the client should try again later."""
        return 400 <= self.code < 500

    @property
    def permanent(self) -> bool:
        """True for a permanent negative reply (5xx): the client must not retry as it is."""
        return self.code >= 500

    def __str__(self) -> str:
        if self.dsn:
            return f"{self.code} {self.dsn} {self.text}"
        return f"{self.code} {self.text}"

    @classmethod
    def reject(cls, code: int, dsn: str, text: str) -> SMTPReply:
        """Build a rejection the way smtpd_check_reject() does.

        A configured code outside 400-599 becomes ``450 4.7.1 Service unavailable``, and the
        class digit of the enhanced status follows the SMTP code ("SMTP has the higher
        precedence"), so unknown_local_recipient_reject_code = 450 gives ``450 4.1.1``.
        """
        if not 400 <= code <= 599:
            return R450_SERVICE_UNAVAILABLE
        return cls(code, str(code)[0] + dsn[1:], text)


R221_BYE = SMTPReply(221, "2.0.0", "Bye")
R235_AUTH_OK = SMTPReply(235, "2.7.0", "Authentication successful")
R250_OK = SMTPReply(250, "2.0.0", "Ok")
R250_SENDER_OK = SMTPReply(250, "2.1.0", "Ok")
R250_RECIPIENT_OK = SMTPReply(250, "2.1.5", "Ok")
R354_START_DATA = SMTPReply(354, "", "End data with <CR><LF>.<CR><LF>")
R450_SERVICE_UNAVAILABLE = SMTPReply(450, "4.7.1", "Service unavailable")
R451_CONFIG_ERROR = SMTPReply(451, "4.3.5", "Server configuration error")
R451_QUEUE_WRITE_ERROR = SMTPReply(451, "4.3.0", "Error: queue file write error")
R452_INSUFFICIENT_STORAGE = SMTPReply(452, "4.3.1", "Insufficient system storage")
R452_TOO_MANY_RECIPIENTS = SMTPReply(452, "4.5.3", "Error: too many recipients")
R501_BAD_RECIPIENT_SYNTAX = SMTPReply(501, "5.1.3", "Bad recipient address syntax")
R501_BAD_SENDER_SYNTAX = SMTPReply(501, "5.1.7", "Bad sender address syntax")
R502_UNKNOWN_COMMAND = SMTPReply(502, "5.5.2", "Error: command not recognized")
R503_NEED_MAIL = SMTPReply(503, "5.5.1", "Error: need MAIL command")
R503_NEED_RCPT = SMTPReply(503, "5.5.1", "Error: need RCPT command")
R503_NESTED_MAIL = SMTPReply(503, "5.5.1", "Error: nested MAIL command")
R530_STARTTLS_FIRST = SMTPReply(530, "5.7.0", "Must issue a STARTTLS command first")
R535_AUTH_FAILED = SMTPReply(535, "5.7.8", "Error: authentication failed: authentication failure")
R552_MESSAGE_TOO_BIG = SMTPReply(552, "5.3.4", "Message size exceeds fixed limit")
R554_NO_VALID_RECIPIENTS = SMTPReply(554, "5.5.1", "Error: no valid recipients")


# -- smtpd(8) ---------------------------------------------------------------------------------
def banner(text: str) -> SMTPReply:
    """Return the greeting: ``220`` and the expanded smtpd_banner (no enhanced status)."""
    return SMTPReply(220, "", text)


def queued(queue_id: str) -> SMTPReply:
    """Return the reply to the end of DATA once cleanup(8) has written the queue file."""
    return SMTPReply(250, "2.0.0", f"Ok: queued as {queue_id}")


def timeout(hostname: str) -> SMTPReply:
    """Return the reply smtpd sends before it drops an idle client (smtpd_timeout)."""
    return SMTPReply(421, "4.4.2", f"{hostname} Error: timeout exceeded")


def too_many_errors(hostname: str) -> SMTPReply:
    """Return the reply smtpd sends at smtpd_hard_error_limit before disconnecting."""
    return SMTPReply(421, "4.7.0", f"{hostname} Error: too many errors")


def relay_denied(recipient: str, code: int = 554) -> SMTPReply:
    """Return reject_unauth_destination's reply (code: relay_domains_reject_code).

    defer_unauth_destination passes ``relay_domains_reject_code - 100``, which gives
    ``454 4.7.1 <rcpt>: Relay access denied``.
    """
    return SMTPReply.reject(code, "5.7.1", f"<{recipient}>: Relay access denied")


def unknown_local_user(recipient: str, code: int = 550, show_table: bool = True) -> SMTPReply:
    """Return the reply for a local-domain recipient missing from local_recipient_maps.

    ``code`` is unknown_local_recipient_reject_code; ``show_table`` is
    show_user_unknown_table_name (postconf(5)).
    """
    table = " in local recipient table" if show_table else ""
    return SMTPReply.reject(
        code, "5.1.1", f"<{recipient}>: Recipient address rejected: User unknown{table}"
    )


def access_denied(recipient: str, code: int = 554) -> SMTPReply:
    """Return the reply of the ``reject`` restriction (code: reject_code)."""
    return SMTPReply.reject(
        code, "5.7.1", f"<{recipient}>: Recipient address rejected: Access denied"
    )


def try_again_later(recipient: str, code: int = 450) -> SMTPReply:
    """Return the reply of the ``defer`` restriction (code: defer_code)."""
    return SMTPReply.reject(
        code, "4.7.1", f"<{recipient}>: Recipient address rejected: Try again later"
    )


def domain_not_found(recipient: str, code: int = 450) -> SMTPReply:
    """Return reject_unknown_recipient_domain's reply (code: unknown_address_reject_code)."""
    return SMTPReply.reject(
        code, "4.1.2", f"<{recipient}>: Recipient address rejected: Domain not found"
    )


def need_fqdn(recipient: str, code: int = 504) -> SMTPReply:
    """Return reject_non_fqdn_recipient's reply (code: non_fqdn_reject_code)."""
    return SMTPReply.reject(
        code, "5.5.2", f"<{recipient}>: Recipient address rejected: need fully-qualified address"
    )


# -- local(8) ---------------------------------------------------------------------------------
def mailbox_full(path: str, user: str) -> SMTPReply:
    """Return local(8)'s bounce when an mbox append hits mailbox_size_limit (EFBIG)."""
    return SMTPReply(
        552,
        "5.2.2",
        f"cannot update mailbox {path} for user {user}. error writing message: File too large",
    )


def maildir_full() -> SMTPReply:
    """Return local(8)'s bounce when one maildir file would exceed mailbox_size_limit."""
    return SMTPReply(552, "5.2.2", "maildir delivery failed: error writing message: File too large")


def local_unknown_user(user: str) -> SMTPReply:
    """Return local(8)'s bounce for a recipient with neither an account nor an alias."""
    return SMTPReply(550, "5.1.1", f'unknown user: "{user}"')


def alias_loop(name: str) -> SMTPReply:
    """Return local(8)'s bounce when alias expansion nests without end (alias.c)."""
    return SMTPReply(550, "5.4.6", f"alias database loop for {name}")
