"""SMTPReply: the reply lines Postfix 3.x sends and logs."""

from __future__ import annotations

import pytest

from mailsim.policy import reply
from mailsim.policy.reply import SMTPReply


def test_str_is_the_reply_line() -> None:
    """RFC 5321 4.2 reply line with the RFC 3463 status in front of the text, as Postfix
    sends it; a reply without a status (the greeting, 354) has none."""
    assert str(reply.R250_OK) == "250 2.0.0 Ok"
    assert str(reply.R221_BYE) == "221 2.0.0 Bye"
    assert str(reply.R354_START_DATA) == "354 End data with <CR><LF>.<CR><LF>"
    assert str(reply.banner("neo.firma1.intr ESMTP mailsim")) == "220 neo.firma1.intr ESMTP mailsim"


@pytest.mark.parametrize(
    ("code", "ok", "temporary", "permanent"),
    [
        (220, True, False, False),
        (354, True, False, False),
        (450, False, True, False),
        (554, False, False, True),
    ],
)
def test_reply_classes(code: int, ok: bool, temporary: bool, permanent: bool) -> None:
    """RFC 5321 4.2.1: 2yz/3yz positive, 4yz transient negative, 5yz permanent negative."""
    r = SMTPReply(code, "", "x")
    assert (r.ok, r.temporary, r.permanent) == (ok, temporary, permanent)


def test_reject_makes_the_status_class_follow_the_code() -> None:
    """smtpd_check_reject(): "enforce consistency between the SMTP code and DSN code"."""
    assert SMTPReply.reject(450, "5.1.1", "t") == SMTPReply(450, "4.1.1", "t")
    assert SMTPReply.reject(550, "4.7.1", "t") == SMTPReply(550, "5.7.1", "t")


def test_reject_with_a_non_error_code_becomes_service_unavailable() -> None:
    """smtpd_check_reject(): a configured code outside 4xx/5xx is replaced, with a warning,
    by "450 4.7.1 Service unavailable"."""
    assert str(SMTPReply.reject(250, "5.1.1", "t")) == "450 4.7.1 Service unavailable"


def test_factories_quote_the_address_like_smtpd() -> None:
    """Texts from smtpd_check.c (and the reference log)."""
    assert str(reply.relay_denied("x@firma9.intr")) == (
        "554 5.7.1 <x@firma9.intr>: Relay access denied"
    )
    assert str(reply.relay_denied("x@firma9.intr", 454)) == (
        "454 4.7.1 <x@firma9.intr>: Relay access denied"
    )
    assert str(reply.unknown_local_user("nosuch@firma1.intr", 550)) == (
        "550 5.1.1 <nosuch@firma1.intr>: Recipient address rejected: "
        "User unknown in local recipient table"
    )
    assert str(reply.queued("AE0F916003C")) == "250 2.0.0 Ok: queued as AE0F916003C"


def test_local_delivery_texts() -> None:
    """local(8) status texts (unknown.c, alias.c, mailbox.c)."""
    assert str(reply.local_unknown_user("nosuch")) == '550 5.1.1 unknown user: "nosuch"'
    assert str(reply.alias_loop("a")) == "550 5.4.6 alias database loop for a"
    assert reply.mailbox_full("/var/mail/erin", "erin").dsn == "5.2.2"


def test_session_replies() -> None:
    """smtpd.c protocol replies."""
    assert str(reply.timeout("neo.firma1.intr")) == (
        "421 4.4.2 neo.firma1.intr Error: timeout exceeded"
    )
    assert str(reply.too_many_errors("neo.firma1.intr")) == (
        "421 4.7.0 neo.firma1.intr Error: too many errors"
    )
    assert str(reply.R503_NEED_RCPT) == "503 5.5.1 Error: need RCPT command"
    assert str(reply.R452_TOO_MANY_RECIPIENTS) == "452 4.5.3 Error: too many recipients"


def test_replies_are_immutable_and_hashable() -> None:
    """Frozen records (STYLE.md): safe to share and to use as cache keys."""
    with pytest.raises(AttributeError):
        reply.R250_OK.code = 251  # type: ignore[misc]
    assert len({reply.R250_OK, SMTPReply(250, "2.0.0", "Ok")}) == 1
