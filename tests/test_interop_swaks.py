"""Interop: swaks, the SMTP test tool, sends through the live server as a student would.

Plain SMTP, STARTTLS with the certificate verified against the test CA, AUTH PLAIN, LOGIN and
CRAM-MD5, submission (STARTTLS then AUTH), SMTPS (TLS on connect), and a relay attempt from
outside mynetworks, which swaks must see refused.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from interop import require_tool
from smtp_fakes import Certificates, MemoryStore, ServerThread

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def certificates() -> Certificates:
    return Certificates()


@pytest.fixture
def ca_file(certificates: Certificates, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    certificates.ca_file.write_to_path(str(path))
    return path


@pytest.fixture
def server(certificates: Certificates) -> Iterator[ServerThread]:
    with ServerThread(
        MemoryStore(),
        postfix={"mynetworks": "127.0.0.1/32"},
        tls_context=certificates.server_context(),
        services={"smtp": 0, "submission": 0, "smtps": 0},
    ) as running:
        yield running


def swaks(port: int, *options: str) -> subprocess.CompletedProcess[str]:
    """Send one message with swaks (from nekdo to jura) and return what it did."""
    command = [
        require_tool("swaks"),
        *("--server", "127.0.0.1", "--port", str(port)),
        *("--from", "nekdo@firma1.intr", "--to", "jura@firma1.intr"),
        *("--helo", "swaks.firma1.intr", "--header", "Subject: swaks", "--timeout", "10"),
        *options,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def delivered(server: ServerThread) -> int:
    return len(server.store.mailbox("jura").bodies())


def test_plain_smtp(server: ServerThread) -> None:
    done = swaks(server.port())
    assert done.returncode == 0, done.stdout
    assert "<-  220 neo.firma1.intr ESMTP mailsim" in done.stdout
    assert "<-  250 2.0.0 Ok: queued as " in done.stdout
    assert delivered(server) == 1


def test_starttls_with_verified_certificate(server: ServerThread, ca_file: Path) -> None:
    done = swaks(server.port(), "--tls", "--tls-verify", "--tls-ca-path", str(ca_file))
    assert done.returncode == 0, done.stdout
    assert "<-  220 2.0.0 Ready to start TLS" in done.stdout
    assert delivered(server) == 1


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_auth_on_the_smtp_port(server: ServerThread, mechanism: str) -> None:
    """From the server's own address AUTH works without TLS (Dovecot counts it secure)."""
    done = swaks(
        server.port(), "--auth", mechanism, "--auth-user", "jura", "--auth-password", "heslo"
    )
    assert done.returncode == 0, done.stdout
    assert "<-  235 2.7.0 Authentication successful" in done.stdout
    assert delivered(server) == 1


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_submission_starttls_then_auth(server: ServerThread, ca_file: Path, mechanism: str) -> None:
    done = swaks(
        server.port("submission"),
        *("--tls", "--tls-verify", "--tls-ca-path", str(ca_file)),
        *("--auth", mechanism, "--auth-user", "jura@firma1.intr", "--auth-password", "heslo"),
    )
    assert done.returncode == 0, done.stdout
    assert "<~  235 2.7.0 Authentication successful" in done.stdout
    assert delivered(server) == 1


def test_smtps(server: ServerThread, ca_file: Path) -> None:
    done = swaks(
        server.port("smtps"),
        *("--tls-on-connect", "--tls-verify", "--tls-ca-path", str(ca_file)),
        *("--auth", "PLAIN", "--auth-user", "nekdo", "--auth-password", "heslo"),
    )
    assert done.returncode == 0, done.stdout
    assert "<~  250 2.0.0 Ok: queued as " in done.stdout
    assert delivered(server) == 1


def test_relay_attempt_from_outside_is_refused(server: ServerThread) -> None:
    done = swaks(server.port(), "--local-interface", "127.0.0.2", "--to", "x@firma9.example")
    assert done.returncode != 0
    assert "<** 554 5.7.1 <x@firma9.example>: Relay access denied" in done.stdout
    assert delivered(server) == 0
