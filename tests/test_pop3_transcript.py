"""The lecture's POP3 telnet session (chapter 4), replayed line by line against the live server.

The lecture's server was Dovecot with an mbox store; ours is configured with the greeting it
had (``login_greeting="dovecot ready."``; ours defaults to ``mailsim ready.``). Every other line,
message included, is compared as the lecture prints it.

The lecture's Dovecot reported 969 octets (STAT, LIST, RETR) for a message whose text, as shown,
is 890 octets with CRLF line ends: its mbox index counted something the copy in the lecture does
not show. POP3 reports the size the store gives (RFC 1939 section 5; Dovecot does not recount at
RETR), so the fake store is told the lecture's figure.
"""

from __future__ import annotations

import asyncio

from mailsim.live.pop3 import POP3Server

from pop3_fakes import FakePassDB, FakeStore, LineClient

LECTURE = """\
S: +OK dovecot ready.
C: USER jura
S: +OK
C: PASS heslo
S: +OK Logged in.
C: STAT
S: +OK 1 969
C: LIST
S: +OK 1 messages:
S: 1 969
S: .
C: RETR 1
S: +OK 969 octets
S: Return-Path: <jura@firma1.intr>
S: X-Original-To: jura@firma1.intr
S: Delivered-To: jura@firma1.intr
S: Received: from [10.2.3.168] (neo.firma1.intr [10.2.3.168])
S:         (using TLSv1 with cipher DHE-RSA-AES256-SHA (256/256 bits))
S:         (No client certificate requested)
S:         by neo.firma1.intr (Postfix) with ESMTP id E62233B4086
S:         for <jura@firma1.intr>; Wed,  1 Feb 2006 12:52:24 +0100 (CET)
S: Message-ID: <43E0A0F8.4010309@firma1.intr>
S: Date: Wed, 01 Feb 2006 12:52:24 +0100
S: From: jura1 <jura@firma1.intr>
S: User-Agent: Mozilla Thunderbird 1.0.7-1.4.1.centos4 (X11/20051007)
S: X-Accept-Language: en-us, en
S: MIME-Version: 1.0
S: To: jura@firma1.intr
S: Subject: mailik
S: Content-Type: text/plain; charset=ISO-8859-1; format=flowed
S: Content-Transfer-Encoding: 7bit
S: X-IMAPbase: 1138266105 21
S: Status: 0
S: X-UID: 21
S: Content-Length: 31
S: X-Keywords:
S: 
S: hgfhjgfhgfhjgh
S: hgdfhgdhfhjgdjgh
S: 
S: .
C: DELE 1
S: +OK Marked to be deleted.
C: RSET
S: +OK
C: QUIT
S: +OK Logging out.
"""  # noqa: W291

LECTURE_SIZE = 969


def lecture_message() -> bytes:
    """The message as the lecture's RETR shows it (between the +OK line and the final dot)."""
    lines = [line[3:] for line in LECTURE.splitlines()]
    start = lines.index(f"+OK {LECTURE_SIZE} octets") + 1
    return "".join(line + "\n" for line in lines[start : lines.index(".", start)]).encode()


async def replay(transcript: str, port: int) -> list[str]:
    """Type each ``C:`` line as telnet would and write down what the server answers: as many
    lines as the transcript shows after it, then anything more until the server hangs up."""
    script = transcript.splitlines()
    client = await LineClient.connect(port)
    seen: list[str] = []
    try:
        for line in script:
            if line.startswith("C: "):
                seen.append(line)
                await client.send(line[3:].encode() + b"\r\n")
            else:
                seen.append("S: " + (await client.line()).decode().removesuffix("\r\n"))
        trailing = await client.rest()  # "Connection closed by foreign host."
        seen += [f"S: {extra}" for extra in trailing.decode().splitlines()]
    finally:
        await client.close()
    return seen


def test_lecture_pop3_session() -> None:
    store = FakeStore()
    store.mailbox("jura").add(lecture_message(), size=LECTURE_SIZE)

    async def scenario() -> list[str]:
        async with POP3Server(
            store, FakePassDB({"jura": "heslo"}), login_greeting="dovecot ready."
        ) as server:
            seen = await replay(LECTURE, server.port)
            await asyncio.wait_for(asyncio.gather(*(s.closed for s in list(server.sessions))), 10)
            return seen

    assert asyncio.run(scenario()) == LECTURE.splitlines()
    mailbox = store.mailbox("jura")
    assert mailbox.deleted == [] and not mailbox.held  # DELE undone by RSET; lock released
    assert [m.flags for m in mailbox.messages()] == [frozenset()]  # RSET forgot the RETR too
