"""The sans-IO POP3 core before login: STLS and what it discards (RFC 2595), no password without
TLS unless allowed (section 2.3), USER/PASS and AUTH PLAIN with every bad input (RFC 5034,
RFC 4616), each refusal with its exact ``-ERR`` line."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from mailsim.protocol.pop3 import (
    NEED_DATA,
    Answered,
    AuthRequested,
    StartTLS,
    TLSReady,
)

from pop3_core_kit import (
    A,
    App,
    T,
    bytewise,
    command,
    connection_in,
    greeted,
    plain,
    refused,
    serve,
    whole,
)


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
