"""mbox mailboxes as Postfix local(8) and Dovecot keep them (mbox(5) mboxrd; Dovecot's "Mbox
Mailbox Format").

The INBOX is the spool file (``/var/mail/jura``); folders are files in the home directory
(procmail's $MAILDIR: ``.Spam`` is ``~/.Spam``). A message is a ``From <sender> <asctime UTC>``
line (sender from Return-Path), the header, a blank line, the mboxrd-quoted body (``>`` before
each ``>*From `` line) and a blank line. Dovecot's metadata headers (stripped from arriving mail
and from ``read``): ``X-IMAPbase: <uidvalidity> <last uid>`` in the first message (``X-IMAP`` in
the "DON'T DELETE THIS MESSAGE" pseudo-message once all are deleted), ``X-UID``, ``Status`` (R
seen, O old), ``X-Status`` (A answered, F flagged, T draft, D deleted), ``Content-Length``.
Padded as Dovecot pads them, they change in place: the last UID (10 digits) moves on before each
append (readers take the larger of it and every X-UID); Status and X-Status take flag changes.

Writers hold :func:`~mailsim.live.mailstore.mbox_locked` (fcntl, then dotlock) and fsync before
returning. A record cut short by a crash fails its Content-Length (every record written here has
one) or has no header end: the file is truncated back to the last whole record, under the write
lock, when next opened or written (a torn message is dropped, never shown). Delete rewrites the
file (tmp, fsync, rename, the new file locked before it is visible).
"""

from __future__ import annotations

import calendar
import os
import re
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, replace
from email.utils import formatdate
from pathlib import Path

from mailsim.live.mailstore import (
    StoredMessage,
    crlf_size,
    fsync_directory,
    header_fields,
    mbox_locked,
    remove_fields,
    remove_leftovers,
    replace_file,
    session_lock,
    split_message,
    to_crlf,
    to_lf,
    write_all,
)

__all__ = ["FLAGS", "MboxMailbox"]

#: flags an mbox keeps: S (Status R), R answered, F flagged, D draft, T deleted (X-Status)
FLAGS: frozenset[str] = frozenset("DFRST")
_X_STATUS = (("R", "A"), ("F", "F"), ("D", "T"), ("T", "D"))  # maildir letter -> X-Status
_STRIPPED = frozenset(["status", "x-status", "x-uid", "x-imap", "x-imapbase", "x-keywords",
                       "content-length"])  # fmt: skip
#: Dovecot's pseudo-message: keeps UIDVALIDITY and the last UID of an mbox with no messages
_PSEUDO = (
    "From MAILER-DAEMON {0}\nDate: {1}\nFrom: Mail System Internal Data <MAILER-DAEMON@{2}>\n"
    "Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\nMessage-ID: <{3}@{2}>\n"
    "X-IMAP: {3} {4:010d}\nStatus: RO\n\nThis text is part of your mail folder's internal data.\n\n"
)
_QUOTE, _UNQUOTE = re.compile(rb"^(>*From )", re.M), re.compile(rb"^>(>*From )", re.M)
_FROM_LINE, _BASE = re.compile(rb"^From ", re.M), re.compile(r"\s*(\d+)\s+(\d+)")


@dataclass(frozen=True, slots=True)
class _Record:
    """Where one message is in the file (absolute offsets) and what its headers say."""

    start: int  # the From_ line
    header: tuple[int, int]
    body: tuple[int, int]
    end: int  # after the separating blank line
    uid: int  # 0: no X-UID; -1: Dovecot's pseudo-message (X-IMAP)
    flags: frozenset[str]
    old: bool  # Status O
    date: float
    size: int  # of what read() returns: CRLF, no metadata, unquoted
    base: tuple[int, int, int] | None  # X-IMAPbase or X-IMAP: uidvalidity, last uid, offset
    flags_at: int  # offset of the padded Status value (X-Status follows); -1: not ours


@dataclass(frozen=True, slots=True)
class _Index:
    """One mbox file parsed; valid while its device, inode, size and mtime stay the same."""

    key: tuple[int, int, int, int]
    size: int
    end: int  # end of the last complete record; bytes after it are a torn write
    all: list[_Record]  # the pseudo-message, if any, then the messages
    records: list[_Record]  # the messages
    uidvalidity: int
    base_at: int  # offset of the padded last UID of the first record; -1: none
    last_uid: int  # the larger of X-IMAPbase's and every X-UID
    needs_rewrite: bool  # X-UIDs missing or out of order, or no padded X-IMAPbase
    by_uid: dict[int, _Record]


def _content(header: bytes, body: bytes) -> bytes:
    return _UNQUOTE.sub(rb"\1", remove_fields(header, _STRIPPED) + b"\n" + body)


def _flag_bytes(flags: frozenset[str], old: bool) -> bytes:  # Status value to X-Status value
    x_status = "".join(letter for flag, letter in _X_STATUS if flag in flags)
    return f"{'R' * ('S' in flags) + 'O' * old:<2}\nX-Status: {x_status:<4}".encode()


def _parse_record(buf: bytes, start: int, stop: int, at: int, last: bool) -> _Record | None:
    """Parse buf[start:stop] (file offset ``at`` + start); None for a torn last record."""
    eol = buf.find(b"\n", start, stop)
    h = eol + 1
    blank = h if buf[h : h + 1] == b"\n" else buf.find(b"\n\n", h, stop) + 1
    if eol < 0 or (blank <= 0 and last):
        return None
    header_end, body_start = (blank, blank + 1) if blank > 0 else (stop, stop)
    fields = header_fields(buf, h, header_end)
    get = {name: value for name, (value, _) in fields.items()}.get
    length, body_end, end = get("content-length", "").strip(), -1, stop
    if length.isdigit():
        body_end = body_start + int(length)
        if body_end > stop and last:
            return None
        end = body_end + (buf[body_end : body_end + 1] == b"\n")
        body_end = body_end if end == stop or last else -1  # mboxrd: From_ lines win
    if body_end < 0:
        end, body_end = stop, max(body_start, stop - (buf[stop - 2 : stop] == b"\n\n"))
    flags = {flag for flag, letter in _X_STATUS if letter in get("x-status", "")}
    flags |= {"S"} if "R" in get("status", "") else set()
    base_field, base = fields.get("x-imapbase") or fields.get("x-imap"), None
    if base_field and (match := _BASE.match(base_field[0])):
        offset = at + base_field[1] + match.start(2) if len(match[2]) == 10 else -1
        base = (int(match[1]), int(match[2]), offset)
    status_at = fields["status"][1] + 1 if "status" in fields else -1  # after "Status: "
    ours = _flag_bytes(frozenset(flags), "O" in get("status", "")) + b"\n"  # padded, in place?
    flags_at = at + status_at if status_at > 0 and buf.startswith(ours, status_at) else -1
    try:
        asctime = " ".join(buf[start:eol].decode("latin-1").split()[2:7])
        date = float(calendar.timegm(time.strptime(asctime, "%a %b %d %H:%M:%S %Y")))
    except ValueError:
        date = 0.0
    uid = get("x-uid", "").strip()
    size = crlf_size(_content(buf[h:header_end], buf[body_start:body_end]))
    return _Record(
        at + start, (at + h, at + header_end), (at + body_start, at + body_end), at + end,
        -1 if "x-imap" in fields else int(uid) if uid.isdigit() else 0, frozenset(flags),
        "O" in get("status", ""), date, size, base, flags_at,
    )  # fmt: skip


def _parse(buf: bytes, at: int) -> tuple[list[_Record], int]:
    """Parse the records of ``buf`` (file bytes from offset ``at``, where a record or the blank
    line ending the one before starts); return them and the end of the last complete one."""
    first = len(buf) - len(buf.lstrip(b"\n")) if buf[:1] == b"\n" else 0
    if not buf.startswith(b"From ", first) and not b"From ".startswith(buf[first : first + 5]):
        raise ValueError(f"not an mbox: offset {at + first} holds {buf[first : first + 20]!r}")
    starts = [match.start() for match in _FROM_LINE.finditer(buf, first)]
    records: list[_Record] = []
    for i, start in enumerate(starts):
        last = i + 1 == len(starts)
        record = _parse_record(buf, start, len(buf) if last else starts[i + 1], at, last)
        if record is None:
            break
        records.append(record)
    return records, records[-1].end if records else at


def _format(
    from_line: bytes, header: bytes, body: bytes, uid: int, flags: frozenset[str], old: bool,
    base: tuple[int, int] | None,
) -> bytes:  # fmt: skip
    """One record: From_ line, quoted header + metadata, blank line, quoted body, blank line."""
    meta = f"X-IMAPbase: {base[0]} {base[1]:010d}\n" if base else ""
    meta += f"X-UID: {uid}\nStatus: "
    tail = f"\nContent-Length: {len(body)}\n\n".encode()
    return from_line + header + meta.encode() + _flag_bytes(flags, old) + tail + body + b"\n"


def _from_line(sender: str, when: float) -> bytes:
    sender = "".join(sender.split()) or "MAILER-DAEMON"
    return f"From {sender} {time.asctime(time.gmtime(when))}\n".encode("utf-8", "replace")


def _letters(flags: Iterable[str]) -> frozenset[str]:
    if (letters := frozenset("".join(flags))) - FLAGS:
        raise ValueError(f"bad mbox flags {sorted(letters - FLAGS)}; expected some of DFRST")
    return letters


class MboxMailbox:
    """A user's mbox INBOX (``inbox``, the spool file) and folder files under ``folder_dir``."""

    def __init__(
        self, inbox: Path, folder_dir: Path, *, lock_timeout_s: float = 300.0, hostname: str = ""
    ) -> None:
        self.inbox, self.folder_dir = Path(inbox), Path(folder_dir)
        self.lock_timeout_s = lock_timeout_s  # Dovecot's mbox_lock_timeout is 5 minutes
        self.hostname = hostname or os.uname().nodename
        self._cache: dict[Path, _Index] = {}
        self._validity: dict[Path, int] = {}  # of files that have no X-IMAPbase yet
        self._path("", create=True)
        self.recover()

    def _path(self, folder: str, *, create: bool = False) -> Path:
        name = folder.strip("/")
        path, parts = self.inbox, name.split("/")
        if name and name.upper() != "INBOX":
            if {"", ".", ".."} & set(parts) or "\0" in name or name.endswith((".lock", ".tmp")):
                raise ValueError(f"bad mbox folder name {folder!r}")
            path = self.folder_dir.joinpath(*parts)
        if create and not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                fsync_directory(path.parent)
        return path

    def _locked(self, path: Path, write: bool) -> AbstractContextManager[list[int] | None]:
        return mbox_locked(path, write=write, timeout_s=self.lock_timeout_s)

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the whole mailbox for one session; :class:`MailboxBusy` if another has it."""
        return session_lock(self.inbox.with_name(f".{self.inbox.name}.session.lock"))

    def _refresh(
        self, path: Path, fd: int, found: list[_Record] | None = None, end: int = 0
    ) -> _Index:
        """The index of the locked file ``fd``: cached while the file is unchanged, else parsed
        again, or built from ``found`` records ending at ``end`` (what a writer just wrote)."""
        st = os.fstat(fd)
        key, cached = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), self._cache.get(path)
        if found is None:
            if cached is not None and cached.key == key:
                return cached
            found, end = _parse(os.pread(fd, st.st_size, 0), 0)
        base = found[0].base if found else None
        records = found[1:] if found and found[0].uid < 0 else found  # skip the pseudo-message
        uids = [record.uid for record in records]
        bad = not all(a < b for a, b in zip([0, *uids], uids, strict=False))
        validity = base[0] if base else self._validity.setdefault(path, int(time.time()))
        last = max([base[1] if base else 0, *uids])
        index = _Index(key, st.st_size, end, found, records, validity, base[2] if base else -1,
                       last, bad or ((base is None or base[2] < 0) and bool(records)),
                       {record.uid: record for record in records})  # fmt: skip
        self._cache[path] = index
        return index

    def _repaired(self, path: Path, held: list[int]) -> _Index:
        """The index after cutting off a torn tail or giving messages UIDs. Write lock held."""
        index = self._refresh(path, held[0])
        if index.needs_rewrite:
            return self._rewrite(path, held, index)
        if index.end < index.size:
            os.ftruncate(held[0], index.end)
            os.fsync(held[0])
            return self._refresh(path, held[0])
        return index

    def _rewrite(
        self, path: Path, held: list[int], index: _Index, drop: frozenset[int] = frozenset()
    ) -> _Index:
        """Replace the file by one without ``drop``, giving X-UIDs where missing; the new file
        is fcntl-locked before rename() makes it visible. Write lock held."""
        buf, last, prev, kept = os.pread(held[0], index.end, 0), index.last_uid, 0, []
        for r in index.records:
            uid = r.uid if r.uid > prev else last + 1  # a missing or out-of-order X-UID
            last, prev = max(last, uid), uid
            kept += [(uid, r)] if uid not in drop else []
        first = (index.uidvalidity, last)  # X-IMAPbase goes in the first message
        data = [
            _format(buf[r.start : r.header[0]], remove_fields(buf[slice(*r.header)], _STRIPPED),
                    buf[slice(*r.body)], uid, r.flags, r.old, base)
            for base, (uid, r) in zip([first] + [None] * len(kept), kept, strict=False)
        ]  # fmt: skip
        pseudo = (time.asctime(time.gmtime()), formatdate(), self.hostname, index.uidvalidity, last)
        data += [] if data or not last else [_PSEUDO.format(*pseudo).encode()]
        fd = replace_file(path, b"".join(data))
        os.close(held[0])  # waiting writers wake on the old file, see the rename and retry
        held[0] = fd
        self._validity[path] = index.uidvalidity
        return self._refresh(path, fd)

    def _index(self, folder: str) -> _Index | None:
        """The folder's index, after any repair a crash made necessary."""
        path = self._path(folder)
        with self._locked(path, write=False) as held:
            index = None if held is None else self._refresh(path, held[0])
        if index is not None and (index.needs_rewrite or index.end < index.size):
            with self._locked(path, write=True) as held:
                index = None if held is None else self._repaired(path, held)
        return index

    @property
    def uidvalidity(self) -> int:
        index = self._index("")
        return index.uidvalidity if index else 0  # 0: the INBOX file was removed

    def uidnext(self, folder: str = "") -> int:
        index = self._index(folder)
        return index.last_uid + 1 if index else 1

    def messages(self, folder: str = "") -> list[StoredMessage]:
        index = self._index(folder)
        records = index.records if index else []
        return [StoredMessage(r.uid, str(r.uid), r.size, r.flags, r.date) for r in records]

    def read(self, key: str, folder: str = "") -> bytes:
        """The message with CRLF line endings, without mbox metadata and From_ quoting."""
        path = self._path(folder)
        with self._locked(path, write=False) as held:
            index = self._refresh(path, held[0]) if held else None
            record = index.by_uid.get(int(key)) if index and key.isdigit() else None
            if held is None or record is None:
                raise KeyError(key)
            (h0, h1), (b0, b1) = record.header, record.body
            head, body = os.pread(held[0], h1 - h0, h0), os.pread(held[0], b1 - b0, b0)
        return to_crlf(_content(head, body))

    def deliver(
        self, data: bytes, *, folder: str = "", flags: Iterable[str] = (), when: float | None = None
    ) -> StoredMessage:
        """Append ``data`` as one record under both locks and fsync. The From_ line's sender
        is the message's Return-Path (local(8) adds it), else MAILER-DAEMON."""
        letters, when = _letters(flags), time.time() if when is None else when
        header, body = split_message(to_lf(data))
        header = remove_fields(header, _STRIPPED)
        sender = header_fields(header).get("return-path", ("", 0))[0].strip(" <>")
        path = self._path(folder, create=True)
        with self._locked(path, write=True) as held:
            if held is None:  # removed by someone else since it was created above
                raise FileNotFoundError(path)
            index = self._repaired(path, held)
            uid = index.last_uid + 1
            if index.base_at >= 0:  # the last UID moves first: a crash then only skips one
                write_all(held[0], f"{uid:010d}".encode(), index.base_at)
            first = None if index.all else (index.uidvalidity, uid)
            record = _format(_from_line(sender, when), _QUOTE.sub(rb">\1", header),
                             _QUOTE.sub(rb">\1", body), uid, letters, False, first)  # fmt: skip
            tail = os.pread(held[0], 2, index.size - 2) if index.size >= 2 else b""
            pad = b"\n" * (2 - len(tail) + len(tail.rstrip(b"\n"))) if index.size else b""
            write_all(held[0], pad + record, index.size)
            os.fsync(held[0])
            added, end = _parse(pad + record, index.size)
            self._refresh(path, held[0], index.all + added, end)
        size = crlf_size(header + b"\n" + body)
        return StoredMessage(uid, str(uid), size, letters, float(int(when)))

    def set_flags(self, key: str, flags: Iterable[str], folder: str = "") -> StoredMessage:
        """Replace the message's flags: its padded Status and X-Status change in place (and
        Status gains O, as a client has seen the message)."""
        letters, uid, path = _letters(flags), int(key) if key.isdigit() else 0, self._path(folder)
        with self._locked(path, write=True) as held:
            index = self._repaired(path, held) if held else None
            if held is None or index is None or uid not in index.by_uid:
                raise KeyError(key)
            if index.by_uid[uid].flags_at < 0:  # not written here: make it so, then update
                index = self._rewrite(path, held, index)
            record = index.by_uid[uid]
            write_all(held[0], _flag_bytes(letters, True), record.flags_at)
            st = os.fstat(held[0])  # a new mtime, even within one clock tick: others reread
            os.utime(held[0], ns=(st.st_atime_ns, max(st.st_mtime_ns + 1, time.time_ns())))
            os.fsync(held[0])
            changed = replace(record, flags=letters, old=True)
            found = [changed if r is record else r for r in index.all]
            self._refresh(path, held[0], found, index.end)
        return StoredMessage(uid, key, changed.size, letters, changed.date)

    def delete(self, keys: Iterable[str], folder: str = "") -> None:
        """Rewrite the folder without the messages (keys already gone are ignored)."""
        uids, path = frozenset(int(key) for key in keys if key.isdigit()), self._path(folder)
        with self._locked(path, write=True) as held:
            index = self._repaired(path, held) if held and uids else None
            if held and index and uids & index.by_uid.keys():
                self._rewrite(path, held, index, drop=uids)

    def folders(self) -> list[str]:
        """``""`` (INBOX), then the mbox files under the folder directory (``.Spam``)."""
        files = (p for p in self.folder_dir.rglob("*") if p != self.inbox and p.is_file())
        found = [p for p in files if not p.name.endswith((".lock", ".tmp")) and _is_mbox(p)]
        return ["", *sorted(path.relative_to(self.folder_dir).as_posix() for path in found)]

    def folder_size(self, folder: str = "") -> int:
        """The folder file's size in bytes (what local(8)'s mailbox_size_limit applies to)."""
        path = self._path(folder)
        return path.stat().st_size if path.exists() else 0

    def size(self) -> int:
        """The INBOX file's size: local(8) checks mailbox_size_limit against the file it writes."""
        return self.folder_size("")

    def recover(self) -> None:
        """Repair every folder a crash left torn; remove dead writers' temporary files."""
        for directory in {self.inbox.parent, self.folder_dir}:
            remove_leftovers(directory)
        for folder in self.folders():
            self._index(folder)


def _is_mbox(path: Path) -> bool:  # empty, or a From_ line first
    with path.open("rb") as file:
        return file.read(5) in (b"", b"From ")
