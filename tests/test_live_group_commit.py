"""Group commit: a batch of deliveries goes to disk with one commit, and each message still
gets its answer only once it is there; and the DATA reader's fast path reads as the slow one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailsim.live.maildir import MaildirMailbox, StagedMessage
from mailsim.live.mailstore import Delivery, deliver_all
from mailsim.live.smtp_data import MAX_TEXT_LINE, DataReader
from mailsim.live.smtp_server import SMTPServer
from mailsim.live.spool import Spool
from mailsim.live.store import open_store

from smtp_fakes import NEO, MemoryStore, lecture_scenario


def message(n: int) -> bytes:
    return f"Subject: zprava {n}\r\n\r\ntelo {n}\r\n".encode()


# -- the store ---------------------------------------------------------------------------------
def test_deliver_many_stores_all_in_order_with_consecutive_uids(tmp_path: Path) -> None:
    box = MaildirMailbox(tmp_path / "jura")
    box.deliver(message(0))
    stored = box.deliver_many([Delivery(message(n)) for n in range(1, 6)])
    assert [m.uid for m in stored] == [2, 3, 4, 5, 6]
    assert [box.read(m.key) for m in stored] == [message(n) for n in range(1, 6)]
    assert not list((tmp_path / "jura" / "tmp").iterdir())
    lines = (tmp_path / "jura" / "dovecot-uidlist").read_text().splitlines()[1:]
    assert [int(line.split()[0]) for line in lines] == [1, 2, 3, 4, 5, 6]
    reopened = MaildirMailbox(tmp_path / "jura")  # what another process sees
    assert [m.uid for m in reopened.messages()] == [1, 2, 3, 4, 5, 6]


def test_deliver_many_across_folders_and_flags(tmp_path: Path) -> None:
    box = MaildirMailbox(tmp_path / "jura")
    stored = box.deliver_many(
        [Delivery(message(1)), Delivery(message(2), ".Spam"), Delivery(message(3), "", ("S",))]
    )
    assert [m.uid for m in stored] == [1, 1, 2]  # UIDs are per folder
    assert [m.key for m in box.messages(".Spam")] == [stored[1].key]
    assert box.messages()[1].flags == frozenset("S")
    assert len(list((tmp_path / "jura" / "cur").iterdir())) == 1


def test_a_failing_batch_leaves_nothing_half_written(tmp_path: Path) -> None:
    box = MaildirMailbox(tmp_path / "jura")
    with pytest.raises(ValueError, match="folder"):
        box.deliver_many([Delivery(message(1)), Delivery(message(2), "bad..name")])
    assert box.messages() == []
    assert not list((tmp_path / "jura" / "tmp").iterdir())


def test_deliver_all_falls_back_to_one_by_one() -> None:
    store = MemoryStore()
    mailbox = store.mailbox("jura")
    stored = deliver_all(mailbox, [Delivery(message(1)), Delivery(message(2))])
    assert [m.uid for m in stored] == [1, 2]


# -- the spool ----------------------------------------------------------------------------------
def spool_for(tmp_path: Path, **postfix: str) -> Spool:
    store = open_store(tmp_path / "mail", "maildir", users=["jura", "nekdo", "petra"])
    server = SMTPServer.for_host(lecture_scenario(**postfix), NEO, store)
    return server.handler.spool


def test_deliveries_that_wait_together_are_one_batch(tmp_path: Path) -> None:
    """Into a Maildir each message is staged at once and the batch committed together."""
    spool = spool_for(tmp_path)
    mailbox = spool.store.mailbox("jura")
    assert isinstance(mailbox, MaildirMailbox)
    batches: list[int] = []
    commit = mailbox.commit

    def counting(staged: list[StagedMessage]) -> list[object]:
        batches.append(len(staged))
        return commit(staged)  # type: ignore[return-value]

    mailbox.commit = counting  # type: ignore[method-assign,assignment]

    async def main() -> list[object]:
        return await asyncio.gather(
            *(
                spool.deliver(f"Q{n}", "nekdo@firma1.intr", ["jura@firma1.intr"], message(n))
                for n in range(12)
            )
        )

    reports = asyncio.run(main())
    assert sum(batches) == 12 and len(batches) < 12
    assert all(r.outcomes[0].status == "delivered" for r in reports)  # type: ignore[attr-defined]
    assert len(mailbox.messages()) == 12


def test_other_stores_get_the_whole_batch_in_the_worker(tmp_path: Path) -> None:
    store = MemoryStore()
    server = SMTPServer.for_host(lecture_scenario(), NEO, store)
    spool = server.handler.spool
    batches: list[int] = []
    write_batch = spool.write_batch

    def counting(user: str, batch: list[tuple[str, bytes]]) -> list[object]:
        batches.append(len(batch))
        return write_batch(user, batch)  # type: ignore[return-value]

    spool.write_batch = counting  # type: ignore[method-assign,assignment]

    async def main() -> None:
        await asyncio.gather(
            *(
                spool.deliver(f"Q{n}", "nekdo@firma1.intr", ["jura@firma1.intr"], message(n))
                for n in range(6)
            )
        )

    asyncio.run(main())
    assert sum(batches) == 6 and len(batches) < 6
    assert len(store.mailbox("jura").bodies()) == 6


def test_quota_is_checked_message_by_message_inside_a_batch(tmp_path: Path) -> None:
    """mailbox_size_limit counts what the batch already stored (mbox: one file per user)."""
    store = open_store(tmp_path / "mail", "mbox", users=["jura"])
    scenario = lecture_scenario(mailbox_size_limit=str(2 * len(message(1)) + 10))
    mbox_host = dataclasses.replace(scenario.hosts[NEO], mailbox_format="mbox")
    scenario = dataclasses.replace(scenario, hosts={NEO: mbox_host})
    server = SMTPServer.for_host(scenario, NEO, store)
    spool = server.handler.spool
    replies = spool.write_batch("jura", [("", message(n)) for n in range(1, 5)])
    refused = [reply for reply in replies if reply is not None]
    assert [reply is None for reply in replies] == [True, True, False, False]
    assert all(reply.dsn == "5.2.2" for reply in refused)
    assert len(store.mailbox("jura").messages()) == replies.count(None)


def test_a_store_error_fails_every_message_of_its_batch(tmp_path: Path) -> None:
    store = MemoryStore()
    store.mailbox("jura").fail = True
    server = SMTPServer.for_host(lecture_scenario(), NEO, store)

    async def main() -> list[object]:
        return await asyncio.gather(
            *(
                server.handler.spool.deliver(
                    f"Q{n}", "nekdo@firma1.intr", ["jura@firma1.intr"], message(n)
                )
                for n in range(3)
            ),
            return_exceptions=True,
        )

    results = asyncio.run(main())
    assert all(isinstance(result, OSError) for result in results)


# -- the DATA reader's fast path ---------------------------------------------------------------
def reference(lines: list[bytes], limit: int) -> tuple[bytes, int, bool, bool]:
    """The rules of RFC 5321 4.5.2 and 4.5.3.1.6 written plainly, for whole CRLF lines."""
    unstuffed = [line[1:] if line.startswith(b".") and len(line) > 1 else line for line in lines]
    size = sum(len(line) + 2 for line in unstuffed)
    too_long = any(len(line) > MAX_TEXT_LINE for line in unstuffed)
    too_big = 0 < limit < size
    content = b"" if too_long or too_big else b"".join(line + b"\r\n" for line in unstuffed)
    return content, size, too_long, too_big


@given(
    lines=st.lists(
        st.binary(max_size=1100).filter(lambda b: b"\n" not in b and b"\r" not in b and b != b"."),
        max_size=30,
    ),
    limit=st.sampled_from([0, 200, 5000]),
)
def test_fast_path_reads_whole_lines_as_the_rules_say(lines: list[bytes], limit: int) -> None:
    reader = DataReader(size_limit=limit)
    assert not any(reader.feed(line + b"\r\n") for line in lines)
    assert reader.feed(b".\r\n") is True
    content, size, too_long, too_big = reference(lines, limit)
    assert (reader.content, reader.size, reader.line_too_long, reader.too_big) == (
        content,
        size,
        too_long,
        too_big,
    )


# -- the path parser's fast path ----------------------------------------------------------------
_PATH_CHARS = 'ab.-_+=@<>()[]" \t\\:,;!#'


@given(
    local=st.text(alphabet=_PATH_CHARS, min_size=0, max_size=12),
    domain=st.text(alphabet=_PATH_CHARS, min_size=0, max_size=12),
    rest=st.text(alphabet=_PATH_CHARS + "SIZE=1", max_size=14),
    plain=st.booleans(),
)
def test_fast_path_parser_answers_as_aiosmtpds(
    local: str, domain: str, rest: str, plain: bool
) -> None:
    """MAIL FROM:<local@domain> PARAMS: the fast path gives what aiosmtpd's RFC 5322 parser
    gives, for plain paths and for everything near them (quotes, comments, dots, brackets)."""
    from aiosmtpd.smtp import SMTP

    from mailsim.live.smtp_session import SMTPSession

    if plain:  # make most draws plain, so the fast path is really exercised
        local = "".join(c for c in local if c.isalnum() or c in "+_-") or "a"
        domain = "".join(c for c in domain if c.isalnum() or c == "-") or "b"
    arg = f"<{local}@{domain}>{rest}"
    reference = SMTP.__new__(SMTP)
    reference.local_part_limit = 0
    ours = SMTPSession.__new__(SMTPSession)
    ours.local_part_limit = 0
    assert ours._getaddr(arg) == SMTP._getaddr(reference, arg)


def test_a_folder_removed_behind_the_stores_back_is_made_again(tmp_path: Path) -> None:
    """The store remembers where it stages a folder's files; if someone deletes the folder
    (a user in their mail client), the next delivery makes it again instead of failing."""
    import shutil

    box = MaildirMailbox(tmp_path / "jura")
    box.deliver(message(1), folder=".Spam")
    shutil.rmtree(tmp_path / "jura" / ".Spam")
    stored = box.deliver(message(2), folder=".Spam")
    assert box.read(stored.key, ".Spam") == message(2)
    assert [m.key for m in box.messages(".Spam")] == [stored.key]
