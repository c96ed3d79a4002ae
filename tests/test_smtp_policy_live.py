"""The live smtpd decides as the policy does: relay control, unknown users, sizes, aliases, the
MDA, VRFY, ETRN and the transaction's order of commands; and Python's smtplib gets its mail in.

The relay tests bind the client to :data:`~smtp_fakes.OUTSIDE` (127.0.0.2), outside
``mynetworks = 127.0.0.1/32``, as the reference log's relay attempts came from unknown[127.0.5.x].
"""

from __future__ import annotations

import smtplib
import ssl

import pytest

from mailsim.live.smtp_server import SMTPServer, live_host
from mailsim.policy.host import HostPolicy

from smtp_fakes import (
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

LAN_ONLY = {"mynetworks": "127.0.0.1/32"}


def session(client: Client, *commands: str) -> list[str]:
    """Read the banner, send ``commands`` one by one and return the replies."""
    client.reply()
    return [client.command(command) for command in commands]


def test_relay_from_outside_mynetworks_is_denied_and_nothing_queued() -> None:
    store = MemoryStore()
    with (
        ServerThread(store, postfix=LAN_ONLY) as server,
        Client(server.port(), source=OUTSIDE) as c,
    ):
        replies = session(
            c,
            "EHLO spammer.example",
            "MAIL FROM:<promo@cheap-offers.example>",
            "RCPT TO:<a.novak@firma9.example>",
            "RCPT TO:<b.svoboda@firma9.example>",
            "DATA",
            "QUIT",
        )
    assert replies[1:] == [
        "250 2.1.0 Ok",
        "554 5.7.1 <a.novak@firma9.example>: Relay access denied",
        "554 5.7.1 <b.svoboda@firma9.example>: Relay access denied",
        "554 5.5.1 Error: no valid recipients",
        "221 2.0.0 Bye",
    ]
    assert store.total() == 0


def test_outside_client_may_still_mail_local_users() -> None:
    store = MemoryStore()
    with (
        ServerThread(store, postfix=LAN_ONLY) as server,
        Client(server.port(), source=OUTSIDE) as c,
    ):
        replies = session(c, "HELO mx.firma2.intr", "MAIL FROM:<anna@firma2.intr>")
        replies.append(c.command("RCPT TO:<jura@firma1.intr>"))
        replies.append(c.command("DATA"))
        replies.append(c.command(message("Re: objednavka").decode() + "."))
    assert replies[0] == f"250 {NEO}"
    assert replies[1:4] == ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"]
    assert replies[4].startswith("250 2.0.0 Ok: queued as ")
    assert len(store.mailbox("jura").bodies()) == 1


def test_relay_from_mynetworks_is_deferred_until_the_node_can_relay() -> None:
    """The restrictions permit it (permit_mynetworks); with no queue and smtp client yet, the
    node defers the recipient instead of accepting mail it cannot pass on."""
    with ServerThread(MemoryStore()) as server, Client(server.port()) as client:
        replies = session(client, "MAIL FROM:<jura@firma1.intr>", "RCPT TO:<anna@firma2.intr>")
    assert replies[1] == (
        "450 4.3.2 <anna@firma2.intr>: Recipient address rejected: relay transport not available"
    )


def test_unknown_local_user_is_rejected_550_5_1_1() -> None:
    store = MemoryStore()
    with ServerThread(store) as server, Client(server.port()) as client:
        replies = session(
            client,
            "MAIL FROM:<anna@firma2.intr>",
            "RCPT TO:<nosuch@firma1.intr>",
            "RCPT TO:<jura@firma1.intr>",
        )
    assert replies[1] == (
        "550 5.1.1 <nosuch@firma1.intr>: Recipient address rejected: "
        "User unknown in local recipient table"
    )
    assert replies[2] == "250 2.1.5 Ok"


def test_alias_delivers_to_every_member() -> None:
    store = MemoryStore()
    with ServerThread(store) as server, Client(server.port()) as client:
        session(client, "MAIL FROM:<anna@firma2.intr>", "RCPT TO:<info@firma1.intr>", "DATA")
        assert client.command(message("dotaz").decode() + ".").startswith("250 2.0.0")
    assert [len(store.mailbox(user).bodies()) for user in ("jura", "nekdo")] == [1, 1]


def test_mda_rule_files_spam_into_its_folder() -> None:
    store = MemoryStore()
    with ServerThread(store) as server, Client(server.port()) as client:
        session(client, "MAIL FROM:<anna@firma2.intr>", "RCPT TO:<jura@firma1.intr>", "DATA")
        client.command(message("[SPAM] Levne hodinky").decode() + ".")
    jura = store.mailbox("jura")
    assert jura.bodies() == [] and len(jura.bodies(".Spam")) == 1


def test_declared_size_over_message_size_limit_is_refused_at_mail() -> None:
    with (
        ServerThread(MemoryStore(), postfix={"message_size_limit": "2000"}) as server,
        Client(server.port()) as client,
    ):
        replies = session(
            client, "EHLO c", "MAIL FROM:<nekdo@firma1.intr> SIZE=2001", "MAIL FROM:<x@y.z> SIZE=20"
        )
    assert "250-SIZE 2000" in replies[0].splitlines()
    assert replies[1:] == ["552 5.3.4 Message size exceeds fixed limit", "250 2.1.0 Ok"]


@pytest.mark.parametrize(("size", "accepted"), [(2000, True), (2001, False)])
def test_actual_size_is_checked_after_data(size: int, accepted: bool) -> None:
    """Postfix counts every line with its CRLF; one octet over the limit and nothing is kept."""
    store = MemoryStore()
    data = message("velka", size=size - 100)
    data += b"y" * (size - len(data) - 2) + b"\r\n"
    assert len(data) == size
    with (
        ServerThread(store, postfix={"message_size_limit": "2000"}) as server,
        Client(server.port()) as client,
    ):
        session(client, "MAIL FROM:<nekdo@firma1.intr>", "RCPT TO:<jura@firma1.intr>", "DATA")
        client.send(data + b".\r\n")
        reply = client.reply()
        after = client.command("NOOP")
    assert (
        reply.startswith("250 2.0.0")
        if accepted
        else reply == ("552 5.3.4 Message size exceeds fixed limit")
    )
    assert len(store.mailbox("jura").bodies()) == (1 if accepted else 0)
    assert after == "250 2.0.0 Ok"


def test_null_sender_is_accepted_for_bounces() -> None:
    store = MemoryStore()
    with ServerThread(store) as server, Client(server.port()) as client:
        replies = session(client, "MAIL FROM:<>", "RCPT TO:<jura@firma1.intr>", "DATA")
        replies.append(client.command(message("Undelivered Mail").decode() + "."))
    assert replies[:2] == ["250 2.1.0 Ok", "250 2.1.5 Ok"]
    assert replies[3].startswith("250 2.0.0 Ok: queued as")


def test_commands_out_of_order() -> None:
    with ServerThread(MemoryStore()) as server, Client(server.port()) as client:
        replies = session(
            client,
            "RCPT TO:<jura@firma1.intr>",
            "DATA",
            "MAIL FROM:<nekdo@firma1.intr>",
            "MAIL FROM:<nekdo@firma1.intr>",
            "DATA",
            "MAIL FROM:nekdo@firma1.intr BODY=8BITMIME SMTPUTF8",
            "RSET",
            "MAIL FROM:<a> XYZ=1",
            "MAIL FROM:<a@b.c> SIZE=lots",
            "MAIL TO:<a@b.c>",
            "RCPT TO:<jura@firma1.intr> NOTIFY=NEVER",
        )
    assert replies == [
        "503 5.5.1 Error: need MAIL command",
        "503 5.5.1 Error: need RCPT command",
        "250 2.1.0 Ok",
        "503 5.5.1 Error: nested MAIL command",
        "554 5.5.1 Error: no valid recipients",
        "503 5.5.1 Error: nested MAIL command",
        "250 2.0.0 Ok",
        "555 5.5.4 Unsupported option: XYZ=1",
        "501 5.5.4 Bad message size syntax",
        "501 5.5.4 Syntax: MAIL FROM:<address>",
        "503 5.5.1 Error: need MAIL command",
    ]


def test_vrfy_as_postfix() -> None:
    with ServerThread(MemoryStore()) as server, Client(server.port()) as client:
        replies = session(client, "VRFY jura", "VRFY <nosuch@firma1.intr>", "VRFY")
    assert replies == [
        "252 2.0.0 jura",
        "550 5.1.1 <nosuch@firma1.intr>: Recipient address rejected: "
        "User unknown in local recipient table",
        "501 5.5.4 Syntax: VRFY address",
    ]


def test_disable_vrfy_command() -> None:
    with (
        ServerThread(MemoryStore(), postfix={"disable_vrfy_command": "yes"}) as server,
        Client(server.port()) as client,
    ):
        replies = session(client, "EHLO c", "VRFY jura")
    assert "250-VRFY" not in replies[0].splitlines()
    assert replies[1] == "502 5.5.1 VRFY command is disabled"


def test_etrn_for_relay_domains_only() -> None:
    """fast_flush_domains = $relay_domains (the lecture: relay_domains = $mydestination)."""
    with (
        ServerThread(MemoryStore(), postfix={"relay_domains": "$mydestination"}) as server,
        Client(server.port()) as client,
    ):
        replies = session(client, "ETRN firma1.intr", "ETRN @firma2.intr", "ETRN", "ETRN a..b")
    assert replies == [
        "250 Queuing started",
        "459 <firma2.intr>: service unavailable",
        "500 Syntax: ETRN domain",
        "501 Error: invalid parameter syntax",
    ]


def test_store_failure_is_a_temporary_error_and_nothing_is_acknowledged() -> None:
    store = MemoryStore()
    store.mailbox("jura").fail = True
    with ServerThread(store) as server, Client(server.port()) as client:
        session(client, "MAIL FROM:<nekdo@firma1.intr>", "RCPT TO:<jura@firma1.intr>", "DATA")
        assert client.command(message("x").decode() + ".") == (
            "451 4.3.0 Error: queue file write error"
        )
        assert client.command("NOOP") == "250 2.0.0 Ok"


# -- the submission and smtps services (master.cf) ---------------------------------------
def test_submission_wants_starttls_then_auth() -> None:
    certificates = Certificates()
    store = MemoryStore()
    with (
        ServerThread(
            store, tls_context=certificates.server_context(), services={"submission": 0}
        ) as server,
        Client(server.port("submission"), source=OUTSIDE) as client,
    ):
        client.reply()
        assert "AUTH" not in client.command("EHLO roaming")
        assert client.command("MAIL FROM:<jura@firma1.intr>") == (
            "530 5.7.0 Must issue a STARTTLS command first"
        )
        assert client.command("AUTH PLAIN") == "530 5.7.0 Must issue a STARTTLS command first"
        client.command("STARTTLS")
        client.starttls(certificates.client_context())
        assert "250-AUTH PLAIN LOGIN CRAM-MD5" in client.command("EHLO roaming").splitlines()
        assert client.command("MAIL FROM:<jura@firma1.intr>") == (
            "530 5.7.0 Authentication required"
        )
        assert client.command(f"AUTH PLAIN {auth_plain('jura', 'heslo')}").startswith("235")
        assert client.command("MAIL FROM:<jura@firma1.intr>") == "250 2.1.0 Ok"
        assert client.command("RCPT TO:<nekdo@firma1.intr>") == "250 2.1.5 Ok"


def test_smtps_is_tls_from_the_first_byte_and_wants_auth() -> None:
    certificates = Certificates()
    with (
        ServerThread(
            MemoryStore(), tls_context=certificates.server_context(), services={"smtps": 0}
        ) as server,
        Client(server.port("smtps"), tls=certificates.client_context()) as client,
    ):
        assert client.reply() == "220 neo.firma1.intr ESMTP mailsim"
        assert "STARTTLS" not in client.command("EHLO c")
        assert client.command("MAIL FROM:<jura@firma1.intr>") == (
            "530 5.7.0 Authentication required"
        )
        assert client.command(f"AUTH PLAIN {auth_plain('nekdo', 'heslo')}").startswith("235")


# -- Python's smtplib ------------------------------------------------------------------------
def test_smtplib_sendmail() -> None:
    store = MemoryStore()
    with ServerThread(store) as server, smtplib.SMTP("127.0.0.1", server.port()) as smtp:
        refused = smtp.sendmail(
            "nekdo@firma1.intr", ["jura@firma1.intr", "nosuch@firma1.intr"], message("ahoj")
        )
    assert refused == {
        "nosuch@firma1.intr": (
            550,
            b"5.1.1 <nosuch@firma1.intr>: Recipient address rejected: "
            b"User unknown in local recipient table",
        )
    }
    assert len(store.mailbox("jura").bodies()) == 1


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_smtplib_submission_starttls_and_auth(mechanism: str) -> None:
    certificates = Certificates()
    store = MemoryStore()
    with (
        ServerThread(
            store,
            tls_context=certificates.server_context(),
            services={"smtp": 0, "submission": 0},
        ) as server,
        smtplib.SMTP("127.0.0.1", server.port("submission")) as smtp,
    ):
        smtp.starttls(context=certificates.client_context())
        smtp.user, smtp.password = "jura", "heslo"
        smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower().replace('-', '_')}"))
        smtp.sendmail("jura@firma1.intr", ["nekdo@firma1.intr"], message("z cesty"))
    assert len(store.mailbox("nekdo").bodies()) == 1


def test_smtplib_smtps() -> None:
    certificates = Certificates()
    store = MemoryStore()
    context: ssl.SSLContext = certificates.client_context()
    with (
        ServerThread(
            store, tls_context=certificates.server_context(), services={"smtps": 0}
        ) as server,
        smtplib.SMTP_SSL("127.0.0.1", server.port("smtps"), context=context) as smtp,
    ):
        smtp.login("nekdo", "heslo")
        smtp.sendmail("nekdo@firma1.intr", ["jura@firma1.intr"], message("smtps"))
    assert len(store.mailbox("jura").bodies()) == 1


# -- configuration -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"address": "10.0.0.1"}, "live servers listen on 127.0.0.0/8 only, not '10.0.0.1'"),
        ({"services": {"pop3": 110}}, "unknown SMTP service 'pop3'"),
        ({"services": {"submission": 0}}, "service 'submission' needs a tls_context"),
    ],
)
def test_server_configuration_errors(options: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        SMTPServer.for_host(lecture_scenario(), NEO, MemoryStore(), **options)


def test_live_node_names_itself_unless_the_scenario_does() -> None:
    scenario = lecture_scenario()
    host = scenario.hosts[NEO]
    assert HostPolicy(live_host(host), scenario).settings.value("mail_name") == "mailsim"
    postfix = lecture_scenario(mail_name="Postfix").hosts[NEO]
    assert live_host(postfix) is postfix
