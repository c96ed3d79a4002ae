"""The lecture's telnet SMTP session (chapter 3), replayed over a raw socket to the live server.

The lecture's Postfix 2.2 answered without enhanced status codes (``250 Ok``, ``221 Bye``);
Postfix 3.x, whose words the policy speaks, adds them (RFC 2034): ``250 2.1.0 Ok`` after MAIL,
``250 2.1.5 Ok`` after RCPT, ``250 2.0.0 Ok: queued as ...`` and ``221 2.0.0 Bye``. A live node
says which software answers (``ESMTP mailsim``, smtpd_banner's $mail_name) unless the scenario
sets mail_name = Postfix, when the banner is the lecture's to the letter. Everything else is
compared line by line, except host names and queue ids.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from mailsim.live.smtp_data import mail_date, separate_body

from smtp_fakes import NEO, Certificates, Client, MemoryStore, ServerThread

#: chapter 3, "Priklad odeslani mailu pomoci programu Telnet", in Postfix 3.x's words
LECTURE = """\
S: 220 neo.firma1.intr ESMTP mailsim
C: MAIL FROM:nekdo@firma1.intr
S: 250 2.1.0 Ok
C: RCPT TO:jura@firma1.intr
S: 250 2.1.5 Ok
C: DATA
S: 354 End data with <CR><LF>.<CR><LF>
C: jak se vam dari ?
C: .
S: 250 2.0.0 Ok: queued as 970EB3B4086
C: QUIT
S: 221 2.0.0 Bye
"""
QUEUE_ID = re.compile(r"(queued as |id )[0-9A-F]{6,}")
#: Postfix's mail_date(): ``Wed,  1 Feb 2006 12:52:24 +0100 (CET)``
DATE = r"\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(.+\)"


def normalize(lines: list[str]) -> list[str]:
    """Hide what may differ: the host name and queue ids."""
    return [QUEUE_ID.sub(r"\1<ID>", line.replace(NEO, "<host>")) for line in lines]


def replay(transcript: str, port: int, *, bytewise: bool = False) -> list[str]:
    """Type each ``C:`` line as telnet would (optionally one byte per send) and write down
    the lines the server answers, then what it sends until it hangs up."""
    seen: list[str] = []
    with Client(port) as client:
        for line in transcript.splitlines():
            if line.startswith("C: "):
                seen.append(line)
                data = line[3:].encode() + b"\r\n"
                for chunk in [data[i : i + 1] for i in range(len(data))] if bytewise else [data]:
                    client.send(chunk)
            else:
                seen.append("S: " + client.line())
        trailing = client.until_closed()  # "Connection closed by foreign host."
    return seen + [f"S: {extra}" for extra in trailing.decode().splitlines()]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole-lines", "one-byte-at-a-time"])
def test_lecture_telnet_session(bytewise: bool) -> None:
    store = MemoryStore()
    with ServerThread(store) as server:
        seen = replay(LECTURE, server.port(), bytewise=bytewise)
    assert normalize(seen) == normalize(LECTURE.splitlines())
    [queue_id] = [line.split()[-1] for line in seen if "queued as" in line]
    [stored] = store.mailbox("jura").bodies()
    header, _, body = stored.partition(b"\r\n\r\n")
    assert body == b"jak se vam dari ?\r\n"
    assert re.fullmatch(
        rf"Received: from unknown \(unknown \[127\.0\.0\.1\]\)\r\n"
        rf"\tby {re.escape(NEO)} \(mailsim\) with SMTP id {queue_id}\r\n"
        rf"\tfor <jura@firma1\.intr>; {DATE}",
        header.decode(),
    )


def test_lecture_session_pipelined_in_one_packet() -> None:
    """The whole client side sent at once (trailing data after every command) gets the same
    answers: the server reads line by line whatever the packets."""
    store = MemoryStore()
    script = LECTURE.splitlines()
    with ServerThread(store) as server, Client(server.port()) as client:
        client.send(b"".join(line[3:].encode() + b"\r\n" for line in script if line[:2] == "C:"))
        seen = [f"S: {client.line()}" for line in script if line.startswith("S:")]
        assert client.until_closed() == b""
    assert normalize(seen) == normalize([line for line in script if line.startswith("S:")])
    assert len(store.mailbox("jura").bodies()) == 1


def test_banner_with_mail_name_postfix_is_the_lectures() -> None:
    with (
        ServerThread(MemoryStore(), postfix={"mail_name": "Postfix"}) as server,
        Client(server.port()) as client,
    ):
        assert client.reply() == "220 neo.firma1.intr ESMTP Postfix"


def test_ehlo_of_the_lectures_second_session() -> None:
    """``EHLO 10.2.3.167`` as in the lecture's "rozpoznani ESMTP serveru". Differences from the
    lecture's Postfix 2.2 with Cyrus SASL: the mechanisms are the ones this server has
    (PLAIN LOGIN CRAM-MD5, not GSSAPI DIGEST-MD5 NTLM), and Postfix 3.x adds
    ENHANCEDSTATUSCODES and SMTPUTF8 (its DSN and CHUNKING are not offered here)."""
    certificates = Certificates()
    with (
        ServerThread(
            MemoryStore(),
            postfix={"broken_sasl_auth_clients": "yes"},
            tls_context=certificates.server_context(),
        ) as server,
        Client(server.port()) as client,
    ):
        client.reply()
        assert client.command("EHLO 10.2.3.167").splitlines() == [
            "250-neo.firma1.intr",
            "250-PIPELINING",
            "250-SIZE 20971520",
            "250-VRFY",
            "250-ETRN",
            "250-STARTTLS",
            "250-AUTH PLAIN LOGIN CRAM-MD5",
            "250-AUTH=PLAIN LOGIN CRAM-MD5",
            "250-ENHANCEDSTATUSCODES",
            "250-8BITMIME",
            "250 SMTPUTF8",
        ]


def test_received_header_names_tls_like_the_lectures_message() -> None:
    """The lecture's POP3 chapter shows the header Postfix wrote with smtpd_tls_received_header
    = yes; ours has the same shape (RFC 3848 adds the ``S`` of ESMTPS, which Postfix 2.2 did
    not write yet)."""
    certificates = Certificates()
    store = MemoryStore()
    with (
        ServerThread(
            store,
            postfix={"smtpd_tls_received_header": "yes"},
            tls_context=certificates.server_context(),
        ) as server,
        Client(server.port()) as client,
    ):
        client.reply()
        client.command("EHLO client.firma1.intr")
        assert client.command("STARTTLS") == "220 2.0.0 Ready to start TLS"
        client.starttls(certificates.client_context())
        client.command("EHLO client.firma1.intr")
        client.command("MAIL FROM:<nekdo@firma1.intr>")
        client.command("RCPT TO:<jura@firma1.intr>")
        client.command("DATA")
        reply = client.command("Subject: mailik\r\n\r\nhgfhjgfhgfhjgh\r\n.")
    queue_id = reply.split()[-1]
    [stored] = store.mailbox("jura").bodies()
    received = stored.split(b"\r\nSubject:")[0].decode().split("\r\n")
    assert received[0] == "Received: from client.firma1.intr (unknown [127.0.0.1])"
    assert re.fullmatch(r"\t\(using TLSv1\.[23] with cipher \S+ \((\d+)/\1 bits\)\)", received[1])
    assert received[2] == "\t(No client certificate requested)"
    assert received[3] == f"\tby {NEO} (mailsim) with ESMTPS id {queue_id}"
    assert re.fullmatch(rf"\tfor <jura@firma1\.intr>; {DATE}", received[4])


def test_header_date_as_postfix_writes_it() -> None:
    """The lecture's Received: header ends ``Wed,  1 Feb 2006 12:52:24 +0100 (CET)``."""
    cet = timezone(timedelta(hours=1), "CET")
    assert mail_date(datetime(2006, 2, 1, 12, 52, 24, tzinfo=cet)) == (
        "Wed,  1 Feb 2006 12:52:24 +0100 (CET)"
    )


@pytest.mark.parametrize(
    ("content", "stored"),
    [
        (b"jak se vam dari ?\r\n", b"\r\njak se vam dari ?\r\n"),
        (b"Subject: x\r\nbody\r\n", b"Subject: x\r\n\r\nbody\r\n"),
        (b"Subject: x\r\n folded\r\n\r\nbody\r\n", b"Subject: x\r\n folded\r\n\r\nbody\r\n"),
        (b"Subject: only headers\r\n", b"Subject: only headers\r\n"),
        (b" leading space\r\n", b"\r\n leading space\r\n"),
        (b"", b""),
    ],
)
def test_body_is_separated_from_the_headers(content: bytes, stored: bytes) -> None:
    """cleanup(8) writes the empty line a client left out, so the lecture's one-line message
    is a body after smtpd's Received: header, not a broken header line."""
    assert separate_body(content) == stored
