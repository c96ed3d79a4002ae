"""The smtpd of a host whose scenario gives it faults (a healthy host never runs this code).

:class:`FaultySMTPD` wraps three steps of :class:`~mailsim.sim.mta.MTANode`'s smtpd and asks the
host's :class:`~mailsim.sim.faults.ServerFaults` at each, on the scenario clock:

* connect: a host that is down does not answer (only a mail client gets here, smtp(8) looks
  first; the client gives the message up, logged as its ``connect_fail``); over the session limit,
  or with a ``connect`` rule, the greeting is the refusal (RFC 5321 3.1: 554, or 421 service not
  available) and the connection closes. Open sessions are the smtpd's busy processes plus the
  connections waiting for one, so the limit costs nothing to keep;
* EHLO: a ``helo`` rule ends the session after the banner and EHLO round trips;
* MAIL FROM, RCPT TO and the end of DATA: the policy answers first, then ``mail`` rules, ``rcpt``
  rules and greylisting (for the recipients the policy accepted, as a policy server runs after
  Postfix's built-in restrictions; clients in mynetworks and SASL-authenticated ones are not
  greylisted, as with ``permit_mynetworks, permit_sasl_authenticated`` before
  ``check_policy_service``), then message_size_limit and ``data`` rules.

Every refusal is logged as an smtpd ``reject`` in Postfix's words (``CONNECT from client: 421
...``, ``EHLO from ...``, ``RCPT from ...``) and answered with a
:class:`~mailsim.sim.faults.SessionRefusal` that tells the client at which stage it happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import simpy

from mailsim.policy import SMTPReply
from mailsim.sim.faults import ServerFaults, SessionRefusal
from mailsim.sim.records import SMTPTransaction

if TYPE_CHECKING:
    from mailsim.sim.mta import Decision, MTANode

__all__ = ["FaultySMTPD"]


class FaultySMTPD:
    """Connect, serve, envelope and end-of-data steps of one host's smtpd, with its faults."""

    def __init__(self, node: MTANode, faults: ServerFaults) -> None:
        self.node = node
        self.faults = faults
        self.env = node.env
        self._mynetworks: dict[str, bool] = {}

    def connect(self, tx: SMTPTransaction) -> None:
        """A client connects: down, refused at the greeting, or on to an smtpd process."""
        node = self.node
        now = self.env._now
        if self.faults.down(now):
            where = f"{node.name}[{node.address}]:25"
            node.sim.log.emit(
                now,
                tx.client_name,
                "client",
                "connect_fail",
                tx.msg,
                sender=tx.sender,
                size=tx.size,
                dsn="4.4.1",
                relay=where,
                detail=f"connect to {where}: Connection timed out",
            )
            return
        smtpd = node.smtpd
        refusal = self.faults.connect(smtpd.busy + len(smtpd.queue), now)
        if refusal is None:
            smtpd.arrive(tx)
            return
        label = tx.client_label or tx.label()
        node.emit("smtpd", "connect", tx.msg, relay=label)
        reply = refusal.reply
        said = str(reply) if reply is not None else "connection closed without greeting"
        dsn = reply.dsn if reply is not None else ""
        detail = f"CONNECT from {label}: {said}"
        node.emit("smtpd", "reject", tx.msg, size=tx.size, dsn=dsn, relay=label, detail=detail)
        if tx.on_reply is not None:
            tx.on_reply(refusal)

    def serve(self, tx: SMTPTransaction) -> None:
        """An smtpd process takes the connection; an EHLO refusal ends the session after the
        banner and EHLO round trips, otherwise the session runs as on a healthy host."""
        node = self.node
        now = self.env._now
        reply = self.faults.helo(now)
        if reply is None:
            node.smtpd_serve(tx)
            return
        tx.connected_at = now
        node.emit("smtpd", "connect", tx.msg, relay=tx.client_label or tx.label())
        latency = node.sim.network.latency(tx.client_address, node.name)
        delay = next(node.smtpd_sampler) + 4.0 * latency
        simpy.events.Timeout(self.env, delay, (tx, reply)).callbacks.append(self._refuse_helo)

    def _refuse_helo(self, event: Any) -> None:
        tx, reply = event._value
        detail = f"EHLO from {tx.client_label}: {reply}"
        self.node.emit(
            "smtpd", "reject", tx.msg, dsn=reply.dsn, relay=tx.client_label, detail=detail
        )
        self.node.smtpd.release()
        if tx.on_reply is not None:
            tx.on_reply(SessionRefusal({}, stage="helo", reply=reply))

    def decide_envelope(self, tx: SMTPTransaction) -> Decision:
        """The policy's answers to MAIL FROM and RCPT TO, then the faults'."""
        node = self.node
        decision = node.decide_envelope(tx)
        mail, replies, _, sender = decision
        now = self.env._now
        refused = self.faults.mail(now) if mail.ok else None
        if refused is not None:
            return refused, {}, [], sender
        changed: dict[str, SMTPReply] | None = None
        greylist = not (tx.sasl_username or self._trusted(tx.client_address))
        for rcpt, reply in replies.items():
            if reply.ok:
                fault = self.faults.recipient(now, tx.client_address, tx.sender, rcpt, greylist)
                if fault is not None:
                    changed = dict(replies) if changed is None else changed
                    changed[rcpt] = fault
        if changed is None:
            return decision
        accepted = [node.canonicalize(rcpt) for rcpt, reply in changed.items() if reply.ok]
        return mail, changed, accepted, sender

    def _trusted(self, client: str) -> bool:
        """Return whether ``client`` is in mynetworks (cached per address)."""
        found = self._mynetworks.get(client)
        if found is None:
            found = self._mynetworks[client] = self.node.policy.in_mynetworks(client)
        return found

    def end_of_data(self, size: int) -> SMTPReply:
        """message_size_limit, then a ``data`` rule answering the end of DATA."""
        reply = self.node.policy.limits.check_message_size(size)
        if not reply.ok:
            return reply
        return self.faults.data(self.env._now) or reply
