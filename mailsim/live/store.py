"""The mail store of one live host: every local user's mailbox under one root directory.

:func:`open_store` picks the implementation from the host's ``mailbox_format`` (Dovecot's
mail_location): :class:`~mailsim.live.maildir.MaildirMailbox` or
:class:`~mailsim.live.mbox.MboxMailbox`. Paths inside the root are those local(8) uses on a real
host (``HostPolicy.mailbox_path``): by default ``home/<user>/Maildir/`` for maildir and
``var/mail/<user>`` for mbox, whose folders are files in ``home/<user>/`` (procmail's $MAILDIR,
``HostPolicy.folder_path``). A store may be opened by several processes at once (the SMTP
server's MDA and the POP3 server, say); the mailboxes lock as their formats prescribe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal

from mailsim.live.maildir import MaildirMailbox
from mailsim.live.mailstore import Mailbox
from mailsim.live.mbox import MboxMailbox

__all__ = ["HostStore", "local_user", "open_store"]

MailboxFormat = Literal["maildir", "mbox"]


def local_user(user: str) -> str:
    """Return the login name of a local user given as ``jura`` or ``jura@firma1.intr`` (lower
    case, as local(8) looks users up); raise ValueError for a name that cannot be a login."""
    name = user.rpartition("@")[0] if "@" in user else user
    name = name.lower()
    if not name or name in (".", "..") or any(c in name for c in "/\0\n") or name[0] == ".":
        raise ValueError(f"bad local user name {user!r}")
    return name


def _default_path(mailbox_format: str) -> Callable[[str], str]:
    # Postfix defaults: home_mailbox = Maildir/ (as the lab configures it), mail_spool_directory
    if mailbox_format == "maildir":
        return lambda user: f"/home/{user}/Maildir/"
    return lambda user: f"/var/mail/{user}"


class HostStore:
    """All mailboxes of one host, under ``root``; :meth:`mailbox` opens each user's once."""

    def __init__(
        self,
        root: Path,
        mailbox_format: MailboxFormat,
        *,
        mailbox_path: Callable[[str], str] | None = None,
        users: Iterable[str] = (),
        lock_timeout_s: float = 300.0,
    ) -> None:
        if mailbox_format not in ("maildir", "mbox"):
            raise ValueError(f"mailbox_format must be 'maildir' or 'mbox', not {mailbox_format!r}")
        self.root = Path(root)
        self.mailbox_format = mailbox_format
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._path = mailbox_path or _default_path(mailbox_format)
        self._known = {local_user(user) for user in users}
        self._lock_timeout_s = lock_timeout_s
        self._open: dict[str, Mailbox] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"HostStore({str(self.root)!r}, {self.mailbox_format!r})"

    def path_of(self, user: str) -> Path:
        """Where ``user``'s mailbox is (the maildir, or the mbox INBOX file)."""
        return self.root / self._path(local_user(user)).lstrip("/")

    def mailbox(self, user: str) -> Mailbox:
        """The mailbox of local user ``user`` (``jura`` or ``jura@firma1.intr``), created empty
        on first use; opening it repairs what a crash left (:meth:`recover`)."""
        name = local_user(user)
        with self._guard:
            found = self._open.get(name)
            if found is None:
                path = self.path_of(name)
                if self.mailbox_format == "maildir":
                    found = MaildirMailbox(path)
                else:
                    home = self.root / "home" / name
                    found = MboxMailbox(path, home, lock_timeout_s=self._lock_timeout_s)
                self._open[name] = found
            return found

    def users(self) -> Iterator[str]:
        """The users with a mailbox: the host's known users, those opened here, and those whose
        mailbox exists on disk at the default places."""
        found = set(self._known) | set(self._open)
        if self.mailbox_format == "maildir":
            home = self.root / "home"
            if home.is_dir():
                found |= {p.name for p in home.iterdir() if (p / "Maildir" / "cur").is_dir()}
        else:
            spool = self.root / "var" / "mail"
            if spool.is_dir():
                found |= {
                    p.name
                    for p in spool.iterdir()
                    if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".lock")
                }
        return iter(sorted(found))

    def recover(self) -> None:
        """Open every mailbox, which removes crash leftovers and repairs torn mbox tails: what
        the lab runs at start-up, before its servers accept anyone."""
        for user in self.users():
            self.mailbox(user).messages()


def open_store(
    root: Path,
    mailbox_format: MailboxFormat,
    *,
    mailbox_path: Callable[[str], str] | None = None,
    users: Iterable[str] = (),
    lock_timeout_s: float = 300.0,
) -> HostStore:
    """Return the store (a :class:`~mailsim.live.mailstore.MailStore`) of one host at ``root``.

    ``mailbox_path`` maps a login to the mailbox path local(8) uses (pass
    ``HostPolicy.mailbox_path`` so main.cf's home_mailbox and mail_spool_directory apply; the
    path is taken inside ``root``); ``users`` are the host's local users, listed by ``users()``
    even before they have mail.
    """
    return HostStore(
        root,
        mailbox_format,
        mailbox_path=mailbox_path,
        users=users,
        lock_timeout_s=lock_timeout_s,
    )
