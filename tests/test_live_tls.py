"""The lab CA and host certificates: real handshakes on loopback, SANs, reuse, key file modes."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import re
import ssl
import stat
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

import mailsim.live.tls as tls
from mailsim.cli import main
from mailsim.errors import MailsimError
from mailsim.live.tls import CA_DAYS, HOST_DAYS, LabCA, explain_certificates

NEO = "neo.firma1.intr"
GREETING = b"220 neo.firma1.intr ESMTP mailsim\r\n"


@pytest.fixture
def ca(tmp_path: Path) -> LabCA:
    return LabCA(tmp_path / "tls")


async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A server that greets as the lecture's Postfix does and hangs up."""
    writer.write(GREETING)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def exchange(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext, server_hostname: str
) -> tuple[bytes, str]:
    """Serve TLS on 127.0.0.1 (a free port), connect, return the greeting and the TLS version."""
    server = await asyncio.start_server(greet, "127.0.0.1", 0, ssl=server_context)
    async with server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context, server_hostname=server_hostname
        )
        try:
            line = await reader.readline()
            version = writer.get_extra_info("ssl_object").version()
        finally:
            writer.close()
            await writer.wait_closed()
    return line, version


def handshake(ca: LabCA, host: str, server_hostname: str) -> tuple[bytes, str]:
    return asyncio.run(exchange(ca.server_context(host), ca.client_context(), server_hostname))


def test_handshake_by_host_name(ca: LabCA) -> None:
    ca.issue(NEO, ["127.0.1.4"])
    line, version = handshake(ca, NEO, NEO)
    assert line == GREETING
    assert version in {"TLSv1.2", "TLSv1.3"}


def test_handshake_by_lab_address(ca: LabCA) -> None:
    """openssl s_client -connect 127.0.0.1:995 verifies the IP SAN, not a name."""
    ca.issue(NEO, ["127.0.0.1"])
    assert handshake(ca, NEO, "127.0.0.1")[0] == GREETING


def test_client_refuses_a_name_the_certificate_does_not_carry(ca: LabCA) -> None:
    ca.issue(NEO, ["127.0.1.4"])
    with pytest.raises(ssl.SSLCertVerificationError, match=re.escape("mx.firma2.intr")):
        handshake(ca, NEO, "mx.firma2.intr")


def test_client_refuses_a_certificate_from_another_ca(ca: LabCA) -> None:
    stranger = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    stranger.issue_cert(NEO).configure_cert(server_context)
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        asyncio.run(exchange(server_context, ca.client_context(), NEO))


def test_contexts_allow_tls_1_2_and_later_only(ca: LabCA) -> None:
    ca.issue(NEO)
    server, client = ca.server_context(NEO), ca.client_context()
    assert server.minimum_version == client.minimum_version == ssl.TLSVersion.TLSv1_2
    assert client.verify_mode == ssl.CERT_REQUIRED
    assert client.check_hostname


def test_host_certificate_is_signed_by_the_ca_for_name_and_address(ca: LabCA) -> None:
    issued = ca.issue("NEO.firma1.intr.", ["127.0.1.4"])
    assert (issued.host, issued.addresses) == (NEO, ("127.0.1.4",))
    cert = x509.load_pem_x509_certificate(issued.cert_file.read_bytes())
    cert.verify_directly_issued_by(ca.certificate)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [NEO]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.1.4")]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == dt.timedelta(days=HOST_DAYS, minutes=5)
    request = x509.load_pem_x509_csr(issued.csr_file.read_bytes())
    assert request.is_signature_valid
    assert request.subject == cert.subject


def test_ca_certificate_is_a_ca_for_ten_years(ca: LabCA) -> None:
    cert = x509.load_pem_x509_certificate(ca.ca_file.read_bytes())
    assert cert.subject == cert.issuer
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == dt.timedelta(days=CA_DAYS, minutes=5)


def test_keys_are_private_files(tmp_path: Path) -> None:
    """chmod 600 smtpd.key, whatever the umask (the key is created with its mode)."""
    old = os.umask(0)
    try:
        ca = LabCA(tmp_path / "tls")
        issued = ca.issue(NEO)
    finally:
        os.umask(old)
    assert stat.S_IMODE(issued.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(ca.ca_key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(issued.cert_file.stat().st_mode) == 0o644
    assert stat.S_IMODE(ca.ca_file.stat().st_mode) == 0o644
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == [
        "ca.key",
        "ca.pem",
        f"{NEO}.crt",
        f"{NEO}.csr",
        f"{NEO}.key",
    ]


def test_second_start_reuses_the_files(tmp_path: Path) -> None:
    first = LabCA(tmp_path / "tls")
    issued = first.issue(NEO, ["127.0.1.4"])
    files = {p.name: p.read_bytes() for p in (tmp_path / "tls").iterdir()}
    second = LabCA(tmp_path / "tls")
    again = second.issue(NEO, ["127.0.1.4"])
    assert (first.created, issued.created, second.created, again.created) == (
        True,
        True,
        False,
        False,
    )
    assert {p.name: p.read_bytes() for p in (tmp_path / "tls").iterdir()} == files


def test_reuse_tightens_a_key_made_readable(ca: LabCA) -> None:
    issued = ca.issue(NEO)
    issued.key_file.chmod(0o644)
    assert not ca.issue(NEO).created
    assert stat.S_IMODE(issued.key_file.stat().st_mode) == 0o600


def test_a_new_address_gets_a_new_certificate(ca: LabCA) -> None:
    ca.issue(NEO, ["127.0.1.4"])
    moved = ca.issue(NEO, ["127.0.2.4"])
    assert moved.created
    assert LabCA(ca.directory).issue(NEO, ["127.0.2.4"]).created is False


def test_a_new_ca_reissues_the_host_certificates(tmp_path: Path) -> None:
    LabCA(tmp_path / "tls").issue(NEO)
    (tmp_path / "tls" / "ca.pem").write_text("not a certificate\n")
    ca = LabCA(tmp_path / "tls")
    assert ca.created
    assert ca.issue(NEO).created
    assert handshake(ca, NEO, NEO)[0] == GREETING


def test_a_certificate_close_to_expiry_is_replaced(
    ca: LabCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tls, "HOST_DAYS", 10)  # inside the 30 days of RENEW_BEFORE
    ca.issue(NEO)
    monkeypatch.setattr(tls, "HOST_DAYS", HOST_DAYS)
    assert ca.issue(NEO).created
    assert not ca.issue(NEO).created


def test_server_context_needs_an_issued_certificate(ca: LabCA) -> None:
    with pytest.raises(MailsimError, match=re.escape("no certificate for neo.firma1.intr")):
        ca.server_context(NEO)


@pytest.mark.parametrize("name", ["../etc/passwd", "neo firma1", "-neo.intr", ""])
def test_host_names_are_checked(ca: LabCA, name: str) -> None:
    with pytest.raises(ValueError, match="not a host name"):
        ca.issue(name)


def test_explanation_names_every_file_and_the_lecture_step(ca: LabCA) -> None:
    text = explain_certificates(ca, [ca.issue(NEO, ["127.0.1.4"])])
    for expected in (
        "openssl genrsa -des3 -rand /etc/hosts -out smtpd.key 1024",
        f"-> {NEO}.key  the host's PRIVATE KEY",
        "openssl req -new -key smtpd.key -out smtpd.csr",
        f"-> {NEO}.csr  the CERTIFICATE SIGNING REQUEST",
        "subjectAltName DNS:neo.firma1.intr, IP:127.0.1.4",
        "openssl x509 -req -days 3650 -in smtpd.csr -signkey smtpd.key -out smtpd.crt",
        f"-> {NEO}.crt  the SIGNED CERTIFICATE",
        "openssl req -new -x509 -extensions v3_ca -keyout cakey.pem -out cacert.pem -days 3650",
        "-> ca.pem  the CA CERTIFICATE",
        f"smtpd_tls_CAfile = {ca.ca_file}",
        f"openssl verify -CAfile {ca.ca_file} {ca.directory / (NEO + '.crt')}",
    ):
        assert expected in text


FIRMA1 = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "firma1.yaml"


def test_mailsim_certs_issues_for_every_host_then_reuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "lab" / "tls"
    assert main(["certs", "--dir", str(directory), "--scenario", str(FIRMA1)]) == 0
    first = capsys.readouterr().out
    assert first.startswith(f"Lab CA and host certificates in {directory} (CA created now)\n")
    hosts = ["mx.firma2.intr", "mx1.firma3.intr", "mx2.firma3.intr", "neo.firma1.intr"]
    expected = {f"{host}.{ext}" for host in hosts for ext in ("key", "csr", "crt")}
    assert {p.name for p in directory.iterdir()} == {"ca.pem", "ca.key", *expected}
    assert "subjectAltName DNS:neo.firma1.intr, IP:127.0.1.4 (what clients check)." in first
    assert f"smtpd_tls_cert_file = {directory / 'neo.firma1.intr.crt'}" in first
    cert = x509.load_pem_x509_certificate((directory / "neo.firma1.intr.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.1.4"]
    assert main(["certs", "--dir", str(directory), "--scenario", str(FIRMA1)]) == 0
    second = capsys.readouterr().out
    assert "(CA reused from an earlier start)" in second
    assert " created\n" not in second
    assert second.count(" reused\n") == 2 + 3 * len(hosts)


def test_mailsim_certs_without_a_scenario_makes_only_the_ca(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.key", "ca.pem"]
    assert out.rstrip().endswith("give --scenario to issue a certificate for every host.")
