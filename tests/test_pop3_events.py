"""The POP3 server's ``fetched`` rows in the live event log, over real sockets with poplib.

One row per message a RETR sent whole, once per session, in the simulation's format (node,
``pop3d``, ``msg`` from the trace header, the user's address, the size the ``+OK`` said, the
client's IP address, ``pop3``); none for TOP, for a failed RETR, or without an event log.
"""

from __future__ import annotations

import asyncio
import poplib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mailsim.analysis import Run
from mailsim.live.events import LiveEventLog
from mailsim.live.passdb import AuthSettings, PassDB, hash_password
from mailsim.live.pop3 import POP3Server, recipient_address

from pop3_fakes import GUARD_S, FakePassDB, FakeStore, crlf

NODE = "neo.firma1.intr"
TRACED = b"From: nekdo@firma1.intr\nX-Mailsim-Id: m42\nSubject: traced\n\nbody\n"
UNTRACED = b"Subject: no trace header\n\nX-Mailsim-Id: m99 (in the body: not a header)\n"
COLUMNS = ["node", "daemon", "event", "msg", "recipient", "size", "relay", "detail"]


@pytest.fixture
def store() -> Iterator[FakeStore]:
    store = FakeStore()
    store.mailbox("jura").add(TRACED)
    store.mailbox("jura").add(UNTRACED)
    yield store
    assert not any(box.held for box in store.boxes.values()), "a maildrop lock leaked"


def pop3_session(
    store: FakeStore,
    events: LiveEventLog | None,
    client: Callable[[poplib.POP3], object],
    *,
    passdb: Any = None,
    user: str = "jura",
    **options: Any,
) -> object:
    """Serve ``store``; log ``user`` in with poplib, run ``client`` on the session, QUIT."""

    def session(port: int) -> object:
        pop = poplib.POP3("127.0.0.1", port, timeout=GUARD_S)
        try:
            pop.user(user)
            pop.pass_("heslo")
            done = client(pop)
            pop.quit()
            return done
        finally:
            pop.close()

    async def scenario() -> object:
        users = passdb or FakePassDB({"jura": "heslo"})
        async with POP3Server(store, users, events=events, **options) as server:
            done = await asyncio.to_thread(session, server.port)
            await asyncio.wait_for(
                asyncio.gather(*(s.closed for s in list(server.sessions))), GUARD_S
            )
            return done

    return asyncio.run(asyncio.wait_for(scenario(), 3 * GUARD_S))


def fetched(events: LiveEventLog) -> list[dict[str, object]]:
    frame = events.to_frame()
    rows = frame[frame["event"] == "fetched"][COLUMNS].astype(object)
    return [dict(row) for _, row in rows.iterrows()]


def row(msg: str, size: int, recipient: str = "jura@firma1.intr") -> dict[str, object]:
    return {
        "node": NODE,
        "daemon": "pop3d",
        "event": "fetched",
        "msg": msg,
        "recipient": recipient,
        "size": size,
        "relay": "127.0.0.1",
        "detail": "pop3",
    }


def test_retr_of_two_messages_logs_two_fetched_rows(store: FakeStore) -> None:
    events = LiveEventLog()
    pop3_session(store, events, lambda pop: (pop.retr(1), pop.retr(2)), node=NODE)
    assert fetched(events) == [row("m42", len(crlf(TRACED))), row("", len(crlf(UNTRACED)))]
    assert len(events) == 2  # nothing else is logged by POP3


def test_retr_twice_in_a_session_logs_once(store: FakeStore) -> None:
    events = LiveEventLog()

    def twice(pop: poplib.POP3) -> None:
        pop.retr(1)
        pop.rset()
        pop.retr(1)

    pop3_session(store, events, twice, node=NODE)
    assert fetched(events) == [row("m42", len(crlf(TRACED)))]
    pop3_session(store, events, lambda pop: pop.retr(1), node=NODE)  # a new session: again
    assert len(fetched(events)) == 2


def test_top_and_a_failed_retr_log_nothing(store: FakeStore) -> None:
    events = LiveEventLog()
    store.mailbox("jura").fail = {"read"}

    def top_and_failed_retr(pop: poplib.POP3) -> str:
        with pytest.raises(poplib.error_proto) as failed:
            pop.retr(2)
        store.mailbox("jura").fail = set()
        pop.top(1, 0)
        pop.top(2, 99)  # all of it, still a TOP
        return str(failed.value)

    error = pop3_session(store, events, top_and_failed_retr, node=NODE)
    assert "SYS/TEMP" in str(error)
    assert len(events) == 0


def test_without_an_event_log_nothing_is_logged(
    store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    emitted: list[tuple[Any, ...]] = []
    monkeypatch.setattr(LiveEventLog, "emit", lambda *args, **kw: emitted.append(args))
    got = pop3_session(store, None, lambda pop: pop.retr(1)[1], node=NODE)
    assert got == [
        b"From: nekdo@firma1.intr",
        b"X-Mailsim-Id: m42",
        b"Subject: traced",
        b"",
        b"body",
    ]
    assert emitted == []


def test_run_has_the_fetch_times(store: FakeStore, tmp_path: Path) -> None:
    """``t`` is the log's clock when the RETR had been answered, times ``time_scale``; the
    CSV written as it happens reads back as the same Run."""
    ticks = iter([100.0, 102.5, 104.0])  # the log's origin, then one tick per row
    events = LiveEventLog(tmp_path / "events.csv", time_scale=60.0, clock=lambda: next(ticks))
    pop3_session(store, events, lambda pop: (pop.retr(2), pop.retr(1)), node=NODE)
    run = events.run("pop3")
    assert isinstance(run, Run)
    table = run.events[run.events["event"] == "fetched"]
    assert table["t"].tolist() == [150.0, 240.0]
    assert table["msg"].astype(str).tolist() == ["", "m42"]
    events.close()
    again = Run.read_csv(tmp_path / "events.csv")
    pd.testing.assert_series_equal(
        again.events["t"].reset_index(drop=True), table["t"].reset_index(drop=True)
    )


def test_recipient_is_the_users_address(store: FakeStore) -> None:
    """A real passdb and ``Jura@Firma1.intr``: the maildrop ``jura``, the address in lower case;
    a passdb that knows the address is asked for it."""
    settings = AuthSettings(rounds=1)
    passdb = PassDB.parse(
        f"jura:{hash_password('heslo', 1)}", domain="firma1.intr", settings=settings
    )
    events = LiveEventLog()
    pop3_session(
        store, events, lambda pop: pop.retr(1), passdb=passdb, user="Jura@Firma1.intr", node=NODE
    )

    class Addressed(FakePassDB):
        def address(self, login: str) -> str | None:
            return {"jura": "Jiri.Novak@firma1.intr"}.get(login)

    pop3_session(
        store, events, lambda pop: pop.retr(1), passdb=Addressed({"jura": "heslo"}), node=NODE
    )
    assert [r["recipient"] for r in fetched(events)] == [
        "jura@firma1.intr",
        "Jiri.Novak@firma1.intr",
    ]


@pytest.mark.parametrize(
    ("login", "user", "node", "address"),
    [
        ("jura", "jura", "neo.firma1.intr", "jura@firma1.intr"),  # Postfix's $mydomain default
        ("jura", "jura", "mx1.firma3.intr.", "jura@firma3.intr"),
        ("jura", "Jura@FIRMA1.intr", "neo.firma1.intr", "jura@firma1.intr"),
        ("jura", "jura@firma1.intr", "", "jura@firma1.intr"),
        ("olga@firma3.intr", "olga@firma3.intr", "neo.firma1.intr", "olga@firma3.intr"),
        ("jura", "jura", "localhost", "jura"),  # no domain to add
        ("jura", "jura", "", "jura"),
    ],
)
def test_recipient_address_rule(login: str, user: str, node: str, address: str) -> None:
    assert recipient_address(login, user, node) == address
