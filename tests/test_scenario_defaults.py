"""Defaults where a scenario is silent, and the short forms the format accepts."""

from __future__ import annotations

import pytest

from mailsim.scenario import (
    Distribution,
    FetchConfig,
    Link,
    MXRecord,
    Weighted,
    scenario_from_dict,
)

from scenario_cases import NEO, minimal


def test_defaults_where_the_scenario_is_silent() -> None:
    """A host with no postfix block gets Postfix's defaults: mydestination = $myhostname,
    localhost.$mydomain, localhost (postconf(5)), expanded for the host's own name."""
    data = {
        "name": "quiet",
        "hosts": {"mail.example.org": {"address": "192.0.2.10"}},
        "users": [{"address": "ann@mail.example.org", "host": "mail.example.org"}],
    }
    scenario = scenario_from_dict(data)
    host = scenario.host("mail.example.org")
    assert host.postfix.list("mydestination") == (
        "mail.example.org",
        "localhost.example.org",
        "localhost",
    )
    assert (host.services, host.network, host.mailbox_format) == (("smtp",), "", "maildir")
    assert host.capacity.service_time == {} and host.aliases == {}
    (user,) = scenario.users
    assert (user.submit_host, user.submit_service, user.sasl, user.fetch) == (
        "mail.example.org",
        "smtp",
        False,
        None,
    )
    assert user.client_address == "192.0.2.10"  # no network: the client runs on the host
    assert (scenario.seed, scenario.duration, scenario.drain) == (0, 3600.0, 3600.0)
    assert scenario.links == () and scenario.workload.streams == ()


def test_client_addresses_default_to_free_addresses_in_the_host_network() -> None:
    data = minimal()
    data["users"] = [
        {"address": "a@firma1.intr", "host": NEO},
        {"address": "b@firma1.intr", "host": NEO, "client_address": "195.113.106.2"},
        {"address": "c@firma1.intr", "host": NEO},
    ]
    data["workload"] = {}
    users = scenario_from_dict(data).users
    assert [u.client_address for u in users] == ["195.113.106.1", "195.113.106.2", "195.113.106.3"]


def test_fetch_and_submission_defaults() -> None:
    data = minimal()
    data["hosts"][NEO]["services"] = ["smtp", "submission", "imaps"]
    data["hosts"][NEO]["postfix"]["smtpd_sasl_auth_enable"] = True
    data["users"][0].update(
        submit_service="submission", password="heslo", fetch={"protocol": "imap", "interval": "2m"}
    )
    (user,) = scenario_from_dict(data).users
    assert user.sasl  # submission implies SASL unless the user says otherwise
    assert user.fetch == FetchConfig(protocol="imap", interval=120.0, host=NEO)


def test_stream_defaults_and_short_forms() -> None:
    data = minimal()
    data["workload"]["streams"][0].update(recipients_per_message=1)
    data["workload"]["streams"].append(
        {
            "rate": 2,
            "senders": ["jura@firma1.intr"],
            "recipients": [{"address": "jura@firma1.intr", "weight": 3}],
            "size": "4KiB",
            "start": "1h",
            "stop": "2h",
        }
    )
    office, second = scenario_from_dict(data).workload.streams
    assert (office.rate, office.start, office.stop, office.recipients_per_message) == (
        60 / 3600,
        0.0,
        None,
        (1, 1),
    )
    assert office.size == Distribution.lognormal(3500.0, 1.1)
    assert (second.name, second.size, second.start, second.stop) == (
        "stream2",
        Distribution.constant(4096.0),
        3600.0,
        7200.0,
    )
    assert second.recipients == (Weighted("jura@firma1.intr", 3.0),)


@pytest.mark.parametrize(
    ("spec", "distribution"),
    [
        ("8ms", Distribution.constant(0.008)),
        (0.25, Distribution.constant(0.25)),
        ({"dist": "constant", "value": "1s"}, Distribution.constant(1.0)),
        ({"dist": "exponential", "mean": "40ms"}, Distribution.exponential(0.04)),
        ({"dist": "uniform", "low": "1ms", "high": "3ms"}, Distribution.uniform(0.001, 0.003)),
        ({"dist": "lognormal", "median": "8ms", "sigma": 0.5}, Distribution.lognormal(0.008, 0.5)),
    ],
)
def test_capacity_distributions(spec: object, distribution: Distribution) -> None:
    data = minimal()
    data["hosts"][NEO]["capacity"] = {"smtpd": spec}
    assert scenario_from_dict(data).host(NEO).capacity.of("smtpd") == distribution


def test_links_dns_and_yaml_postfix_values() -> None:
    """YAML values become main.cf text: yes/no for booleans, a list joined with commas."""
    data = minimal()
    data["hosts"][NEO]["postfix"].update(
        smtpd_sasl_auth_enable=True,
        message_size_limit=20971520,
        mynetworks=["10.0.0.0/8", "127.0.0.0/8"],
    )
    data["dns"] = {
        "zones": {
            "firma1.intr": {
                "ttl": "10h",
                "mx": ["10 neo.firma1.intr."],
                "a": {NEO: "195.113.106.168"},
            }
        }
    }
    data["links"] = [
        {"between": [NEO, "195.113.106.7"], "latency": "2ms", "bandwidth": "1MB/s"},
        {"bandwidth": 0},
    ]
    scenario = scenario_from_dict(data)
    neo = scenario.host(NEO).postfix
    assert (neo["smtpd_sasl_auth_enable"], neo["message_size_limit"]) == ("yes", "20971520")
    assert neo["mynetworks"] == "10.0.0.0/8, 127.0.0.0/8"
    zone = scenario.dns.zones["firma1.intr"]
    assert (zone.ttl, zone.mx) == (36000.0, (MXRecord(10, NEO),))
    assert scenario.links == (Link(NEO, "195.113.106.7", 0.002, 1e6), Link("", "", 0.001, 0.0))
    assert scenario.link("195.113.106.7", NEO).latency == 0.002
