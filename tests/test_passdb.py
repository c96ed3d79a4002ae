"""The passdb: Dovecot PBKDF2 hashes from the scenario's users, constant-cost checks, cleartext
policy, shared secrets for CRAM-MD5 and APOP."""

from __future__ import annotations

import hashlib
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mailsim.live import passdb as passdb_module
from mailsim.live.passdb import (
    AuthSettings,
    MechanismDisabled,
    PassDB,
    check_password,
    hash_password,
)
from mailsim.scenario import load_scenario
from mailsim.scenario.model import Scenario, User

from builders import host
from interop import require_tool

SCENARIO = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "firma1.yaml"
LINE = re.compile(r"^jura:\{PBKDF2\}\$1\$[./0-9A-Za-z]{16}\$5000\$[0-9a-f]{40}::::/home/jura::$")
USERS = (
    User("jura@firma1.intr", "neo.firma1.intr", password="heslo"),
    User("nekdo@firma1.intr", "neo.firma1.intr", password="heslo"),
    User("host@firma1.intr", "neo.firma1.intr"),  # no password: cannot log in
    User("anna@firma2.intr", "mx.firma2.intr", password="anna"),
)
CRAM = AuthSettings(mechanisms=("PLAIN", "LOGIN", "CRAM-MD5", "APOP"))


@pytest.fixture(scope="module")
def db() -> PassDB:
    return PassDB.from_users(USERS, "neo.firma1.intr")


def test_rfc6070_vector_in_dovecots_pbkdf2_format() -> None:
    # RFC 6070 test vector 2: PBKDF2-HMAC-SHA1("password", "salt", 2 rounds)
    stored = "{PBKDF2}$1$salt$2$ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"
    assert check_password(stored, b"password")
    assert not check_password(stored, b"Password")
    assert hash_password("password", 2, "salt") == stored


def test_passwd_file_has_one_salted_line_per_local_user(db: PassDB) -> None:
    lines = db.passwd_file().splitlines()
    assert [line.split(":")[0] for line in lines] == ["host", "jura", "nekdo"]
    assert LINE.match(lines[1]), lines[1]
    assert lines[0] == "host:*::::/home/host::"
    jura, nekdo = lines[1].split(":")[1], lines[2].split(":")[1]
    assert jura != nekdo  # same password "heslo", different salts
    assert "heslo" not in db.passwd_file()


@pytest.mark.parametrize(
    ("user", "password", "expected"),
    [
        ("jura", "heslo", True),
        ("jura@firma1.intr", "heslo", True),
        ("JURA@Firma1.Intr", b"heslo", True),
        ("jura", "Heslo", False),
        ("jura@firma2.intr", "heslo", False),  # another domain's jura is not this one
        ("anna", "anna", False),  # her mailbox is on another host
        ("nobody", "heslo", False),
        ("host", "", False),
        ("", "heslo", False),
        ("../x", "heslo", False),
    ],
)
def test_verify(db: PassDB, user: str, password: str | bytes, expected: bool) -> None:
    assert db.verify(user, password) is expected
    assert db.check(user, password) == ("jura" if expected else None)


def test_an_unknown_user_costs_one_pbkdf2_as_a_known_one(
    db: PassDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    real = hashlib.pbkdf2_hmac

    def counting(name: str, password: bytes, salt: bytes, rounds: int, length: int) -> bytes:
        calls.append((name, len(salt), rounds, length))
        return real(name, password, salt, rounds, length)

    monkeypatch.setattr(passdb_module.hashlib, "pbkdf2_hmac", counting)
    for user in ("jura", "nobody", "host", "jura@elsewhere.intr"):
        db.verify(user, "wrong")
    assert calls == [("sha1", 16, 5000, 20)] * 4


def test_cleartext_only_on_loopback_or_tls(db: PassDB) -> None:
    assert db.cleartext_allowed("127.0.1.3", secured=False)
    assert db.cleartext_allowed("::1", secured=False)
    assert not db.cleartext_allowed("195.113.106.167", secured=False)
    assert not db.cleartext_allowed("not an address", secured=False)
    assert db.cleartext_allowed("195.113.106.167", secured=True)
    strict = PassDB.from_users(USERS, "neo.firma1.intr", AuthSettings(allow_cleartext=False))
    assert not strict.cleartext_allowed("127.0.0.1", secured=False)
    assert strict.cleartext_allowed("127.0.0.1", secured=True)


def test_shared_secrets_only_when_a_mechanism_needs_them(db: PassDB) -> None:
    with pytest.raises(MechanismDisabled, match="CRAM-MD5"):
        db.cram_md5_secret("jura")
    with pytest.raises(MechanismDisabled, match="APOP"):
        db.check_apop("jura", b"<1@x>", "0" * 32)
    cram = PassDB.from_users(USERS, "neo.firma1.intr", CRAM)
    assert cram.cram_md5_secret("jura@firma1.intr") == b"heslo"
    assert cram.cram_md5_secret("nobody") is None and cram.cram_md5_secret("host") is None


def test_cram_md5_rfc2195_example() -> None:
    db = PassDB.from_users([User("tim@x.intr", "h", password="tanstaaftanstaaf")], "h", CRAM)
    challenge = b"<1896.697170952@postoffice.reston.mci.net>"
    assert db.check_cram("tim", challenge, "b913a602c7eda7a495b4e6e7334d3890") == "tim"
    assert db.check_cram("tim", challenge, "b913a602c7eda7a495b4e6e7334d3891") is None
    assert db.check_cram("tom", challenge, "b913a602c7eda7a495b4e6e7334d3890") is None


def test_apop_rfc1939_example() -> None:
    db = PassDB.from_users([User("mrose@x.intr", "h", password="tanstaaf")], "h", CRAM)
    banner = b"<1896.697170952@dbc.mtview.ca.us>"
    assert db.check_apop("mrose", banner, "c4c9334bac560ecc979e58001b3e22fb") == "mrose"
    assert db.check_apop("mrose", banner, "c4c9334bac560ecc979e58001b3e22fa") is None


def test_written_file_round_trips(db: PassDB, tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    db.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = PassDB.parse("# dovecot passwd-file\n\n" + path.read_text(), domain="firma1.intr")
    assert again.users() == ["host", "jura", "nekdo"]
    assert again.verify("nekdo@firma1.intr", "heslo") and not again.verify("host", "")
    assert PassDB.parse("erin:{PLAIN}pw:::::").verify("erin", "pw")
    with pytest.raises(ValueError, match="line 1"):
        PassDB.parse("no password field")


def test_settings_and_duplicates_are_checked() -> None:
    with pytest.raises(ValueError, match="'DIGEST-MD5'"):
        AuthSettings(mechanisms=("DIGEST-MD5",))
    with pytest.raises(ValueError, match="-1"):
        AuthSettings(rounds=-1)
    twins = [User("jura@firma1.intr", "neo"), User("jura@firma1.cz", "neo")]
    with pytest.raises(ValueError, match="'jura' twice"):
        PassDB.from_users(twins, "neo")


def test_from_scenario_takes_the_hosts_users() -> None:
    scenario = load_scenario(SCENARIO)
    db = PassDB.from_scenario(scenario, "neo.firma1.intr")
    assert {"jura", "nekdo", "petra"} <= set(db.users()) and "anna" not in db.users()
    assert db.verify("jura@firma1.intr", "heslo") and db.verify("petra", "Petra-2006")
    with pytest.raises(KeyError, match="no host"):
        PassDB.from_scenario(scenario, "nosuch.intr")
    lone = Scenario("one", {"neo": host("neo", "127.0.1.1", "firma1.intr")}, users=USERS[:1])
    assert PassDB.from_scenario(lone, "neo").users() == []


@pytest.mark.interop
def test_dovecot_and_we_verify_each_others_hashes() -> None:
    doveadm = require_tool("doveadm")
    ours = hash_password("heslo")
    check = subprocess.run([doveadm, "pw", "-t", ours, "-p", "heslo"], capture_output=True)
    assert check.returncode == 0 and b"(verified)" in check.stdout
    wrong = subprocess.run([doveadm, "pw", "-t", ours, "-p", "Heslo"], capture_output=True)
    assert wrong.returncode != 0
    theirs = subprocess.run(
        [doveadm, "pw", "-s", "PBKDF2", "-p", "heslo"], capture_output=True, check=True
    )
    stored = theirs.stdout.decode().strip()
    assert stored.startswith("{PBKDF2}$1$")
    assert check_password(stored, b"heslo") and not check_password(stored, b"Heslo")


def test_address_names_the_users_mail_address_for_the_event_log() -> None:
    db = PassDB.parse("jura:{PLAIN}heslo::::/home/jura::\n", domain="firma1.intr")
    assert db.address("jura") == "jura@firma1.intr"
    assert db.address("nikdo") is None
