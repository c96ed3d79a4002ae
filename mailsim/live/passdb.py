"""The passdb of one live host: the scenario's users with salted password hashes, as Dovecot
keeps them in a passwd-file (Dovecot's "Password Schemes" and "passwd-file" pages).

Each local user of the host (a scenario ``User`` whose ``host`` it is) is one passwd-file line,
``jura:{PBKDF2}$1$<salt>$<rounds>$<key>::::/home/jura::``. Dovecot's PBKDF2 scheme is
PBKDF2-HMAC-SHA1 of the password with a 16-character salt from ``./0-9A-Za-z`` and a 160-bit key
in hex (``doveadm pw -s PBKDF2``), so a real Dovecot given :meth:`PassDB.passwd_file` accepts the
same passwords; the rounds default to Dovecot's 5000, so a lab of thousands of users starts at
once. Salts come from :mod:`secrets`: this is no simulation randomness (DESIGN.md section 4).

``verify`` always runs one PBKDF2 (against a dummy hash for an unknown user or one without a
password) and compares with :func:`hmac.compare_digest`, so a wrong user name costs what a wrong
password costs. Users log in as ``jura`` or ``jura@firma1.intr`` (any case).

Cleartext logins (POP3 USER/PASS, AUTH PLAIN and LOGIN) are allowed over TLS, and without it only
from a loopback address and only when :attr:`AuthSettings.allow_cleartext` is set (Dovecot's
``auth_allow_cleartext``, ``disable_plaintext_auth = no`` before 2.4). The classroom default
allows them: the whole lab listens on 127.0.0.0/8 and the lecture types passwords into telnet.

Shared-secret mechanisms (CRAM-MD5, RFC 2195; POP3 APOP, RFC 1939 section 7) need the password
itself on the server. Dovecot stores a ``{CRAM-MD5}`` hash for that (the HMAC-MD5 inner and outer
states, good for nothing else); here the plaintext is kept in memory, only when
:attr:`AuthSettings.mechanisms` names CRAM-MD5 or APOP, and never written to the passwd-file.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mailsim.errors import MailsimError
from mailsim.live.mailstore import write_atomically
from mailsim.live.store import local_user
from mailsim.scenario.model import Scenario, User

__all__ = [
    "CLASSROOM", "AuthSettings", "MechanismDisabled", "PassDB", "PassEntry", "check_password",
    "hash_password",
]  # fmt: skip

#: Dovecot's PBKDF2_ROUNDS_DEFAULT
PBKDF2_ROUNDS = 5000
SALT_ALPHABET = "./" + string.digits + string.ascii_uppercase + string.ascii_lowercase
MECHANISMS = frozenset({"PLAIN", "LOGIN", "CRAM-MD5", "APOP"})
SHARED_SECRET_MECHANISMS = frozenset({"CRAM-MD5", "APOP"})
#: the password field of a user who has none: no scheme, so no password matches it
NO_PASSWORD = "*"


class MechanismDisabled(MailsimError, PermissionError):
    """A mechanism the host's auth_mechanisms does not list was asked for."""


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """The Dovecot auth settings the lab models.

    ``allow_cleartext``: Dovecot's ``auth_allow_cleartext`` (loopback clients only, see
    :meth:`PassDB.cleartext_allowed`); ``mechanisms``: ``auth_mechanisms`` (PLAIN, LOGIN,
    CRAM-MD5, and APOP for POP3); ``rounds``: PBKDF2 rounds of new hashes.
    """

    allow_cleartext: bool = True
    mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")
    rounds: int = PBKDF2_ROUNDS

    def __post_init__(self) -> None:
        unknown = {m.upper() for m in self.mechanisms} - MECHANISMS
        if unknown:
            raise ValueError(
                f"unknown auth mechanisms {sorted(unknown)}; known: {sorted(MECHANISMS)}"
            )
        if self.rounds < 1:
            raise ValueError(f"PBKDF2 rounds must be at least 1, not {self.rounds}")

    @property
    def shared_secrets(self) -> bool:
        """Whether a listed mechanism needs the plaintext password (CRAM-MD5, APOP)."""
        return bool({m.upper() for m in self.mechanisms} & SHARED_SECRET_MECHANISMS)


#: the classroom default: cleartext logins on loopback, PLAIN and LOGIN
CLASSROOM = AuthSettings()


def hash_password(password: str, rounds: int = PBKDF2_ROUNDS, salt: str | None = None) -> str:
    """Return ``{PBKDF2}$1$<salt>$<rounds>$<hex key>``, Dovecot's PBKDF2 scheme."""
    salt = salt if salt is not None else "".join(secrets.choice(SALT_ALPHABET) for _ in range(16))
    key = hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), salt.encode(), rounds, 20)
    return f"{{PBKDF2}}$1${salt}${rounds}${key.hex()}"


def check_password(stored: str, password: bytes) -> bool:
    """Return whether ``password`` matches the passwd-file field ``stored``: ``{PBKDF2}``, or
    ``{PLAIN}``/``{CLEARTEXT}`` as a hand-written file may have; anything else matches nothing."""
    scheme, _, value = stored[1:].partition("}") if stored.startswith("{") else ("", "", "")
    if scheme.upper() == "PBKDF2":
        parts = value.split("$")  # "", "1", salt, rounds, key
        if len(parts) != 5 or parts[1] != "1" or not parts[3].isdigit():
            return False
        key = hashlib.pbkdf2_hmac("sha1", password, parts[2].encode(), int(parts[3]), 20)
        return hmac.compare_digest(key.hex(), parts[4].lower())
    if scheme.upper() in ("PLAIN", "CLEARTEXT"):
        return hmac.compare_digest(value.encode("utf-8"), password)
    return False


@dataclass(frozen=True, slots=True)
class PassEntry:
    """One passwd-file line: login name, address, scheme-prefixed hash, home directory."""

    login: str
    address: str
    password: str
    home: str

    def line(self) -> str:
        # user:password:uid:gid:gecos:home:shell:extra_fields
        return f"{self.login}:{self.password}::::{self.home}::"


def _utf8(password: str | bytes) -> bytes:
    return password if isinstance(password, bytes) else password.encode("utf-8")


class PassDB:
    """The users of one host and their password hashes (and, only when a shared-secret
    mechanism is enabled, their passwords)."""

    def __init__(
        self,
        entries: Iterable[PassEntry],
        settings: AuthSettings = CLASSROOM,
        passwords: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self._entries: dict[str, PassEntry] = {}
        for entry in entries:
            if entry.login in self._entries:
                found = self._entries[entry.login].address
                raise ValueError(f"login {entry.login!r} twice: {found} and {entry.address}")
            self._entries[entry.login] = entry
        self._secrets = (
            {local_user(u): p.encode("utf-8") for u, p in (passwords or {}).items() if p}
            if settings.shared_secrets
            else {}
        )
        # what an unknown user is checked against: the same work as a real check
        self._dummy = hash_password(secrets.token_hex(16), settings.rounds)
        self._dummy_secret = secrets.token_bytes(16)

    def __repr__(self) -> str:
        return f"PassDB({sorted(self._entries)})"

    @classmethod
    def from_users(
        cls, users: Iterable[User], host: str, settings: AuthSettings = CLASSROOM
    ) -> PassDB:
        """Hash the passwords of the users whose mailbox is on ``host`` (a host name)."""
        mine = [user for user in users if user.host == host]
        entries = []
        for user in mine:
            login = local_user(user.address)
            stored = hash_password(user.password, settings.rounds) if user.password else NO_PASSWORD
            entries.append(PassEntry(login, user.address.lower(), stored, f"/home/{login}"))
        return cls(entries, settings, {user.address: user.password for user in mine})

    @classmethod
    def from_scenario(
        cls, scenario: Scenario, host: str, settings: AuthSettings = CLASSROOM
    ) -> PassDB:
        """The passdb of ``host`` in ``scenario``."""
        scenario.host(host)  # a KeyError naming the hosts for a wrong name
        return cls.from_users(scenario.users, host, settings)

    @classmethod
    def parse(cls, text: str, *, domain: str = "", settings: AuthSettings = CLASSROOM) -> PassDB:
        """Read a passwd-file (``#`` comments and blank lines skipped); its users log in as
        ``login`` or ``login@domain``."""
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split(":")
            if len(fields) < 2 or not fields[0]:
                raise ValueError(
                    f"passwd-file line {number}: expected user:password:..., got {line!r}"
                )
            address = f"{fields[0]}@{domain}" if domain else fields[0]
            home = fields[5] if len(fields) > 5 else ""
            entries.append(PassEntry(local_user(fields[0]), address.lower(), fields[1], home))
        return cls(entries, settings)

    # -- lookups ---------------------------------------------------------------------------------
    def login(self, user: str) -> str | None:
        """The login name ``user`` stands for (``jura`` for ``jura`` or ``Jura@firma1.intr``),
        or None if it names no user of this host."""
        try:
            name = local_user(user)
        except ValueError:
            return None
        entry = self._entries.get(name)
        if entry is None:
            return None
        domain = entry.address.rpartition("@")[2] if "@" in entry.address else ""
        if "@" in user and user.rpartition("@")[2].lower() != domain:
            return None
        return name

    def address(self, login: str) -> str | None:
        """The mail address of login name ``login`` (``jura@firma1.intr``), None if unknown;
        the event log names a POP3 reader by it."""
        entry = self._entries.get(login)
        return entry.address if entry is not None else None

    def users(self) -> list[str]:
        """The login names, sorted."""
        return sorted(self._entries)

    def verify(self, user: str, password: str | bytes) -> bool:
        """Return whether ``password`` is ``user``'s, in the same time whether or not the user
        exists (one PBKDF2 either way; hmac.compare_digest)."""
        return self.check(user, password) is not None

    def check(self, user: str, password: str | bytes) -> str | None:
        """Return the login name when ``password`` is ``user``'s password, else None."""
        login = self.login(user)
        entry = self._entries.get(login) if login else None
        known = entry is not None and entry.password.startswith("{")
        stored = entry.password if entry is not None and known else self._dummy
        matched = check_password(stored, _utf8(password))
        return login if matched and known else None

    # -- shared-secret mechanisms ------------------------------------------------------------
    def _secret(self, mechanism: str, user: str) -> tuple[str | None, bytes]:
        if mechanism not in {m.upper() for m in self.settings.mechanisms}:
            raise MechanismDisabled(f"{mechanism} is not in auth_mechanisms of this host")
        login = self.login(user)
        secret = self._secrets.get(login) if login else None
        return (login, secret) if secret is not None else (None, self._dummy_secret)

    def cram_md5_secret(self, user: str) -> bytes | None:
        """The shared secret CRAM-MD5 keys its HMAC with (the password), None for an unknown
        user; raise :class:`MechanismDisabled` unless the host's mechanisms list CRAM-MD5."""
        login, secret = self._secret("CRAM-MD5", user)
        return secret if login else None

    def check_cram(self, user: str, challenge: bytes, digest: str) -> str | None:
        """Return the login name when ``digest`` is HMAC-MD5(password, challenge) in hex
        (RFC 2195), else None."""
        login, secret = self._secret("CRAM-MD5", user)
        expected = hmac.new(secret, challenge, "md5").hexdigest()
        return login if hmac.compare_digest(expected, digest.lower()) and login else None

    def check_apop(self, user: str, timestamp: bytes, digest: str) -> str | None:
        """Return the login name when ``digest`` is MD5(timestamp + password) in hex (RFC 1939
        section 7, APOP; ``timestamp`` is the greeting's ``<...>``), else None."""
        login, secret = self._secret("APOP", user)
        expected = hashlib.md5(timestamp + secret).hexdigest()
        return login if hmac.compare_digest(expected, digest.lower()) and login else None

    # -- policy and files ----------------------------------------------------------------------
    def cleartext_allowed(self, client_address: str, secured: bool) -> bool:
        """Whether a cleartext login (USER/PASS, AUTH PLAIN or LOGIN) may go ahead: always over
        TLS (``secured``), else only from a loopback address when the settings allow it."""
        if secured:
            return True
        try:
            loopback = ipaddress.ip_address(client_address.partition("%")[0]).is_loopback
        except ValueError:
            return False
        return self.settings.allow_cleartext and loopback

    def passwd_file(self) -> str:
        """The passdb as Dovecot's passwd-file (``passdb { driver = passwd-file }``)."""
        return "".join(self._entries[login].line() + "\n" for login in sorted(self._entries))

    def write(self, path: Path) -> None:
        """Write :meth:`passwd_file` to ``path`` atomically, readable by its owner only."""
        write_atomically(Path(path), self.passwd_file().encode("utf-8"), 0o600)
