"""A mail client for the live lab, in one call each: what a notebook cell does with it.

These are the steps the lecture shows in telnet, done by Python's own clients (smtplib,
poplib) the way a configured MUA does them: submission on port 587 with STARTTLS (RFC 3207)
and AUTH (RFC 4954) as the scenario's user, trusting the lab CA; POP3 with STLS (RFC 2595),
USER/PASS, RETR of every message and, if asked, DELE before QUIT (RFC 1939). Each user's
host and password come from the scenario, so a cell only names the user.
"""

from __future__ import annotations

import email
import email.policy
import poplib
import smtplib
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from mailsim.scenario.model import User

if TYPE_CHECKING:
    from mailsim.live.background import BackgroundLab

__all__ = ["fetch_pop3", "refusal_of", "send_mail"]

#: A guard for each client operation (seconds); the lab answers in milliseconds.
CLIENT_TIMEOUT_S = 30.0


def _user(lab: BackgroundLab, address: str) -> User:
    for user in lab.lab.scenario.users:
        if user.address.lower() == address.lower():
            return user
    raise KeyError(f"{address!r} is not a user of scenario {lab.lab.scenario.name!r}")


def send_mail(
    lab: BackgroundLab,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    body: str,
    *,
    password: str | None = None,
) -> str:
    """Submit a message as ``sender`` (a scenario user) to its host's submission service:
    EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT..., DATA. Return the server's final reply
    (``250 2.0.0 Ok: queued as ...``); a refusal raises smtplib's exception, with the reply."""
    user = _user(lab, sender)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, ", ".join(recipients), subject
    message.set_content(body)
    host = user.host
    with smtplib.SMTP(
        lab.address(host), lab.ports[host]["submission"], timeout=CLIENT_TIMEOUT_S
    ) as smtp:
        smtp.starttls(context=lab.client_context())
        smtp.login(sender, password if password is not None else user.password)
        smtp.mail(sender)
        for recipient in recipients:
            code, text = smtp.rcpt(recipient)
            if code >= 400:
                raise smtplib.SMTPRecipientsRefused({recipient: (code, text)})
        code, text = smtp.data(message.as_bytes(policy=email.policy.SMTP))
        return f"{code} {text.decode('utf-8', 'replace')}"


def fetch_pop3(
    lab: BackgroundLab, address: str, *, password: str | None = None, delete: bool = False
) -> list[EmailMessage]:
    """Fetch every message of ``address``'s maildrop over POP3 with STLS; with ``delete``,
    DELE each one (removed when QUIT commits the session, RFC 1939 section 6)."""
    user = _user(lab, address)
    host = user.host
    pop = poplib.POP3(lab.address(host), lab.ports[host]["pop3"], timeout=CLIENT_TIMEOUT_S)
    try:
        pop.stls(context=lab.client_context())
        pop.user(address)
        pop.pass_(password if password is not None else user.password)
        count, _size = pop.stat()
        messages = []
        for number in range(1, count + 1):
            lines = pop.retr(number)[1]
            parsed = email.message_from_bytes(b"\r\n".join(lines), policy=email.policy.default)
            messages.append(parsed)
            if delete:
                pop.dele(number)
    finally:
        pop.quit()
    return messages


def refusal_of(attempt: Callable[[], Any]) -> str:
    """Run ``attempt`` (a :func:`send_mail` call) and return the server's refusal as the
    reply line it sent (``550 5.1.1 <...>: Recipient address rejected: ...``); raise
    AssertionError if the server accepted."""
    try:
        attempt()
    except smtplib.SMTPRecipientsRefused as refused:
        code, text = next(iter(refused.recipients.values()))
        return f"{code} {text.decode('utf-8', 'replace')}"
    except smtplib.SMTPResponseException as error:
        raw: bytes | str = error.smtp_error
        said = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        return f"{error.smtp_code} {said}"
    raise AssertionError("the server accepted: there is no refusal to show")
