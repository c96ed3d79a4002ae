"""Durable local delivery of an accepted message: what must be on disk before smtpd says 250.

Postfix answers ``250 2.0.0 Ok: queued as ...`` only after cleanup(8) has fsynced the queue
file; local(8) delivers from there later. This lab has no queue yet (queues and relaying come
with a later issue), so the live smtpd delivers at once instead, and :meth:`Spool.deliver`
returns only when every local recipient's copy has been written and fsynced by the
:class:`~mailsim.live.mailstore.MailStore` (whose ``deliver`` is durable on return). A crash
before that leaves no partial message visible (the store renames complete files into place)
and no 250 sent; a crash between two recipients of one message may deliver the first twice
after the client retries, Postfix's own "at least once".

Each recipient goes the way local(8) and the MDA send it, all decided by the policy:
:meth:`~mailsim.policy.HostPolicy.expand_local` (aliases(5)), then per mailbox the MDA's recipe
(:meth:`~mailsim.policy.HostPolicy.mda_decision`: inbox, folder, discard) and
:meth:`~mailsim.policy.HostPolicy.check_quota` (mailbox_size_limit, ``552 5.2.2``). What
needs the queue manager - a bounce notification, forwarding, vacation replies, ``|command`` and
``/file`` aliases - is reported in the :class:`Outcome` records but not carried out yet; a
message an MDA rule would forward is kept in the inbox, so nothing accepted is lost.

Writes run in worker threads (fsync blocks), with group commit per mailbox: while one batch is
being written the next deliveries wait, and then go to disk together (one thread hand-off, one
fsync per file plus one per directory and uidlist for the whole batch); each session still
answers only when its own message is on disk. mailbox_size_limit is checked message by message
inside a batch, so a batch cannot overshoot it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass

from mailsim.live.maildir import MaildirMailbox, StagedMessage
from mailsim.live.mailstore import Delivery, Mailbox, MailStore, deliver_all
from mailsim.policy.host import HostPolicy
from mailsim.policy.reply import SMTPReply, local_unknown_user

__all__ = ["DeliveryReport", "Outcome", "Spool", "new_queue_id"]


def new_queue_id() -> str:
    """Return a queue id in Postfix's short format (upper-case hex, here 10 digits)."""
    return secrets.token_hex(5).upper()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What local delivery did for one recipient, in the event log's words.

    ``status`` is ``delivered``, ``bounced`` or ``deferred``; ``relay`` where it went
    (``local``, or the folder); ``detail`` local(8)'s or the MDA's words.
    """

    recipient: str
    status: str
    dsn: str = ""
    relay: str = "local"
    detail: str = ""
    orig_to: str = ""


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The outcomes of one message, one per delivery target."""

    queue_id: str
    outcomes: tuple[Outcome, ...]

    @property
    def delivered(self) -> tuple[Outcome, ...]:
        """The outcomes that stored (or, by an MDA rule, discarded) a copy."""
        return tuple(outcome for outcome in self.outcomes if outcome.status == "delivered")


class Spool:
    """Deliver accepted mail for one host's local recipients into its mailbox store."""

    def __init__(self, policy: HostPolicy, store: MailStore) -> None:
        self.policy = policy
        self.store = store
        #: one group committer per mailbox: what arrives while a batch is being written
        #: goes to disk together in the next one
        self._committers: dict[str, _GroupCommit] = {}

    async def deliver(
        self, queue_id: str, sender: str, recipients: Sequence[str], message: bytes
    ) -> DeliveryReport:
        """Deliver ``message`` (CRLF line ends, our Received: header first) to every recipient
        and return when all copies are on disk (an OSError leaves the caller to answer 4xx)."""
        headers = _headers(message)
        size = len(message)
        outcomes: list[Outcome] = []
        seen: set[tuple[str, str]] = set()
        for recipient in recipients:
            for kind, value, orig_to, dsn in self._targets(recipient):
                if (kind, value) in seen:
                    continue  # local(8) delivers each destination once
                seen.add((kind, value))
                if kind == "mailbox":
                    outcome = await self._mailbox(value, sender, size, headers, message)
                elif kind == "bounce":
                    outcome = Outcome(value, "bounced", dsn, detail=value)
                else:
                    outcome = Outcome(
                        value, "deferred", "4.3.0", detail=f"{kind} delivery needs the queue"
                    )
                outcomes.append(_with_recipient(outcome, recipient, orig_to))
        return DeliveryReport(queue_id, tuple(outcomes))

    def _targets(self, recipient: str) -> Iterable[tuple[str, str, str, str]]:
        """Yield (kind, value, orig_to, dsn) for one envelope recipient."""
        resolution = self.policy.resolve(recipient)
        if resolution.transport != "local":
            yield ("forward", resolution.recipient, "", "")
            return
        targets = self.policy.expand_local(recipient)
        if not targets:
            user = resolution.recipient.rpartition("@")[0]
            reply = local_unknown_user(user)
            yield ("bounce", reply.text, "", reply.dsn)
            return
        for target in targets:
            yield (
                target.kind,
                target.user if target.kind == "mailbox" else target.value,
                target.orig_to,
                target.dsn,
            )

    async def _mailbox(
        self,
        user: str,
        sender: str,
        size: int,
        headers: tuple[tuple[str, str], ...],
        message: bytes,
    ) -> Outcome:
        """Run the MDA decision for ``user`` and store the copy it asks for."""
        decision = self.policy.mda_decision(user, sender, size, headers)
        if decision.action == "discard":
            return Outcome(user, "delivered", "2.0.0", detail=f"discarded by {decision.rule}")
        folder = decision.folder if decision.action == "folder" else ""
        committer = self._committers.get(user)
        if committer is None:
            committer = self._committers[user] = _GroupCommit(self, user)
        refused = await committer.write(folder, message)
        if refused is not None:
            return Outcome(user, "bounced", refused.dsn, detail=refused.text)
        detail = {
            "folder": f"filed into {folder} by {decision.rule}",
            "forward": f"kept in the inbox: forwarding to {decision.forward_to} needs the queue",
            "vacation": "delivered to mailbox; the vacation reply needs the queue",
        }.get(decision.action, "delivered to mailbox")
        return Outcome(user, "delivered", "2.0.0", folder or "local", detail)

    def write_batch(self, user: str, batch: Sequence[tuple[str, bytes]]) -> list[SMTPReply | None]:
        """Check mailbox_size_limit for each (folder, message) in turn and store the ones it
        lets through with one commit (in a worker thread); return per message its quota bounce,
        or None when it is on disk. An OSError fails the whole batch."""
        mailbox = self.store.mailbox(user)
        used: dict[str, int] = {}
        replies: list[SMTPReply | None] = []
        accepted: list[Delivery] = []
        for folder, message in batch:
            if folder not in used:
                used[folder] = self._used(mailbox, folder)
            quota = self.policy.check_quota(used[folder], len(message), user, folder)
            if quota.ok:
                used[folder] += len(message)
                accepted.append(Delivery(message, folder))
            replies.append(None if quota.ok else quota)
        deliver_all(mailbox, accepted)
        return replies

    @property
    def quota_needs_no_size(self) -> bool:
        """Whether check_quota ignores the mailbox's size: a limit per Maildir message file,
        or no limit."""
        limits = self.policy.limits
        return limits.maildir or limits.mailbox_size_limit <= 0

    def _used(self, mailbox: Mailbox, folder: str) -> int:
        """What check_quota compares with mailbox_size_limit; 0 where it ignores it, so a
        whole maildir is not listed for nothing."""
        if self.quota_needs_no_size:
            return 0
        return mailbox.folder_size(folder) if folder else mailbox.size()


class _GroupCommit:
    """Group commit for one mailbox: deliveries that arrive while a batch is being written wait
    and go to disk together in the next batch, one worker-thread call and one commit for all,
    so 20 sessions delivering at once cost a few fsyncs, not 60. Each writer still gets its
    answer only when its own message is on disk.

    Into a Maildir whose quota needs no listing (a limit per message file, or none) each
    message is checked and *staged* at once, on the event loop (:meth:`MaildirMailbox.stage`:
    the page-cache write of its ``tmp/`` file, tens of microseconds), and the worker thread
    only makes the batch durable (:meth:`MaildirMailbox.commit`: the fsyncs, renames and the
    uidlist append); a worker thread's every system call must win the interpreter lock back
    from the busy event loop, so it should make as few as it can. Other stores get the whole
    batch in the worker (:meth:`Spool.write_batch`).
    """

    def __init__(self, spool: Spool, user: str) -> None:
        self.spool = spool
        self.user = user
        self.mailbox: Mailbox | None = None
        self.staged: list[tuple[StagedMessage, asyncio.Future[SMTPReply | None]]] = []
        self.pending: list[tuple[str, bytes, asyncio.Future[SMTPReply | None]]] = []
        self.running = False

    async def write(self, folder: str, message: bytes) -> SMTPReply | None:
        """Queue one message; return its quota refusal or None once it is on disk."""
        if self.mailbox is None:  # opening repairs what a crash left: off the event loop
            self.mailbox = await asyncio.to_thread(self.spool.store.mailbox, self.user)
        done: asyncio.Future[SMTPReply | None] = asyncio.get_running_loop().create_future()
        if isinstance(self.mailbox, MaildirMailbox) and self.spool.quota_needs_no_size:
            quota = self.spool.policy.check_quota(0, len(message), self.user, folder)
            if not quota.ok:
                return quota
            self.staged.append((self.mailbox.stage(Delivery(message, folder)), done))
        else:
            self.pending.append((folder, message, done))
        if not self.running:
            self.running = True
            task = asyncio.ensure_future(self._drain())
            task.add_done_callback(_retrieve_result)
        return await done

    async def _drain(self) -> None:
        try:
            while self.staged or self.pending:
                staged, self.staged = self.staged, []
                pending, self.pending = self.pending, []
                if staged:
                    assert isinstance(self.mailbox, MaildirMailbox)
                    files = [item for item, _ in staged]
                    await self._settle(
                        [done for _, done in staged],
                        asyncio.to_thread(self._commit_staged, self.mailbox, files),
                    )
                if pending:
                    items = [(folder, message) for folder, message, _ in pending]
                    await self._settle(
                        [done for *_, done in pending],
                        asyncio.to_thread(self.spool.write_batch, self.user, items),
                    )
        finally:
            self.running = False

    @staticmethod
    def _commit_staged(
        mailbox: MaildirMailbox, files: list[StagedMessage]
    ) -> list[SMTPReply | None]:
        mailbox.commit(files)
        return [None] * len(files)

    @staticmethod
    async def _settle(
        waiting: list[asyncio.Future[SMTPReply | None]],
        work: Awaitable[list[SMTPReply | None]],
    ) -> None:
        """Give each waiting writer its reply, or the batch's error (every writer of a failed
        batch answers 4xx)."""
        try:
            replies = await work
        except Exception as error:
            for done in waiting:
                if not done.done():
                    done.set_exception(error)
            return
        for done, reply in zip(waiting, replies, strict=True):
            if not done.done():
                done.set_result(reply)


def _retrieve_result(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


def _with_recipient(outcome: Outcome, recipient: str, orig_to: str) -> Outcome:
    return Outcome(recipient, outcome.status, outcome.dsn, outcome.relay, outcome.detail, orig_to)


def _headers(message: bytes) -> tuple[tuple[str, str], ...]:
    """Return the message's header fields (RFC 5322 section 2.2), unfolded (section 2.2.3: the
    CRLF before a continuation line's white space is removed), for the MDA's recipes, which
    match a field's value as the simulation's workload headers give it: on one line.

    The header section ends at the first empty line, or, as Python's email parser has it, at
    the first line that is neither a field nor a continuation; a misplaced ``From `` envelope
    line and a field without a name are skipped (and end the field before them). Values are
    UTF-8 (invalid bytes replaced) with leading white space removed.
    """
    end = message.find(b"\r\n\r\n")
    fields: list[tuple[str, str]] = []
    open_field = False  # whether a continuation line belongs to the last field
    for line in (message if end < 0 else message[:end]).split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if open_field:  # a continuation: the CRLF goes, the white space stays
                field, text = fields[-1]
                fields[-1] = (field, text + line.decode("utf-8", "replace"))
            continue
        open_field = False
        if line.startswith(b"From "):
            continue
        name, colon, value = line.partition(b":")
        if colon and not name:  # no field name: skipped, as the email parser does
            continue
        if not colon or not _FIELD_NAME.fullmatch(name):
            break
        fields.append((name.decode("ascii"), value.lstrip(b" \t").decode("utf-8", "replace")))
        open_field = True
    return tuple(fields)


#: RFC 5322 section 3.6.8: a field name is printable ASCII but ":" and space
_FIELD_NAME = re.compile(rb"[!-9;-~]+")
