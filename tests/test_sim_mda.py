"""Exact event logs of the MDA's recipes and of mailbox_size_limit, worked out by hand.

Service times as in test_sim_exact_log: smtpd 0.1, cleanup 0.01, qmgr 0.001, local 0.02,
mda 0.03, smtp 0.05 s, links without latency. A message accepted at mx.a.test at t is queued at
t + 0.11, active at t + 0.111 and delivered (local + mda) at t + 0.161, with delays
0.11/0/0/0.05. The resolver's and bounce(8)'s rows are left out: they have tests of their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from mailsim.scenario.mda import MDARule
from mailsim.scenario.model import Scenario
from mailsim.sim import Simulation
from mailsim.workload import Arrival

from builders import EXACT_TIMES, two_domains

TIMES = EXACT_TIMES
A, B = "mx.a.test", "mx.b.test"
ALICE, BOB, CAROL = "alice@a.test", "bob@a.test", "carol@b.test"
ALICE_CLIENT, CAROL_CLIENT = "alice@a.test[10.0.0.5]", "carol@b.test[10.0.1.7]"
DELAYS = "delays=0.11/0/0/0.05"
SPAM = MDARule("folder", "spam", header="Subject", pattern=r"^\[SPAM\]", folder=".Spam")

Row = tuple[object, ...]


def scenario(
    rules: Sequence[MDARule] = (),
    site: Sequence[MDARule] = (),
    mailbox_format: str = "maildir",
    **postfix: str,
) -> Scenario:
    """two_domains with ``rules`` for bob@a.test and ``site`` rules on mx.a.test."""
    base = two_domains(capacity=TIMES, **postfix)
    users = tuple(
        dataclasses.replace(u, mda_rules=tuple(rules)) if u.address == BOB else u
        for u in base.users
    )
    hosts = dict(base.hosts)
    hosts[A] = dataclasses.replace(hosts[A], mda_rules=tuple(site), mailbox_format=mailbox_format)
    return base.replace(users=users, hosts=hosts)


def run(world: Scenario, arrivals: list[Arrival]) -> tuple[Simulation, list[Row]]:
    sim = Simulation(world, arrivals=iter(arrivals))
    sim.run()
    rows = [
        (round(e.t, 9), e.node, e.daemon, e.event, e.msg, e.sender, e.recipient, e.dsn, e.relay,
         e.detail)
        for e in sim.log.rows()
        if e.daemon not in ("dns", "bounce")
    ]  # fmt: skip
    return sim, rows


def from_alice(t: float, msg: int, size: int = 1000, **headers: str) -> Arrival:
    return Arrival(t, msg, ALICE, (BOB,), size, headers=tuple(headers.items()))


def from_carol(t: float, msg: int, **headers: str) -> Arrival:
    """carol writes to bob from outside mx.a.test's mynetworks (bob is a local recipient)."""
    return Arrival(
        t, msg, CAROL, (BOB,), 1000, client_address="10.0.1.7", connect_to=A,
        headers=tuple(headers.items()),
    )  # fmt: skip


def accepted(t: float, msg: str, sender: str = ALICE, client: str = ALICE_CLIENT) -> list[Row]:
    """submit, connect, received, queued and active of one message at mx.a.test."""
    return [
        (t, sender, "client", "submit", msg, sender, "", "", A, "smtp nrcpt=1"),
        (t, A, "smtpd", "connect", msg, "", "", "", client, ""),
        (round(t + 0.1, 9), A, "smtpd", "received", msg, sender, "", "", client, "nrcpt=1"),
        (round(t + 0.11, 9), A, "cleanup", "queued", msg, sender, "", "", "", "queue incoming"),
        (round(t + 0.111, 9), A, "qmgr", "active", msg, sender, "", "", "", "nrcpt=1"),
    ]


def local(t: float, msg: str, event: str, detail: str, sender: str = ALICE) -> list[Row]:
    """bob's local delivery outcome at t + 0.161 and the queue file's removal."""
    dsn = "2.0.0" if event != "bounced" else "5.2.2"
    end = round(t + 0.161, 9)
    return [
        (end, A, "local", event, msg, sender, BOB, dsn, "local", f"{detail} {DELAYS}"),
        (end, A, "qmgr", "removed", msg, sender, "", "", "", ""),
    ]


def relayed(t: float, msg: str, sender: str, qid: str, extra: str = "") -> list[Row]:
    """A copy made at mx.a.test at t (cleanup done at t + 0.01) relayed to carol@b.test."""
    queued, active, connect = round(t + 0.01, 9), round(t + 0.011, 9), round(t + 0.061, 9)
    received, done, b_active = round(t + 0.161, 9), round(t + 0.171, 9), round(t + 0.172, 9)
    relay, client = "mx.b.test[10.0.1.1]:25", "mx.a.test[10.0.0.1]"
    return [
        (queued, A, "cleanup", "queued", msg, sender, "", "", "", "queue incoming"),
        (active, A, "qmgr", "active", msg, sender, "", "", "", "nrcpt=1"),
        (connect, B, "smtpd", "connect", msg, "", "", "", client, ""),
        (received, B, "smtpd", "received", msg, sender, "", "", client, "nrcpt=1"),
        (done, B, "cleanup", "queued", msg, sender, "", "", "", "queue incoming"),
        (done, A, "smtp", "sent", msg, sender, CAROL, "2.0.0", relay,
         f"250 2.0.0 Ok: queued as {qid}{extra} delays=0/0/0.05/0.11"),
        (done, A, "qmgr", "removed", msg, sender, "", "", "", ""),
        (b_active, B, "qmgr", "active", msg, sender, "", "", "", "nrcpt=1"),
        (round(t + 0.222, 9), B, "local", "delivered", msg, sender, CAROL, "2.0.0", "local",
         f"delivered to maildir {DELAYS}"),
        (round(t + 0.222, 9), B, "qmgr", "removed", msg, sender, "", "", "", ""),
    ]  # fmt: skip


def test_folder_rule_files_matching_mail_into_its_folder() -> None:
    arrivals = [from_alice(1.0, 1, Subject="[SPAM] cheap"), from_alice(2.0, 2, Subject="Hi")]
    sim, log = run(scenario([SPAM]), arrivals)
    assert log == [
        *accepted(1.0, "m1"),
        *local(1.0, "m1", "delivered", "delivered to maildir folder .Spam (rule spam)"),
        *accepted(2.0, "m2"),
        *local(2.0, "m2", "delivered", "delivered to maildir"),
    ]
    # the folder is a mailbox of its own ("<address>/<folder>", lower case as every mailbox
    # key): a POP3 client sees only the inbox
    assert [m.msg for m in sim.mailboxes["bob@a.test/.spam"].messages] == [1]
    assert [m.msg for m in sim.mailboxes[BOB].messages] == [2]


def test_site_discard_rule_drops_big_mail() -> None:
    world = scenario(site=[MDARule("discard", "big", min_size=5000)])
    sim, log = run(world, [from_alice(1.0, 1, size=6000), from_alice(2.0, 2, size=4000)])
    assert log == [
        *accepted(1.0, "m1"),
        *local(1.0, "m1", "delivered", "discarded (rule big)"),
        *accepted(2.0, "m2"),
        *local(2.0, "m2", "delivered", "delivered to maildir"),
    ]
    assert [m.msg for m in sim.mailboxes[BOB].messages] == [2]


def test_forward_rule_reinjects_the_message_with_its_envelope_sender() -> None:
    rule = MDARule("forward", "fwd", sender="^alice@", forward_to=CAROL)
    sim, log = run(scenario([rule]), [from_alice(1.0, 1)])
    forwarded = "forwarded as 7056330002 (rule fwd) (orig_to=<bob@a.test>)"
    assert log == [
        *accepted(1.0, "m1"),
        (1.161, A, "local", "sent", "m1", ALICE, CAROL, "2.0.0", "local",
         f"{forwarded} {DELAYS}"),
        (1.161, A, "qmgr", "removed", "m1", ALICE, "", "", "", ""),
        *relayed(1.161, "m1", ALICE, "E4249D0001", " (orig_to=<bob@a.test>)"),
    ]  # fmt: skip
    assert BOB not in sim.mailboxes


def test_forwarding_to_oneself_is_a_mail_forwarding_loop() -> None:
    """local(8) bounces a message that already has Delivered-To: <the recipient> (5.4.6)."""
    _, log = run(scenario([MDARule("forward", "self", forward_to=BOB)]), [from_alice(1.0, 1)])
    loop = "mail forwarding loop for bob@a.test (orig_to=<bob@a.test>) delays=0/0/0/0.05"
    assert log[:10] == [
        *accepted(1.0, "m1"),
        (1.161, A, "local", "sent", "m1", ALICE, BOB, "2.0.0", "local",
         f"forwarded as 7056330002 (rule self) (orig_to=<bob@a.test>) {DELAYS}"),
        (1.161, A, "qmgr", "removed", "m1", ALICE, "", "", "", ""),
        (1.171, A, "cleanup", "queued", "m1", ALICE, "", "", "", "queue incoming"),
        (1.172, A, "qmgr", "active", "m1", ALICE, "", "", "", "nrcpt=1"),
        (1.222, A, "local", "bounced", "m1", ALICE, BOB, "5.4.6", "local", loop),
    ]  # fmt: skip
    # the bounce goes to alice (the envelope sender), not round the loop again
    assert [row[6] for row in log if row[3] in ("delivered", "bounced", "sent")] == [
        BOB,
        BOB,
        ALICE,
    ]


def test_vacation_answers_each_sender_once_per_period_and_never_bulk_mail() -> None:
    rule = MDARule("vacation", "away", vacation_period=100.0, vacation_text="x" * 50)
    arrivals = [
        from_carol(1.0, 1),
        from_carol(2.0, 2),  # within the period: no second reply
        from_carol(3.0, 3, Precedence="bulk"),
        from_carol(150.0, 4),  # the period is over: a new reply
    ]
    sim, log = run(scenario([rule]), arrivals)
    replies = list(dict.fromkeys(str(row[4]) for row in log if row[5] == BOB))
    assert len(replies) == 2 and not set(replies) & {"m1", "m2", "m3", "m4"}

    def mail(t: float, msg: str, detail: str) -> list[Row]:
        return [*accepted(t, msg, CAROL, CAROL_CLIENT), *local(t, msg, "delivered", detail, CAROL)]

    kind = "delivered to maildir"
    assert log == [
        *mail(1.0, "m1", f"{kind}, vacation reply 7056330002 to <carol@b.test> (rule away)"),
        *relayed(1.161, replies[0], BOB, "E4249D0001"),
        *mail(2.0, "m2", f"{kind}, no vacation reply: answered <carol@b.test> within 1m40s "
                         "(rule away)"),
        *mail(3.0, "m3", f"{kind}, no vacation reply: Precedence: bulk (rule away)"),
        *mail(150.0, "m4", f"{kind}, vacation reply 7056330006 to <carol@b.test> (rule away)"),
        *relayed(150.161, replies[1], BOB, "E4249D0002"),
    ]  # fmt: skip
    reply = next(e for e in sim.log.rows() if e.msg == replies[0])
    assert reply.size == 50 + 300  # the text and the reply's headers


def test_mbox_quota_counts_the_whole_mailbox() -> None:
    """mailbox_size_limit: the append that would pass it fails with EFBIG (552 5.2.2)."""
    world = scenario(mailbox_format="mbox", mailbox_size_limit="2500")
    sim, log = run(world, [from_alice(1.0, 1), from_alice(2.0, 2), from_alice(3.0, 3)])
    full = "cannot update mailbox /var/mail/bob for user bob. error writing message: File too large"
    assert log[:21] == [
        *accepted(1.0, "m1"),
        *local(1.0, "m1", "delivered", "delivered to mailbox"),
        *accepted(2.0, "m2"),
        *local(2.0, "m2", "delivered", "delivered to mailbox"),
        *accepted(3.0, "m3"),
        *local(3.0, "m3", "bounced", full),
    ]
    assert sim.mailboxes[BOB].size == 2000


def test_maildir_quota_limits_each_message() -> None:
    """In a maildir every message is a file of its own: only one larger than the limit fails."""
    world = scenario(mailbox_size_limit="1500")
    sim, log = run(world, [from_alice(1.0, 1), from_alice(2.0, 2), from_alice(3.0, 3, 2000)])
    full = "maildir delivery failed: error writing message: File too large"
    assert log[:21] == [
        *accepted(1.0, "m1"),
        *local(1.0, "m1", "delivered", "delivered to maildir"),
        *accepted(2.0, "m2"),
        *local(2.0, "m2", "delivered", "delivered to maildir"),
        *accepted(3.0, "m3"),
        *local(3.0, "m3", "bounced", full),
    ]
    assert sim.mailboxes[BOB].size == 2000


def test_a_full_folder_bounces_like_a_full_mailbox() -> None:
    world = scenario([SPAM], mailbox_format="mbox", mailbox_size_limit="1500")
    _, log = run(
        world, [from_alice(1.0, 1, Subject="[SPAM] a"), from_alice(2.0, 2, Subject="[SPAM] b")]
    )
    full = (
        "cannot update mailbox /home/bob/.Spam for user bob. error writing message: File too large"
    )
    assert log[:14] == [
        *accepted(1.0, "m1"),
        *local(1.0, "m1", "delivered", "delivered to mailbox folder .Spam (rule spam)"),
        *accepted(2.0, "m2"),
        *local(2.0, "m2", "bounced", full),
    ]


def test_hosts_without_rules_deliver_as_before() -> None:
    _, log = run(scenario(), [from_alice(1.0, 1, Subject="[SPAM] x")])
    assert log == [*accepted(1.0, "m1"), *local(1.0, "m1", "delivered", "delivered to maildir")]
