"""Large generated logs: the tables stay exact and vectorised (seconds for millions of rows)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from mailsim.analysis import Run
from mailsim.eventlog import COLUMNS

RELAY = "B[10.0.0.2]:25"
# Templates of one message's rows: (dt, node, daemon, event, file (0 none, 1 at A, 2 at B),
# recipient slot (0 none), dsn, relay).
RELAYED_WITH_RETRY = [
    (0.0, "client", "client", "submit", 0, 0, "", ""),
    (0.5, "A", "smtpd", "connect", 0, 0, "", ""),
    (1.0, "A", "smtpd", "received", 1, 0, "", ""),
    (1.2, "A", "cleanup", "queued", 1, 0, "", ""),
    (1.5, "A", "qmgr", "active", 1, 0, "", ""),
    (1.6, "A", "dns", "dns_query", 1, 0, "", ""),
    (1.8, "A", "smtp", "deferred", 1, 1, "4.4.1", RELAY),
    (1.8, "A", "qmgr", "deferred", 1, 0, "", ""),
    (301.8, "A", "qmgr", "active", 1, 0, "", ""),
    (302.0, "B", "smtpd", "connect", 0, 0, "", "A[10.0.0.1]"),
    (302.4, "B", "smtpd", "received", 2, 0, "", ""),
    (302.5, "A", "smtp", "sent", 1, 1, "2.0.0", RELAY),
    (302.5, "A", "qmgr", "removed", 1, 0, "", ""),
    (302.6, "B", "cleanup", "queued", 2, 0, "", ""),
    (303.0, "B", "qmgr", "active", 2, 0, "", ""),
    (303.5, "B", "local", "delivered", 2, 1, "2.0.0", "local"),
    (303.5, "B", "qmgr", "removed", 2, 0, "", ""),
    (400.0, "B", "pop3d", "fetched", 0, 1, "", ""),
]
LOCAL_TWO_RECIPIENTS = [
    (0.0, "client", "client", "submit", 0, 0, "", ""),
    (0.1, "A", "smtpd", "connect", 0, 0, "", ""),
    (0.3, "A", "smtpd", "received", 1, 0, "", ""),
    (0.4, "A", "cleanup", "queued", 1, 0, "", ""),
    (0.6, "A", "qmgr", "active", 1, 0, "", ""),
    (0.9, "A", "local", "delivered", 1, 1, "2.0.0", "local"),
    (1.0, "A", "local", "delivered", 1, 2, "2.0.0", "local"),
    (1.0, "A", "qmgr", "removed", 1, 0, "", ""),
]
REJECTED = [
    (0.0, "client", "client", "submit", 0, 0, "", ""),
    (0.2, "A", "smtpd", "connect", 0, 0, "", ""),
    (0.3, "A", "smtpd", "reject", 0, 1, "5.1.1", ""),
]
BOUNCED = [
    (0.0, "client", "client", "submit", 0, 0, "", ""),
    (0.1, "A", "smtpd", "connect", 0, 0, "", ""),
    (0.2, "A", "smtpd", "received", 1, 0, "", ""),
    (0.3, "A", "cleanup", "queued", 1, 0, "", ""),
    (0.4, "A", "qmgr", "active", 1, 0, "", ""),
    (0.9, "A", "smtp", "bounced", 1, 1, "5.4.4", "none"),
    (0.9, "A", "qmgr", "removed", 1, 0, "", ""),
]
KINDS = [RELAYED_WITH_RETRY, LOCAL_TWO_RECIPIENTS, REJECTED, BOUNCED]
STAGES = ["smtpd_wait", "smtpd", "cleanup", "incoming", "deferred", "delivery"]


def generated_log(messages: int, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Return a time-ordered log of ``messages`` messages of random kinds, and their kinds."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, len(KINDS), messages)
    start = np.sort(rng.uniform(0.0, messages / 10.0, messages))
    vocab: dict[str, int] = {"": 0}
    parts: list[dict[str, np.ndarray]] = []
    for index, template in enumerate(KINDS):
        msg = np.flatnonzero(kind == index) + 1
        rows = len(template)
        column = list(zip(*template, strict=True))

        def codes(values: tuple[str, ...], count: int = len(msg)) -> np.ndarray:
            return np.tile([vocab.setdefault(v, len(vocab)) for v in values], count)

        file_slot = np.tile(column[4], len(msg))
        rcpt_slot = np.tile(column[5], len(msg))
        repeated = np.repeat(msg, rows)
        parts.append(
            {
                "t": (start[msg - 1][:, None] + np.array(column[0])[None, :]).ravel(),
                "node": codes(column[1]),
                "daemon": codes(column[2]),
                "event": codes(column[3]),
                "msg": repeated,
                "queue_id": np.where(file_slot > 0, repeated, 0),
                "recipient": np.where(rcpt_slot > 0, (repeated % 5000) * 3 + rcpt_slot, 0),
                "dsn": codes(column[6]),
                "relay": codes(column[7]),
            }
        )
    data = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    order = np.argsort(data["t"], kind="stable")
    labels = pd.Index(list(vocab), dtype=object)

    def categorical(numbers: np.ndarray, label: object) -> pd.Categorical:
        unique, inverse = np.unique(numbers, return_inverse=True)
        names = pd.Index([label(int(u)) if u else "" for u in unique], dtype=object)
        return pd.Categorical.from_codes(inverse.astype(np.int32), categories=names)

    n = len(order)
    frame = pd.DataFrame(
        {
            "t": data["t"][order],
            **{
                name: pd.Categorical.from_codes(data[name][order].astype(np.int32), labels)
                for name in ("node", "daemon", "event", "dsn", "relay")
            },
            "msg": categorical(data["msg"][order], lambda u: f"m{u}"),
            "queue_id": categorical(data["queue_id"][order], lambda u: f"{u:010X}"),
            "sender": pd.Categorical.from_codes(np.zeros(n, np.int32), ["s@a"]),
            "recipient": categorical(data["recipient"][order], lambda u: f"u{u}@b"),
            "size": np.full(n, 1000, dtype=np.int64),
            "detail": pd.Categorical.from_codes(np.zeros(n, np.int32), [""]),
        },
        columns=list(COLUMNS),
    )
    return frame, kind


def check(frame: pd.DataFrame, kind: np.ndarray) -> None:
    run = Run(frame)
    table = run.recipients()
    counts = np.bincount(kind, minlength=4)
    assert len(table) == counts[0] + 2 * counts[1] + counts[2] + counts[3]
    statuses = table["status"].value_counts()
    assert statuses["delivered"] == counts[0] + 2 * counts[1]
    assert statuses["rejected"] == counts[2]
    assert statuses["bounced"] == counts[3]
    np.testing.assert_allclose(table[STAGES].sum(axis=1), table["latency"], atol=1e-6)
    retried = table[table["hops"] == 2]
    assert len(retried) == counts[0]
    np.testing.assert_allclose(retried["deferred"], 300.0, atol=1e-6)
    np.testing.assert_allclose(retried["fetch_wait"], 96.5, atol=1e-6)
    depth = run.queue_depth()
    last = depth.groupby(["node", "queue"], observed=True)["depth"].last()
    assert (last == 0).all()
    assert depth.loc[depth["queue"] == "deferred", "depth"].max() >= 1
    summary = run.summary()
    value = summary.set_index(["scope", "metric"])["value"]
    assert value[("run", "messages_submitted")] == len(kind)
    assert value[("A", "sent")] == counts[0]


def test_a_million_rows_are_exact() -> None:
    frame, kind = generated_log(115_000)
    assert len(frame) > 1_000_000
    check(frame, kind)


@pytest.mark.slow
def test_five_million_rows_in_seconds() -> None:
    frame, kind = generated_log(560_000)
    assert len(frame) >= 5_000_000
    began = time.perf_counter()
    run = Run(frame)
    run.recipients()
    run.queue_depth()
    elapsed = time.perf_counter() - began
    assert elapsed < 30.0, f"recipients() + queue_depth() took {elapsed:.1f} s for 5M rows"
    check(frame, kind)
