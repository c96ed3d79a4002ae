"""Crash safety of both stores: after SIGKILL every acknowledged message is in its mailbox,
complete, with the UID ``deliver`` returned, and no partial message ever shows; and writers in
several processes at once.

A child process delivers in a loop and writes an ack line to a pipe after each ``deliver``
returns (when an SMTP server would answer 250). Either the test kills it with SIGKILL right
after the N-th ack, wherever the next delivery is, or the child's first 1 MB write stops half
way and the child SIGKILLs itself (a torn write, for certain). The synthetic tests then cut a
record at every interesting offset.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mailsim.live.maildir import MaildirMailbox, unique_name
from mailsim.live.mbox import MboxMailbox
from mailsim.live.store import HostStore, open_store

CHILD = """
import os, signal, sys
from pathlib import Path
from mailsim.live.store import open_store
sys.path.insert(0, sys.argv[3])
from test_store_crash import message

if sys.argv[4] == "torn":  # the first big write stops half way: the process dies in it
    real_write, real_pwrite = os.write, os.pwrite

    def write(fd, data, *offset):
        if len(data) > 100_000:
            half = bytes(data[: len(data) // 2])
            real_pwrite(fd, half, *offset) if offset else real_write(fd, half)
            os.kill(os.getpid(), signal.SIGKILL)
        return real_pwrite(fd, data, *offset) if offset else real_write(fd, data)

    os.write, os.pwrite = write, write
mailbox = open_store(Path(sys.argv[1]), sys.argv[2]).mailbox("jura")
i = 0
while True:
    stored = mailbox.deliver(message(i))
    print(i, stored.uid, stored.key, flush=True)
    i += 1
"""
SEQ = re.compile(rb"^X-Seq: (\d+)\r$", re.M)


def message(i: int) -> bytes:
    """Message ``i`` of the child: 1 MB when i % 5 == 4; From_ lines to quote in every one."""
    lines = 20_000 if i % 5 == 4 else 5
    body = b"".join(b"From line %d of message %d\n" % (j, i) for j in range(lines))
    return b"Subject: message %d\nX-Seq: %d\n\n%send of message %d\n" % (i, i, body, i)


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def deliver_and_kill(root: Path, mailbox_format: str, acks: int) -> list[tuple[int, int, str]]:
    """Run the child until ``acks`` acknowledgements and SIGKILL it (``acks`` 0: until it kills
    itself in a torn write); return every ack it wrote."""
    here, mode = str(Path(__file__).parent), "torn" if acks == 0 else "run"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), mailbox_format, here, mode],
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    lines = [child.stdout.readline() for _ in range(acks)]
    if acks:
        os.kill(child.pid, signal.SIGKILL)
    lines += child.stdout.read().splitlines(keepends=True)  # acks still in the pipe
    child.stdout.close()
    assert child.wait() == -signal.SIGKILL
    assert all(line.endswith(b"\n") for line in lines), lines
    return [(int(i), int(uid), key) for i, uid, key in (line.decode().split() for line in lines)]


def check_recovered(store: HostStore, acked: list[tuple[int, int, str]]) -> None:
    mailbox = store.mailbox("jura")
    found = mailbox.messages()
    by_key = {stored.key: stored for stored in found}
    for i, uid, key in acked:  # every acknowledged message, whole, under its UID
        assert by_key[key].uid == uid
        assert mailbox.read(key) == crlf(message(i))
    for stored in found:  # and nothing partial: each message is one of the child's, complete
        data = mailbox.read(stored.key)
        seq = SEQ.search(data)
        assert seq is not None and data == crlf(message(int(seq[1]))), stored
        assert stored.size == len(data)
    uids = [stored.uid for stored in found]
    assert uids == sorted(set(uids))
    after = mailbox.deliver(message(1000))
    assert after.uid > max(uids) and mailbox.read(after.key) == crlf(message(1000))


@pytest.mark.parametrize("acks", [0, 4, 9, 12])
def test_maildir_survives_sigkill(tmp_path: Path, acks: int) -> None:
    acked = deliver_and_kill(tmp_path, "maildir", acks)
    assert len(acked) >= acks
    maildir = tmp_path / "home" / "jura" / "Maildir"
    if acks == 0:  # the half-written message is in tmp/ and nowhere else
        assert [i for i, _, _ in acked] == [0, 1, 2, 3]
        assert len(os.listdir(maildir / "tmp")) == 1

    store = open_store(tmp_path, "maildir")
    check_recovered(store, acked)
    assert os.listdir(maildir / "tmp") == []  # the killed writer's file is gone
    for sub in ("new", "cur"):
        for name in os.listdir(maildir / sub):
            size = int(re.search(r",S=(\d+)", name)[1])  # type: ignore[index]
            assert (maildir / sub / name).stat().st_size == size


@pytest.mark.parametrize("acks", [0, 4, 9, 12])
def test_mbox_survives_sigkill(tmp_path: Path, acks: int) -> None:
    acked = deliver_and_kill(tmp_path, "mbox", acks)
    assert len(acked) >= acks
    spool = tmp_path / "var" / "mail"
    if acks == 0:  # half of message 4 follows message 3 in the file
        assert [i for i, _, _ in acked] == [0, 1, 2, 3]
        torn = spool.joinpath("jura").read_bytes()
        assert b"X-Seq: 4\n" in torn and not torn.endswith(b"end of message 4\n\n")

    store = open_store(tmp_path, "mbox")
    check_recovered(store, acked)
    assert not (spool / "jura.lock").exists()  # the dead writer's dotlock was broken
    assert spool.joinpath("jura").read_bytes().endswith(b"end of message 1000\n\n")


def three_messages(tmp_path: Path) -> tuple[Path, bytes, int]:
    mbox = MboxMailbox(tmp_path / "jura", tmp_path / "home")
    mbox.deliver(message(0))
    mbox.deliver(message(1))
    before = mbox.inbox.stat().st_size
    mbox.deliver(message(2))
    return mbox.inbox, mbox.inbox.read_bytes(), before


def test_torn_mbox_records_are_cut_off(tmp_path: Path) -> None:
    """Cut the last record after every byte of its From_ line and header and at points in
    its body: the record is dropped and the file truncated to the two whole messages."""
    path, whole, before = three_messages(tmp_path)
    record = whole[before:]
    body_at = record.index(b"\n\n") + 2
    cuts = [*range(1, body_at + 1), body_at + 100, len(record) - 2]
    for cut in cuts:
        path.write_bytes(whole[: before + cut])
        mbox = MboxMailbox(path, tmp_path / "home")
        assert [m.uid for m in mbox.messages()] == [1, 2], cut
        assert path.stat().st_size == before, cut
        assert mbox.deliver(message(3)).uid == 4  # UID 3 was taken before the append
        assert mbox.read("4") == crlf(message(3))


def test_a_record_missing_only_its_separator_is_kept(tmp_path: Path) -> None:
    path, whole, _ = three_messages(tmp_path)
    path.write_bytes(whole[:-1])
    mbox = MboxMailbox(path, tmp_path / "home")
    assert [m.uid for m in mbox.messages()] == [1, 2, 3]
    assert mbox.deliver(message(3)).uid == 4
    assert [m.uid for m in MboxMailbox(path, tmp_path / "home").messages()] == [1, 2, 3, 4]
    assert mbox.read("3") == crlf(message(2))


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_maildir_leftovers_are_cleaned_and_unlisted_files_numbered(tmp_path: Path) -> None:
    maildir = MaildirMailbox(tmp_path / "Maildir")
    maildir.deliver(message(0))
    pid, host = dead_pid(), maildir.hostname
    torn = unique_name(10, 12, host).replace(f"P{os.getpid()}Q", f"P{pid}Q")
    (maildir.path / "tmp" / torn).write_bytes(b"Subject: to")
    mine = unique_name(10, 12, host)  # a live writer's (this process's) file stays
    (maildir.path / "tmp" / mine).write_bytes(b"Subject: in progress")
    (maildir.path / f".dovecot-uidlist.{pid}.0123abcd.tmp").write_text("3 V1 N")
    renamed = unique_name(len(message(1)), len(crlf(message(1))), host)
    (maildir.path / "new" / renamed).write_bytes(message(1))  # killed before its uid line

    again = MaildirMailbox(tmp_path / "Maildir")
    assert os.listdir(maildir.path / "tmp") == [mine]
    assert not list(maildir.path.glob(".dovecot-uidlist.*"))
    assert [(m.uid, m.key) for m in again.messages()][1:] == [(2, renamed)]
    assert again.read(renamed) == crlf(message(1))


WRITER = """
import sys
from pathlib import Path
from mailsim.live.store import open_store
mailbox = open_store(Path(sys.argv[1]), sys.argv[2]).mailbox("jura")
for i in range(int(sys.argv[3])):
    mailbox.deliver(b"Subject: %s %d\\n\\nbody\\n" % (sys.argv[4].encode(), i))
"""


@pytest.mark.parametrize("mailbox_format", ["mbox", "maildir"])
def test_writers_in_several_processes_get_distinct_uids(
    tmp_path: Path, mailbox_format: str
) -> None:
    """Three processes deliver at once and this one deletes meanwhile: the locks keep every
    message whole and every UID distinct."""
    argv = [sys.executable, "-c", WRITER, str(tmp_path), mailbox_format, "30"]
    writers = [subprocess.Popen([*argv, name]) for name in ("a", "b", "c")]
    mailbox = open_store(tmp_path, mailbox_format).mailbox("jura")  # type: ignore[arg-type]
    deleted = 0
    while any(writer.poll() is None for writer in writers):
        found = mailbox.messages()[:2]
        mailbox.delete(m.key for m in found)
        deleted += len(found)
    assert [writer.wait() for writer in writers] == [0, 0, 0]
    left = mailbox.messages()
    assert len(left) + deleted == 90
    assert [m.uid for m in left] == sorted({m.uid for m in left})
    subjects = {mailbox.read(m.key).split(b"\r\n")[0] for m in left}
    assert len(subjects) == len(left)
    assert mailbox.uidnext() == 91  # UIDs 1..90, each given once
