"""SMTP AUTH (RFC 4954): the SASL mechanisms PLAIN, LOGIN and CRAM-MD5 against the host's passdb.

The lecture's Postfix hands SASL to a separate server (saslauthd; today usually Dovecot, whose
reasons Postfix quotes after ``535 5.7.8 Error: authentication failed:``). This module plays
that server for the live smtpd, with the host's :class:`~mailsim.live.passdb.PassDB` (the one
the POP3 server uses): it runs one exchange over a :class:`SASLChannel` (the smtpd sends
``334`` challenges and reads the answers) and returns the login or raises
:class:`SASLFailure` carrying the reply.

* The mechanisms are the passdb's ``auth_mechanisms`` (PLAIN and LOGIN by default; CRAM-MD5
  when listed); any other is Dovecot's ``Invalid authentication mechanism``.
* PLAIN (RFC 4616): ``authzid NUL authcid NUL password``; an authorization identity other
  than the user's own is refused, as Dovecot does without master users.
* LOGIN (draft-murchison-sasl-login): ``Username:`` and ``Password:`` challenges; an initial
  response is the user name.
* CRAM-MD5 (RFC 2195): a ``<random.time@hostname>`` challenge and ``user HMAC-MD5 hex``.
* An initial response ``=`` is the empty response, ``*`` aborts (RFC 4954 section 4);
  malformed base64 fails the exchange with Dovecot's reason.
* PLAIN and LOGIN send the password itself: they go ahead only when the passdb allows a
  cleartext login for this client (:meth:`~mailsim.live.passdb.PassDB.cleartext_allowed`:
  over TLS, or from loopback when ``auth_allow_cleartext``), else Dovecot's refusal.

Password checks (PBKDF2) run in a worker thread, so other sessions are not held up.
"""

from __future__ import annotations

import asyncio
import binascii
import secrets
import time
from base64 import b64decode
from typing import Protocol

from mailsim.live.passdb import PassDB
from mailsim.live.smtp_reply import R501_AUTH_ABORTED, auth_failed
from mailsim.policy.reply import R535_AUTH_FAILED, SMTPReply

__all__ = ["PLAINTEXT_MECHANISMS", "SASLChannel", "SASLFailure", "authenticate", "mechanisms"]

#: Mechanisms that send the password itself (Dovecot's MECH_SEC_PLAINTEXT).
PLAINTEXT_MECHANISMS: frozenset[str] = frozenset({"PLAIN", "LOGIN"})
#: What SMTP offers of the passdb's mechanisms, in the order EHLO lists them (APOP is POP3's).
SMTP_MECHANISMS: tuple[str, ...] = ("PLAIN", "LOGIN", "CRAM-MD5")

#: Dovecot's reasons, quoted by Postfix after "authentication failed:".
BAD_MECHANISM = "Invalid authentication mechanism"
BAD_INITIAL_BASE64 = "Invalid base64 data in initial response"
BAD_CONTINUED_BASE64 = "Invalid base64 data in continued response"
PLAINTEXT_DISALLOWED = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections"


class SASLFailure(Exception):
    """The exchange failed; ``reply`` is what smtpd answers."""

    def __init__(self, reply: SMTPReply) -> None:
        super().__init__(str(reply))
        self.reply = reply


class SASLChannel(Protocol):
    """The smtpd side of an exchange."""

    async def challenge(self, data: bytes) -> str:
        """Send ``334 <base64 of data>`` and return the client's answer line, stripped."""
        ...


def mechanisms(passdb: PassDB) -> tuple[str, ...]:
    """Return the mechanisms EHLO offers: the passdb's auth_mechanisms that SMTP knows."""
    enabled = {mechanism.upper() for mechanism in passdb.settings.mechanisms}
    return tuple(mechanism for mechanism in SMTP_MECHANISMS if mechanism in enabled)


async def authenticate(
    channel: SASLChannel,
    mechanism: str,
    initial: str | None,
    passdb: PassDB,
    *,
    hostname: str,
    cleartext_allowed: bool,
) -> str:
    """Run one exchange and return the login; raise :class:`SASLFailure`.

    ``initial`` is the initial response of ``AUTH <mechanism> <initial>`` (None if absent);
    ``cleartext_allowed`` is the passdb's verdict for this connection.
    """
    mechanism = mechanism.upper()
    if mechanism not in mechanisms(passdb):
        raise SASLFailure(auth_failed(BAD_MECHANISM))
    first = _decode(initial, BAD_INITIAL_BASE64) if initial is not None else None
    if mechanism in PLAINTEXT_MECHANISMS and not cleartext_allowed:
        raise SASLFailure(auth_failed(PLAINTEXT_DISALLOWED))
    if mechanism == "PLAIN":
        user = await _plain(await _answer(channel, b"") if first is None else first, passdb)
    elif mechanism == "LOGIN":
        login = await _answer(channel, b"Username:") if first is None else first
        password = await _answer(channel, b"Password:")
        user = await asyncio.to_thread(passdb.check, login.decode("utf-8", "replace"), password)
    else:
        user = await _cram_md5(channel, passdb, hostname)
    if user is None:
        raise SASLFailure(R535_AUTH_FAILED)
    return user


async def _plain(message: bytes, passdb: PassDB) -> str | None:
    """Check an RFC 4616 message: ``authzid NUL authcid NUL password``."""
    parts = message.split(b"\0")
    if len(parts) != 3:
        return None
    authzid, authcid, password = parts
    user = await asyncio.to_thread(passdb.check, authcid.decode("utf-8", "replace"), password)
    if user is None or (authzid and passdb.login(authzid.decode("utf-8", "replace")) != user):
        return None
    return user


async def _cram_md5(channel: SASLChannel, passdb: PassDB, hostname: str) -> str | None:
    """Challenge with a unique ``<random.time@hostname>`` and check ``user hexdigest``."""
    challenge = f"<{secrets.randbits(64)}.{int(time.time())}@{hostname}>".encode()
    answer = (await _answer(channel, challenge)).decode("utf-8", "replace")
    login, _, digest = answer.rpartition(" ")
    return passdb.check_cram(login, challenge, digest) if login else None


async def _answer(channel: SASLChannel, challenge: bytes) -> bytes:
    """Send one challenge and return the decoded answer; ``*`` aborts (RFC 4954 section 4)."""
    line = await channel.challenge(challenge)
    if line == "*":
        raise SASLFailure(R501_AUTH_ABORTED)
    return _decode(line, BAD_CONTINUED_BASE64)


def _decode(text: str, reason: str) -> bytes:
    """Decode one base64 response; ``=`` is the empty response (RFC 4954 section 4)."""
    if text == "=":
        return b""
    try:
        return b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SASLFailure(auth_failed(reason)) from None
