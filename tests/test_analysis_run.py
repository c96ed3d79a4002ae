"""Run: construction, normalisation of foreign frames, caching, CSV/Parquet round trips."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mailsim.analysis import Run
from mailsim.analysis.example import MX, NEO, example_eventlog
from mailsim.analysis.frame import EventLogError
from mailsim.errors import MailsimError
from mailsim.eventlog import COLUMNS


@pytest.fixture
def example() -> Run:
    return Run.from_eventlog(example_eventlog(), name="example", meta={"seed": 42})


def test_events_keep_the_schema(example: Run) -> None:
    events = example.events
    assert list(events.columns) == list(COLUMNS)
    assert events["t"].dtype == np.float64
    assert events["size"].dtype == np.int64
    assert all(isinstance(events[c].dtype, pd.CategoricalDtype) for c in ("node", "msg", "event"))
    assert len(example) == len(events) == 49
    assert example.nodes == [MX, NEO]
    assert example.t_end == 315.0
    assert repr(example) == "Run(name='example', events=49, t_end=315)"


def test_missing_columns_are_an_error_naming_them() -> None:
    frame = example_eventlog().to_frame().drop(columns=["queue_id", "relay"])
    with pytest.raises(EventLogError, match=r"lacks columns \['queue_id', 'relay'\]"):
        Run(frame)
    assert issubclass(EventLogError, MailsimError)


def test_out_of_order_plain_string_frame_gives_the_same_tables(example: Run) -> None:
    frame = example.events.astype({c: object for c in COLUMNS if c not in ("t", "size")})
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    shuffled.loc[shuffled["recipient"] == "", "recipient"] = None
    run = Run(shuffled)
    assert run.events["t"].is_monotonic_increasing
    pd.testing.assert_frame_equal(
        run.recipients().astype(str), example.recipients().astype(str), check_categorical=False
    )


def test_returned_tables_are_copies(example: Run) -> None:
    first = example.recipients()
    first["latency"] = 0.0
    assert example.recipients()["latency"].iloc[0] == pytest.approx(3.5)


def test_csv_round_trip_keeps_name_meta_and_ids(example: Run, tmp_path: Path) -> None:
    path = example.to_csv(tmp_path / "run.csv")
    assert json.loads((tmp_path / "run.csv.meta.json").read_text()) == {
        "name": "example",
        "meta": {"seed": 42},
    }
    back = Run.read_csv(path)
    assert (back.name, back.meta) == ("example", {"seed": 42})
    assert back.events["queue_id"].astype(str).iloc[3] == "0000000001"
    pd.testing.assert_frame_equal(
        back.recipients().astype(str), example.recipients().astype(str), check_categorical=False
    )
    renamed = Run.read_csv(path, name="other", meta={})
    assert (renamed.name, renamed.meta) == ("other", {})


def test_read_csv_without_sidecar_names_the_run_after_the_file(
    example: Run, tmp_path: Path
) -> None:
    example.events.to_csv(tmp_path / "plain.csv", index=False)
    assert Run.read_csv(tmp_path / "plain.csv").name == "plain"


def test_parquet_round_trip(example: Run, tmp_path: Path) -> None:
    back = Run.read_parquet(example.to_parquet(tmp_path / "run.parquet"))
    assert back.name == "example"
    assert back.recipients()["status"].tolist() == example.recipients()["status"].tolist()


def test_parquet_without_pyarrow_says_what_to_do(
    example: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyarrow" else real_find_spec(name, *a),
    )
    with pytest.raises(ModuleNotFoundError, match=r"needs pyarrow.*to_csv"):
        example.to_parquet(tmp_path / "run.parquet")
