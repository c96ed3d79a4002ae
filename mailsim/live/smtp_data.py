"""The DATA phase without I/O: end-of-data detection, bare LF, dot-unstuffing, limits.

Theory of operation. The server reads the client's bytes up to each LF (a *chunk*) and feeds
them here; a line longer than the reader's buffer arrives as several chunks of which only the
last ends in LF. :meth:`DataReader.feed` answers whether the chunk ended the data.

* End of data is the line ``.`` terminated by CRLF, at the start of a line, after a line that
  itself ended in CRLF: ``<CR><LF>.<CR><LF>`` and nothing else (RFC 5321 4.1.1.4). This is
  Postfix 3.9's ``smtpd_forbid_bare_newline = normalize`` and what closes SMTP smuggling:
  ``<LF>.<LF>``, ``<LF>.<CR><LF>``, ``<CR><LF>.<LF>``, ``<CR>.<CR><LF>`` and a ``.`` that
  follows a partial line are all message content.
* A line that ends in a bare LF is stored as if the client had sent CRLF (the "normalize"
  half of that setting); a bare CR inside a line stays as it is.
* Transparency: a leading dot is removed when other characters follow it (RFC 5321 4.5.2).
* Limits: a text line may hold 998 octets before its CRLF, not counting the transparency dot
  (RFC 5321 4.5.3.1.6); the message may hold ``size_limit`` octets counted as Postfix counts
  them, each line plus CRLF (message_size_limit, RFC 1870). Past either limit the reader keeps
  consuming until the end of data but stores nothing more, so a rejected message is never
  stored in part and memory stays bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "MAX_TEXT_LINE",
    "DataReader",
    "ReceivedInfo",
    "mail_date",
    "received_header",
    "separate_body",
]

#: RFC 5321 4.5.3.1.6: 1000 octets per text line including CRLF.
MAX_TEXT_LINE = 998


class DataReader:
    """Assemble one message from the chunks of its DATA phase (see the module docstring)."""

    __slots__ = (
        "_at_line_start",
        "_lines",
        "_pending_cr",
        "_prev_crlf",
        "line_too_long",
        "size",
        "size_limit",
    )

    def __init__(self, size_limit: int = 0) -> None:
        #: message_size_limit in octets; 0 keeps everything (Postfix: no limit)
        self.size_limit = size_limit
        #: octets of content so far, each line counted with CRLF
        self.size = 0
        #: a text line exceeded RFC 5321 4.5.3.1.6
        self.line_too_long = False
        self._lines: list[bytes] = []
        # The DATA command's own line end precedes the first line of content.
        self._prev_crlf = True
        self._at_line_start = True
        # a piece of an overlong line ended in CR: a chunk "\n" completes a CRLF
        self._pending_cr = False

    @property
    def too_big(self) -> bool:
        """Whether the content exceeded ``size_limit``."""
        return 0 < self.size_limit < self.size

    @property
    def content(self) -> bytes:
        """The message with CRLF line ends, dot-unstuffed (complete only when nothing was
        too long or too big)."""
        return b"".join(self._lines)

    def feed(self, chunk: bytes) -> bool:
        """Take one chunk (bytes up to and including LF, or a piece of an overlong line);
        return True when it was the end-of-data line, which is not part of the content."""
        if chunk[-2:] == b"\r\n" and self._at_line_start and chunk[:1] != b".":
            # the common case, a whole CRLF line without a transparency dot, kept as it is
            self._prev_crlf = True
            self._pending_cr = False
            if len(chunk) > MAX_TEXT_LINE + 2:
                self.line_too_long = True
            self.size += len(chunk)
            if self.line_too_long or 0 < self.size_limit < self.size:
                self._lines.clear()
            else:
                self._lines.append(chunk)
            return False
        if not chunk.endswith(b"\n"):
            # A piece of a line longer than the reader's buffer: never the end of data.
            self._discard_rest(len(chunk))
            self._at_line_start = False
            self._prev_crlf = False
            self._pending_cr = chunk.endswith(b"\r")
            return False
        crlf = chunk.endswith(b"\r\n") or (chunk == b"\n" and self._pending_cr)
        self._pending_cr = False
        if crlf and chunk == b".\r\n" and self._at_line_start and self._prev_crlf:
            return True
        line = chunk[:-2] if crlf else chunk[:-1]
        if self._at_line_start:
            if line.startswith(b".") and len(line) > 1:
                line = line[1:]
        else:
            self.line_too_long = True
        self._at_line_start = True
        self._prev_crlf = crlf
        if len(line) > MAX_TEXT_LINE:
            self.line_too_long = True
        self.size += len(line) + 2
        if self.line_too_long or self.too_big:
            self._lines.clear()
        else:
            self._lines.append(line + b"\r\n")
        return False

    def _discard_rest(self, length: int) -> None:
        self.line_too_long = True
        self.size += length
        self._lines.clear()


_HEADER_FIELD = re.compile(rb"[!-9;-~]+:")


def separate_body(content: bytes) -> bytes:
    """Return ``content`` with an empty line where its header section ends without one.

    cleanup(8) ends the headers at the first line that is neither a header field (RFC 5322
    2.2) nor a continuation, and writes the empty line the body needs when the client left it
    out (the lecture's telnet message is a body without headers: after smtpd's Received:
    header it must not read as a malformed header line).
    """
    start = 0
    while start < len(content):
        end = content.find(b"\n", start)
        line = content[start : end if end >= 0 else len(content)].rstrip(b"\r")
        if not line:
            return content
        if not (_HEADER_FIELD.match(line) or (start and line[:1] in (b" ", b"\t"))):
            return content[:start] + b"\r\n" + content[start:]
        if end < 0:
            return content + b"\r\n"
        start = end + 1
    return content


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def mail_date(when: datetime) -> str:
    """Return ``when`` (an aware time) as Postfix's mail_date() writes header dates (RFC 5322
    3.3, day of month padded with a space, zone name in a comment): ``Wed,  1 Feb 2006
    12:52:24 +0100 (CET)``, the lecture's Received: header."""
    offset = when.strftime("%z") or "+0000"
    return (
        f"{_DAYS[when.weekday()]}, {when.day:2d} {_MONTHS[when.month - 1]} {when.year} "
        f"{when:%H:%M:%S} {offset} ({when.tzname() or 'UTC'})"
    )


@dataclass(frozen=True, slots=True)
class ReceivedInfo:
    """What smtpd knows when it writes its ``Received:`` header (smtpd.c data_cmd()).

    ``helo`` is the HELO/EHLO name ("" if the client sent none); ``client_name`` the verified
    reverse name (``unknown`` in the lab, which has no PTR records); ``protocol`` SMTP or
    ESMTP; ``tls`` is (protocol version, cipher name, bits) or None; ``recipients`` the
    accepted envelope recipients (the header names the only one, as Postfix does).
    """

    helo: str
    client_name: str
    client_address: str
    hostname: str
    mail_name: str
    protocol: str
    queue_id: str
    recipients: tuple[str, ...]
    date: str
    tls: tuple[str, str, int] | None = None
    tls_details: bool = False
    authenticated: bool = False


def received_header(info: ReceivedInfo) -> bytes:
    """Return the ``Received:`` header smtpd prepends, folded with CRLF + TAB (RFC 5321 4.4).

    With smtpd_tls_received_header = yes a TLS session adds Postfix's ``(using <protocol> with
    cipher <name> (<bits>/<bits> bits))`` and ``(No client certificate requested)`` comments;
    the protocol gets RFC 3848's ``S`` (TLS) and ``A`` (AUTH) suffixes after ESMTP.
    """
    lines = [
        f"Received: from {info.helo or info.client_name} "
        f"({info.client_name} [{info.client_address}])"
    ]
    if info.tls is not None and info.tls_details:
        version, cipher, bits = info.tls
        lines.append(f"\t(using {version} with cipher {cipher} ({bits}/{bits} bits))")
        lines.append("\t(No client certificate requested)")
    protocol = info.protocol
    if protocol == "ESMTP":
        protocol += ("S" if info.tls is not None else "") + ("A" if info.authenticated else "")
    by = f"\tby {info.hostname} ({info.mail_name}) with {protocol} id {info.queue_id}"
    if len(info.recipients) == 1:
        lines.append(by)
        lines.append(f"\tfor <{info.recipients[0]}>; {info.date}")
    else:
        lines.append(by + ";")
        lines.append(f"\t{info.date}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape")
