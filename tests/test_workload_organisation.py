"""The per-user organisation description: what it compiles to, and that the draws honour it.

Over 20 seeded replications of one Monday (a full day of the office profile):

* the daily volumes (sent, inbound, spam, all) lie inside the 99 % Student t interval of the
  replication counts;
* pooled over the replications, the share of the day's legitimate mail in the busiest hour,
  the share of recipients outside the organisation and the share of spam each lie inside a
  99.9 % binomial interval (given the total, each message or recipient falls in a class
  independently);
* spam arrives at a flat rate from its own client address (chi-square over the hours).
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from mailsim.errors import ScenarioError
from mailsim.scenario import Organisation, Scenario, load_scenario, scenario_from_dict
from mailsim.scenario.organisation import OrganisationProblem, compile_organisation
from mailsim.scenario.shape import Profile, zipf_weights
from mailsim.sim import simulate
from mailsim.streams import RandomStreams
from mailsim.workload import Arrival, scenario_arrivals

OFFICE_DAY = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "office-day.yaml"
ORG_HOST = "mx.org.test"
REPLICATIONS = 20
Z = 3.29
DAY = 86400.0
PARTNERS = [f"p{i}@partner.test" for i in range(1, 31)]

BASE: dict[str, Any] = {
    "name": "org",
    "seed": 7,
    "duration": "24h",
    "hosts": {
        ORG_HOST: {
            "address": "10.1.0.1",
            "network": "10.1.0.0/16",
            "services": ["smtp"],
            "postfix": {"mydomain": "org.test", "mydestination": "$myhostname, $mydomain",
                        "mynetworks": "10.1.0.0/16"},
        },
        "mx.partner.test": {
            "address": "10.2.0.1",
            "network": "10.2.0.0/24",
            "services": ["smtp"],
            "postfix": {"mydomain": "partner.test", "mydestination": "$myhostname, $mydomain",
                        "mynetworks": "10.2.0.0/24"},
        },
    },
    "dns": {"zones": {
        "org.test": {"mx": ["10 mx.org.test"], "a": {ORG_HOST: "10.1.0.1"}},
        "partner.test": {"mx": ["10 mx.partner.test"], "a": {"mx.partner.test": "10.2.0.1"}},
    }},
    "users": [{"address": a, "host": "mx.partner.test"} for a in PARTNERS],
    "workload": {
        "organisation": {
            "domain": "org.test",
            "users": 200,
            "messages_per_user_per_day": 40,
            "peak_hour_share": 0.15,
            "outside_share": 0.35,
            "spam_share": 0.3,
            "profile": {"hourly": "office", "weekly": "office", "origin": "Mon 00:00"},
            "popularity": {"senders": 0.7, "recipients": 0.5},
        }
    },
}  # fmt: skip


def org_scenario(**changes: object) -> Scenario:
    data = copy.deepcopy(BASE)
    data["workload"]["organisation"].update(changes)
    return scenario_from_dict(data)


@pytest.fixture(scope="module")
def office() -> Scenario:
    return org_scenario()


@pytest.fixture(scope="module")
def days(office: Scenario) -> list[list[Arrival]]:
    return [list(scenario_arrivals(office, RandomStreams(seed))) for seed in range(REPLICATIONS)]


def t_interval(values: list[int]) -> tuple[float, float]:
    data = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.995, len(data) - 1) * data.std(ddof=1) / np.sqrt(len(data))
    return float(data.mean() - half), float(data.mean() + half)


def binomial_ok(successes: int, trials: int, p: float) -> bool:
    return abs(successes / trials - p) < Z * np.sqrt(p * (1 - p) / trials)


# -- what it compiles to --------------------------------------------------------------------------
def test_users_are_generated_on_the_domains_host(office: Scenario) -> None:
    generated = [u for u in office.users if u.domain == "org.test"]
    assert [u.address for u in generated] == [f"user{i}@org.test" for i in range(1, 201)]
    assert {u.host for u in generated} == {ORG_HOST}
    addresses = [u.client_address for u in generated]
    assert len(set(addresses)) == 200 and all(a.startswith("10.1.") for a in addresses)
    assert "10.1.0.1" not in addresses


def test_streams_and_their_daily_volumes(office: Scenario) -> None:
    rates = {s.name: s.rate * DAY for s in office.workload.streams}
    sent, inbound = 200 * 40, 200 * 40 * 0.35
    assert rates == pytest.approx(
        {"org-sent": sent, "org-inbound": inbound, "org-spam": 0.3 / 0.7 * (sent + inbound)}
    )
    by_name = {s.name: s for s in office.workload.streams}
    assert by_name["org-sent"].remote_share == 0.35
    assert {w.value for w in by_name["org-sent"].remote_recipients} == set(PARTNERS)
    assert {w.value for w in by_name["org-inbound"].senders} == set(PARTNERS)
    spam = by_name["org-spam"]
    assert (spam.connect_to, spam.client_address, spam.service) == (ORG_HOST, "203.0.113.66",
                                                                    "smtp")  # fmt: skip
    assert spam.profile == Profile.flat()
    assert by_name["org-sent"].profile is not None
    assert by_name["org-sent"].profile.peak_share == pytest.approx(0.15)
    assert office.workload.organisation is not None


def test_daily_volume_inside_the_replications_interval(days: list[list[Arrival]]) -> None:
    expected = {"org-sent": 8000.0, "org-inbound": 2800.0, "org-spam": 0.3 / 0.7 * 10800.0}
    for name, volume in expected.items():
        low, high = t_interval([sum(a.stream == name for a in day) for day in days])
        assert low <= volume <= high, (name, volume, low, high)
    low, high = t_interval([len(day) for day in days])
    assert low <= 10800.0 / 0.7 <= high


def test_peak_hour_share_of_legitimate_mail(days: list[list[Arrival]]) -> None:
    legitimate = [a for day in days for a in day if a.stream != "org-spam"]
    in_peak = sum(10 * 3600.0 <= a.t < 11 * 3600.0 for a in legitimate)
    assert binomial_ok(in_peak, len(legitimate), 0.15)


def test_outside_share_of_recipients(days: list[list[Arrival]]) -> None:
    recipients = [r for day in days for a in day if a.stream == "org-sent" for r in a.recipients]
    outside = sum(r.endswith("@partner.test") for r in recipients)
    assert binomial_ok(outside, len(recipients), 0.35)


def test_spam_share_of_all_messages(days: list[list[Arrival]]) -> None:
    everything = [a for day in days for a in day]
    assert binomial_ok(sum(a.stream == "org-spam" for a in everything), len(everything), 0.3)


def test_spam_is_flat_over_the_day_and_comes_from_outside(days: list[list[Arrival]]) -> None:
    spam = [a for day in days for a in day if a.stream == "org-spam"]
    hours = np.bincount([int(a.t // 3600) for a in spam], minlength=24)
    assert stats.chisquare(hours).pvalue > 0.001
    assert {(a.client_address, a.connect_to) for a in spam} == {("203.0.113.66", ORG_HOST)}
    assert all(r.endswith("@org.test") for a in spam for r in a.recipients)


def test_sender_popularity_is_zipf(days: list[list[Arrival]]) -> None:
    """Chi-square of who sends org-sent mail against the Zipf(0.7) weights in user order."""
    sent = Counter(a.sender for day in days for a in day if a.stream == "org-sent")
    observed = np.asarray([sent[f"user{i}@org.test"] for i in range(1, 201)])
    weights = np.asarray(zipf_weights(200, 0.7))
    expected = observed.sum() * weights / weights.sum()
    assert stats.chisquare(observed, expected).pvalue > 0.001


def test_no_skew_means_every_user_sends_alike() -> None:
    scenario = org_scenario(popularity={"senders": 0.0}, users=20, spam_share=0.0)
    sent = next(s for s in scenario.workload.streams if s.name == "org-sent")
    assert {w.weight for w in sent.senders} == {1.0}


def test_inbound_volume_can_be_set() -> None:
    scenario = org_scenario(inbound_per_user_per_day=5)
    inbound = next(s for s in scenario.workload.streams if s.name == "org-inbound")
    assert inbound.rate * DAY == pytest.approx(1000.0)


def test_python_api_compiles_the_same(office: Scenario) -> None:
    org = office.workload.organisation
    assert isinstance(org, Organisation)
    base = [u for u in office.users if u.domain != "org.test"]
    generated, streams = compile_organisation(org, office.hosts, base)
    assert (*base, *generated) == office.users
    assert streams == office.workload.streams


# -- problems -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"domain": "elsewhere.test"}, "domain",
         "one host whose mydestination lists elsewhere.test, or host: NAME"),
        ({"host": "mx.partner.test"}, "host", "a host that delivers org.test locally"),
        ({"peak_hour_share": 0.02}, "peak_hour_share",
         "a peak hour share between 0.04167 and 1 for this profile"),
        ({"users": 0}, "users", "users: N, or users of the scenario in org.test"),
    ],
)  # fmt: skip
def test_problems_name_the_field(changes: dict[str, object], field: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        org_scenario(**changes)
    (issue,) = info.value.issues
    assert issue.path == f"workload.organisation.{field}"
    assert issue.expected.startswith(expected)


def test_outside_share_needs_correspondents() -> None:
    data = copy.deepcopy(BASE)
    data["users"] = []
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data)
    (issue,) = info.value.issues
    assert issue.path == "workload.organisation.outside_share"
    assert issue.expected.startswith("0, or correspondents")


def test_inbound_needs_correspondents_who_are_users() -> None:
    with pytest.raises(ScenarioError) as info:
        org_scenario(correspondents=["someone@far.example"])
    (issue,) = info.value.issues
    assert issue.path == "workload.organisation.inbound_per_user_per_day"
    scenario = org_scenario(correspondents=["someone@far.example"], inbound_per_user_per_day=0)
    sent = next(s for s in scenario.workload.streams if s.name == "org-sent")
    assert [w.value for w in sent.remote_recipients] == ["someone@far.example"]


def test_compile_raises_organisation_problem_in_python(office: Scenario) -> None:
    org = Organisation(("nowhere.test",), 10.0)
    with pytest.raises(OrganisationProblem, match=r"organisation\.domain: expected one host"):
        compile_organisation(org, office.hosts, office.users)


# -- end to end -----------------------------------------------------------------------------------
def test_organisation_simulates_end_to_end() -> None:
    scenario = org_scenario(users=30).replace(duration=12 * 3600.0, drain=1800.0)
    run = simulate(scenario)
    events = run.events
    kinds = events["event"].astype(str)
    delivered = events[kinds == "delivered"]
    assert len(delivered) > 1000
    recipients = delivered["recipient"].astype(str)
    assert recipients.str.endswith("@org.test").any()
    assert recipients.str.endswith("@partner.test").any()
    submits = events[kinds == "submit"]
    assert (submits["node"].astype(str) == "[203.0.113.66]").any()  # spam client


def test_office_day_validates_and_runs() -> None:
    scenario = load_scenario(OFFICE_DAY)
    assert scenario.warnings == ()
    assert sum(u.domain == "firma1.intr" for u in scenario.users) == 202
    assert [s.name for s in scenario.workload.streams] == ["org-sent", "org-inbound", "org-spam"]
    run = simulate(scenario.replace(duration=11 * 3600.0, drain=1800.0))
    kinds = run.events["event"].astype(str)
    assert (kinds == "delivered").sum() > 5000
    assert (kinds == "fetched").sum() > 0
