"""The sans-IO POP3 core's state table (RFC 1939 sections 3-7): every transition, every command
refused outside its state with Dovecot's text, QUIT before login and a failed UPDATE."""

from __future__ import annotations

import pytest

from mailsim.protocol.pop3 import (
    TRANSITIONS,
    Answer,
    Answered,
    Failure,
    LoginAccepted,
    MessageContent,
    POP3State,
    Quit,
    RemoteProtocolError,
    TLSReady,
    Updated,
)

from pop3_core_kit import (
    MAILDROP,
    MESSAGES,
    A,
    C,
    T,
    U,
    command,
    connection_in,
    greeted,
    plain,
)

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
