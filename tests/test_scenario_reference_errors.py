"""Problems between sections: users, DNS, links and streams that refer to hosts or each other."""

from __future__ import annotations

from typing import Any

from mailsim.errors import ScenarioIssue

from scenario_cases import NEO, issues, minimal


def _found(data: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(i.path, i.expected, i.got, i.suggestion) for i in issues(data)]


def _partner(data: dict[str, Any]) -> None:
    """Add mx.firma2.intr, a second host, to ``data``."""
    data["hosts"]["mx.firma2.intr"] = {
        "address": "192.0.2.25",
        "postfix": {"mydestination": "$myhostname, $mydomain"},
    }


# -- users ----------------------------------------------------------------------------------------
def test_user_on_an_unknown_host_gets_the_closest_host() -> None:
    data = minimal()
    data["users"][0]["host"] = "neo.firma.intr"
    assert issues(data) == [
        ScenarioIssue(
            "<dict>",
            "users[0].host",
            "a host of the scenario (neo.firma1.intr)",
            "'neo.firma.intr'",
            "neo.firma1.intr",
            None,
        )
    ]


def test_user_domain_must_be_local_to_the_host() -> None:
    """postconf(5) mydestination: the domains a host delivers locally; a mailbox elsewhere
    could never receive mail."""
    data = minimal()
    _partner(data)
    data["users"].append({"address": "anna@firma2.intr", "host": NEO})
    assert _found(data) == [
        (
            "users[1].address",
            f"an address in a domain {NEO} delivers locally "
            f"(mydestination: {NEO}, firma1.intr, localhost)",
            "'anna@firma2.intr'",
            "",
        )
    ]


def test_duplicate_and_malformed_user_addresses() -> None:
    data = minimal()
    data["users"] += [
        {"address": "Jura@firma1.intr", "host": NEO},
        {"address": "jura at firma1.intr", "host": NEO},
    ]
    assert _found(data) == [
        ("users[1].address", "an address no other user has",
         "'Jura@firma1.intr' (also users[0])", ""),
        ("users[2].address", "a mail address such as jura@firma1.intr",
         "'jura at firma1.intr'", ""),
    ]  # fmt: skip


def test_clients_need_services_their_servers_run() -> None:
    data = minimal()
    data["users"][0].update(submit_service="submission", password="heslo", sasl=False)
    data["users"][0]["fetch"] = {"protocol": "imap", "interval": 0}
    assert _found(data) == [
        ("users[0].submit_service", f"a service {NEO} runs (smtp, pop3)", "'submission'", ""),
        ("users[0].fetch.interval", "a poll interval > 0", "0", ""),
        ("users[0].fetch.protocol", f"a protocol {NEO} serves (services: smtp, pop3)",
         "'imap'", ""),
    ]  # fmt: skip


def test_sasl_needs_a_password_and_smtpd_sasl_auth_enable() -> None:
    """postconf(5) smtpd_sasl_auth_enable (default no): without it smtpd offers no AUTH."""
    data = minimal()
    data["users"][0]["sasl"] = True
    assert _found(data) == [
        ("users[0].password", "a password (SASL authentication needs one)", "nothing", ""),
        ("users[0].sasl", f"false: {NEO} has smtpd_sasl_auth_enable = no", "True", ""),
    ]


# -- DNS and hosts --------------------------------------------------------------------------------
def test_mx_exchange_must_be_a_host_or_have_an_a_record() -> None:
    data = minimal()
    data["dns"] = {
        "zones": {
            "firma1.intr": {
                "mx": ["10 neo.firma1.intr", {"preference": 70000, "exchange": "neo.firma2.intr"}],
                "a": {NEO: "195.113.106.168", "www.firma2.intr": "192.0.2.80"},
            }
        }
    }
    assert _found(data) == [
        ("dns.zones[firma1.intr].mx[1].preference", "an MX preference 0-65535", "70000", ""),
        ("dns.zones[firma1.intr].a[www.firma2.intr]", "a name inside the zone firma1.intr",
         "'www.firma2.intr'", ""),
        ("dns.zones[firma1.intr].mx[1].exchange",
         "a host of the scenario or a name with an A record", "'neo.firma2.intr'", NEO),
    ]  # fmt: skip


def test_a_record_of_a_host_must_match_its_address() -> None:
    data = minimal()
    data["dns"] = {"zones": {"firma1.intr": {"a": {NEO: "195.113.106.169"}}}}
    assert _found(data) == [
        (f"dns.zones[firma1.intr].a[{NEO}]", f"the address of host {NEO}", "'195.113.106.169'",
         "195.113.106.168"),
    ]  # fmt: skip


def test_hosts_need_distinct_addresses_and_good_names() -> None:
    data = minimal()
    _partner(data)
    data["hosts"]["mx.firma2.intr"]["address"] = "195.113.106.168"
    data["hosts"]["bad_name!"] = {"address": "192.0.2.1"}
    assert _found(data) == [
        ("hosts[bad_name!]", "a host name such as neo.firma1.intr", "'bad_name!'", ""),
        ("hosts[mx.firma2.intr].address", "an address no other host has",
         f"'195.113.106.168' (also {NEO})", ""),
    ]  # fmt: skip


# -- links ----------------------------------------------------------------------------------------
def test_link_ends_and_duplicates() -> None:
    data = minimal()
    data["links"] = [
        {"between": [NEO, "mx.firma2.intr"]},
        {"between": [NEO, NEO]},
        {"between": [NEO, "195.113.106.7"]},
        {"between": ["195.113.106.7", NEO], "latency": "1ms"},
        {"latency": "5ms"},
        {"latency": "6ms"},
    ]
    assert _found(data) == [
        ("links[0].between[1]", "a host of the scenario or a client IP address",
         "'mx.firma2.intr'", NEO),
        ("links[1].between", "two different ends: host names or client IP addresses",
         "['neo.firma1.intr', 'neo.firma1.intr']", ""),
        ("links[3].between", "a pair no other link has", "same as links[2]", ""),
        ("links[5].between", "at most one link without between", "same as links[4]", ""),
    ]  # fmt: skip


# -- workload -------------------------------------------------------------------------------------
def _stream(**fields: Any) -> dict[str, Any]:
    data = minimal()
    data["workload"]["streams"][0].update(fields)
    return data


def test_weights_must_be_non_negative_and_not_all_zero() -> None:
    assert _found(_stream(senders=[{"address": "jura@firma1.intr", "weight": -1}])) == [
        ("workload.streams[0].senders[0].weight", "a weight >= 0", "-1", ""),
    ]
    assert _found(_stream(recipients=[{"address": "jura@firma1.intr", "weight": 0}])) == [
        ("workload.streams[0].recipients", "at least one weight > 0", "all weights 0", ""),
    ]
    assert _found(_stream(recipients=[])) == [
        ("workload.streams[0].recipients", "a non-empty list of addresses", "an empty list", ""),
    ]


def test_recipients_per_message() -> None:
    path = "workload.streams[0].recipients_per_message"
    two = ["jura@firma1.intr", "info@firma1.intr"]
    assert _found(_stream(recipients=two, recipients_per_message=[2, 1])) == [
        (path, "[min, max] with min <= max", "[2, 1]", ""),
    ]
    assert _found(_stream(recipients=two, recipients_per_message=[1, 3])) == [
        (path, "at most 2 (the number of distinct recipients)", "[1, 3]", ""),
    ]
    assert _found(_stream(recipients_per_message=0)) == [
        (path, "a number of recipients >= 1, or [min, max]", "0", ""),
    ]


def test_outside_senders_need_an_entry_point() -> None:
    """A relay attempt comes from outside: the stream must say where it connects and from which
    client address, since the sender is nobody's user."""
    outsider = ["promo@cheap-offers.example"]
    assert _found(_stream(senders=outsider)) == [
        (
            "workload.streams[0].senders[0]",
            "a user of the scenario, or connect_to and client_address for an outsider",
            "'promo@cheap-offers.example'",
            "",
        )
    ]
    fixed = _stream(senders=outsider, connect_to=NEO, client_address="203.0.113.66")
    fixed["workload"]["streams"][0]["service"] = "submission"
    assert _found(fixed) == [
        ("workload.streams[0].service", f"a service {NEO} runs", "'submission'", ""),
    ]


def test_stream_times_names_and_hosts() -> None:
    data = _stream(start="2h", stop="1h", connect_to="neo")
    data["workload"]["streams"].append(dict(data["workload"]["streams"][0], start=0, stop="1h"))
    del data["workload"]["streams"][1]["connect_to"]
    assert _found(data) == [
        ("workload.streams[0].stop", "a stop time after start (7200s)", "'1h'", ""),
        ("workload.streams[0].connect_to", "a host of the scenario (neo.firma1.intr)", "'neo'", ""),
        ("workload.streams[1].name", "a stream name used once", "'office'", ""),
    ]
