"""The sans-IO POP3 core: transcripts fed whole, one byte at a time and in random pieces; every
transition of the state table; every refusal with its exact ``-ERR`` line (Dovecot's texts)."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailsim.protocol.pop3 import (
    ERR_AUTH_FAILED,
    ERR_SYS_TEMP,
    MAX_COMMAND_LINE,
    NEED_DATA,
    PAUSED,
    TRANSITIONS,
    Answer,
    Answered,
    AuthRequested,
    Event,
    Failure,
    Greeting,
    LocalProtocolError,
    LoginAccepted,
    MessageContent,
    MessageInfo,
    POP3Connection,
    POP3State,
    Quit,
    RemoteProtocolError,
    Retrieve,
    Retrieved,
    StartTLS,
    TLSReady,
    Updated,
    Wait,
)

from pop3_fakes import crlf

A, T, U, C = POP3State.AUTHORIZATION, POP3State.TRANSACTION, POP3State.UPDATE, POP3State.CLOSED
MESSAGES = {
    "k1": b"Subject: one\r\nFrom: a@b\r\n\r\nline 1\r\n.hidden dot\r\n.\r\nline 4\r\n",
    "k2": b"Subject: two\n\nbare LF body\nno final newline",
}
MAILDROP = tuple(
    MessageInfo(key, len(crlf(data)), f"{uid:08X}00000007")
    for uid, (key, data) in enumerate(MESSAGES.items(), 1)
)


def plain(authzid: str, user: str, password: str) -> str:
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()


class App:
    """The application side: answers the core's events, remembers them."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> Answer:
        self.events.append(event)
        assert not isinstance(event, (Answered, Retrieved)), "nothing to answer"
        if isinstance(event, AuthRequested):
            ok = (event.user, event.password) == ("jura", "heslo")
            return LoginAccepted(MAILDROP) if ok else ERR_AUTH_FAILED
        if isinstance(event, StartTLS):
            return TLSReady()
        if isinstance(event, Retrieve):
            return MessageContent(MESSAGES[event.key])
        return Updated()


def serve(
    chunks: Iterable[bytes], conn: POP3Connection | None = None, app: App | None = None
) -> bytes:
    """Feed ``chunks`` and answer everything as the live driver does; return what was written
    (the greeting included for a new connection)."""
    out = bytearray()
    if conn is None:
        conn = POP3Connection()
        out += conn.send(Greeting("dovecot ready."))
    app = app or App()
    for chunk in chunks:
        conn.receive_data(chunk)
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:
                out += exc.reply
                continue
            if isinstance(event, Wait):
                break
            if isinstance(event, Retrieved):  # nothing to answer: the live driver logs it
                app.events.append(event)
            elif isinstance(event, Answered):
                out += event.reply
            else:
                out += conn.send(app(event))
    return bytes(out)


def transcript(text: str) -> tuple[bytes, bytes]:
    """Split a ``C:``/``S:`` transcript into what the client sends and what the server answers."""
    sent, said = bytearray(), bytearray()
    for line in text.strip("\n").split("\n"):
        (sent if line.startswith("C:") else said).extend(line[3:].encode() + b"\r\n")
    return bytes(sent), bytes(said)


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


def whole(data: bytes) -> list[bytes]:
    return [data]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def in_sevens(data: bytes) -> list[bytes]:
    return [data[i : i + 7] for i in range(0, len(data), 7)]


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


# --- every transition of the table ----------------------------------------------------------

#: A valid line for every command; the answer to give for every answer name in the table.
COMMAND_LINES = {name: name for name in ("CAPA", "STLS", "QUIT", "STAT", "LIST", "UIDL", "RSET")}
COMMAND_LINES |= {"USER": "USER jura", "PASS": "PASS heslo", "RETR": "RETR 1", "TOP": "TOP 1 1"}
COMMAND_LINES |= {"AUTH": "AUTH PLAIN " + plain("", "jura", "heslo"), "DELE": "DELE 1"}
COMMAND_LINES |= {"NOOP": "NOOP"}
PENDING_FOR = {"LoginAccepted": "PASS", "TLSReady": "STLS", "MessageContent": "RETR"}
ANSWER: dict[str, Answer] = {
    "LoginAccepted": LoginAccepted(MAILDROP),
    "TLSReady": TLSReady(),
    "MessageContent": MessageContent(MESSAGES["k1"]),
    "Updated": Updated(),
    "Failure": Failure("no", "SYS/TEMP"),
}


def connection_in(state: POP3State) -> POP3Connection:
    conn = POP3Connection(tls_available=True)
    conn.send(Greeting())
    serve([b"USER jura\r\nPASS heslo\r\n" if state is not A else b""], conn)
    if state is U:
        conn.receive_data(b"QUIT\r\n")
        assert isinstance(conn.next_event(), Quit)
    assert conn.state is state
    return conn


def command(conn: POP3Connection, line: str) -> Event:
    conn.receive_data(line.encode() + b"\r\n")
    event = conn.next_event()
    assert not isinstance(event, type(NEED_DATA)), event
    return event


@pytest.mark.parametrize(("state", "trigger"), sorted(TRANSITIONS, key=str), ids=str)
def test_every_transition(state: POP3State, trigger: str) -> None:
    conn = connection_in(state)
    if trigger in COMMAND_LINES:
        if trigger == "PASS":
            command(conn, "USER jura")
        command(conn, COMMAND_LINES[trigger])
    else:
        if state is not U:  # UPDATE: the Quit is already pending
            pending = PENDING_FOR.get(trigger, "PASS" if state is A else "RETR")
            if pending == "PASS":
                command(conn, "USER jura")
            assert not isinstance(command(conn, COMMAND_LINES[pending]), Answered)
        conn.send(ANSWER[trigger])
    assert conn.state is TRANSITIONS[(state, trigger)]


OUT_OF_STATE = [
    (state, name)
    for state in (A, T)
    for name in [*sorted(COMMAND_LINES), "APOP", "LAST", "XYZZY"]
    if (state, name) not in TRANSITIONS
]


@pytest.mark.parametrize(("state", "name"), OUT_OF_STATE, ids=str)
def test_command_outside_its_state_is_refused(state: POP3State, name: str) -> None:
    conn = connection_in(state)
    with pytest.raises(RemoteProtocolError) as refused:
        command(conn, COMMAND_LINES.get(name, name))
    unknown = b"Unknown command." if state is A else b"Unknown command: " + name.encode()
    assert refused.value.reply == b"-ERR " + unknown + b"\r\n"
    assert conn.state is state and isinstance(command(conn, "CAPA"), Answered)


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


# --- refusals: the exact -ERR line, and the session goes on ----------------------------------


def refused(conn: POP3Connection, data: bytes) -> bytes:
    """Feed ``data``; return the reply of the refusal it must raise."""
    conn.receive_data(data)
    with pytest.raises(RemoteProtocolError) as exc:
        conn.next_event()
    return exc.value.reply


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("RETR", "-ERR Invalid message number: "),
        ("RETR x", "-ERR Invalid message number: x"),
        ("RETR 0", "-ERR There's no message 0."),
        ("RETR 3", "-ERR There's no message 3."),
        ("RETR 1x", "-ERR Noise after message number: x"),
        ("DELE 99999999999", "-ERR Message number too large: 99999999999"),
        ("LIST 1 2", "-ERR Noise after message number:  2"),
        ("TOP 1", "-ERR Noise after message number: "),
        ("TOP 1 x", "-ERR Invalid size: x"),
        ("TOP 1 2 3", "-ERR Noise after size:  3"),
        ("UIDL \x1b[2J", "-ERR Invalid message number: ?[2J"),
    ],
)
def test_bad_message_arguments(line: str, reply: str) -> None:
    conn = connection_in(T)
    assert refused(conn, line.encode() + b"\r\n") == reply.encode() + b"\r\n"
    assert command(conn, "STAT") == Answered("STAT", b"+OK 2 105\r\n")


def test_deleted_message_is_gone_until_rset() -> None:
    conn = connection_in(T)
    command(conn, "DELE 2")
    for line in (b"DELE 2", b"RETR 2", b"TOP 2 0", b"LIST 2", b"UIDL 2"):
        assert refused(conn, line + b"\r\n") == b"-ERR Message is deleted.\r\n"
    assert command(conn, "STAT") == Answered("STAT", b"+OK 1 59\r\n")
    assert command(conn, "UIDL") == Answered("UIDL", b"+OK\r\n1 0000000100000007\r\n.\r\n")
    command(conn, "RSET")
    assert command(conn, "LIST 2") == Answered("LIST", b"+OK 2 46\r\n")


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


def greeted(**kwargs: bool) -> POP3Connection:
    conn = POP3Connection(**kwargs)
    conn.send(Greeting())
    return conn


def test_stls_discards_what_was_pipelined_after_it() -> None:
    """RFC 2595 section 4 and the STARTTLS command-injection attacks (CVE-2011-0411 style)."""
    conn = greeted(tls_available=True)
    conn.receive_data(b"USER a\r\nSTLS\r\nUSER evil\r\nPASS evil\r\n")
    assert conn.next_event() == Answered("USER", b"+OK\r\n")
    assert conn.next_event() == StartTLS()
    assert conn.send(TLSReady()) == b"+OK Begin TLS negotiation now.\r\n"
    assert conn.secure and conn.next_event() is NEED_DATA
    assert refused(conn, b"PASS x\r\n") == b"-ERR No username given.\r\n"  # USER a forgotten
    assert refused(conn, b"STLS\r\n") == b"-ERR TLS is already active.\r\n"


def test_stls_without_tls_and_after_login() -> None:
    assert refused(greeted(), b"STLS\r\n") == b"-ERR TLS support isn't enabled.\r\n"
    assert refused(connection_in(T), b"STLS\r\n") == b"-ERR Unknown command: STLS\r\n"


def test_without_tls_and_without_plaintext_permission_no_password_is_taken() -> None:
    """RFC 2595 section 2.3; CAPA says so by leaving USER and SASL out until TLS is on."""
    conn = greeted(tls_available=True, plaintext_allowed=False)
    nossl = b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
    for line in (b"USER jura", b"PASS heslo", b"AUTH PLAIN " + plain("", "jura", "heslo").encode()):
        assert refused(conn, line + b"\r\n") == nossl + b"\r\n"
    capa = b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
    assert command(conn, "CAPA") == Answered("CAPA", capa + b"STLS\r\n.\r\n")
    assert command(conn, "AUTH") == Answered("AUTH", b"+OK\r\n.\r\n")
    command(conn, "STLS")
    conn.send(TLSReady())
    assert command(conn, "CAPA") == Answered("CAPA", capa + b"USER\r\nSASL PLAIN\r\n.\r\n")
    assert command(conn, "AUTH") == Answered("AUTH", b"+OK\r\nPLAIN\r\n.\r\n")
    assert command(conn, "USER jura") == Answered("USER", b"+OK\r\n")


AUTH_FAILED = b"-ERR [AUTH] Authentication failed."


@pytest.mark.parametrize(
    ("lines", "reply"),
    [
        ([b"AUTH CRAM-MD5"], b"-ERR Unsupported authentication mechanism."),
        ([b"AUTH PLAIN %%%"], b"-ERR Invalid base64 data in initial response."),
        ([b"AUTH PLAIN amVyYQ"], b"-ERR Invalid base64 data in initial response."),
        ([b"AUTH PLAIN", b"not base64!"], b"-ERR Invalid base64 data in continued response."),
        ([b"AUTH PLAIN", b"*"], b"-ERR Authentication aborted by client."),
        ([b"AUTH PLAIN ="], AUTH_FAILED),
        ([b"AUTH PLAIN " + base64.b64encode(b"jura\0heslo")], AUTH_FAILED),
        ([b"AUTH PLAIN " + plain("root", "jura", "heslo").encode()], AUTH_FAILED),
        ([b"AUTH PLAIN " + base64.b64encode(b"\0jura\0\xff")], AUTH_FAILED),
        ([b"PASS heslo"], b"-ERR No username given."),
        ([b"USER \xff"], b"-ERR Invalid UTF-8 in command line."),
    ],
)
def test_bad_authentication_input(lines: list[bytes], reply: bytes) -> None:
    """RFC 5034 section 4 (base64, "*", "="), RFC 4616 section 2 (the PLAIN message)."""
    conn = greeted()
    for line in lines[:-1]:
        assert command(conn, line.decode()) == Answered("AUTH", b"+ \r\n")
    assert refused(conn, lines[-1] + b"\r\n") == reply + b"\r\n"
    assert conn.state is A and command(conn, "USER jura") == Answered("USER", b"+OK\r\n")


@pytest.mark.parametrize("split", [whole, bytewise])
def test_auth_plain_with_and_without_initial_response(
    split: Callable[[bytes], list[bytes]],
) -> None:
    app = App()
    response = plain("jura", "jura", "heslo").encode()
    data = b"AUTH PLAIN\r\n" + response + b"\r\nQUIT\r\n"
    out = serve(split(data), conn=greeted(), app=app)
    assert out == b"+ \r\n+OK Logged in.\r\n+OK Logging out.\r\n"
    assert app.events[0] == AuthRequested("jura", "heslo", "PLAIN")
    conn = greeted()
    assert command(conn, "auth plain " + plain("", "jura", "heslo")) == AuthRequested(
        "jura", "heslo", "PLAIN"
    )


def test_quit_flags_what_was_retrieved_not_what_was_topped() -> None:
    conn = connection_in(T)
    for line in ("RETR 2", "TOP 1 0"):
        assert isinstance(command(conn, line), Retrieve)
        conn.send(MessageContent(b"x"))
        if line.startswith("RETR"):
            assert conn.next_event() == Retrieved(2, "k2", 46, b"x")
    assert command(conn, "QUIT") == Quit(deleted=(), seen=("k2",))


def test_retrieved_once_per_message_after_the_reply_to_its_whole_retr() -> None:
    conn = connection_in(T)
    conn.receive_data(b"RETR 1\r\nNOOP\r\n")
    assert conn.next_event() == Retrieve(1, "k1")
    conn.send(MessageContent(MESSAGES["k1"]))
    assert conn.next_event() == Retrieved(1, "k1", 59, MESSAGES["k1"])  # before the NOOP
    assert conn.next_event() == Answered("NOOP", b"+OK\r\n")
    for line in ("RETR 1", "RSET", "RETR 1", "TOP 2 0"):  # again, after RSET, a TOP: none
        event = command(conn, line)
        assert not isinstance(event, Retrieved)
        if isinstance(event, Retrieve):
            conn.send(MessageContent(MESSAGES[event.key]))
    assert conn.next_event() is NEED_DATA
    command(conn, "RETR 2")
    conn.send(ERR_SYS_TEMP)  # the store failed: nothing was retrieved
    assert conn.next_event() is NEED_DATA
    command(conn, "RETR 2")
    conn.send(MessageContent(MESSAGES["k2"]))
    assert conn.next_event() == Retrieved(2, "k2", 46, MESSAGES["k2"])
    assert conn.next_event() is NEED_DATA


def test_quit_before_login_skips_update() -> None:
    conn = greeted()
    assert command(conn, "quit") == Answered("QUIT", b"+OK Logging out\r\n")
    assert conn.state is C


def test_update_failure_is_reported_and_closes() -> None:
    conn = connection_in(T)
    command(conn, "DELE 1")
    assert command(conn, "QUIT") == Quit(deleted=("k1",), seen=())
    reply = conn.send(Failure("Some deleted messages not removed.", "SYS/TEMP"))
    assert reply == b"-ERR [SYS/TEMP] Some deleted messages not removed.\r\n" and conn.state is C


HEADER = b"Subject: one\r\nFrom: a@b\r\n\r\n"


@pytest.mark.parametrize(
    ("lines", "top"),
    [
        (0, HEADER),
        (2, HEADER + b"line 1\r\n..hidden dot\r\n"),
        (99, HEADER + b"line 1\r\n..hidden dot\r\n..\r\nline 4\r\n"),
    ],
)
def test_top_sends_the_header_and_n_body_lines(lines: int, top: bytes) -> None:
    conn = connection_in(T)
    assert command(conn, f"TOP 1 {lines}") == Retrieve(1, "k1", lines)
    assert conn.send(MessageContent(MESSAGES["k1"])) == b"+OK\r\n" + top + b".\r\n"


def test_top_of_a_message_without_body_and_retr_of_one_without_final_newline() -> None:
    conn = connection_in(T)
    command(conn, "TOP 1 5")
    assert conn.send(MessageContent(b"Subject: x")) == b"+OK\r\nSubject: x\r\n.\r\n"
    command(conn, "RETR 2")
    body = b"Subject: two\r\n\r\nbare LF body\r\nno final newline\r\n"
    assert conn.send(MessageContent(MESSAGES["k2"])) == b"+OK 46 octets\r\n" + body + b".\r\n"
