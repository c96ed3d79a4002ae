"""What the POP3 core tests share: a maildrop, the application side that answers the core's
events (:class:`App`), a driver loop like the live server's (:func:`serve`), ``C:``/``S:``
transcripts, ways to split input, and connections brought to a state."""

from __future__ import annotations

import base64
from collections.abc import Iterable

import pytest

from mailsim.protocol.pop3 import (
    ERR_AUTH_FAILED,
    NEED_DATA,
    Answer,
    Answered,
    AuthRequested,
    Event,
    Greeting,
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


def whole(data: bytes) -> list[bytes]:
    return [data]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def in_sevens(data: bytes) -> list[bytes]:
    return [data[i : i + 7] for i in range(0, len(data), 7)]


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


def refused(conn: POP3Connection, data: bytes) -> bytes:
    """Feed ``data``; return the reply of the refusal it must raise."""
    conn.receive_data(data)
    with pytest.raises(RemoteProtocolError) as exc:
        conn.next_event()
    return exc.value.reply


def greeted(**kwargs: bool) -> POP3Connection:
    conn = POP3Connection(**kwargs)
    conn.send(Greeting())
    return conn
