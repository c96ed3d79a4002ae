"""The contract of the live mailbox store: one API for the MDA, POP3 and (later) IMAP.

A host's mail lives under one directory (``MailStore.root``); each user has a mailbox in the
host's ``mailbox_format`` (Dovecot's mail_location: ``maildir`` or ``mbox``). Messages carry a
persistent UID (RFC 3501 UIDVALIDITY/UIDNEXT; POP3's UIDL derives from it) that survives restarts.
Delivery is durable: ``deliver`` returns only after the message is on disk (written, fsynced and
renamed into place), so an SMTP server may answer 250 after it.

Implementations: :mod:`mailsim.live.maildir` and :mod:`mailsim.live.mbox`; both satisfy
:class:`Mailbox`; :func:`mailsim.live.store.open_store` picks one per host. This module holds the
shared records and protocols, and the few file primitives both implementations use (CRLF sizes,
atomic replace, directory fsync, fcntl locks and dotlocks).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple, Protocol, cast

from mailsim.errors import MailsimError

__all__ = [
    "Delivery", "MailboxBusy", "MailboxLockTimeout", "Mailbox", "MailStore", "StoredMessage",
    "crlf_size", "deliver_all",
    "dotlock", "fcntl_lock", "fsync_directory", "header_fields", "lock_file", "mbox_locked",
    "pid_alive", "pop3_uidl", "remove_fields", "remove_leftovers", "replace_file",
    "session_lock", "split_message", "to_crlf", "to_lf", "wait_for", "write_all",
    "write_atomically",
]  # fmt: skip


class MailboxBusy(MailsimError):
    """Another session holds the mailbox's exclusive lock (POP3 answers ``-ERR [IN-USE]``)."""


class MailboxLockTimeout(MailboxBusy):
    """A writer could not lock the mailbox in time; a delivery should defer (local(8):
    ``4.2.0 cannot update mailbox ... unable to lock for exclusive access``)."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message in a mailbox folder.

    ``key`` identifies it inside its mailbox (a Maildir base name, an mbox message number's
    stable key); ``size`` is its size in octets with CRLF line endings, as POP3 (RFC 1939 STAT,
    LIST) and IMAP (RFC822.SIZE) count it; ``flags`` are Maildir info letters (``S`` seen,
    ``R`` replied, ``F`` flagged, ``T`` trashed, ``D`` draft); ``internal_date`` POSIX seconds.
    """

    uid: int
    key: str
    size: int
    flags: frozenset[str] = frozenset()
    internal_date: float = 0.0


class Delivery(NamedTuple):
    """One message for :meth:`Mailbox.deliver` or a batch of them (:func:`deliver_all`)."""

    data: bytes
    folder: str = ""
    flags: tuple[str, ...] = ()
    when: float | None = None


class Mailbox(Protocol):
    """A user's mailbox: an INBOX (folder ``""``) and optional sub-folders (``.Spam``)."""

    @property
    def uidvalidity(self) -> int: ...

    def uidnext(self, folder: str = "") -> int: ...

    def deliver(
        self, data: bytes, *, folder: str = "", flags: Iterable[str] = (), when: float | None = None
    ) -> StoredMessage:
        """Store ``data`` (any line endings; stored with LF, counted with CRLF) durably and return
        its record. Creates the folder on first use."""
        ...

    def messages(self, folder: str = "") -> list[StoredMessage]:
        """The folder's messages in UID order (a fresh scan: sees other sessions' changes)."""
        ...

    def read(self, key: str, folder: str = "") -> bytes:
        """The message as stored, with CRLF line endings (ready for RETR / FETCH)."""
        ...

    def delete(self, keys: Iterable[str], folder: str = "") -> None:
        """Remove messages for good (POP3 UPDATE state, IMAP EXPUNGE); durable on return."""
        ...

    def set_flags(self, key: str, flags: Iterable[str], folder: str = "") -> StoredMessage: ...

    def size(self) -> int:
        """Bytes used by the whole mailbox (what mailbox_size_limit is checked against: for mbox
        the INBOX file, the one local(8) writes; for maildir every message file)."""
        ...

    def folders(self) -> list[str]:
        """The folder names this mailbox has: ``""`` (INBOX) first, then the sub-folders as
        :meth:`deliver` accepts them (``.Spam``)."""
        ...

    def folder_size(self, folder: str = "") -> int:
        """Bytes used by one folder (``mailbox_bytes`` of ``HostPolicy.check_quota`` when an MDA
        files into ``folder``; for mbox the folder file's size, as local(8) sees it)."""
        ...

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the mailbox for one session (POP3, RFC 1939 section 8: one session per
        maildrop); raise :class:`MailboxBusy` at once if another session holds it."""
        ...


class MailStore(Protocol):
    """All mailboxes of one host."""

    def mailbox(self, user: str) -> Mailbox:
        """The mailbox of local user ``user`` (created empty on first use)."""
        ...

    def users(self) -> Iterator[str]: ...


def deliver_all(mailbox: Mailbox, deliveries: Sequence[Delivery]) -> list[StoredMessage]:
    """Deliver a batch: with one commit where the mailbox can group them (``deliver_many``,
    as :class:`~mailsim.live.maildir.MaildirMailbox` does), else one by one. Durable on
    return, as :meth:`Mailbox.deliver`."""
    many = cast(
        "Callable[[Sequence[Delivery]], list[StoredMessage]] | None",
        getattr(mailbox, "deliver_many", None),
    )
    if many is not None:
        return many(deliveries)
    return [
        mailbox.deliver(d.data, folder=d.folder, flags=d.flags, when=d.when) for d in deliveries
    ]


def pop3_uidl(uid: int, uidvalidity: int) -> str:
    """Return a message's POP3 unique-id as Dovecot's default ``pop3_uidl_format = %08Xu%08Xv``
    prints it: stable across sessions and restarts (RFC 1939 section 7, UIDL). Dovecot's ``X``
    modifier prints lower-case hex (``000000016b0a4b3b``, seen from Dovecot 2.3's pop3 by
    bench/pop3_retr.py), so a client moving between the two servers fetches nothing twice."""
    return f"{uid:08x}{uidvalidity:08x}"


def to_lf(data: bytes) -> bytes:
    """Return ``data`` with CRLF line endings turned into LF and a final LF added if missing
    (how both stores keep messages on disk: maildir(5) and mbox(5) files use LF)."""
    data = data.replace(b"\r\n", b"\n")
    return data if data.endswith(b"\n") or not data else data + b"\n"


def to_crlf(stored: bytes) -> bytes:
    """Return a stored message with CRLF line endings, as POP3 RETR and IMAP FETCH send it."""
    return stored.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def crlf_size(stored: bytes) -> int:
    """Return the size of ``stored`` in octets with CRLF line endings: POP3's STAT/LIST size,
    IMAP's RFC822.SIZE and Dovecot's ``W=`` (virtual size)."""
    return len(stored) + stored.count(b"\n") - stored.count(b"\r\n")


def split_message(stored: bytes) -> tuple[bytes, bytes]:
    """Return the header (with its last LF) and the body of a message with LF line endings
    (RFC 5322 section 2.1: the first empty line ends the header)."""
    if stored.startswith(b"\n"):
        return b"", stored[1:]
    blank = stored.find(b"\n\n")
    return (stored, b"") if blank < 0 else (stored[: blank + 1], stored[blank + 2 :])


def header_fields(buf: bytes, start: int = 0, end: int | None = None) -> dict[str, tuple[str, int]]:
    """Return field name (lower case) -> (first value, offset of the value in ``buf``) for the
    header block buf[start:end] (LF line endings; folded lines are skipped)."""
    end = len(buf) if end is None else end
    found: dict[str, tuple[str, int]] = {}
    while start < end:
        eol = buf.find(b"\n", start, end)
        eol = end if eol < 0 else eol
        name, colon, value = buf[start:eol].partition(b":")
        if colon and buf[start : start + 1] not in (b" ", b"\t"):
            key = name.strip().lower().decode("latin-1")
            found.setdefault(key, (value.decode("latin-1"), start + len(name) + 1))
        start = eol + 1
    return found


def remove_fields(header: bytes, names: frozenset[str]) -> bytes:
    """Return a header block without the fields called ``names`` (lower case) and their
    folded continuation lines."""
    kept, skipping = [], False
    for line in header.splitlines(keepends=True):
        if line[:1] not in (b" ", b"\t"):
            skipping = line.partition(b":")[0].strip().lower().decode("latin-1") in names
        if not skipping:
            kept.append(line)
    return b"".join(kept)


def fsync_directory(path: Path) -> None:
    """Flush a directory's entries to disk, so a file created or renamed in it survives a crash
    (the step maildir(5) delivery and every tmp + rename() replacement need)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes, offset: int | None = None) -> None:
    """Write all of ``data`` to ``fd`` (at ``offset`` when given), looping over short writes."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        view = view[written:]
        if offset is not None:
            offset += written


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so a reader or a crash sees the old or the new file, never
    a mix: write a temporary file in the same directory, fsync it, rename() it over ``path`` and
    fsync the directory (Dovecot replaces dovecot-uidlist this way)."""
    os.close(replace_file(path, data, mode))


def replace_file(path: Path, data: bytes, mode: int = 0o600) -> int:
    """:func:`write_atomically`, returning a read-write descriptor of the new file, which holds
    an fcntl write lock taken before rename() made the file visible (an mbox rewrite keeps the
    mailbox locked across the swap this way)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
    try:
        fcntl_lock(fd, exclusive=True)  # nobody else knows the file yet: always granted
        write_all(fd, data)
        os.fsync(fd)
        os.replace(tmp, path)
        fsync_directory(path.parent)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    return fd


#: a temporary file of write_atomically() or dotlock(): ``.<name>.<pid>.<8 hex>[.tmp]``
_LEFTOVER = re.compile(r"^\..+\.(?P<pid>\d+)\.[0-9a-f]{8}(\.tmp)?$")


def remove_leftovers(directory: Path) -> list[Path]:
    """Remove the temporary files of :func:`write_atomically` and :func:`dotlock` in
    ``directory`` whose writer died before renaming or removing them; return them."""
    removed = []
    for entry in os.scandir(directory) if directory.is_dir() else ():
        match = _LEFTOVER.match(entry.name)
        if match is not None and entry.is_file() and not pid_alive(int(match["pid"])):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


@contextmanager
def lock_file(path: Path, *, blocking: bool = True) -> Iterator[None]:
    """Hold an exclusive :func:`fcntl_lock` on the lock file ``path`` (created if missing).

    The lock belongs to the open file, so two sessions of one process exclude each other as two
    processes do, and the kernel drops it when its holder dies (no stale lock after SIGKILL,
    unlike a dotlock). Raise :class:`MailboxBusy` when ``blocking`` is false and it is held.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not fcntl_lock(fd, exclusive=True, wait=blocking):
            raise MailboxBusy(f"{path} is locked by another session")
        yield
    finally:
        os.close(fd)


def session_lock(path: Path) -> AbstractContextManager[None]:
    """Return the non-blocking session lock :meth:`Mailbox.exclusive` hands out (RFC 1939
    section 8: a POP3 server must keep a maildrop to one session)."""
    return lock_file(path, blocking=False)


def pid_alive(pid: int) -> bool:
    """Return whether process ``pid`` exists on this host (a dead writer's leftovers may go)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fcntl_lock(fd: int, *, exclusive: bool, wait: bool = False) -> bool:
    """Lock the whole file with fcntl(2), waiting for it or not; return whether it is held.

    Linux open-file-description (OFD) locks: like flock they belong to the open file, so two
    sessions of one process exclude each other, and like POSIX locks they conflict with the
    fcntl locks of procmail, Postfix local(8) or mutt (Dovecot ``mbox_read_locks = fcntl``).
    Elsewhere flock(2) stands in.
    """
    kind = fcntl.F_WRLCK if exclusive else fcntl.F_RDLCK
    while True:
        try:
            if hasattr(fcntl, "F_OFD_SETLK"):  # struct flock: type, whence, start, len, pid
                command = fcntl.F_OFD_SETLKW if wait else fcntl.F_OFD_SETLK
                fcntl.fcntl(fd, command, struct.pack("@hhqqi0q", kind, 0, 0, 0, 0))
            else:
                mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
                fcntl.flock(fd, mode | (0 if wait else fcntl.LOCK_NB))
            return True
        except InterruptedError:  # a signal while waiting: wait on
            continue
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise


def wait_for(attempt: Callable[[], bool], deadline: float, what: str) -> None:
    """Call ``attempt`` until it succeeds; raise :class:`MailboxLockTimeout` past ``deadline``
    (time.monotonic()). Dotlocks have no wake-up, so this polls, backing off to 50 ms."""
    pause = 0.001
    while not attempt():
        if time.monotonic() > deadline:
            raise MailboxLockTimeout(f"{what}: not locked within the lock timeout")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


#: a dotlock unchanged this long is broken (Dovecot's mbox_dotlock_change_timeout)
DOTLOCK_STALE_S = 120.0


@contextmanager
def dotlock(path: Path, deadline: float) -> Iterator[None]:
    """Hold ``<path>.lock``, the dotlock of mbox(5), until the block ends.

    The lock file holds the holder's PID and is made with link() of a complete file (as
    liblockfile does), so a lock whose PID is dead on this host is broken at once, and any lock
    left unchanged for :data:`DOTLOCK_STALE_S` seconds too.
    """
    lock = path.with_name(path.name + ".lock")
    # made complete, then linked: a crash may leave it behind for remove_leftovers()
    mine = path.with_name(f".{path.name}.lock.{os.getpid()}.{secrets.token_hex(4)}")
    mine.write_text(f"{os.getpid()}\n")
    try:
        wait_for(lambda: _try_dotlock(mine, lock), deadline, str(lock))
    finally:
        mine.unlink(missing_ok=True)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _try_dotlock(mine: Path, lock: Path) -> bool:
    try:
        os.link(mine, lock)
        return True
    except FileExistsError:
        pass
    try:
        pid, age = lock.read_bytes().strip(), time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return False  # released meanwhile: the next try takes it
    if age > DOTLOCK_STALE_S or (pid.isdigit() and not pid_alive(int(pid))):
        lock.unlink(missing_ok=True)  # a dead or stuck writer's
    return False


@contextmanager
def mbox_locked(path: Path, *, write: bool, timeout_s: float) -> Iterator[list[int] | None]:
    """Open the file now at ``path`` and hold it locked as mbox(5) readers and writers do:
    an fcntl read lock, or an fcntl write lock and then the dotlock (Dovecot ``mbox_write_locks
    = fcntl dotlock``, Debian's order). Yield ``[fd]`` (a writer that replaces the file puts the
    new, already locked descriptor there; it is closed at the end), or None if there is no file.

    A file renamed over ``path`` while we waited is not the mailbox any more: open and lock
    the new one. Raise :class:`MailboxLockTimeout` after ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            held = [os.open(path, os.O_RDWR if write else os.O_RDONLY)]
        except FileNotFoundError:
            yield None
            return
        try:
            wait_for(partial(fcntl_lock, held[0], exclusive=write), deadline, str(path))
            if os.fstat(held[0]).st_ino == os.stat(path).st_ino:
                with dotlock(path, deadline) if write else nullcontext():
                    yield held
                    return
        finally:
            os.close(held[0])
