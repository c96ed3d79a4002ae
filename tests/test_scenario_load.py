"""Loading scenarios that are right: the two shipped ones, the Python API, and silent defaults."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest
import yaml

from mailsim.errors import ScenarioError
from mailsim.scenario import (
    Distribution,
    MXRecord,
    Scenario,
    Weighted,
    host_from_main_cf,
    load_scenario,
    scenario_from_dict,
)

from scenario_cases import MINIMAL_YAML, NEO, minimal, write

SCENARIOS = Path(__file__).resolve().parent.parent / "data" / "scenarios"
FIRMA1 = SCENARIOS / "firma1.yaml"
REAL = SCENARIOS / "real-maincf.yaml"


@pytest.fixture(scope="module")
def firma1() -> Scenario:
    return load_scenario(FIRMA1)


def test_firma1_is_the_lectures_company(firma1: Scenario) -> None:
    """The lecture's dig output: firma1.intr. 38400 IN MX 10 neo.firma1.intr., neo's A record
    195.113.106.168; users jura and nekdo with password heslo."""
    zone = firma1.dns.zones["firma1.intr"]
    assert (zone.ttl, zone.mx) == (38400.0, (MXRecord(10, NEO),))
    assert zone.a == {NEO: "195.113.106.168"}
    assert firma1.dns.zones["firma3.intr"].mx == (
        MXRecord(10, "mx1.firma3.intr"),
        MXRecord(20, "mx2.firma3.intr"),
    )
    for address in ("jura@firma1.intr", "nekdo@firma1.intr"):
        user = firma1.user(address)
        assert user is not None and (user.host, user.password) == (NEO, "heslo")
    assert firma1.warnings == ()


def test_firma1_main_cf_is_the_lectures_chapter_8(firma1: Scenario) -> None:
    """The lecture's main.cf with $name expansion (postconf(5)): mydestination = $myhostname,
    $mydomain, localhost; relay_domains = $mydestination; relay control in
    smtpd_recipient_restrictions, smtpd_relay_restrictions empty (Postfix before 2.10)."""
    neo = firma1.host(NEO).postfix
    assert neo.value("myorigin") == "firma1.intr"
    assert neo.list("mydestination") == (NEO, "firma1.intr", "localhost")
    assert neo.list("relay_domains") == (NEO, "firma1.intr", "localhost")
    assert neo.list("mynetworks") == ("195.113.106.0/24", "127.0.0.0/8")
    assert neo.value("mynetworks_style") == "subnet"
    assert neo.list("smtpd_recipient_restrictions") == (
        "permit_sasl_authenticated",
        "permit_mynetworks",
        "reject_unauth_destination",
    )
    assert neo.list("smtpd_relay_restrictions") == ()
    assert neo.integer("unknown_local_recipient_reject_code") == 550
    assert neo.size("message_size_limit") == 20_971_520
    assert neo.size("mailbox_size_limit") == 104_857_600
    assert neo.boolean("smtpd_sasl_auth_enable")
    assert firma1.host(NEO).aliases["info"] == ("jura", "nekdo")
    assert firma1.host(NEO).aliases["postmaster"] == ("root",)


def test_firma1_workload_is_a_working_day(firma1: Scenario) -> None:
    assert (firma1.duration, firma1.drain, firma1.seed) == (8 * 3600.0, 2 * 3600.0, 2006)
    expected = sum(
        s.rate * ((s.stop or firma1.duration) - s.start) for s in firma1.workload.streams
    )
    # about 4,400 messages of office traffic plus the 6,000-message newsletter at 10:30
    assert 9000 <= expected <= 12000
    newsletter = next(s for s in firma1.workload.streams if s.name == "newsletter")
    assert (newsletter.start, newsletter.stop, newsletter.rate) == (9000.0, 9120.0, 50.0)
    relay = next(s for s in firma1.workload.streams if s.name == "relay-attempts")
    assert (relay.connect_to, relay.client_address, relay.service) == (NEO, "203.0.113.66", "smtp")
    assert relay.senders == (Weighted("promo@cheap-offers.example"),)
    assert all(r.value.endswith("@firma9.example") for r in relay.recipients)
    internal = next(s for s in firma1.workload.streams if s.name == "internal")
    assert internal.size == Distribution.lognormal(3500.0, 1.1)
    assert internal.senders[0] == Weighted("jura@firma1.intr", 2.0)


def test_real_maincf_values_reach_the_host() -> None:
    """Values from the real main.cf, expanded (postconf(5)); time units as Postfix reads them."""
    scenario = load_scenario(REAL)
    neo = scenario.host(NEO)
    assert scenario.warnings == ()
    assert neo.postfix.value("myorigin") == "firma1.intr"
    assert neo.postfix.list("mydestination") == (
        NEO,
        "localhost.firma1.intr",
        "localhost",
        "firma1.intr",
    )
    assert neo.postfix.seconds("maximal_queue_lifetime") == 120.0
    assert neo.postfix.seconds("delay_warning_time") == 60.0
    assert neo.postfix.seconds("queue_run_delay") == 15.0
    assert neo.postfix.integer("message_size_limit") == 2_000_000
    assert neo.postfix.value("recipient_delimiter") == "+"
    assert neo.postfix.value("smtpd_banner") == "neo.firma1.intr ESMTP Postfix (Debian/GNU)"
    assert neo.postfix.value("relayhost") == ""


def test_real_maincf_aliases_follow_alias_maps_order() -> None:
    """alias_maps = hash:/etc/aliases, hash:/etc/postfix/mailsim_aliases: both files, in order."""
    aliases = load_scenario(REAL).host(NEO).aliases
    assert aliases == {
        "postmaster": ("root",),
        "root": ("alice",),
        "info": ("alice", "bob"),
        "sales": ("carol", "dave"),
        "helpdesk": ("erin", "frank@firma2.intr"),
        "staff": ("alice", "bob", "carol", "dave", "erin"),
        "archive": ("|/bin/cat > /dev/null",),
    }


@pytest.mark.parametrize("path", [FIRMA1, REAL], ids=["firma1", "real-maincf"])
def test_yaml_and_dict_give_equal_scenarios(path: Path) -> None:
    from_yaml = load_scenario(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    from_dict = scenario_from_dict(data, base_dir=path.parent)
    assert from_dict.source == "<dict>"
    assert dataclasses.replace(from_dict, source=from_yaml.source) == from_yaml


def test_minimal_yaml_equals_minimal_dict(tmp_path: Path) -> None:
    from_yaml = load_scenario(write(tmp_path, "mini.yaml", MINIMAL_YAML))
    from_dict = scenario_from_dict(minimal(), source=from_yaml.source)
    assert from_yaml == from_dict


def test_loaded_scenarios_pickle(firma1: Scenario) -> None:
    """Sweeps send scenarios to worker processes, so they must pickle and compare equal."""
    assert pickle.loads(pickle.dumps(firma1)) == firma1


def test_host_from_main_cf_reads_the_real_files() -> None:
    host = host_from_main_cf(
        NEO,
        "127.0.0.1",
        SCENARIOS / "real-maincf" / "main.cf",
        SCENARIOS / "real-maincf" / "mailsim_aliases",
        network="127.0.0.0/24",
        postfix={"queue_run_delay": "5m"},
    )
    assert host.postfix.value("myorigin") == "firma1.intr"
    assert host.postfix.seconds("queue_run_delay") == 300.0  # the override wins over main.cf
    assert host.aliases["staff"] == ("alice", "bob", "carol", "dave", "erin")
    with pytest.raises(ScenarioError, match=r"main_cf: expected a readable main\.cf file"):
        host_from_main_cf(NEO, "127.0.0.1", SCENARIOS / "no-such-main.cf")


def test_relative_files_resolve_against_the_yaml_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "conf/main.cf", "mydomain = firma1.intr\nmy_own_setting = 1\n")
    text = MINIMAL_YAML.replace("    postfix:\n", "    main_cf: conf/main.cf\n    postfix:\n")
    path = write(tmp_path, "mini.yaml", text)
    monkeypatch.chdir("/")  # the main.cf is found next to the YAML, not in the working directory
    scenario = load_scenario(path)
    assert scenario.host(NEO).postfix.value("mydomain") == "firma1.intr"
    assert scenario.warnings == (
        f"{tmp_path / 'conf/main.cf'}:2: hosts[neo.firma1.intr].postfix.my_own_setting: "
        "not a parameter mailsim knows; kept, as Postfix keeps user-defined ones",
    )


def test_warnings_for_accepted_oddities() -> None:
    data = minimal()
    data["dns"] = {"zones": {"firma1.intr": {"mx": [{"preference": 10, "exchange": NEO}]}}}
    data["hosts"][NEO]["aliases"] = {"root": "nobody-here"}
    assert scenario_from_dict(data).warnings == (
        "dns.zones[firma1.intr].mx[0].exchange: "
        "neo.firma1.intr has no A record; add one to the zone",
        "hosts[neo.firma1.intr].aliases.root: "
        "'nobody-here' is neither a user of this host nor an alias",
    )
