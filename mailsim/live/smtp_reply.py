"""The live smtpd's protocol replies that the policy layer does not produce.

:mod:`mailsim.policy.reply` holds every reply that is a *decision* (restrictions, size, quota,
the banner, ``250 2.0.0 Ok: queued as ...``); this module holds the replies of the protocol
engine around them: syntax errors, command sequencing, STARTTLS, AUTH and connection limits.
The simulation never needs them because it does not parse bytes. Texts are Postfix 3.x's
(smtpd.c, smtpd_sasl_proto.c, smtpd_sasl_glue.c) with Dovecot SASL behind it
(xsasl_dovecot_server.c), except where RFC 5321 gives a reply Postfix does not send (line
limits, which Postfix silently truncates) and RFC 4954's ``530 5.7.0 Authentication required``
for the submission service. Replies that quote client input are built by factories.
"""

from __future__ import annotations

from mailsim.policy.reply import SMTPReply

__all__ = [
    "R220_READY_FOR_TLS",
    "R221_GOODBYE_FORBIDDEN",
    "R250_QUEUING_STARTED",
    "R451_INTERNAL_ERROR",
    "R454_TLS_UNAVAILABLE",
    "R500_BAD_SYNTAX",
    "R500_ETRN_SYNTAX",
    "R500_LINE_TOO_LONG",
    "R501_AUTH_ABORTED",
    "R501_AUTH_SYNTAX",
    "R501_BAD_SIZE",
    "R501_DATA_SYNTAX",
    "R501_ETRN_PARAMETER",
    "R501_MAIL_SYNTAX",
    "R501_RCPT_SYNTAX",
    "R501_STARTTLS_SYNTAX",
    "R501_VRFY_SYNTAX",
    "R502_NOT_IMPLEMENTED",
    "R502_VRFY_DISABLED",
    "R503_ALREADY_AUTHENTICATED",
    "R503_AUTH_NOT_ENABLED",
    "R503_ETRN_IN_TRANSACTION",
    "R503_IN_TRANSACTION",
    "R503_SEND_HELO",
    "R504_ENCRYPTION_REQUIRED",
    "R530_AUTH_REQUIRED",
    "R554_TLS_ACTIVE",
    "auth_failed",
    "etrn_denied",
    "relay_unavailable",
    "too_many_connections",
    "unsupported_option",
    "vrfy_result",
]

# -- session and syntax (smtpd.c smtpd_proto(), the *_cmd() functions) ------------------------
R500_BAD_SYNTAX = SMTPReply(500, "5.5.2", "Error: bad syntax")
#: RFC 5321 4.5.3.1.10 ("500 Line too long"); Postfix truncates instead (line_length_limit).
R500_LINE_TOO_LONG = SMTPReply(500, "5.5.2", "Error: line too long")
R501_MAIL_SYNTAX = SMTPReply(501, "5.5.4", "Syntax: MAIL FROM:<address>")
R501_RCPT_SYNTAX = SMTPReply(501, "5.5.4", "Syntax: RCPT TO:<address>")
R501_DATA_SYNTAX = SMTPReply(501, "5.5.4", "Syntax: DATA")
R501_VRFY_SYNTAX = SMTPReply(501, "5.5.4", "Syntax: VRFY address")
R501_BAD_SIZE = SMTPReply(501, "5.5.4", "Bad message size syntax")
R502_VRFY_DISABLED = SMTPReply(502, "5.5.1", "VRFY command is disabled")
R503_SEND_HELO = SMTPReply(503, "5.5.1", "Error: send HELO/EHLO first")
R503_IN_TRANSACTION = SMTPReply(503, "5.5.1", "Error: MAIL transaction in progress")
#: smtpd_forbidden_commands: a mail header or an HTTP verb sent as a command (pipelined or
#: smuggled message content) ends the session.
R221_GOODBYE_FORBIDDEN = SMTPReply(221, "2.7.0", "Error: I can break rules, too. Goodbye.")
#: The STYLE rule for a live session boundary: an unexpected error is logged and answered so.
R451_INTERNAL_ERROR = SMTPReply(451, "4.3.0", "Error: internal error")

# -- ETRN (RFC 1985; Postfix keeps these without enhanced status codes) -------------------------
R250_QUEUING_STARTED = SMTPReply(250, "", "Queuing started")
R500_ETRN_SYNTAX = SMTPReply(500, "", "Syntax: ETRN domain")
R501_ETRN_PARAMETER = SMTPReply(501, "", "Error: invalid parameter syntax")
R503_ETRN_IN_TRANSACTION = SMTPReply(503, "", "Error: MAIL transaction in progress")

# -- STARTTLS (RFC 3207) -------------------------------------------------------------------------
R220_READY_FOR_TLS = SMTPReply(220, "2.0.0", "Ready to start TLS")
R501_STARTTLS_SYNTAX = SMTPReply(501, "5.5.4", "Syntax: STARTTLS")
R502_NOT_IMPLEMENTED = SMTPReply(502, "5.5.1", "Error: command not implemented")
R454_TLS_UNAVAILABLE = SMTPReply(454, "4.7.0", "TLS not available due to local problem")
R554_TLS_ACTIVE = SMTPReply(554, "5.5.1", "Error: TLS already active")

# -- AUTH (RFC 4954; smtpd_sasl_proto.c, smtpd_sasl_glue.c) -------------------------------------
R501_AUTH_SYNTAX = SMTPReply(501, "5.5.4", "Syntax: AUTH mechanism")
R501_AUTH_ABORTED = SMTPReply(501, "5.7.0", "Authentication aborted")
R503_AUTH_NOT_ENABLED = SMTPReply(503, "5.5.1", "Error: authentication not enabled")
R503_ALREADY_AUTHENTICATED = SMTPReply(503, "5.5.1", "Error: already authenticated")
#: smtpd_tls_auth_only = yes before STARTTLS (RFC 4954 section 4).
R504_ENCRYPTION_REQUIRED = SMTPReply(
    504, "5.5.4", "Encryption required for requested authentication mechanism"
)
#: RFC 4954 section 6: a command other than AUTH, EHLO, HELO, NOOP, RSET or QUIT while the
#: service requires authentication (the submission and smtps services).
R530_AUTH_REQUIRED = SMTPReply(530, "5.7.0", "Authentication required")


def auth_failed(reason: str) -> SMTPReply:
    """Return smtpd_sasl_authenticate()'s failure reply with the SASL server's ``reason``
    (Dovecot's: ``Invalid base64 data in initial response``, ...)."""
    return SMTPReply(535, "5.7.8", f"Error: authentication failed: {reason}")


# -- factories quoting client input ---------------------------------------------------------------
def unsupported_option(option: str) -> SMTPReply:
    """Return mail_cmd()/rcpt_cmd()'s reply to an ESMTP parameter they do not know."""
    return SMTPReply(555, "5.5.4", f"Unsupported option: {option}")


def vrfy_result(address: str) -> SMTPReply:
    """Return vrfy_cmd()'s answer for an address the recipient checks accept (RFC 5321
    3.5.3: 252, "cannot verify, but will accept"), quoting the address as the client wrote it."""
    return SMTPReply(252, "2.0.0", address)


def etrn_denied(domain: str) -> SMTPReply:
    """Return etrn_cmd()'s reply for a domain outside fast_flush_domains (RFC 1985: 459)."""
    return SMTPReply(459, "", f"<{domain}>: service unavailable")


def too_many_connections(hostname: str, client: str) -> SMTPReply:
    """Return the greeting refused at smtpd_client_connection_count_limit (anvil(8))."""
    return SMTPReply(421, "4.7.0", f"{hostname} Error: too many connections from {client}")


def relay_unavailable(recipient: str) -> SMTPReply:
    """Return the deferral of a recipient the restrictions accept for relaying while this live
    node has no relay transport (queues and the smtp client come with a later issue): the
    client keeps the recipient and retries, nothing is accepted that cannot be delivered."""
    return SMTPReply(
        450, "4.3.2", f"<{recipient}>: Recipient address rejected: relay transport not available"
    )
