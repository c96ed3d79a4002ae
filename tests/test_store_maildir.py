"""The Maildir store: Dovecot file names and uidlist, flags, folders, UIDs, locks (maildir(5))."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mailsim.live.maildir import MaildirMailbox, UidList, folder_dirname
from mailsim.live.mailstore import MailboxBusy, crlf_size, pop3_uidl
from mailsim.live.store import open_store

from interop import require_tool

MESSAGE = b"From: nekdo@firma1.intr\r\nSubject: Ahoj\r\n\r\nJak se mas?\r\n"
NAME = re.compile(r"^(\d+)\.M(\d+)P(\d+)Q(\d+)\.vm,S=(\d+),W=(\d+)$")
HEADER = re.compile(r"^3 V(\d+) N(\d+) G([0-9a-f]{32})$")


@pytest.fixture
def maildir(tmp_path: Path) -> MaildirMailbox:
    return MaildirMailbox(tmp_path / "Maildir", hostname="vm")


def files(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def test_delivery_writes_one_file_named_as_dovecot_does(maildir: MaildirMailbox) -> None:
    stored = maildir.deliver(MESSAGE)

    [name] = files(maildir.path / "new")
    match = NAME.match(name)
    assert match is not None, name
    assert int(match[3]) == os.getpid()
    lf = MESSAGE.replace(b"\r\n", b"\n")
    assert (maildir.path / "new" / name).read_bytes() == lf
    assert (int(match[5]), int(match[6])) == (len(lf), len(MESSAGE))  # S= real, W= with CRLF
    assert stored.key == name and stored.size == len(MESSAGE) == crlf_size(lf)
    assert files(maildir.path / "tmp") == [] and files(maildir.path / "cur") == []


def test_read_gives_crlf_lines_and_the_counted_size(maildir: MaildirMailbox) -> None:
    stored = maildir.deliver(b"Subject: x\n\nno final newline")
    data = maildir.read(stored.key)
    assert data == b"Subject: x\r\n\r\nno final newline\r\n"
    assert len(data) == stored.size == maildir.messages()[0].size


def test_uids_follow_delivery_and_survive_reopening(tmp_path: Path) -> None:
    first = MaildirMailbox(tmp_path / "Maildir")
    keys = [first.deliver(MESSAGE + b"%d\n" % i).key for i in range(3)]
    validity = first.uidvalidity

    again = MaildirMailbox(tmp_path / "Maildir")
    assert [(m.uid, m.key) for m in again.messages()] == list(zip([1, 2, 3], keys, strict=True))
    assert again.uidvalidity == validity and again.uidnext() == 4
    assert pop3_uidl(1, validity) == f"00000001{validity:08x}"


def test_uidlist_is_dovecot_version_3(maildir: MaildirMailbox) -> None:
    a = maildir.deliver(MESSAGE)
    b = maildir.deliver(MESSAGE, flags="S")

    header, *lines = (maildir.path / "dovecot-uidlist").read_text().splitlines()
    assert HEADER.match(header)
    assert lines == [f"1 :{a.key}", f"2 :{b.key}:2,S"]


def test_expunge_rewrites_the_uidlist_and_never_reuses_a_uid(maildir: MaildirMailbox) -> None:
    keys = [maildir.deliver(MESSAGE).key for _ in range(3)]
    maildir.delete([keys[2], "no-such-key"])

    header, *lines = (maildir.path / "dovecot-uidlist").read_text().splitlines()
    match = HEADER.match(header)
    assert match and match[2] == "4"
    assert lines == [f"1 :{keys[0]}", f"2 :{keys[1]}"]
    assert maildir.deliver(MESSAGE).uid == 4
    assert len(files(maildir.path / "new")) == 3


def test_flags_move_the_message_to_cur_in_ascii_order(maildir: MaildirMailbox) -> None:
    key = maildir.deliver(MESSAGE).key
    changed = maildir.set_flags(key, ["S", "R", "F"])

    assert files(maildir.path / "cur") == [f"{key}:2,FRS"] and files(maildir.path / "new") == []
    assert changed.key == key and changed.flags == {"F", "R", "S"} and changed.uid == 1
    assert maildir.messages()[0].flags == {"F", "R", "S"}
    assert maildir.read(key) == MESSAGE
    maildir.set_flags(key, "")
    assert files(maildir.path / "cur") == [f"{key}:2,"]


def test_delivery_with_flags_goes_straight_to_cur(maildir: MaildirMailbox) -> None:
    stored = maildir.deliver(MESSAGE, flags="TS")
    assert files(maildir.path / "cur") == [f"{stored.key}:2,ST"]


def test_bad_flags_and_folder_names_are_refused(maildir: MaildirMailbox) -> None:
    with pytest.raises(ValueError, match="'x'"):
        maildir.deliver(MESSAGE, flags="Sx")
    with pytest.raises(ValueError, match=re.escape("'../x'")):
        maildir.deliver(MESSAGE, folder="../x")
    with pytest.raises(KeyError):
        maildir.read("no-such-key")


def test_folders_are_maildirplusplus_directories(maildir: MaildirMailbox) -> None:
    spam = maildir.deliver(MESSAGE, folder=".Spam")
    maildir.deliver(MESSAGE, folder="Work/Projects")

    assert (maildir.path / ".Spam" / "maildirfolder").exists()
    assert files(maildir.path / ".Spam" / "new") == [spam.key]
    assert maildir.folders() == ["", ".Spam", ".Work.Projects"]
    assert [m.key for m in maildir.messages("Spam")] == [spam.key]  # with or without the dot
    assert spam.uid == 1 and maildir.messages() == []
    assert folder_dirname("INBOX") == "" and folder_dirname("a/b") == ".a.b"


def test_sizes_count_the_files(maildir: MaildirMailbox) -> None:
    maildir.deliver(MESSAGE)
    maildir.deliver(MESSAGE, folder=".Spam")
    size = len(MESSAGE.replace(b"\r\n", b"\n"))
    assert maildir.folder_size() == size and maildir.folder_size(".Spam") == size
    assert maildir.size() == 2 * size


def test_internal_date_is_the_file_mtime(maildir: MaildirMailbox) -> None:
    stored = maildir.deliver(MESSAGE, when=1_000_000_000.0)
    assert stored.internal_date == 1_000_000_000.0
    assert os.stat(maildir.path / "new" / stored.key).st_mtime == 1_000_000_000.0
    assert maildir.messages()[0].internal_date == 1_000_000_000.0


def test_mail_put_there_by_another_program_gets_the_next_uid(maildir: MaildirMailbox) -> None:
    maildir.deliver(MESSAGE)
    (maildir.path / "new" / "1000000000.123_4.otherhost").write_bytes(b"Subject: y\n\nz\n")

    [_, other] = maildir.messages()
    assert other.uid == 2 and other.key == "1000000000.123_4.otherhost"
    assert other.size == len(b"Subject: y\r\n\r\nz\r\n")
    assert maildir.read(other.key) == b"Subject: y\r\n\r\nz\r\n"


def test_another_session_sees_a_flag_change(tmp_path: Path) -> None:
    one, two = MaildirMailbox(tmp_path / "M"), MaildirMailbox(tmp_path / "M")
    key = one.deliver(MESSAGE).key
    assert two.read(key) == MESSAGE
    one.set_flags(key, "S")
    assert two.read(key) == MESSAGE  # found again after the rename
    assert two.messages()[0].flags == {"S"}


def test_uidlist_with_extension_fields_and_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "Maildir"
    MaildirMailbox(path)
    for name in ("1276528487.M364837P9451.kurkku,S=1355,W=1394", "1276533073.M242911P3632.kurkku"):
        (path / "cur" / f"{name}:2,F").write_bytes(b"x\n")
    (path / "dovecot-uidlist").write_text(
        "3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n"
        "25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394:2,\n"
        "25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n"
        "25018 :1276533"  # a line cut short by a crash
    )
    mailbox = MaildirMailbox(path)
    assert [m.uid for m in mailbox.messages()] == [25006, 25017]
    assert mailbox.uidvalidity == 1275660208 and mailbox.uidnext() == 25022
    assert (path / "dovecot-uidlist").read_text().endswith("kurkku:2,F\n")


def test_uidlist_parse_rejects_other_versions() -> None:
    assert UidList.parse("1 1275660208 25022\n") is None
    parsed = UidList.parse("3 V7 N3 Gab\n1 :a\n2 W5 :b:2,S\n")
    assert parsed is not None and parsed.files == {1: "a", 2: "b:2,S"} and parsed.next_uid == 3


def test_exclusive_refuses_a_second_session_in_this_process(maildir: MaildirMailbox) -> None:
    other = MaildirMailbox(maildir.path)
    with maildir.exclusive():
        with pytest.raises(MailboxBusy):
            other.exclusive().__enter__()
        maildir.deliver(MESSAGE)  # delivery does not need the session lock
    with other.exclusive():
        pass


HOLD = """
import sys
from pathlib import Path
from mailsim.live.maildir import MaildirMailbox
from mailsim.live.mailstore import MailboxBusy
try:
    with MaildirMailbox(Path(sys.argv[1])).exclusive():
        print("got it", flush=True)
except MailboxBusy:
    print("busy", flush=True)
"""


def test_exclusive_refuses_a_session_in_another_process(maildir: MaildirMailbox) -> None:
    def other() -> str:
        run = subprocess.run(
            [sys.executable, "-c", HOLD, str(maildir.path)], capture_output=True, check=True
        )
        return run.stdout.decode().strip()

    with maildir.exclusive():
        assert other() == "busy"
    assert other() == "got it"


def test_store_opens_maildirs_under_home(tmp_path: Path) -> None:
    store = open_store(tmp_path, "maildir", users=["petra@firma1.intr"])
    mailbox = store.mailbox("jura@firma1.intr")

    assert mailbox is store.mailbox("Jura")
    assert (tmp_path / "home" / "jura" / "Maildir" / "cur").is_dir()
    mailbox.deliver(MESSAGE)
    assert list(store.users()) == ["jura", "petra"]
    assert list(open_store(tmp_path, "maildir").users()) == ["jura"]


def test_store_follows_the_policy_mailbox_path(tmp_path: Path) -> None:
    store = open_store(tmp_path, "maildir", mailbox_path=lambda user: f"/var/mail/{user}/")
    store.mailbox("erin").deliver(MESSAGE)
    assert len(files(tmp_path / "var" / "mail" / "erin" / "new")) == 1
    with pytest.raises(ValueError, match=re.escape("'../x'")):
        store.mailbox("../x")
    with pytest.raises(ValueError, match="'imap'"):
        open_store(tmp_path, "imap")  # type: ignore[arg-type]


IMAP_FLAGS = {"R": r"\Answered", "F": r"\Flagged", "T": r"\Deleted", "S": r"\Seen", "D": r"\Draft"}
FETCH = re.compile(r"^\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) RFC822\.SIZE (\d+)\)$", re.M)
IMAP_COMMANDS = b'a select INBOX\nb fetch 1:* (uid flags rfc822.size)\nc list "" *\nd logout\n'


def dovecot_imap(
    root: Path, mail: str, commands: bytes = IMAP_COMMANDS, keep: Path | None = None
) -> str:
    """Run Dovecot's imap pre-authenticated on a copy of the mailbox tree ``root`` (its
    mail_location ``mail`` with ``{root}`` filled in) and return its answers; ``keep`` receives
    the tree as Dovecot left it. Dovecot refuses to serve root's mail: as root, it runs as
    nobody."""
    require_tool("doveadm")
    imap = Path("/usr/lib/dovecot/imap")
    if not imap.exists():
        message = "Dovecot's imap is not installed (apt-get install dovecot-imapd)"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    with tempfile.TemporaryDirectory() as work:
        copy, config = Path(work) / "mail", Path(work) / "dovecot.conf"
        shutil.copytree(root, copy)
        settings = f"mail_location = {mail.format(root=copy)}\nlog_path = /dev/stderr\n"
        config.write_text(settings + "first_valid_uid = 0\nfirst_valid_gid = 0\n")
        argv = [str(imap), "-c", str(config)]
        if os.geteuid() == 0:
            for path in [Path(work), *Path(work).rglob("*")]:
                os.chown(path, 65534, 65534)
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
        env = {"USER": "jura", "HOME": str(copy)}
        run = subprocess.run(argv, input=commands, capture_output=True, env=env, check=True)
        if keep is not None:
            shutil.copytree(copy, keep, dirs_exist_ok=True)
    return run.stdout.decode().replace("\r\n", "\n")


def imap_view(answer: str) -> list[tuple[int, frozenset[str], int]]:
    """(UID, maildir flags, size) of each message in a FETCH answer."""
    letters = {name: letter for letter, name in IMAP_FLAGS.items()}
    return [
        (int(uid), frozenset(letters[f] for f in flags.split() if f in letters), int(size))
        for uid, flags, size in FETCH.findall(answer)
    ]


@pytest.mark.interop
def test_dovecot_reads_the_maildir(tmp_path: Path) -> None:
    maildir = MaildirMailbox(tmp_path / "Maildir")
    keys = [maildir.deliver(MESSAGE + b"%d\n" % i, flags="S").key for i in range(4)]
    maildir.set_flags(keys[2], "RF")
    maildir.delete([keys[0]])
    maildir.deliver(MESSAGE, folder=".Spam")

    answer = dovecot_imap(tmp_path, "maildir:{root}/Maildir")
    assert f"[UIDVALIDITY {maildir.uidvalidity}]" in answer and "[UIDNEXT 5]" in answer
    assert imap_view(answer) == [(m.uid, m.flags, m.size) for m in maildir.messages()]
    assert '"." Spam\n' in answer
