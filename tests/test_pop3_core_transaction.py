"""The sans-IO POP3 core after login (RFC 1939 sections 5-7): message-number arguments, DELE and
RSET, RETR and TOP output, what QUIT flags seen, and the Retrieved report (once per message)."""

from __future__ import annotations

import pytest

from mailsim.protocol.pop3 import (
    ERR_SYS_TEMP,
    NEED_DATA,
    Answered,
    MessageContent,
    Quit,
    Retrieve,
    Retrieved,
)

from pop3_core_kit import (
    MAILDROP,
    MESSAGES,
    T,
    command,
    connection_in,
    refused,
)


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


class CountingSet(set[int]):
    """A set that counts membership tests: how much of the maildrop a command looks at."""

    checks = 0

    def __contains__(self, item: object) -> bool:
        CountingSet.checks += 1
        return super().__contains__(item)


def test_retr_and_dele_look_at_one_message_not_the_whole_maildrop() -> None:
    """Fetching and deleting n messages is O(n), not O(n^2): RETR and DELE check only the
    message they name (a session over a 1,000-message maildrop once took seconds)."""
    conn = connection_in(T)
    conn._deleted = CountingSet()  # type: ignore[assignment]
    CountingSet.checks = 0
    for number in (1, 2):
        assert isinstance(command(conn, f"RETR {number}"), Retrieve)
        conn.send(MessageContent(MESSAGES[f"k{number}"]))
        assert isinstance(conn.next_event(), Retrieved)
        command(conn, f"DELE {number}")
    assert CountingSet.checks == 4  # one per command
    command(conn, "STAT")  # a listing looks at all of them, once
    assert CountingSet.checks == 4 + len(MAILDROP)
