"""The lab's certificates: one lab CA and a server certificate per host (DESIGN.md section 2).

The lecture (chapter 8, step 10) makes Postfix's and Dovecot's key and certificate by hand with
openssl; this module does the same steps with ``cryptography`` on the lab's first start:

=================================================  =================================================
lecture                                            here (files in the lab's TLS directory)
=================================================  =================================================
``openssl genrsa -des3 ... -out smtpd.key 1024``   ``<host>.key``: ECDSA P-256 key (RSA 1024 is too
``chmod 600 smtpd.key``                            weak today), mode 0600
``openssl req -new -key smtpd.key -out ...csr``    ``<host>.csr``: the request, CN and SANs
``openssl x509 -req -days 3650 ... -out ...crt``   ``<host>.crt``: signed by the lab CA
``openssl rsa -in smtpd.key -out ...unencrypted``  keys are written without a passphrase
``openssl req -new -x509 -extensions v3_ca ...``   ``ca.pem`` (``cacert.pem``), ``ca.key``
=================================================  =================================================

One difference matters: the lecture's smtpd.crt is self-signed (``-signkey``) and its cacert.pem
signs nothing, so no client can verify the server. Here the CA signs every host certificate, so a
client that trusts ``ca.pem`` verifies them all (the name and the lab address are in the SANs).
Files are reused on later starts while valid: same CA, not expiring within 30 days, SANs covering
the host's name and addresses, key matching. TLS contexts allow TLS 1.2 and later only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailsim.errors import MailsimError

__all__ = ["CA_DAYS", "HOST_DAYS", "HostCertificate", "LabCA", "explain_certificates"]

#: CA lifetime: the lecture's ``-days 3650``
CA_DAYS = 3650
#: host certificate lifetime: 825 days, the most macOS/iOS accept for a TLS server certificate
HOST_DAYS = 825
#: a certificate this close to expiry is replaced on start
RENEW_BEFORE = dt.timedelta(days=30)
_HOST_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")


@dataclass(frozen=True, slots=True)
class HostCertificate:
    """A host's files: private key, request and CA-signed certificate; ``created`` says whether
    this start made them (False: valid files from an earlier start were reused)."""

    host: str
    addresses: tuple[str, ...]
    key_file: Path
    csr_file: Path
    cert_file: Path
    created: bool


class LabCA:
    """The lab CA in ``directory``: loaded from ``ca.pem``/``ca.key`` or created there (0700)."""

    def __init__(self, directory: Path | str, *, organization: str = "mailsim lab") -> None:
        self.directory = Path(directory)
        self.organization = organization
        self.ca_file = self.directory / "ca.pem"
        self.ca_key_file = self.directory / "ca.key"
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        loaded = _load_ca(self.ca_file, self.ca_key_file)
        self.created = loaded is None
        if loaded is None:
            loaded = self._create_ca()
        self._cert, self._key = loaded

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    def paths(self, host: str) -> tuple[Path, Path, Path]:
        """Return ``host``'s key, request and certificate paths; raise ValueError for a bad name."""
        name = host.lower().rstrip(".")
        if not _HOST_NAME.match(name):
            raise ValueError(f"not a host name: {host!r}")
        key, csr, crt = (self.directory / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
        return key, csr, crt

    def issue(self, host: str, addresses: Iterable[str] = ()) -> HostCertificate:
        """Return ``host``'s certificate for its name and ``addresses`` (IP SANs), reusing valid
        files from an earlier start, else making the key, the request and the signed certificate."""
        key_file, csr_file, cert_file = self.paths(host)
        name = host.lower().rstrip(".")
        ips = tuple(str(ipaddress.ip_address(a)) for a in addresses)
        if self._valid(name, ips, key_file, cert_file):
            if key_file.stat().st_mode & 0o077:
                key_file.chmod(0o600)
            return HostCertificate(name, ips, key_file, csr_file, cert_file, created=False)
        key = ec.generate_private_key(ec.SECP256R1())  # openssl genrsa
        sans = x509.SubjectAlternativeName(
            [x509.DNSName(name), *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips)]
        )
        csr = (  # openssl req -new -key smtpd.key -out smtpd.csr
            x509.CertificateSigningRequestBuilder()
            .subject_name(self._name(name))
            .add_extension(sans, critical=False)
            .sign(key, hashes.SHA256())
        )
        cert = (  # openssl x509 -req -days ... -in smtpd.csr -CA cacert.pem -out smtpd.crt
            self._builder(csr.subject, csr.public_key(), HOST_DAYS)
            .issuer_name(self._cert.subject)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(sans, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        _write(key_file, _private_pem(key), 0o600)
        _write(csr_file, csr.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return HostCertificate(name, ips, key_file, csr_file, cert_file, created=True)

    def server_context(self, host: str) -> ssl.SSLContext:
        """Return a TLS server context (TLS >= 1.2) presenting ``host``'s issued certificate."""
        key_file, _, cert_file = self.paths(host)
        if not (key_file.exists() and cert_file.exists()):
            raise MailsimError(f"no certificate for {host} in {self.directory}: issue() it first")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_file, key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Return a TLS client context trusting only the lab CA: it verifies the certificate chain
        and the host name or address (TLS >= 1.2, strict X.509 checks as Python 3.13 defaults)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_flags |= ssl.VERIFY_X509_STRICT
        return context

    def _name(self, common_name: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organization),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )

    def _builder(
        self, subject: x509.Name, public_key: CertificatePublicKeyTypes, days: int
    ) -> x509.CertificateBuilder:
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(public_key),
                critical=False,
            )
        )

    def _create_ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """openssl req -new -x509 -extensions v3_ca -keyout cakey.pem -out cacert.pem -days 3650"""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = self._name(f"{self.organization} CA")
        cert = (
            self._builder(subject, key.public_key(), CA_DAYS)
            .issuer_name(subject)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        _write(self.ca_key_file, _private_pem(key), 0o600)
        _write(self.ca_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return cert, key

    def _valid(self, name: str, ips: tuple[str, ...], key_file: Path, cert_file: Path) -> bool:
        """Whether earlier files can be reused: signed by this CA, fresh, SANs and key match."""
        try:
            cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            cert.verify_directly_issued_by(self._cert)
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            return False
        have_ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
        return (
            _fresh(cert)
            and _same_key(cert, key)
            and name in sans.get_values_for_type(x509.DNSName)
            and set(ips) <= have_ips
        )


def _load_ca(
    cert_file: Path, key_file: Path
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """The CA of an earlier start, if it is complete, a CA, its own key's and not expiring."""
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not constraints.ca:
        return None
    if not (_fresh(cert) and _same_key(cert, key)):
        return None
    return cert, key


def _fresh(cert: x509.Certificate) -> bool:
    now = dt.datetime.now(dt.UTC)
    return cert.not_valid_before_utc <= now < cert.not_valid_after_utc - RENEW_BEFORE


def _same_key(cert: x509.Certificate, key: object) -> bool:
    public = getattr(key, "public_key", None)
    if public is None:
        return False
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(public().public_bytes(*der) == cert.public_key().public_bytes(*der))


def _key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8 PEM without a passphrase: what the lecture's ``openssl rsa -in smtpd.key`` leaves,
    so a daemon starts without asking for one."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` atomically with ``mode`` from its creation (a key is never world-readable,
    whatever the umask): a temporary file, fsync, rename."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(fd, mode)
        file.write(data)
        file.flush()
        os.fsync(fd)
    os.replace(temporary, path)


def explain_certificates(
    ca: LabCA, certificates: Iterable[HostCertificate] = (), example: str = ""
) -> str:
    """Return what ``mailsim certs`` prints: each file, the lecture's openssl step it replaces,
    and how Postfix, Dovecot and openssl use it (shown for host ``example``, default the first)."""
    issued = list(certificates)
    d = ca.directory
    state = "created now" if ca.created else "reused from an earlier start"
    host = next((c for c in issued if c.host == example), issued[0] if issued else None)
    name = host.host if host else "<host>"
    sans = ", ".join([f"DNS:{name}", *(f"IP:{ip}" for ip in host.addresses)] if host else [])
    lines = [
        f"Lab CA and host certificates in {d} (CA {state})",
        "",
        "The lecture (chapter 8, step 10) makes them by hand with openssl; mailsim does the same",
        "steps with Python's cryptography package:",
        "",
        "1. openssl genrsa -des3 -rand /etc/hosts -out smtpd.key 1024; chmod 600 smtpd.key",
        f"   -> {name}.key  the host's PRIVATE KEY: ECDSA P-256 (RSA 1024 is too weak today),",
        "      mode 0600, read by the server only; never copy it to a client.",
        "2. openssl req -new -key smtpd.key -out smtpd.csr",
        f"   -> {name}.csr  the CERTIFICATE SIGNING REQUEST: the public key and the name",
        f"      O={ca.organization}, CN={name} (the lecture's FQDN question)"
        + (f",\n      subjectAltName {sans} (what clients check)." if sans else "."),
        "3. openssl x509 -req -days 3650 -in smtpd.csr -signkey smtpd.key -out smtpd.crt",
        f"   -> {name}.crt  the SIGNED CERTIFICATE the server presents, valid {HOST_DAYS} days.",
        "      The lecture signs it with its own key (self-signed, no client can verify it);",
        "      here the lab CA signs it: openssl x509 -req -CA ca.pem -CAkey ca.key.",
        "4. openssl rsa -in smtpd.key -out smtpd.key.unencrypted; mv -f ... smtpd.key",
        "   -> nothing to do: keys are written without a passphrase, so servers start unattended.",
        "5. openssl req -new -x509 -extensions v3_ca -keyout cakey.pem -out cacert.pem -days 3650",
        f"   -> ca.pem  the CA CERTIFICATE (the lecture's cacert.pem), valid {CA_DAYS} days:",
        "      give it to every client to trust (openssl -CAfile, mutt, Thunderbird).",
        "   -> ca.key  the CA's private key (cakey.pem), mode 0600: it signs host certificates.",
        "",
        "Files:",
    ]
    rows = [
        ("ca.pem", "CA certificate: trust this", ca.created),
        ("ca.key", "CA private key (0600)", ca.created),
    ]
    for cert in issued:
        rows += [
            (cert.key_file.name, "private key (0600)", cert.created),
            (cert.csr_file.name, "signing request", cert.created),
            (cert.cert_file.name, "certificate signed by ca.pem", cert.created),
        ]
    width = max(len(row[0]) for row in rows)
    for file, what, created in rows:
        lines.append(
            f"  {file.ljust(width)}  {what.ljust(28)}  {'created' if created else 'reused'}"
        )
    lines += [
        "",
        "In the lecture's main.cf (Postfix) and dovecot.conf they would be:",
        f"  smtpd_tls_key_file = {d / (name + '.key')}",
        f"  smtpd_tls_cert_file = {d / (name + '.crt')}",
        f"  smtpd_tls_CAfile = {ca.ca_file}",
        f"  ssl_cert_file = {d / (name + '.crt')}",
        f"  ssl_key_file = {d / (name + '.key')}",
        "",
        "Look inside and check the signature:",
        f"  openssl x509 -in {d / (name + '.crt')} -noout -text",
        f"  openssl verify -CAfile {ca.ca_file} {d / (name + '.crt')}",
    ]
    if not issued:
        lines += ["", "Only the CA so far: give --scenario to issue a certificate for every host."]
    return "\n".join(lines)
