"""The sans-IO POP3 core as a whole session: a transcript fed whole, one byte at a time and in
random pieces; input that waits for its line end, overlong lines; the core waiting for the
greeting and for the driver's answers, and the driver's misuse."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailsim.protocol.pop3 import (
    ERR_AUTH_FAILED,
    MAX_COMMAND_LINE,
    NEED_DATA,
    PAUSED,
    Answer,
    Answered,
    AuthRequested,
    Greeting,
    LocalProtocolError,
    LoginAccepted,
    MessageContent,
    POP3Connection,
    Quit,
    RemoteProtocolError,
    TLSReady,
    Updated,
)

from pop3_core_kit import (
    App,
    C,
    T,
    bytewise,
    command,
    connection_in,
    greeted,
    in_sevens,
    serve,
    transcript,
    whole,
)

SESSION = """\
S: +OK dovecot ready.
C: CAPA
S: +OK
S: CAPA
S: TOP
S: UIDL
S: RESP-CODES
S: PIPELINING
S: AUTH-RESP-CODE
S: USER
S: SASL PLAIN
S: .
C: USER jura
S: +OK
C: PASS heslo
S: +OK Logged in.
C: STAT
S: +OK 2 105
C: LIST
S: +OK 2 messages:
S: 1 59
S: 2 46
S: .
C: UIDL 2
S: +OK 2 0000000200000007
C: RETR 1
S: +OK 59 octets
S: Subject: one
S: From: a@b
S: 
S: line 1
S: ..hidden dot
S: ..
S: line 4
S: .
C: TOP 2 0
S: +OK
S: Subject: two
S: 
S: .
C: DELE 1
S: +OK Marked to be deleted.
C: LIST
S: +OK 1 messages:
S: 2 46
S: .
C: RETR 1
S: -ERR Message is deleted.
C: RSET
S: +OK
C: NOOP
S: +OK
C: DELE 2
S: +OK Marked to be deleted.
C: QUIT
S: +OK Logging out, messages deleted.
"""  # noqa: W291


@pytest.mark.parametrize("split", [whole, bytewise, in_sevens])
def test_session_whole_bytewise_and_in_pieces(split: Callable[[bytes], list[bytes]]) -> None:
    sent, said = transcript(SESSION)
    app = App()
    assert serve(split(sent), app=app).decode() == said.decode()
    assert app.events[-1] == Quit(deleted=("k2",), seen=())  # RSET forgot RETR 1 too


@given(st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_session_split_anywhere(cuts: list[int]) -> None:
    sent, said = transcript(SESSION)
    points = sorted({0, len(sent), *(min(c, len(sent)) for c in cuts)})
    assert serve([sent[a:b] for a, b in itertools.pairwise(points)]) == said


def test_trailing_data_waits_for_its_line_end_and_is_ignored_after_quit() -> None:
    conn = POP3Connection()
    conn.send(Greeting())
    out = serve([b"USER jura\r\nPASS heslo\r\nSTAT\r\nNO"], conn)
    assert out == b"+OK\r\n+OK Logged in.\r\n+OK 2 105\r\n" and conn.next_event() is NEED_DATA
    conn.receive_data(b"OP\r\nQUIT\r\nSTAT\r\nNOOP\r\n")
    assert conn.next_event() == Answered("NOOP", b"+OK\r\n")
    assert conn.next_event() == Quit(deleted=(), seen=())
    assert conn.next_event() is PAUSED  # UPDATE: nothing more is read until the answer
    assert conn.send(Updated()) == b"+OK Logging out.\r\n"
    assert conn.state is C and conn.next_event() is PAUSED


@pytest.mark.parametrize("split", [whole, bytewise])
def test_overlong_line_is_refused_once_and_the_next_line_served(
    split: Callable[[bytes], list[bytes]],
) -> None:
    """RFC 2449 section 4: 255 octets with the CRLF is the most a command may take."""
    longest = b"USER " + b"u" * (MAX_COMMAND_LINE - 7) + b"\r\n"
    assert len(longest) == MAX_COMMAND_LINE
    data = longest + b"USER " + b"u" * 5000 + b"\r\nNOOP x\r\nUSER jura\r\n"
    assert serve(split(data), conn=greeted()) == (
        b"+OK\r\n-ERR Input line too long.\r\n-ERR Unknown command.\r\n+OK\r\n"
    )


def test_before_greeting_and_while_an_answer_is_due_the_core_waits() -> None:
    conn = POP3Connection()
    conn.receive_data(b"CAPA\r\n")
    assert conn.next_event() is PAUSED
    conn.send(Greeting())
    assert isinstance(conn.next_event(), Answered)  # the CAPA, waiting in the buffer
    conn.receive_data(b"USER jura\r\nPASS heslo\r\nSTAT\r\n")
    assert conn.next_event() == Answered("USER", b"+OK\r\n")
    assert conn.next_event() == AuthRequested("jura", "heslo", "USER")
    assert conn.next_event() is PAUSED
    assert conn.send(ERR_AUTH_FAILED) == b"-ERR [AUTH] Authentication failed.\r\n"
    with pytest.raises(RemoteProtocolError, match=r"^-ERR Unknown command.$"):
        conn.next_event()  # still AUTHORIZATION: STAT is refused


@pytest.mark.parametrize(
    "answer", [Greeting(), Updated(), LoginAccepted(()), MessageContent(b""), TLSReady()]
)
def test_answers_out_of_turn_are_the_drivers_bug(answer: Answer) -> None:
    conn = POP3Connection()
    conn.send(Greeting())
    with pytest.raises(LocalProtocolError) as misuse:
        conn.send(answer)
    assert misuse.value.reply.startswith(b"-ERR [SYS/TEMP] ")


def test_wrong_answer_to_a_pending_event_is_the_drivers_bug() -> None:
    conn = connection_in(T)
    command(conn, "RETR 1")
    with pytest.raises(LocalProtocolError):
        conn.send(LoginAccepted(()))
    assert conn.send(MessageContent(b"x")) == b"+OK 59 octets\r\nx\r\n.\r\n"
