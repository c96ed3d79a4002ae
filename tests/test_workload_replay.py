"""Replay: a real Postfix log's offered load becomes arrivals, and the model answers it as the
recorded server did (data/postfix-logs/maillog-postfix-3.7-sample.log into real-maincf.yaml,
the configuration it was recorded with)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mailsim.cli import main
from mailsim.scenario import load_scenario
from mailsim.sim import simulate
from mailsim.streams import RandomStreams
from mailsim.workload.records import Arrival
from mailsim.workload.replay import ReplayError, ReplayStats, replay_arrivals

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "postfix-logs" / "maillog-postfix-3.7-sample.log"
SCENARIO = ROOT / "data" / "scenarios" / "real-maincf.yaml"
NEO = "neo.firma1.intr"


@pytest.fixture(scope="module")
def scenario():  # type: ignore[no-untyped-def]
    return load_scenario(SCENARIO)


def arrivals(scenario, **options) -> tuple[list[Arrival], ReplayStats]:  # type: ignore[no-untyped-def]
    found = ReplayStats()
    seed = options.pop("seed", 1)
    generator = RandomStreams(seed).generator("workload/replay")
    made = list(replay_arrivals(SAMPLE, scenario, generator, year=2026, stats=found, **options))
    return made, found


def test_every_client_transaction_of_the_log_arrives_once(scenario) -> None:  # type: ignore[no-untyped-def]
    """The README's counts: 175 queue files from smtpd and 27 from pickup; local(8)'s 43
    copies and bounce(8)'s 61 notifications are the model's own business; the one refusal at
    MAIL (size) names no recipient and cannot be replayed."""
    made, found = arrivals(scenario)
    assert (found.received, found.picked_up, found.skipped) == (175, 27, 1)
    assert found.arrivals == len(made) == found.received + found.picked_up + found.refused
    assert [a.msg for a in made] == list(range(1, len(made) + 1))
    times = [a.t for a in made]
    assert times[0] == 0.0 and times == sorted(times)
    assert {a.connect_to for a in made} == {NEO} and {a.service for a in made} == {"smtp"}


def test_refused_transactions_arrive_from_their_clients(scenario) -> None:  # type: ignore[no-untyped-def]
    """Relay attempts (8 sessions from unknown[127.0.5.x]) come back as arrivals from those
    addresses with their refused recipients; alias recipients arrive as the client named them."""
    made, _ = arrivals(scenario)
    spam = [a for a in made if a.sender.endswith("@cheap-offers.example")]
    assert len(spam) == 8
    assert {a.client_address for a in spam} <= {"127.0.5.10", "127.0.5.23", "127.0.5.77"}
    # remote recipients (relaying refused), and the two tries of nosuch@firma1.intr
    local = [r for a in spam for r in a.recipients if r.endswith("@firma1.intr")]
    assert local == ["nosuch@firma1.intr"] * 2
    everyone = {r for a in made for r in a.recipients}
    assert {"staff@firma1.intr", "info@firma1.intr", "sales@firma1.intr"} <= everyone
    assert "nosuch@firma1.intr" in everyone  # refused at RCPT, offered all the same
    picked = [a for a in made if a.client_address == "127.0.0.1" and a.sender.startswith("root")]
    assert picked  # cron's mail through sendmail(1): from neo itself


def test_the_model_refuses_what_the_server_refused(scenario) -> None:  # type: ignore[no-untyped-def]
    """Same main.cf, same offered load: the same 13 relay refusals (554 5.7.1) and 15 unknown
    users (550 5.1.1) at neo, and the remote endpoints' 550s as many as the log's bounces."""
    made, _ = arrivals(scenario)
    run = simulate(scenario.replace(duration=made[-1].t + 1), arrivals=iter(made))
    events = run.events
    rejects = events[(events["event"] == "reject") & (events["node"] == NEO)]
    assert rejects["dsn"].astype(str).value_counts().to_dict() == {"5.1.1": 15, "5.7.1": 13}
    bounced = events[(events["event"] == "bounced") & (events["node"] == NEO)]
    relays = bounced["relay"].astype(str).str.split("[").str[0].value_counts().to_dict()
    # as the log: 7 + 4 refused by firma5 and firma7, 2 over erin's quota, and 24 returned when
    # maximal_queue_lifetime (2m) ran out (firma3 down, firma4 450, firma7 452)
    assert relays == {"mx.firma5.intr": 7, "mx.firma7.intr": 4, "local": 2, "none": 24}


def test_speed_divides_the_times(scenario) -> None:  # type: ignore[no-untyped-def]
    normal, _ = arrivals(scenario)
    fast, _ = arrivals(scenario, speed=4.0)
    assert [a.t / 4.0 for a in normal] == pytest.approx([a.t for a in fast])
    assert [a.recipients for a in normal] == [a.recipients for a in fast]


def test_thinning_is_seeded_and_binomial(scenario) -> None:  # type: ignore[no-untyped-def]
    whole, _ = arrivals(scenario)
    kept = [len(arrivals(scenario, thin=0.5, seed=seed)[0]) for seed in range(20)]
    again = [len(arrivals(scenario, thin=0.5, seed=seed)[0]) for seed in range(3)]
    assert again == kept[:3]  # same seed, same thinning
    assert len(set(kept)) > 1
    # the total kept over 20 seeds is Binomial(20 n, 1/2): inside its 99.9 % interval
    n = 20 * len(whole)
    low, high = stats.binom.interval(0.999, n, 0.5)
    assert low <= sum(kept) <= high


def test_bad_options_and_unknown_hosts_are_clear_errors(scenario) -> None:  # type: ignore[no-untyped-def]
    generator = np.random.default_rng(1)
    with pytest.raises(ReplayError, match="speed"):
        list(replay_arrivals(SAMPLE, scenario, generator, speed=0))
    with pytest.raises(ReplayError, match="thin"):
        list(replay_arrivals(SAMPLE, scenario, generator, thin=1.5))
    elsewhere = scenario.replace(hosts={k: v for k, v in scenario.hosts.items() if k != NEO})
    with pytest.raises(ReplayError, match="--host neo="):
        list(replay_arrivals(SAMPLE, elsewhere, generator, year=2026))
    with pytest.raises(ReplayError, match="no message"):
        list(replay_arrivals(["Nov 28 00:13:10 neo kernel: hello"], scenario, generator))


def test_mailsim_replay_prints_the_log_and_the_model_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["replay", str(SAMPLE), "--scenario", str(SCENARIO), "--year", "2026", "--quiet",
         "--host", f"neo={NEO}", "--out", str(tmp_path / "out")]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "175 received by smtpd, 27 picked up" in out
    table = {
        line.split()[0]: line.split()[1:]
        for line in out.splitlines()
        if line.startswith(("received ", "rejected ", "bounced "))
    }
    assert table["rejected"] == ["29", "28"]  # all but the size refusal at MAIL
    assert table["bounced"] == ["13", "13"]
    assert (tmp_path / "out" / "report.html").exists()
    with pytest.raises(SystemExit):
        main(["replay", str(SAMPLE)])  # --scenario is required


def test_mailsim_replay_live_sends_the_log_to_the_lab(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--live: the same arrivals, sent by real SMTP clients to the lab's servers."""
    code = main(
        ["replay", str(SAMPLE), "--scenario", str(SCENARIO), "--year", "2026", "--live",
         "--speed", "100", "--thin", "0.25", "--lab-dir", str(tmp_path / "lab")]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    clients = next(line for line in out.splitlines() if line.startswith("clients: "))
    submitted = int(clients.split()[1])
    assert 20 < submitted < 110 and " 0 failed" in clients  # about a quarter of 215
    assert (tmp_path / "lab" / "events.csv").stat().st_size > 0
    assert "received " in out
