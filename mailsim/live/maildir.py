"""Maildir mailboxes as Dovecot keeps them (maildir(5); Dovecot's "Maildir Mailbox Format").

Layout (Maildir++): ``tmp/ new/ cur/`` hold the INBOX; folder ``Spam`` (or ``.Spam``;
``Work/Projects`` is ``.Work.Projects``) is the directory ``.Spam/`` with its own ``tmp/ new/
cur/``, an empty ``maildirfolder`` file and its own ``dovecot-uidlist``.

Delivery (maildir(5)): write ``tmp/<unique>`` and fsync it, rename it into ``new/`` (``cur/
<unique>:2,<flags>`` when delivered with flags), fsync the directory, and only then return. So
``new/`` and ``cur/`` only ever hold complete files; a crash leaves partial ones in ``tmp/`` only,
which is never read and is cleaned on open (files of dead writers of this host; any older than 36
hours). Names: ``<secs>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<vsize>`` (Dovecot's filename
extensions: S= file size, W= size with CRLF); this base name is the key; flags follow ``:2,``.

UIDs (Dovecot's "IMAP UID mapping"): ``dovecot-uidlist`` starts ``3 V<uidvalidity> N<uidnext>
G<guid>``, then one ``<uid> :<filename>`` line per message. Deliveries append a line (Dovecot
allows appends; anything else replaces the file by rename()), so the next UID is ``max(N, last +
1)``; expunges and repairs rewrite it atomically (tmp, fsync, rename, directory fsync). Files no
line names (a crash between rename and append; mail from another program) get the next UIDs at the
next scan. Writers and scanners hold an fcntl lock on ``mailsim-uidlist.lock``, not Dovecot's
``dovecot-uidlist.lock`` dotlock: an fcntl lock dies with its holder, so a SIGKILL leaves no
stale lock. ``exclusive()`` holds ``mailsim-session.lock`` the same way, without waiting.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from mailsim.live.mailstore import (
    Delivery,
    StoredMessage,
    crlf_size,
    fsync_directory,
    lock_file,
    pid_alive,
    remove_leftovers,
    session_lock,
    to_crlf,
    to_lf,
    write_all,
    write_atomically,
)

__all__ = ["FLAGS", "MaildirMailbox", "StagedMessage", "UidList", "folder_dirname", "unique_name"]

#: maildir(5) info flags: Draft, Flagged, Passed, Replied (answered), Seen, Trashed (deleted)
FLAGS: frozenset[str] = frozenset("DFPRST")
UIDLIST = "dovecot-uidlist"
UIDLIST_LOCK = "mailsim-uidlist.lock"
SESSION_LOCK = "mailsim-session.lock"
#: Dovecot deletes tmp/ files older than this when it scans a maildir
TMP_MAX_AGE_S = 36 * 3600
_DELIVERIES = itertools.count(1)
_TMP_NAME = re.compile(r"^\d+\.M\d+P(?P<pid>\d+)Q\d+\.(?P<host>[^,]+),")
_SIZE_FIELD = re.compile(r",([SW])=(\d+)")


def unique_name(size: int, vsize: int, hostname: str, now: float | None = None) -> str:
    """Return a new maildir(5) unique name with Dovecot's ``,S=`` and ``,W=`` fields."""
    now = time.time() if now is None else now
    secs = int(now)
    usec = int((now - secs) * 1_000_000)
    return f"{secs}.M{usec}P{os.getpid()}Q{next(_DELIVERIES)}.{hostname},S={size},W={vsize}"


def folder_dirname(folder: str) -> str:
    """Return the Maildir++ directory of ``folder`` (``""`` for INBOX, ``Spam`` -> ``.Spam``,
    ``Work/Projects`` -> ``.Work.Projects``); raise ValueError naming a bad name."""
    name = folder.strip("/")
    if name.upper() == "INBOX" or not name:
        return ""
    name = name.removeprefix(".").replace("/", ".")
    if "" in name.split(".") or "\0" in name:
        raise ValueError(f"bad maildir folder name {folder!r}")
    return "." + name


def _split(filename: str) -> tuple[str, str]:
    """Return (base name, flags) of a file in new/ or cur/ (``<base>:2,<flags>``)."""
    base, _, info = filename.partition(":")
    flags = info[2:].split(",", 1)[0] if info.startswith("2,") else ""
    return base, flags


def _stamp(st: os.stat_result) -> tuple[int, ...]:
    """What tells whether a file changed: device, inode, size, mtime and ctime."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _flag_string(flags: Iterable[str]) -> str:
    letters = set("".join(flags))
    bad = letters - FLAGS
    if bad:
        raise ValueError(f"bad maildir flags {sorted(bad)}; expected some of {sorted(FLAGS)}")
    return "".join(sorted(letters))


@dataclass(slots=True)
class UidList:
    """The contents of a ``dovecot-uidlist`` file (version 3)."""

    uidvalidity: int
    uidnext: int
    guid: str
    files: dict[int, str] = field(default_factory=dict)  # uid -> last known file name
    torn: bool = False  # the last line was cut short by a crash

    @classmethod
    def parse(cls, text: str) -> UidList | None:
        """Parse a version-3 file; None when the header is not one (the caller starts anew)."""
        header, *lines = text.split("\n")
        version, *items = header.split() or [""]
        fields = {item[0]: item[1:] for item in items}
        try:
            uidlist = cls(int(fields["V"]), int(fields.get("N", "1")), fields.get("G", ""))
        except (KeyError, ValueError):
            return None
        uidlist.torn = not text.endswith("\n")
        for line in lines[:-1]:  # what follows the last "\n" is empty or a torn line
            head, sep, filename = line.partition(" :")
            with suppress(ValueError, IndexError):
                if sep:
                    uidlist.files[int(head.split()[0])] = filename
        return uidlist if version == "3" else None

    @property
    def next_uid(self) -> int:
        return max(self.uidnext, max(self.files, default=0) + 1)

    def format(self) -> bytes:
        lines = [f"3 V{self.uidvalidity} N{self.next_uid} G{self.guid}"]
        lines += [f"{uid} :{name}" for uid, name in sorted(self.files.items())]
        return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True, slots=True)
class _Entry:
    uid: int
    subdir: str  # "new" or "cur"
    filename: str


@dataclass(slots=True)
class StagedMessage:
    """A message written to ``tmp/`` on its way into ``new/`` or ``cur/`` (:meth:`MaildirMailbox.
    stage`); its file stays open until fsynced, and its uid is 0 until committed."""

    path: Path
    base: str
    subdir: str
    filename: str
    size: int
    date: float
    flags: frozenset[str]
    fd: int
    uid: int = 0


class MaildirMailbox:
    """A user's Maildir (the INBOX at ``path``) with its Maildir++ folders."""

    def __init__(self, path: Path, *, hostname: str | None = None) -> None:
        self.path = Path(path)
        # maildir(5): "/" and ":" of the host name as \057 and \072 ("," would end the name)
        name = hostname or os.uname().nodename
        self.hostname = name.replace("/", r"\057").replace(":", r"\072").replace(",", r"\054")
        # (folder path, base name) -> (size with CRLF, mtime): both fixed once delivered
        self._meta: dict[tuple[Path, str], tuple[int, float]] = {}
        # folder path -> base name -> where the last scan or change saw the file
        self._where: dict[Path, dict[str, _Entry]] = {}
        # folder path -> (the uidlist's stat after our last append, the next UID it gives)
        self._appended: dict[Path, tuple[tuple[int, ...], int]] = {}
        # folder -> (its path, its tmp/ directory): where deliveries are staged
        self._staging: dict[str, tuple[Path, str]] = {}
        self._folder_path("", create=True)
        self.recover()

    def _folder_path(self, folder: str, *, create: bool = False) -> Path:
        path = self.path / folder_dirname(folder)
        if create and not (path / "cur").is_dir():
            for sub in ("tmp", "new", "cur"):
                (path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
            if path != self.path:
                (path / "maildirfolder").touch(mode=0o600)
            fsync_directory(path)
            fsync_directory(path.parent)
        return path

    def folders(self) -> list[str]:
        """``""`` (INBOX), then each Maildir++ folder directory (``.Spam``) in name order."""
        found = (e.name for e in os.scandir(self.path) if e.name.startswith(".") and e.is_dir())
        return ["", *sorted(name for name in found if (self.path / name / "cur").is_dir())]

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the whole maildir for one session; :class:`MailboxBusy` if another has it."""
        return session_lock(self.path / SESSION_LOCK)

    def _locked(self, path: Path) -> AbstractContextManager[None]:
        return lock_file(path / UIDLIST_LOCK)

    @property
    def uidvalidity(self) -> int:
        return self.uidvalidity_of("")

    def uidvalidity_of(self, folder: str = "") -> int:
        """The UIDVALIDITY of one folder (each Maildir++ folder has its own dovecot-uidlist)."""
        path = self._folder_path(folder, create=True)
        with self._locked(path):
            return self._load_uidlist(path).uidvalidity

    def uidnext(self, folder: str = "") -> int:
        path = self._folder_path(folder, create=True)
        with self._locked(path):
            return self._scan(path).next_uid

    def _load_uidlist(self, path: Path) -> UidList:
        """Read (or create) the folder's uidlist; repair a torn last line. Lock held."""
        file = path / UIDLIST
        try:
            uidlist = UidList.parse(file.read_text(encoding="utf-8", errors="replace"))
        except FileNotFoundError:
            uidlist = None
        if uidlist is None or uidlist.torn:
            uidlist = uidlist or UidList(int(time.time()), 1, secrets.token_hex(16))
            uidlist.torn = False
            write_atomically(file, uidlist.format())
        return uidlist

    def _scan(self, path: Path) -> UidList:
        """List new/ and cur/, give unlisted files UIDs, drop lines of vanished files, and note
        where each message is. The folder's lock is held."""
        uidlist = self._load_uidlist(path)
        on_disk: dict[str, tuple[str, str]] = {}
        for subdir in ("new", "cur"):
            for name in os.listdir(path / subdir):
                if not name.startswith("."):
                    on_disk[_split(name)[0]] = (subdir, name)
        by_base: dict[str, int] = {}
        for uid, name in sorted(uidlist.files.items()):
            by_base.setdefault(_split(name)[0], uid)
        kept = {uid for base, uid in by_base.items() if base in on_disk}
        dropped = [uid for uid in uidlist.files if uid not in kept]
        unlisted = sorted(base for base in on_disk if base not in by_base)  # by time
        if dropped or unlisted:
            uidlist.uidnext = uidlist.next_uid  # before dropping: a UID is never given twice
            for uid in dropped:
                del uidlist.files[uid]
            for base in unlisted:
                uid = by_base[base] = uidlist.next_uid
                uidlist.files[uid] = on_disk[base][1]
            write_atomically(path / UIDLIST, uidlist.format())
        self._where[path] = {b: _Entry(by_base[b], *where) for b, where in on_disk.items()}
        return uidlist

    def messages(self, folder: str = "") -> list[StoredMessage]:
        path = self._folder_path(folder)
        if not (path / "cur").is_dir():
            return []
        with self._locked(path):
            self._scan(path)
        found = [self._record(path, b, e) for b, e in self._where[path].items()]
        return sorted(found, key=lambda message: message.uid)

    def _record(self, path: Path, base: str, entry: _Entry) -> StoredMessage:
        meta = self._meta.get((path, base))
        if meta is None:
            file = path / entry.subdir / entry.filename
            sizes = dict(_SIZE_FIELD.findall(base))
            # a file another program delivered may lack Dovecot's W= field: count it
            size = int(sizes["W"]) if "W" in sizes else crlf_size(file.read_bytes())
            meta = self._meta[(path, base)] = (size, os.stat(file).st_mtime)
        flags = frozenset(_split(entry.filename)[1]) & FLAGS
        return StoredMessage(entry.uid, base, meta[0], flags, meta[1])

    def _find(self, path: Path, key: str) -> _Entry:
        """Where message ``key`` is now: the last known place if the file is still there, else
        a fresh scan (another session renamed it). The folder's lock is held."""
        entry = self._where.get(path, {}).get(key)
        if entry is None or not (path / entry.subdir / entry.filename).exists():
            self._scan(path)
            entry = self._where[path].get(key)
        if entry is None:
            raise KeyError(key)
        return entry

    def read(self, key: str, folder: str = "") -> bytes:
        """The message with CRLF line endings; KeyError if there is no message ``key``."""
        path = self._folder_path(folder)
        entry = self._where.get(path, {}).get(key)
        if entry is not None:  # a file is complete once named in new/ or cur/: no lock needed
            with suppress(FileNotFoundError):
                return to_crlf((path / entry.subdir / entry.filename).read_bytes())
        with self._locked(path):
            entry = self._find(path, key)
            fd = os.open(path / entry.subdir / entry.filename, os.O_RDONLY)
        with os.fdopen(fd, "rb") as file:
            return to_crlf(file.read())

    def deliver(
        self, data: bytes, *, folder: str = "", flags: Iterable[str] = (), when: float | None = None
    ) -> StoredMessage:
        """Store ``data`` durably (tmp/, fsync, rename, fsync new/) and give it the next UID."""
        return self.deliver_many([Delivery(data, folder, tuple(flags), when)])[0]

    def deliver_many(self, deliveries: Sequence[Delivery]) -> list[StoredMessage]:
        """Store several messages durably with one commit (group commit): :meth:`stage` each,
        then :meth:`commit` them all. Returns when all are on disk, in the order given; an
        error leaves none of the files not yet renamed."""
        staged: list[StagedMessage] = []
        try:
            for delivery in deliveries:
                staged.append(self.stage(delivery))
        except BaseException:
            self.discard(staged)
            raise
        return self.commit(staged)

    def stage(self, delivery: Delivery) -> StagedMessage:
        """Write one message to ``tmp/``, not yet fsynced and invisible to readers (cheap:
        page-cache writes, so a server may call it on its event loop and leave the blocking
        :meth:`commit` to a worker thread). Every staged message must be committed or
        discarded."""
        return self._write_tmp(delivery)

    def commit(self, staged: Sequence[StagedMessage]) -> list[StoredMessage]:
        """Make staged messages durable together: fsync every file (the first fsync's journal
        commit takes the others' data along), rename them into new/ or cur/, give each
        folder's uidlist all their lines in one append and one fsync, then fsync the
        directories. Returns their records in order; on an error the ones not yet renamed are
        removed."""
        try:
            for item in staged:
                os.fsync(item.fd)
                os.close(item.fd)
                item.fd = -1
            by_folder: dict[Path, list[StagedMessage]] = {}
            for item in staged:
                by_folder.setdefault(item.path, []).append(item)
            for path, items in by_folder.items():
                self._commit(path, items)
        finally:
            self.discard([item for item in staged if not item.uid])
        return [
            StoredMessage(item.uid, item.base, item.size, item.flags, item.date) for item in staged
        ]

    def discard(self, staged: Sequence[StagedMessage]) -> None:
        """Remove staged messages that will not be committed."""
        for item in staged:
            if item.fd >= 0:
                os.close(item.fd)
                item.fd = -1
            (item.path / "tmp" / item.base).unlink(missing_ok=True)

    def _commit(self, path: Path, items: list[StagedMessage]) -> None:
        """Rename a folder's written files into place and append their uidlist lines."""
        with self._locked(path):
            for item in items:
                os.rename(path / "tmp" / item.base, path / item.subdir / item.filename)
            first = self._next_uid(path)
            lines = "".join(f"{first + n} :{item.filename}\n" for n, item in enumerate(items))
            fd = os.open(path / UIDLIST, os.O_WRONLY | os.O_APPEND)
            try:  # new lines, as Dovecot appends them; a torn one is repaired on load
                write_all(fd, lines.encode())
                # the renames and the append are one journal transaction: the first fsync
                # commits both, the directories' fsyncs then find nothing left to do
                os.fsync(fd)
                self._appended[path] = (_stamp(os.fstat(fd)), first + len(items))
            finally:
                os.close(fd)
            for subdir in sorted({item.subdir for item in items}):
                fsync_directory(path / subdir)
            known = self._where.setdefault(path, {})
            for n, item in enumerate(items):
                item.uid = first + n
                known[item.base] = _Entry(item.uid, item.subdir, item.filename)
                self._meta[(path, item.base)] = (item.size, item.date)

    def _next_uid(self, path: Path) -> int:
        """The folder's next UID (its lock held). When the uidlist is still the file our last
        append left (same device, inode, size, mtime and ctime: Dovecot's own "has the uidlist
        changed" test is inode and size), that append's UID + 1; else read from the file, so a
        delivery does not parse a uidlist that grows with every message."""
        with suppress(FileNotFoundError):
            known = self._appended.get(path)
            if known is not None and known[0] == _stamp(os.stat(path / UIDLIST)):
                return known[1]
        return self._load_uidlist(path).next_uid

    def _write_tmp(self, delivery: Delivery) -> StagedMessage:
        """Write one message to ``tmp/`` (not yet fsynced; the caller does that)."""
        stored = to_lf(delivery.data)
        path, tmp = self._staging_dir(delivery.folder)
        while True:
            base = unique_name(len(stored), crlf_size(stored), self.hostname)
            try:
                fd = os.open(os.path.join(tmp, base), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileExistsError:  # only if the clock stepped back: take the next one
                continue
            except FileNotFoundError:  # the folder went away since: make it again, once
                if self._staging.pop(delivery.folder, None) is None:
                    raise
                path, tmp = self._staging_dir(delivery.folder)
        try:
            write_all(fd, stored)
            if delivery.when is not None:  # Dovecot: the file's mtime is the IMAP INTERNALDATE
                os.utime(fd, (delivery.when, delivery.when))
            date = os.fstat(fd).st_mtime
        except BaseException:
            os.close(fd)
            (path / "tmp" / base).unlink(missing_ok=True)
            raise
        info = _flag_string(delivery.flags)
        subdir, filename = ("cur", f"{base}:2,{info}") if info else ("new", base)
        return StagedMessage(
            path, base, subdir, filename, crlf_size(stored), date, frozenset(info), fd
        )

    def _staging_dir(self, folder: str) -> tuple[Path, str]:
        """The folder's path and its ``tmp/`` as a string, made on first use and remembered
        (a delivery then costs no stat of the folder and no path objects)."""
        found = self._staging.get(folder)
        if found is None:
            path = self._folder_path(folder, create=True)
            found = self._staging[folder] = (path, os.path.join(path, "tmp"))
        return found

    def set_flags(self, key: str, flags: Iterable[str], folder: str = "") -> StoredMessage:
        """Rename the message to ``cur/<key>:2,<flags>`` (the flags replace the old ones)."""
        info = _flag_string(flags)
        path = self._folder_path(folder)
        with self._locked(path):
            entry = self._find(path, key)
            moved = _Entry(entry.uid, "cur", f"{key}:2,{info}")
            if entry != moved:
                os.rename(path / entry.subdir / entry.filename, path / "cur" / moved.filename)
                fsync_directory(path / "cur")
                if entry.subdir != "cur":
                    fsync_directory(path / entry.subdir)
                self._where[path][key] = moved
        return self._record(path, key, moved)

    def delete(self, keys: Iterable[str], folder: str = "") -> None:
        """Unlink the messages and rewrite the uidlist without them; keys already gone are
        ignored. UIDs are never given again: the uidlist header keeps N past them."""
        path = self._folder_path(folder)
        wanted = set(keys)
        if not wanted or not (path / "cur").is_dir():
            return
        with self._locked(path):
            uidlist = self._scan(path)
            uidlist.uidnext = uidlist.next_uid
            where = self._where[path]
            gone = [where.pop(key) for key in wanted & where.keys()]
            for entry in gone:
                (path / entry.subdir / entry.filename).unlink(missing_ok=True)
                uidlist.files.pop(entry.uid, None)
            for subdir in sorted({entry.subdir for entry in gone}):
                fsync_directory(path / subdir)
            if gone:
                write_atomically(path / UIDLIST, uidlist.format())
        for key in wanted:
            self._meta.pop((path, key), None)

    def folder_size(self, folder: str = "") -> int:
        """Bytes of the folder's message files (the ``S=`` sizes, as Maildir++ quota counts)."""
        path = self._folder_path(folder)
        total = 0
        for subdir in ("new", "cur"):
            with suppress(FileNotFoundError):
                for entry in os.scandir(path / subdir):
                    sizes = dict(_SIZE_FIELD.findall(_split(entry.name)[0]))
                    total += int(sizes["S"]) if "S" in sizes else entry.stat().st_size
        return total

    def size(self) -> int:
        """Bytes of all folders' message files."""
        return sum(map(self.folder_size, self.folders()))

    def recover(self) -> list[Path]:
        """Remove what crashed writers left (tmp/ files of dead processes of this host or older
        than 36 hours, uidlist replacements never renamed) and repair each folder's uidlist;
        return the files removed. Runs when the mailbox is opened."""
        stale, now = [], time.time()
        for folder in self.folders():
            path = self._folder_path(folder)
            for entry in os.scandir(path / "tmp"):
                match = _TMP_NAME.match(entry.name)
                if match is not None and match["host"] == self.hostname:
                    if not pid_alive(int(match["pid"])):
                        stale.append(Path(entry.path))
                elif now - entry.stat().st_mtime > TMP_MAX_AGE_S:
                    stale.append(Path(entry.path))
            stale += remove_leftovers(path)
            for file in stale:
                file.unlink(missing_ok=True)
            with self._locked(path):
                self._scan(path)
        return stale
