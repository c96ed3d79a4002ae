"""Read the text of one Postfix log line (what follows the syslog tag), one format per function.

Each reader takes the text after ``QID: `` (or the whole text for lines without a queue id) and
returns a tuple of its fields, or None when the text is not in that format (a line cut short,
or another format). The formats are Postfix 3.7's (source file in brackets):

- status lines of the delivery agents [global/log_adhoc.c]: ``to=<r>, orig_to=<a>, relay=R,
  conn_use=N, delay=X, delays=a/b/c/d, dsn=D, status=S (reason)``; Postfix 2.x lines without
  ``conn_use``, ``delays`` or ``dsn`` are read too. A reason cut off by the logger's line
  limit (no closing parenthesis) is kept as far as it goes;
- qmgr [qmgr/qmgr_message.c, qmgr_active.c]: ``from=<s>, size=N, nrcpt=N (queue active)``,
  ``from=<s>, status=expired, returned to sender``, ``removed``;
- smtpd [smtpd/smtpd.c, smtpd_check.c]: ``connect from C``, ``disconnect from C ehlo=1 ...``,
  ``client=C[, sasl_method=..]``, ``reject: RCPT from C: 554 5.7.1 <r>: text; from=<s> to=<r>
  proto=ESMTP helo=<h>`` (also ``reject_warning``, ``hold``, ``discard``, ``filter``,
  ``redirect``; postscreen's own refusal separates the attributes with commas);
- cleanup [cleanup/cleanup_message.c]: ``message-id=<id>``, ``resent-message-id=<id>`` and
  header/body checks ``reject: header Subject: x from C; from=<s> to=<r> proto=ESMTP
  helo=<h>: 5.7.1 text``, milters ``milter-reject: END-OF-MESSAGE from C: 5.7.1 text; from=...``;
- pickup [pickup/pickup.c]: ``uid=N from=<s>``;
- bounce [bounce/bounce_notify_service.c ...]: ``sender non-delivery notification: QID``,
  ``sender delay notification: QID``, ``postmaster ...``, ``sender delivery status ...``;
- smtp/lmtp [smtp/smtp_connect.c, smtp_trouble.c]: ``connect to H[A]:25: reason``,
  ``host H[A] said: ...``.

A queue id is Postfix's short form (6 or more upper-case hex digits, ``enable_long_queue_ids =
no``) or the long form (12 or more characters of Postfix's base-52 alphabet, which has no
vowels, plus the ``z`` separator: ``4NPm0D1xLwz2xqh``).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ACTIVE_LINE",
    "ACTIVE_LINE_FAST",
    "QUEUE_ID",
    "STATUS_LINE",
    "STATUS_LINE_FAST",
    "STATUS_LINE_LENIENT",
    "Check",
    "STATUSES",
    "read_active",
    "read_check",
    "read_client",
    "read_connect_to",
    "read_disconnect",
    "read_expired",
    "read_notification",
    "read_pickup",
    "read_reply",
    "read_status",
    "split_queue_id",
]

#: a queue id at the start of a text, followed by ": "
QUEUE_ID: Final = re.compile(r"([0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{12,}): ")

#: status words of the delivery agents (verify(8) probes log deliverable/undeliverable)
STATUSES: Final[frozenset[str]] = frozenset(
    ("sent", "deferred", "bounced", "expired", "deliverable", "undeliverable")
)

_STATUS_HEAD = (
    r"to=<(.*?)>, (?:orig_to=<(.*?)>, )?relay=([^,]*), (?:conn_use=(\d+), )?delay=([^,]*), "
    r"(?:delays=([^,]*), )?(?:dsn=([^,]*), )?status=([a-z]+)"
)
#: a status line's text after ``QID: ``; groups: to, orig_to, relay, conn_use, delay,
#: delays, dsn, status, reason (the parenthesised text)
STATUS_LINE: Final = re.compile(_STATUS_HEAD + r" \((.*)\)")
#: the same, for ``status=expired, returned to sender`` and for a reason cut short by the
#: logger's line limit (no closing parenthesis): slower, tried second
STATUS_LINE_LENIENT: Final = re.compile(_STATUS_HEAD + r"(?: \(|, )(.*?)\)?")
#: :data:`STATUS_LINE` for addresses without ``>``, tried first: about 40% faster, and where it
#: matches, with the same groups. The lazy ``(.*?)`` of STATUS_LINE ends at the first ``>``
#: that lets the rest match, and here there is only one; the possessive ``*+``, ``++`` and
#: ``?+`` never give back what the greedy ones of STATUS_LINE would not give back either (each
#: is followed by a character it cannot match, or an optional group by text only it matches)
STATUS_LINE_FAST: Final = re.compile(
    r"to=<([^>\n]*+)>, (?:orig_to=<([^>\n]*+)>, )?+relay=([^,]*+), (?:conn_use=(\d++), )?+"
    r"delay=([^,]*+), (?:delays=([^,]*+), )?+(?:dsn=([^,]*+), )?+status=([a-z]++) \((.*)\)"
)
#: qmgr's ``from=<s>, size=N, nrcpt=N (queue active)``; groups: sender, size, nrcpt
ACTIVE_LINE: Final = re.compile(r"from=<(.*?)>, size=(\d+), nrcpt=(\d+) \(queue active\)")
#: :data:`ACTIVE_LINE` for a sender without ``>``, tried first (as :data:`STATUS_LINE_FAST`)
ACTIVE_LINE_FAST: Final = re.compile(
    r"from=<([^>\n]*+)>, size=(\d++), nrcpt=(\d++) \(queue active\)"
)
_EXPIRED = re.compile(r"from=<(.*?)>, status=expired, returned to sender")
_PICKUP = re.compile(r"uid=(\d+) from=<(.*?)>")
_NOTIFICATION = re.compile(
    r"(sender|postmaster) (non-delivery|delay|delivery status|success) notification: "
    r"([0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{12,})"
)
_CHECK = re.compile(r"([a-z][a-z_-]*): ([A-Z][A-Z-]*) from (\S+?): (.*)")
_CONTENT = re.compile(r"([a-z][a-z_-]*): ([a-z][a-z-]*) (.*)")
_ATTRIBUTES = re.compile(
    r"(?:from=<(?P<from>.*?)>,? )?(?:to=<(?P<to>.*?)>,? )?proto=(?P<proto>[^ ,]*),?"
    r"(?: helo=<(?P<helo>.*?)>)?"
)
_REPLY = re.compile(r"(?:(\d{3})[ -])?(?:(\d\.\d{1,3}\.\d{1,3}) )?(.*)", re.S)
_CLIENT = re.compile(r"\S*\[[^\]\s]*\](?::\d+)?")


def split_queue_id(text: str) -> tuple[str, str] | None:
    """Return (queue id, rest) of ``QID: rest``, or None when ``text`` starts with none."""
    found = QUEUE_ID.match(text)
    if found is None:
        return None
    return found.group(1), text[found.end() :]


def is_client(value: str) -> bool:
    """Whether ``value`` is a client or relay as Postfix logs one: ``name[address]``, with an
    optional ``:port`` (``unknown[127.0.5.10]``, ``[1.2.3.4]:5678``)."""
    if value[-1:] == "]" and " " not in value and value.isprintable():  # no regex needed
        opening = value.rfind("[")
        return opening >= 0 and value.find("]", opening) == len(value) - 1
    return _CLIENT.fullmatch(value) is not None


def read_status(text: str) -> tuple[str, str, str, str, str, str, str, str, str] | None:
    """Return (to, orig_to, relay, conn_use, delay, delays, dsn, status, reason) of a status
    line, each as logged (``""`` where the line has none; reason: the parenthesised text, or
    what follows ``status=expired, ``)."""
    found = STATUS_LINE.fullmatch(text) or STATUS_LINE_LENIENT.fullmatch(text)
    if found is None:
        return None
    fields = found.groups("")
    if fields[7] not in STATUSES:
        return None
    to, orig, relay, conn, delay, delays, dsn, status, reason = fields
    return to, orig, relay, conn, delay, delays, dsn, status, reason


def read_active(text: str) -> tuple[str, int, int] | None:
    """Return (sender, size, nrcpt) of qmgr's ``from=<s>, size=N, nrcpt=N (queue active)``."""
    found = ACTIVE_LINE.fullmatch(text)
    if found is None:
        return None
    return found.group(1), int(found.group(2)), int(found.group(3))


def read_expired(text: str) -> str | None:
    """Return the sender of qmgr's ``from=<s>, status=expired, returned to sender``."""
    found = _EXPIRED.fullmatch(text)
    return None if found is None else found.group(1)


def read_pickup(text: str) -> tuple[int, str] | None:
    """Return (uid, sender) of pickup's ``uid=N from=<s>``."""
    found = _PICKUP.fullmatch(text)
    if found is None:
        return None
    return int(found.group(1)), found.group(2)


def read_client(text: str) -> str | None:
    """Return the client of smtpd's ``client=name[addr]`` (extra attributes such as
    ``, sasl_method=PLAIN, sasl_username=u`` or ``, orig_client=...`` follow a comma)."""
    if not text.startswith("client="):
        return None
    client = text[7:].split(", ", 1)[0]
    return client if is_client(client) else None


def read_notification(text: str) -> tuple[bool, str, str] | None:
    """Return (postmaster, kind, queue id) of bounce's ``sender non-delivery notification:
    QID`` (kind ``non-delivery``, ``delay``, ``delivery status`` or ``success``)."""
    found = _NOTIFICATION.fullmatch(text)
    if found is None:
        return None
    return found.group(1) == "postmaster", found.group(2), found.group(3)


def read_reply(text: str) -> tuple[str, str, str]:
    """Split an SMTP reply as logged into (code, enhanced status, text); either may be
    ``""`` (``554 5.7.1 <r>: Relay access denied``, ``5.7.1 Spam``, ``Spam``)."""
    found = _REPLY.match(text)
    if found is None:  # pragma: no cover - the pattern matches every string
        return "", "", text
    code, dsn, rest = found.groups()
    return code or "", dsn or "", rest


Check = tuple[str, str, str, str, str, str, str, str, str, str]


def read_check(text: str) -> Check | None:
    """Return (action, stage, client, code, dsn, reply, sender, recipient, proto, helo) of an
    access or content decision, or None.

    Two shapes: smtpd's, postscreen's and a milter's ``ACTION: STAGE from CLIENT: REPLY;
    from=<s> to=<r> proto=P helo=<h>``; cleanup's header/body checks ``ACTION: PART TEXT from
    CLIENT; from=<s> to=<r> proto=P helo=<h>: REPLY`` (stage: the PART, header, body, ...; the
    checked TEXT is kept in front of the reply text).
    """
    found = _CHECK.fullmatch(text)
    if found is not None:
        action, stage, client, rest = found.groups()
        cut = rest.rfind("; from=<")
        if cut < 0:
            cut = rest.rfind("; proto=")
        reply_text, attributes = (rest, "") if cut < 0 else (rest[:cut], rest[cut + 2 :])
        code, dsn, reply = read_reply(reply_text)
        if not attributes:
            return action, stage, client, code, dsn, reply, "", "", "", ""
        fields = _ATTRIBUTES.match(attributes)
        if fields is None:
            return None
        sender, recipient, proto, helo = fields.group("from", "to", "proto", "helo")
        return (
            action,
            stage,
            client,
            code,
            dsn,
            reply,
            sender or "",
            recipient or "",
            proto or "",
            helo or "",
        )
    found = _CONTENT.fullmatch(text)
    if found is None:
        return None
    action, part, rest = found.groups()
    cut = rest.rfind("; from=<")
    if cut < 0:
        return None
    checked, attributes = rest[:cut], rest[cut + 2 :]
    before, sep, client = checked.rpartition(" from ")
    if not sep:
        before, client = checked, ""
    fields = _ATTRIBUTES.match(attributes)
    if fields is None:
        return None
    tail = attributes[fields.end() :]
    code, dsn, reply = read_reply(tail[2:] if tail.startswith(": ") else "")
    sender, recipient, proto, helo = fields.group("from", "to", "proto", "helo")
    return (
        action,
        part,
        client,
        code,
        dsn,
        f"{before}: {reply}" if reply else before,
        sender or "",
        recipient or "",
        proto or "",
        helo or "",
    )


def read_connect_to(text: str) -> tuple[str, str] | None:
    """Return (relay, reason) of smtp's ``connect to H[A]:25: Connection refused``."""
    if not text.startswith("connect to "):
        return None
    relay, sep, reason = text[11:].partition(": ")
    if not sep or not relay:
        return None
    return relay, reason


def read_disconnect(text: str) -> tuple[str, str] | None:
    """Return (client, tally) of smtpd's ``disconnect from C ehlo=1 mail=1 ... commands=5``."""
    if not text.startswith("disconnect from "):
        return None
    client, _, tally = text[16:].partition(" ")
    return (client, tally) if is_client(client) else None
