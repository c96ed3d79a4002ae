"""Security regressions of the live smtpd: each attack gets its reply, nothing partial is
stored, and the server goes on serving other clients.

SMTP smuggling (a second message hidden behind a fake end of data), STARTTLS command
injection (plaintext pipelined behind STARTTLS), overlong lines (RFC 5321 4.5.3.1), too many
recipients, AUTH rules and malformed base64, idle and slow clients (smtpd_timeout: small
values, and the test waits for the server's 421 and close, never sleeps), error and
connection floods.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from types import SimpleNamespace

import pytest

from mailsim.live.passdb import AuthSettings, PassDB
from mailsim.live.smtp_data import DataReader
from mailsim.live.smtp_handler import PolicyHandler
from mailsim.live.smtp_session import MailSession
from mailsim.live.spool import Spool
from mailsim.policy.host import HostPolicy

from smtp_fakes import (
    LECTURE_AUTH,
    NEO,
    OUTSIDE,
    Certificates,
    Client,
    MemoryStore,
    ServerThread,
    auth_plain,
    lecture_scenario,
    message,
)

NOT_ENDS = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r", b"\n.\r\r\n"]


def feed(reader: DataReader, data: bytes) -> list[bool]:
    """Feed ``data`` in the chunks the server reads (up to each LF); return the answers."""
    return [reader.feed(line + b"\n") for line in data.split(b"\n")[:-1]]


# -- DataReader (no I/O) ----------------------------------------------------------------------
@pytest.mark.parametrize("fake_end", NOT_ENDS)
def test_only_crlf_dot_crlf_ends_data(fake_end: bytes) -> None:
    reader = DataReader()
    smuggled = b"Subject: a\r\n\r\nfirst" + fake_end + b"MAIL FROM:<evil@x>\r\n"
    answers = feed(reader, smuggled + b".\r\n")
    assert answers[-1] is True and not any(answers[:-1])
    assert b"MAIL FROM:<evil@x>\r\n" in reader.content


def test_bare_lf_lines_are_stored_with_crlf_and_dots_unstuffed() -> None:
    reader = DataReader()
    feed(reader, b"a\nb\r\n..c\n.\n\r\n.\r\n")
    assert reader.content == b"a\r\nb\r\n.c\r\n.\r\n\r\n"
    assert not reader.line_too_long and reader.size == len(reader.content)


def test_a_dot_after_a_partial_line_is_content() -> None:
    """A line longer than the read buffer arrives in pieces; the piece ".\\r\\n" at its end
    must not end the data."""
    reader = DataReader()
    assert reader.feed(b"x" * 2000) is False
    assert reader.feed(b".\r\n") is False
    assert reader.feed(b".\r\n") is True
    assert reader.line_too_long and reader.content == b""


def test_an_overlong_line_split_between_cr_and_lf_still_ends_in_crlf() -> None:
    """The read buffer may cut a long line between its CR and LF; the data that follows
    (here the end of data) is read as after any CRLF."""
    reader = DataReader()
    assert reader.feed(b"x" * 2000 + b"\r") is False
    assert reader.feed(b"\n") is False
    assert reader.feed(b".\r\n") is True
    assert reader.line_too_long


def test_line_limit_is_998_octets_without_the_transparency_dot() -> None:
    reader = DataReader()
    reader.feed(b"." + b"x" * 998 + b"\r\n")  # 1001 octets on the wire: allowed
    assert not reader.line_too_long
    reader.feed(b"y" * 999 + b"\r\n")
    assert reader.line_too_long and reader.content == b""


def test_size_limit_keeps_nothing_once_exceeded() -> None:
    reader = DataReader(size_limit=100)
    for _ in range(5):
        reader.feed(b"z" * 30 + b"\r\n")
    assert reader.too_big and reader.size == 160 and reader.content == b""


# -- smuggling, live ----------------------------------------------------------------------------
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "one-byte-at-a-time"])
@pytest.mark.parametrize("fake_end", NOT_ENDS)
def test_smuggled_message_stays_inside_the_first(fake_end: bytes, bytewise: bool) -> None:
    store = MemoryStore()
    smuggled = (
        b"Subject: legit\r\n\r\nhello"
        + fake_end
        + b"MAIL FROM:<admin@firma1.intr>\r\nRCPT TO:<nekdo@firma1.intr>\r\nDATA\r\n"
        + b"Subject: smuggled\r\n\r\nevil\r\n"
    )
    with ServerThread(store) as server, Client(server.port()) as client:
        client.reply()
        client.command("MAIL FROM:<anna@firma2.intr>")
        client.command("RCPT TO:<jura@firma1.intr>")
        client.command("DATA")
        data = smuggled + b".\r\n"
        for chunk in [data[i : i + 1] for i in range(len(data))] if bytewise else [data]:
            client.send(chunk)
        assert client.reply().startswith("250 2.0.0 Ok: queued as")
        assert client.command("QUIT") == "221 2.0.0 Bye"
    [stored] = store.mailbox("jura").bodies()
    assert b"Subject: smuggled" in stored
    assert store.mailbox("nekdo").bodies() == []


def test_header_sent_as_a_command_ends_the_session() -> None:
    """smtpd_forbidden_commands: message content arriving as commands (a client that
    pipelined past a rejected DATA, or a smuggling attempt) is not taken for SMTP."""
    with ServerThread(MemoryStore()) as server:
        for line in ("Subject: smuggled", "GET / HTTP/1.1", ".evil"):
            with Client(server.port()) as client:
                client.reply()
                assert client.command(line) == "221 2.7.0 Error: I can break rules, too. Goodbye."
                assert client.until_closed() == b""


# -- STARTTLS injection (RFC 3207 section 4.2) ------------------------------------------------
def test_commands_pipelined_after_starttls_are_discarded() -> None:
    certificates = Certificates()
    with (
        ServerThread(MemoryStore(), tls_context=certificates.server_context()) as server,
        Client(server.port()) as client,
    ):
        client.reply()
        client.command("EHLO attacker")
        client.send(b"STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n")
        assert client.reply() == "220 2.0.0 Ready to start TLS"
        client.starttls(certificates.client_context())
        # had the injected MAIL been run after the handshake, RCPT would now be accepted
        assert client.command("RCPT TO:<jura@firma1.intr>") == "503 5.5.1 Error: need MAIL command"
        assert client.command("MAIL FROM:<nekdo@firma1.intr>") == "250 2.1.0 Ok"
        assert client.command("STARTTLS") == "554 5.5.1 Error: TLS already active"


# -- line limits (RFC 5321 4.5.3.1) -------------------------------------------------------------
@pytest.mark.parametrize("length", [600, 20000])
def test_overlong_command_line_is_refused_and_the_session_goes_on(length: int) -> None:
    with ServerThread(MemoryStore()) as server, Client(server.port()) as client:
        client.reply()
        assert client.command("NOOP " + "x" * length) == "500 5.5.2 Error: line too long"
        assert client.command("MAIL FROM:<nekdo@firma1.intr>") == "250 2.1.0 Ok"


@pytest.mark.parametrize("length", [1200, 40000])
def test_overlong_text_line_rejects_the_message_whole(length: int) -> None:
    """1200 octets fit the read buffer; 40000 arrive in pieces and end in CR|LF splits."""
    store = MemoryStore()
    with ServerThread(store) as server, Client(server.port()) as client:
        client.reply()
        for _ in range(2):
            client.command("MAIL FROM:<nekdo@firma1.intr>")
            client.command("RCPT TO:<jura@firma1.intr>")
            client.command("DATA")
            client.send(message("dlouhy") + b"a" * length + b"\r\n.\r\n")
            assert client.reply() == "500 5.5.2 Error: line too long"
        assert store.total() == 0
        client.command("MAIL FROM:<nekdo@firma1.intr>")
        client.command("RCPT TO:<jura@firma1.intr>")
        client.command("DATA")
        assert client.command(message("kratky").decode() + ".").startswith("250 2.0.0")
    assert store.total() == 1


def test_too_many_recipients() -> None:
    store = MemoryStore()
    postfix = {"smtpd_recipient_limit": "2", "smtpd_hard_error_limit": "2"}
    with ServerThread(store, postfix=postfix) as server, Client(server.port()) as client:
        client.reply()
        client.command("MAIL FROM:<anna@firma2.intr>")
        replies = [client.command(f"RCPT TO:<{u}@firma1.intr>") for u in ("jura", "nekdo", "petra")]
        # within smtpd_recipient_overshoot_limit the 452s are not errors: no 421 after two
        replies.append(client.command("RCPT TO:<petra@firma1.intr>"))
        client.command("DATA")
        assert client.command(message("obezník").decode() + ".").startswith("250 2.0.0")
    assert (
        replies == ["250 2.1.5 Ok", "250 2.1.5 Ok"] + ["452 4.5.3 Error: too many recipients"] * 2
    )
    assert [len(store.mailbox(u).bodies()) for u in ("jura", "nekdo", "petra")] == [1, 1, 0]


# -- AUTH (RFC 4954) ------------------------------------------------------------------------------
def test_cleartext_auth_needs_tls_when_the_passdb_says_so() -> None:
    """auth_allow_cleartext = no: PLAIN and LOGIN are refused before STARTTLS (the password
    would cross the network in clear), CRAM-MD5 is not cleartext, and after STARTTLS PLAIN
    works."""
    strict = AuthSettings(allow_cleartext=False, mechanisms=("PLAIN", "LOGIN", "CRAM-MD5"))
    certificates = Certificates()
    with ServerThread(
        MemoryStore(), tls_context=certificates.server_context(), auth=strict
    ) as server:
        with Client(server.port()) as client:
            client.reply()
            client.command("EHLO client")
            for attempt in (f"AUTH PLAIN {auth_plain('jura', 'heslo')}", "AUTH LOGIN"):
                assert client.command(attempt) == (
                    "535 5.7.8 Error: authentication failed: "
                    "Plaintext authentication disallowed on non-secure (SSL/TLS) connections"
                )
            client.command("STARTTLS")
            client.starttls(certificates.client_context())
            client.command("EHLO client")
            assert client.command(f"AUTH PLAIN {auth_plain('jura', 'heslo')}") == (
                "235 2.7.0 Authentication successful"
            )
            assert client.command(f"AUTH PLAIN {auth_plain('jura', 'heslo')}") == (
                "503 5.5.1 Error: already authenticated"
            )
        with Client(server.port()) as client:
            client.reply()
            challenge = client.command("AUTH CRAM-MD5")
            nonce = base64.b64decode(challenge.split()[1])
            digest = hmac.new(b"heslo", nonce, hashlib.md5).hexdigest()
            answer = base64.b64encode(f"nekdo {digest}".encode()).decode()
            assert client.command(answer) == "235 2.7.0 Authentication successful"


@pytest.mark.parametrize(
    ("address", "tls", "reply"),
    [
        ("192.0.2.7", False, "535 5.7.8"),
        ("192.0.2.7", True, "235 2.7.0"),
        ("127.0.0.2", False, "235 2.7.0"),
    ],
)
def test_auth_before_tls_off_loopback_is_refused(address: str, tls: bool, reply: str) -> None:
    """The lab listens on loopback only, so a client off loopback is simulated: the handler
    asked about a session from 192.0.2.7 refuses a cleartext password until TLS is on, even
    with the classroom's auth_allow_cleartext."""
    scenario = lecture_scenario()
    policy = HostPolicy(scenario.hosts[NEO], scenario)
    passdb = PassDB.from_scenario(scenario, NEO, LECTURE_AUTH)
    handler = PolicyHandler(policy, Spool(policy, MemoryStore()), passdb)

    async def attempt() -> str:
        server = SimpleNamespace(client_address=address, tls_active=tls)
        session = MailSession(asyncio.get_running_loop())
        answer = await handler.handle_AUTH(
            server, session, None, ["PLAIN", auth_plain("jura", "heslo")]
        )
        assert bool(session.sasl_username) is answer.startswith("235")
        return answer

    assert asyncio.run(attempt()).startswith(reply)


def test_auth_failures_and_malformed_base64() -> None:
    with ServerThread(MemoryStore()) as server, Client(server.port()) as client:
        client.reply()
        replies = [
            client.command(f"AUTH PLAIN {auth_plain('jura', 'spatne')}"),
            client.command("AUTH PLAIN !!notbase64!!"),
            client.command("AUTH PLAIN"),
            client.command("%%%"),
            client.command("AUTH LOGIN"),
            client.command("*"),
            client.command("AUTH DIGEST-MD5"),
            client.command("AUTH"),
        ]
        client.command("MAIL FROM:<nekdo@firma1.intr>")
        replies.append(client.command(f"AUTH PLAIN {auth_plain('jura', 'heslo')}"))
    assert replies == [
        "535 5.7.8 Error: authentication failed: authentication failure",
        "535 5.7.8 Error: authentication failed: Invalid base64 data in initial response",
        "334 ",
        "535 5.7.8 Error: authentication failed: Invalid base64 data in continued response",
        "334 VXNlcm5hbWU6",
        "501 5.7.0 Authentication aborted",
        "535 5.7.8 Error: authentication failed: Invalid authentication mechanism",
        "501 5.5.4 Syntax: AUTH mechanism",
        "503 5.5.1 Error: MAIL transaction in progress",
    ]


def test_auth_disabled_and_tls_auth_only() -> None:
    with (
        ServerThread(MemoryStore(), postfix={"smtpd_sasl_auth_enable": "no"}) as server,
        Client(server.port()) as client,
    ):
        client.reply()
        assert not any(line.startswith("250-AUTH") for line in client.command("EHLO c").split())
        assert client.command("AUTH PLAIN") == "503 5.5.1 Error: authentication not enabled"
    with (
        ServerThread(MemoryStore(), postfix={"smtpd_tls_auth_only": "yes"}) as server,
        Client(server.port()) as client,
    ):
        client.reply()
        assert "AUTH" not in client.command("EHLO c")
        assert client.command(f"AUTH PLAIN {auth_plain('jura', 'heslo')}") == (
            "504 5.5.4 Encryption required for requested authentication mechanism"
        )


# -- timeouts, error and connection floods ------------------------------------------------------
TIMEOUT = "421 4.4.2 neo.firma1.intr Error: timeout exceeded"


@pytest.mark.parametrize("stalled", [b"", b"MAIL FROM:<slow", b"DATA-phase"])
def test_idle_and_slow_clients_are_cut_off(stalled: bytes) -> None:
    """smtpd_timeout = 1s: an idle client, one that trickles half a command, one stuck
    mid-message. Each is told 421 and dropped; nothing partial is stored; another client is
    served meanwhile."""
    store = MemoryStore()
    with (
        ServerThread(store, postfix={"smtpd_timeout": "1s"}) as server,
        Client(server.port()) as slow,
        Client(server.port()) as other,
    ):
        slow.reply()
        if stalled == b"DATA-phase":
            slow.command("MAIL FROM:<nekdo@firma1.intr>")
            slow.command("RCPT TO:<jura@firma1.intr>")
            slow.command("DATA")
            slow.send(b"Subject: half\r\n\r\nhalf a messa")
        else:
            slow.send(stalled)
        other.reply()
        other.command("MAIL FROM:<anna@firma2.intr>")
        other.command("RCPT TO:<nekdo@firma1.intr>")
        other.command("DATA")
        assert other.command(message("rychle").decode() + ".").startswith("250 2.0.0")
        assert slow.until_closed().decode() == TIMEOUT + "\r\n"
    assert store.mailbox("jura").bodies() == []
    assert len(store.mailbox("nekdo").bodies()) == 1


def test_hard_error_limit_ends_the_session() -> None:
    with (
        ServerThread(MemoryStore(), postfix={"smtpd_hard_error_limit": "3"}) as server,
        Client(server.port()) as client,
    ):
        client.reply()
        replies = [client.command(c) for c in ("HELP", "RCPT TO:<a@b.c>", "")]
        assert replies == [
            "502 5.5.2 Error: command not recognized",
            "503 5.5.1 Error: need MAIL command",
            "500 5.5.2 Error: bad syntax",
        ]
        assert client.until_closed() == b"421 4.7.0 neo.firma1.intr Error: too many errors\r\n"


def test_connections_per_client_are_limited() -> None:
    postfix = {"smtpd_client_connection_count_limit": "2"}
    with ServerThread(MemoryStore(), postfix=postfix) as server:
        port = server.port()
        with Client(port) as first, Client(port) as second:
            assert first.reply().startswith("220") and second.reply().startswith("220")
            with Client(port) as third:
                assert third.until_closed() == (
                    b"421 4.7.0 neo.firma1.intr Error: too many connections from 127.0.0.1\r\n"
                )
            with Client(port, source=OUTSIDE) as elsewhere:
                assert elsewhere.reply().startswith("220")
            assert first.command("QUIT") == "221 2.0.0 Bye"
            assert first.until_closed() == b""
            with Client(port) as fourth:
                assert fourth.reply().startswith("220")
            assert second.command("NOOP") == "250 2.0.0 Ok"


def test_process_limit_queues_clients_until_a_session_ends() -> None:
    """smtpd_process_limit = 1: the second client is connected but not greeted until the
    first one leaves, as it would wait for a free smtpd process."""
    with (
        ServerThread(MemoryStore(), postfix={"smtpd_process_limit": "1"}) as server,
        Client(server.port()) as first,
        Client(server.port()) as second,
    ):
        assert first.reply().startswith("220")
        assert first.command("QUIT") == "221 2.0.0 Bye"
        assert second.reply().startswith("220")
        assert second.command("NOOP") == "250 2.0.0 Ok"
