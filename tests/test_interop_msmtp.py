"""Interop: msmtp, a sendmail-like MUA helper (GnuTLS, GNU SASL), submits through the server.

Plain SMTP from inside mynetworks, submission with STARTTLS (certificate checked against the
test CA) and each AUTH mechanism, SMTPS, and a wrong password, which msmtp must report.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from interop import require_tool
from smtp_fakes import Certificates, MemoryStore, ServerThread, message

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def certificates() -> Certificates:
    return Certificates()


@pytest.fixture
def files(certificates: Certificates, tmp_path: Path) -> tuple[Path, Path]:
    """The CA file and an empty msmtp configuration (so no ~/.msmtprc is read)."""
    ca = tmp_path / "ca.pem"
    certificates.ca_file.write_to_path(str(ca))
    config = tmp_path / "msmtprc"
    config.write_text("")
    config.chmod(0o600)
    return ca, config


@pytest.fixture
def server(certificates: Certificates) -> Iterator[ServerThread]:
    with ServerThread(
        MemoryStore(),
        tls_context=certificates.server_context(),
        services={"smtp": 0, "submission": 0, "smtps": 0},
    ) as running:
        yield running


def msmtp(config: Path, port: int, *options: str) -> subprocess.CompletedProcess[bytes]:
    """Submit one message to jura with msmtp and return what it did."""
    command = [
        require_tool("msmtp"),
        f"--file={config}",
        "--host=127.0.0.1",
        f"--port={port}",
        "--from=nekdo@firma1.intr",
        "--domain=msmtp.firma1.intr",
        "--timeout=10",
        *options,
        "jura@firma1.intr",
    ]
    return subprocess.run(
        command, input=message("msmtp"), capture_output=True, timeout=60, check=False
    )


def delivered(server: ServerThread) -> int:
    return len(server.store.mailbox("jura").bodies())


def test_plain_smtp(server: ServerThread, files: tuple[Path, Path]) -> None:
    done = msmtp(files[1], server.port(), "--tls=off", "--auth=off")
    assert done.returncode == 0, done.stderr
    assert delivered(server) == 1


@pytest.mark.parametrize("mechanism", ["plain", "login", "cram-md5"])
def test_submission_starttls_and_auth(
    server: ServerThread, files: tuple[Path, Path], mechanism: str
) -> None:
    ca, config = files
    done = msmtp(
        config,
        server.port("submission"),
        "--tls=on",
        "--tls-starttls=on",
        f"--tls-trust-file={ca}",
        f"--auth={mechanism}",
        "--user=jura",
        "--passwordeval=echo heslo",
    )
    assert done.returncode == 0, done.stderr
    assert delivered(server) == 1


def test_smtps(server: ServerThread, files: tuple[Path, Path]) -> None:
    ca, config = files
    done = msmtp(
        config,
        server.port("smtps"),
        "--tls=on",
        "--tls-starttls=off",
        f"--tls-trust-file={ca}",
        "--auth=on",
        "--user=nekdo",
        "--passwordeval=echo heslo",
    )
    assert done.returncode == 0, done.stderr
    assert delivered(server) == 1


def test_wrong_password_is_reported(server: ServerThread, files: tuple[Path, Path]) -> None:
    ca, config = files
    done = msmtp(
        config,
        server.port("submission"),
        "--tls=on",
        f"--tls-trust-file={ca}",
        "--auth=plain",
        "--user=jura",
        "--passwordeval=echo spatne",
    )
    assert done.returncode != 0
    assert b"535 5.7.8 Error: authentication failed" in done.stderr
    assert delivered(server) == 0
