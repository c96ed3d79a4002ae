"""The issue-5 stream fields in YAML: profile, burst, size laws, Zipf counts, remote mix,
popularity. What loads becomes the right records; every mistake names file, path, expectation,
the value found and the closest known word, like the rest of the format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailsim.errors import ScenarioError, ScenarioIssue
from mailsim.scenario import load_scenario, scenario_from_dict
from mailsim.scenario.model import Distribution, Weighted
from mailsim.scenario.shape import (
    OFFICE_HOURLY,
    OFFICE_WEEKLY,
    AttachmentMixture,
    Burst,
    LognormalPareto,
    Profile,
    ZipfCount,
    zipf_weights,
)

from scenario_cases import MINIMAL_YAML, issues, minimal, write

STREAM = "workload.streams[0]"
PROFILE_LIST = "24 hourly weights, hour 0 first (numbers >= 0, one > 0), or flat or office"
SIZE_KINDS = (
    "a size distribution kind (constant, exponential, lognormal, lognormal_pareto, mixture, "
    "uniform)"
)


def with_stream(**fields: Any) -> dict[str, Any]:
    data = minimal()
    data["users"].append({"address": "nekdo@firma1.intr", "host": "neo.firma1.intr"})
    data["workload"]["streams"][0]["recipients"] = ["jura@firma1.intr", "nekdo@firma1.intr"]
    data["workload"]["streams"][0].update(fields)
    return data


def stream_of(**fields: Any) -> Any:
    return scenario_from_dict(with_stream(**fields)).workload.streams[0]


def found(**fields: Any) -> list[tuple[str, str, str, str]]:
    return [(i.path, i.expected, i.got, i.suggestion) for i in issues(with_stream(**fields))]


# -- what loads -----------------------------------------------------------------------------------
def test_profiles_in_every_form() -> None:
    assert stream_of(profile="office").profile == Profile.office()
    assert stream_of(profile="flat").profile == Profile.flat()
    hourly = list(range(24))
    assert stream_of(profile=hourly).profile == Profile(tuple(map(float, hourly)))
    mapping = stream_of(profile={"weekly": "office", "origin": "Tue 08:30"}).profile
    assert mapping == Profile(OFFICE_HOURLY, OFFICE_WEEKLY, 86400.0 + 8.5 * 3600.0)
    assert stream_of(profile={"origin": "32h"}).profile.origin == 32 * 3600.0


def test_size_laws() -> None:
    assert stream_of(size={"dist": "lognormal_pareto"}).size == LognormalPareto()
    spliced = stream_of(size={"dist": "lognormal_pareto", "median": "5KB", "sigma": 1.2,
                              "threshold": "100KB", "alpha": 1.5}).size  # fmt: skip
    assert spliced == pytest.approx(LognormalPareto(8.517193191416238, 1.2, 100_000.0, 1.5))
    mixture = stream_of(size={"dist": "mixture", "attachment_share": 0.2,
                              "attachment": {"dist": "lognormal", "median": "200KB",
                                             "sigma": 1.3}}).size  # fmt: skip
    assert mixture == AttachmentMixture(0.2, Distribution.lognormal(200_000.0, 1.3))
    assert stream_of(size="4KB").size == Distribution.constant(4000.0)


def test_zipf_counts_burst_remote_mix_and_popularity() -> None:
    stream = stream_of(
        recipients_per_message={"dist": "zipf", "s": 1.5, "max": 3},
        remote_recipients=["anna@firma2.intr"],
        remote_share=0.4,
        popularity={"senders": 1.0, "recipients": 2.0},
    )
    assert stream.recipients_per_message == ZipfCount(1.5, 3)
    assert stream.remote_recipients == (Weighted("anna@firma2.intr"),)
    assert stream.remote_share == 0.4
    assert [w.weight for w in stream.recipients] == list(zipf_weights(2, 2.0))
    assert stream_of(recipients_per_message={"dist": "zipf"}, recipients=[
        f"r{i}@x.example" for i in range(25)
    ]).recipients_per_message == ZipfCount(2.0, 20)  # fmt: skip
    data = with_stream(burst={"at": "2h30m", "messages": 6000, "over": "2m"})
    del data["workload"]["streams"][0]["rate"]
    burst_stream = scenario_from_dict(data).workload.streams[0]
    assert (burst_stream.burst, burst_stream.rate) == (Burst(9000.0, 6000, over=120.0), 0.0)


def test_plain_streams_stay_plain() -> None:
    assert stream_of().is_plain
    assert stream_of(popularity={"senders": 1.0}).is_plain  # only the weights change


# -- what does not --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"profile": "offce"}, [("profile", "a named profile (flat, office)", "'offce'",
                                 "office")]),
        ({"profile": 5}, [("profile", "a profile: office, flat, 24 hourly weights, or "
                           "{hourly, weekly, origin}", "5", "")]),
        ({"profile": [1, 2, 3]}, [("profile", PROFILE_LIST, "3 numbers", "")]),
        ({"profile": [0] * 24}, [("profile", PROFILE_LIST, "all weights 0", "")]),
        ({"profile": [1] * 23 + [-1]}, [("profile[23]", "a weight >= 0", "-1", "")]),
        ({"profile": {"weeky": "office"}}, [("profile.weeky", "a known profile key", "weeky",
                                             "weekly")]),
        ({"profile": {"weekly": [1, 1]}}, [("profile.weekly", "7 weekly weights, Monday first "
                                            "(numbers >= 0, one > 0), or flat or office",
                                            "2 numbers", "")]),
        ({"profile": {"origin": "Mon 25:00"}}, [("profile.origin", "a weekday and time such as "
                                                 "'Mon 08:00', or a duration after Monday 00:00",
                                                 "'Mon 25:00'", "")]),
        ({"profile": {"origin": "8d"}}, [("profile.origin", "a weekday and time such as "
                                          "'Mon 08:00', or a duration after Monday 00:00",
                                          "'8d'", "")]),
    ],
)  # fmt: skip
def test_bad_profiles(fields: dict[str, Any], expected: list[tuple[str, ...]]) -> None:
    assert found(**fields) == [(f"{STREAM}.{p}", e, g, s) for p, e, g, s in expected]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ({"dist": "lognormal_paretto"}, [("size.dist", SIZE_KINDS, "'lognormal_paretto'",
                                          "lognormal_pareto")]),
        ({"dist": "lognormal_pareto", "mu": 8.0, "median": "4KB"},
         [("size.median", "either mu or median, not both", "'4KB'", "")]),
        ({"dist": "lognormal_pareto", "alpha": 0}, [("size.alpha", "a tail index > 0", "0", "")]),
        ({"dist": "lognormal_pareto", "threshold": "big"},
         [("size.threshold", "a size such as 4096, 4KB, 20MB or 1MiB (a bare number is bytes)",
           "'big'", "")]),
        ({"dist": "lognormal_pareto", "sigmaa": 1}, [("size.sigmaa", "a known lognormal_pareto "
                                                      "size key", "sigmaa", "sigma")]),
        ({"dist": "mixture", "attachment": "200KB"},
         [("size.attachment_share", "the share of messages with an attachment (0 to 1)",
           "nothing", "")]),
        ({"dist": "mixture", "attachment_share": 1.5, "attachment": "200KB"},
         [("size.attachment_share", "a share from 0 to 1", "1.5", "")]),
        ({"dist": "mixture", "attachment_share": 0.1, "attachment": {"dist": "mixture"}},
         [("size.attachment.dist", "a size distribution kind (constant, exponential, lognormal, "
           "lognormal_pareto, uniform)", "'mixture'", "")]),
    ],
)  # fmt: skip
def test_bad_size_laws(size: dict[str, Any], expected: list[tuple[str, ...]]) -> None:
    assert found(size=size) == [(f"{STREAM}.{p}", e, g, s) for p, e, g, s in expected]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"recipients_per_message": {"dist": "zipf", "s": -1}},
         [("recipients_per_message.s", "an exponent s >= 0", "-1", "")]),
        ({"recipients_per_message": {"dist": "zipf", "max": 5}},
         [("recipients_per_message.max", "max at most 2 (the number of distinct recipients)",
           "5", "")]),
        ({"recipients_per_message": {"dist": "zipff"}},
         [("recipients_per_message.dist", "a count law (zipf)", "'zipff'", "zipf")]),
        ({"remote_share": 0.5}, [("remote_recipients", "remote_recipients to draw from (or "
                                  "remote_share: 0)", "nothing", "")]),
        ({"remote_share": 1.5, "remote_recipients": ["anna@firma2.intr"]},
         [("remote_share", "a share from 0 to 1", "1.5", "")]),
        ({"popularity": {"sender": 1}}, [("popularity.sender", "a known popularity key",
                                          "sender", "senders")]),
        ({"popularity": {"recipients": -2}}, [("popularity.recipients", "a Zipf skew >= 0",
                                               "-2", "")]),
    ],
)  # fmt: skip
def test_bad_counts_mixes_popularity(
    fields: dict[str, Any], expected: list[tuple[str, ...]]
) -> None:
    assert found(**fields) == [(f"{STREAM}.{p}", e, g, s) for p, e, g, s in expected]


@pytest.mark.parametrize(
    ("burst", "expected"),
    [
        ({"at": "1h"}, [("burst.messages", "how many messages", "nothing", "")]),
        ({"at": "1h", "messages": 10},
         [("burst", "either over (a duration > 0) or rate (> 0)", "neither", "")]),
        ({"at": "1h", "messages": 10, "over": "1m", "rate": 5},
         [("burst", "either over (a duration > 0) or rate (> 0)", "both", "")]),
        ({"at": "1h", "messages": 10, "over": 0}, [("burst.over", "a duration > 0", "0", "")]),
        ({"at": "1h", "messages": 0, "rate": "5/s"},
         [("burst.messages", "an integer >= 1", "0", "")]),
    ],
)  # fmt: skip
def test_bad_bursts(burst: dict[str, Any], expected: list[tuple[str, ...]]) -> None:
    data = with_stream(burst=burst)
    del data["workload"]["streams"][0]["rate"]
    got = [(i.path, i.expected, i.got, i.suggestion) for i in issues(data)]
    assert got == [(f"{STREAM}.{p}", e, g, s) for p, e, g, s in expected]


def test_a_burst_replaces_rate_start_stop_and_profile() -> None:
    burst = {"at": "1h", "messages": 10, "over": "1m"}
    expected = "no rate, start, stop or profile with a burst"
    assert found(burst=burst, stop="2h", profile="flat") == [
        (f"{STREAM}.{key}", expected, key, "") for key in ("rate", "stop", "profile")
    ]


def test_a_burst_stream_needs_no_rate_but_a_plain_one_does() -> None:
    data = with_stream()
    del data["workload"]["streams"][0]["rate"]
    assert [i.path for i in issues(data)] == [f"{STREAM}.rate"]


def test_yaml_issue_in_a_profile_carries_its_line(tmp_path: Path) -> None:
    text = MINIMAL_YAML + "      profile: {hourly: offce, origin: Mon 08:00}\n"
    path = write(tmp_path, "lab.yaml", text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert list(info.value.issues) == [
        ScenarioIssue(str(path), f"{STREAM}.profile.hourly",
                      "24 hourly weights, hour 0 first or a name (flat, office)", "'offce'",
                      "office", 17)
    ]  # fmt: skip
