"""The mbox store: From_ lines, mboxrd quoting, Dovecot's metadata headers, UIDs, locking
(mbox(5); Dovecot's mbox format)."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mailsim.live.mailstore import MailboxBusy, MailboxLockTimeout
from mailsim.live.mbox import MboxMailbox
from mailsim.live.store import open_store

from test_store_maildir import dovecot_imap, imap_view

MESSAGE = (
    b"Return-Path: <nekdo@firma1.intr>\r\n"
    b"From: nekdo@firma1.intr\r\nSubject: Ahoj\r\nStatus: RO\r\nX-UID: 99\r\n\r\n"
    b"From the office:\r\n>From a quote\r\nbye\r\n"
)
T0 = 1_000_000_000.0  # Sun Sep  9 01:46:40 2001 UTC


@pytest.fixture
def mbox(tmp_path: Path) -> MboxMailbox:
    return MboxMailbox(tmp_path / "var/mail/jura", tmp_path / "home/jura", hostname="neo")


def test_delivery_appends_an_mboxrd_record_with_dovecot_headers(mbox: MboxMailbox) -> None:
    first = mbox.deliver(MESSAGE, when=T0)
    second = mbox.deliver(b"Subject: two\n\nx\n", flags="SF", when=T0 + 60)

    validity = mbox.uidvalidity
    assert mbox.inbox.read_bytes() == (
        b"From nekdo@firma1.intr Sun Sep  9 01:46:40 2001\n"
        b"Return-Path: <nekdo@firma1.intr>\nFrom: nekdo@firma1.intr\nSubject: Ahoj\n"
        b"X-IMAPbase: %d 0000000002\nX-UID: 1\nStatus:   \nX-Status:     \nContent-Length: 37\n\n"
        b">From the office:\n>>From a quote\nbye\n\n"
        b"From MAILER-DAEMON Sun Sep  9 01:47:40 2001\nSubject: two\nX-UID: 2\n"
        b"Status: R \nX-Status: F   \nContent-Length: 2\n\nx\n\n" % validity
    )
    assert (first.uid, first.key, second.uid, second.key) == (1, "1", 2, "2")
    assert first.internal_date == T0 and second.flags == {"S", "F"}


def test_read_unquotes_and_drops_the_metadata(mbox: MboxMailbox) -> None:
    stored = mbox.deliver(MESSAGE, when=T0)
    data = mbox.read(stored.key)
    assert data == (
        b"Return-Path: <nekdo@firma1.intr>\r\nFrom: nekdo@firma1.intr\r\nSubject: Ahoj\r\n\r\n"
        b"From the office:\r\n>From a quote\r\nbye\r\n"
    )
    assert len(data) == stored.size
    assert mbox.messages() == [stored]


def test_uids_and_flags_survive_reopening(tmp_path: Path, mbox: MboxMailbox) -> None:
    for i in range(3):
        mbox.deliver(b"Subject: %d\n\nbody\n" % i, when=T0)
    mbox.set_flags("2", "SR")
    again = MboxMailbox(mbox.inbox, mbox.folder_dir)
    assert [(m.uid, m.flags) for m in again.messages()] == [
        (1, frozenset()),
        (2, frozenset({"S", "R"})),
        (3, frozenset()),
    ]
    assert again.uidvalidity == mbox.uidvalidity and again.uidnext() == 4
    assert b"Status: RO\nX-Status: A   \n" in mbox.inbox.read_bytes()


def test_delete_rewrites_and_keeps_uids(mbox: MboxMailbox) -> None:
    for i in range(3):
        mbox.deliver(b"Subject: %d\n\nbody %d\n" % (i, i), when=T0)
    mbox.delete(["1", "3", "77"])

    [kept] = mbox.messages()
    assert kept.uid == 2 and mbox.read("2").endswith(b"body 1\r\n")
    text = mbox.inbox.read_bytes()
    assert text.count(b"From MAILER-DAEMON") == 1
    assert b"X-IMAPbase: %d 0000000003\nX-UID: 2\n" % mbox.uidvalidity in text
    assert mbox.deliver(b"Subject: 4\n\n").uid == 4
    assert not list(mbox.inbox.parent.glob(".*.tmp"))


def test_deleting_every_message_leaves_dovecots_pseudo_message(mbox: MboxMailbox) -> None:
    validity = mbox.deliver(MESSAGE).uid and mbox.uidvalidity
    mbox.deliver(MESSAGE)
    mbox.delete(["1", "2"])

    text = mbox.inbox.read_bytes()
    assert (
        b"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n" in text
        and b"X-IMAP: %d 0000000002\n" % validity in text
    )
    assert mbox.messages() == [] and mbox.uidnext() == 3
    assert mbox.deliver(MESSAGE).uid == 3
    assert b"X-IMAP: %d 0000000003\n" % validity in mbox.inbox.read_bytes()
    assert [m.uid for m in MboxMailbox(mbox.inbox, mbox.folder_dir).messages()] == [3]


def test_an_mbox_from_another_program_gets_uids(mbox: MboxMailbox) -> None:
    mbox.inbox.write_bytes(
        b"From a@b Thu Jan  1 00:00:00 1970\nSubject: one\n\nfirst\n\n"
        b"From c@d Thu Jan  1 00:01:00 1970\nSubject: two\nStatus: RO\n\nsecond\n"
    )
    again = MboxMailbox(mbox.inbox, mbox.folder_dir)
    assert [(m.uid, m.flags, m.internal_date) for m in again.messages()] == [
        (1, frozenset(), 0.0),
        (2, frozenset({"S"}), 60.0),
    ]
    assert again.read("2") == b"Subject: two\r\n\r\nsecond\r\n"
    text = mbox.inbox.read_bytes()
    assert b"X-IMAPbase: " in text and b"X-UID: 2\n" in text


def test_python_mailbox_module_reads_the_file(mbox: MboxMailbox) -> None:
    mbox.deliver(MESSAGE, when=T0)
    mbox.deliver(b"Subject: two\n\nx\n", when=T0)
    reader = mailbox.mbox(mbox.inbox, create=False)
    try:
        assert [message["Subject"] for message in reader] == ["Ahoj", "two"]
    finally:
        reader.close()


def test_folders_are_files_in_the_home_directory(mbox: MboxMailbox) -> None:
    stored = mbox.deliver(MESSAGE, folder=".Spam")
    mbox.deliver(MESSAGE, folder="Work/Projects")

    assert (mbox.folder_dir / ".Spam").read_bytes().startswith(b"From nekdo@firma1.intr ")
    assert mbox.folders() == ["", ".Spam", "Work/Projects"]
    assert mbox.messages(".Spam") == [stored] and mbox.messages() == []
    assert mbox.folder_size(".Spam") == (mbox.folder_dir / ".Spam").stat().st_size
    assert mbox.size() == 0


def test_bad_names_flags_and_keys(mbox: MboxMailbox) -> None:
    with pytest.raises(ValueError, match="'P'"):
        mbox.deliver(MESSAGE, flags="P")
    with pytest.raises(ValueError, match="bad mbox folder name"):
        mbox.deliver(MESSAGE, folder="a/../b")
    with pytest.raises(KeyError):
        mbox.read("1")
    with pytest.raises(KeyError):
        mbox.set_flags("x", "S")


def test_a_dead_writers_dotlock_is_broken(mbox: MboxMailbox) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mbox.inbox.with_name("jura.lock").write_text(f"{dead.pid}\n")
    assert mbox.deliver(MESSAGE).uid == 1
    assert not mbox.inbox.with_name("jura.lock").exists()


def test_a_live_dotlock_makes_a_delivery_time_out(tmp_path: Path) -> None:
    mbox = MboxMailbox(tmp_path / "jura", tmp_path / "home", lock_timeout_s=0.05)
    (tmp_path / "jura.lock").write_text(f"{os.getpid()}\n")
    with pytest.raises(MailboxLockTimeout, match=r"jura\.lock"):
        mbox.deliver(MESSAGE)
    (tmp_path / "jura.lock").unlink()
    assert mbox.deliver(MESSAGE).uid == 1


FCNTL_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX)  # a POSIX lock, as procmail or mutt take one
print("locked", flush=True)
sys.stdin.read()
"""


def test_another_programs_fcntl_lock_is_respected(tmp_path: Path) -> None:
    mbox = MboxMailbox(tmp_path / "jura", tmp_path / "home", lock_timeout_s=0.05)
    holder = subprocess.Popen(
        [sys.executable, "-c", FCNTL_HOLDER, str(mbox.inbox)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        with pytest.raises(MailboxLockTimeout):
            mbox.deliver(MESSAGE)
        with pytest.raises(MailboxLockTimeout):
            mbox.messages()
    finally:
        holder.communicate(b"")
    assert mbox.deliver(MESSAGE).uid == 1


def test_two_mailbox_objects_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    one = MboxMailbox(tmp_path / "jura", tmp_path / "home")
    two = MboxMailbox(tmp_path / "jura", tmp_path / "home", lock_timeout_s=0.05)
    one.deliver(MESSAGE)
    with one.exclusive(), pytest.raises(MailboxBusy):
        two.exclusive().__enter__()
    for i in range(4):  # interleaved writers see each other's appends and rewrites
        (one if i % 2 else two).deliver(b"Subject: %d\n\n" % i)
    two.delete(["2"])
    assert [m.uid for m in one.messages()] == [1, 3, 4, 5]


HOLD = """
import sys
from pathlib import Path
from mailsim.live.mbox import MboxMailbox
from mailsim.live.mailstore import MailboxBusy
try:
    with MboxMailbox(Path(sys.argv[1]), Path(sys.argv[2])).exclusive():
        print("got it", flush=True)
except MailboxBusy:
    print("busy", flush=True)
"""


def test_exclusive_refuses_a_session_in_another_process(mbox: MboxMailbox) -> None:
    def other() -> str:
        argv = [sys.executable, "-c", HOLD, str(mbox.inbox), str(mbox.folder_dir)]
        return subprocess.run(argv, capture_output=True, check=True).stdout.decode().strip()

    with mbox.exclusive():
        assert other() == "busy"
    assert other() == "got it"


def test_store_puts_the_inbox_in_the_spool(tmp_path: Path) -> None:
    store = open_store(tmp_path, "mbox")
    store.mailbox("jura@firma1.intr").deliver(MESSAGE, when=time.time())
    store.mailbox("jura").deliver(MESSAGE, folder=".Spam")
    assert (tmp_path / "var/mail/jura").read_bytes().startswith(b"From nekdo@firma1.intr ")
    assert (tmp_path / "home/jura/.Spam").exists()
    assert list(store.users()) == ["jura"]


def test_flag_changes_are_made_in_place_and_seen_by_others(mbox: MboxMailbox) -> None:
    other = MboxMailbox(mbox.inbox, mbox.folder_dir)
    for i in range(3):
        mbox.deliver(b"Subject: %d\n\n" % i)
    assert [m.flags for m in other.messages()] == [frozenset()] * 3
    inode, size = mbox.inbox.stat().st_ino, mbox.inbox.stat().st_size

    mbox.set_flags("2", "SRFT")
    assert (mbox.inbox.stat().st_ino, mbox.inbox.stat().st_size) == (inode, size)
    assert b"Status: RO\nX-Status: AFD \n" in mbox.inbox.read_bytes()
    assert [m.flags for m in other.messages()] == [frozenset(), frozenset("SRFT"), frozenset()]
    other.set_flags("2", "")
    assert [m.flags for m in mbox.messages()] == [frozenset()] * 3


def test_flags_of_mail_from_another_program_need_one_rewrite(mbox: MboxMailbox) -> None:
    mbox.inbox.write_bytes(b"From a@b Thu Jan  1 00:00:00 1970\nStatus: O\n\nhi\n")
    assert [m.uid for m in mbox.messages()] == [1]  # given its X-UID (one rewrite)
    inode = mbox.inbox.stat().st_ino
    assert mbox.set_flags("1", "S").flags == {"S"}
    assert mbox.inbox.stat().st_ino == inode
    assert mbox.read("1") == b"\r\nhi\r\n"


@pytest.mark.interop
def test_dovecot_reads_the_mbox_and_we_read_its_changes(tmp_path: Path) -> None:
    # no From_ lines in the bodies: Dovecot does not undo mboxrd quoting (its mbox page says so),
    # so it would count each quoted line one octet longer than read() returns it
    mbox = MboxMailbox(tmp_path / "var/mail/jura", tmp_path / "home/jura")
    for i in range(4):
        mbox.deliver(b"Return-Path: <a@b.intr>\nSubject: %d\n\nbody\n" % i, flags="S" * (i % 2))
    mbox.set_flags("3", "RF")
    mbox.delete(["1"])
    mbox.deliver(MESSAGE, folder=".Spam")
    location = "mbox:{root}/home/jura:INBOX={root}/var/mail/jura"

    answer = dovecot_imap(tmp_path, location)
    assert f"[UIDVALIDITY {mbox.uidvalidity}]" in answer and "[UIDNEXT 5]" in answer
    assert imap_view(answer) == [(m.uid, m.flags, m.size) for m in mbox.messages()]
    assert '"/" .Spam\n' in answer

    # Dovecot rewrites the headers its own way when it changes flags; we read what it wrote
    store = b"a select INBOX\nb uid store 2 flags (\\Draft)\nc expunge\nd logout\n"
    with tempfile.TemporaryDirectory() as work:
        changed = Path(work)
        dovecot_imap(tmp_path, location, store, keep=changed)
        again = MboxMailbox(changed / "var/mail/jura", changed / "home/jura")
        assert [(m.uid, m.flags) for m in again.messages()] == [
            (2, frozenset("D")),
            (3, frozenset("RF")),
            (4, frozenset("S")),
        ]
        assert again.deliver(MESSAGE).uid == 5
