"""Drive the live lab with workload arrivals: the records the simulation consumes, sent for real.

Every :class:`~mailsim.workload.Arrival` (from a scenario's streams, an organisation, or a
replayed Postfix log) becomes one SMTP transaction with aiosmtplib, at its time divided by
``time_scale`` (60: an hour of the workload in a minute of wall time; the lab's event log counts
scenario seconds at the same scale):

* the client is routed as in the simulation: to ``connect_to`` or the sender's submit host, on
  the arrival's service or the user's (``submission``: STARTTLS with the lab CA, then AUTH
  PLAIN as the user, RFC 4954); a sender who is not a scenario user, or one without a password,
  talks plain SMTP to port 25. Lab clients connect from 127.0.0.1, so mynetworks decides as for a
  LAN client (a lab host's mynetworks holds 127.0.0.0/8 where the scenario says so);
* the message carries ``X-Mailsim-Id: m<arrival.msg>``, so the lab's rows for it use the
  workload's message number, as the simulation's do, and the two runs can be compared message by
  message; it has the arrival's headers and is padded to the arrival's size;
* the driver logs the simulation's ``submit`` row (node: the sender, relay: the target host).

Refusals are the servers' business (they log ``reject``); :class:`DriveStats` counts what the
clients saw.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiosmtplib

from mailsim.live.events import TRACE_HEADER
from mailsim.workload.records import Arrival

if TYPE_CHECKING:
    from mailsim.live.lab import Lab
    from mailsim.scenario.model import User

__all__ = ["DriveStats", "compose", "drive"]

#: a guard for one client transaction (seconds); the lab answers in milliseconds
TRANSACTION_TIMEOUT_S = 60.0


@dataclass(slots=True)
class DriveStats:
    """What the clients saw: transactions sent, accepted (250 after DATA), refused (by reply
    code, for the first refusal of a transaction), failed (no answer: a connection error)."""

    submitted: int = 0
    accepted: int = 0
    refused: Counter[int] = field(default_factory=Counter)
    failed: int = 0

    def __str__(self) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.refused.items())) or "none"
        return (
            f"{self.submitted} submitted, {self.accepted} accepted, refused {codes}, "
            f"{self.failed} failed"
        )


def compose(arrival: Arrival, domain: str = "mailsim.invalid") -> bytes:
    """The message an arrival stands for: trace, origin and the arrival's headers, then body
    lines up to ``arrival.size`` octets (RFC 5322, CRLF line ends, lines under 78 octets)."""
    named = {name.lower() for name, _ in arrival.headers}
    lines = [f"{TRACE_HEADER}: m{arrival.msg}", f"Message-ID: <mailsim.m{arrival.msg}@{domain}>"]
    if "from" not in named:
        lines.append(f"From: <{arrival.sender}>" if arrival.sender else "From: <>")
    if "to" not in named:
        lines.append("To: " + ", ".join(f"<{r}>" for r in arrival.recipients[:3]))
    if "subject" not in named:
        lines.append(f"Subject: mailsim message m{arrival.msg}")
    lines += [f"{name}: {value}" for name, value in arrival.headers]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    body = bytearray()
    filler = b"mailsim " * 9 + b"\r\n"
    while len(head) + len(body) + len(filler) <= arrival.size:
        body += filler
    rest = arrival.size - len(head) - len(body)
    if rest > 2:
        body += b"x" * (rest - 2) + b"\r\n"
    return head + bytes(body)


async def drive(
    lab: Lab,
    arrivals: Iterable[Arrival],
    *,
    time_scale: float = 1.0,
    concurrency: int = 20,
) -> DriveStats:
    """Send every arrival to the running ``lab`` at its time / ``time_scale``, at most
    ``concurrency`` transactions at once; return when all are done."""
    if time_scale <= 0:
        raise ValueError(f"time_scale must be positive, not {time_scale!r}")
    if lab.events is None:
        raise RuntimeError("the lab has not started")
    users = {user.address.lower(): user for user in lab.scenario.users}
    stats = DriveStats()
    gate = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    for arrival in arrivals:
        delay = started + arrival.t / time_scale - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # the workload's clock, not a wait for readiness
        await gate.acquire()
        task = asyncio.ensure_future(
            _submit(lab, arrival, users.get(arrival.sender.lower()), stats)
        )
        task.add_done_callback(lambda done: gate.release())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    return stats


async def _submit(lab: Lab, arrival: Arrival, user: User | None, stats: DriveStats) -> None:
    """One client transaction, routed as the simulation routes it (see the module docstring)."""
    assert lab.events is not None
    host = arrival.connect_to or (user.submit_host or user.host if user else "")
    service = arrival.service or (user.submit_service if user else "smtp")
    ports = lab.ports.get(host, {})
    if service != "submission" or not (user and user.password) or "submission" not in ports:
        service = "smtp"
    address = lab.address(host)
    lab.events.seen_msg(arrival.msg)
    lab.events.emit(
        user.address if user else f"[{arrival.client_address}]",
        "client",
        "submit",
        msg=arrival.msg,
        sender=arrival.sender,
        size=arrival.size,
        relay=host,
        detail=f"{service} nrcpt={len(arrival.recipients)}",
    )
    stats.submitted += 1
    client = aiosmtplib.SMTP(
        hostname=address, port=ports[service], start_tls=False, timeout=TRANSACTION_TIMEOUT_S
    )
    try:
        await client.connect()
        if client.transport is not None:  # the server's rows will name the workload's message
            local = client.transport.get_extra_info("sockname")
            lab.events.announce((str(local[0]), int(local[1])), arrival.msg)
        if service == "submission" and user is not None:
            await client.starttls(tls_context=lab.client_context(), server_hostname=host)
            await client.login(user.address, user.password)
        refused, _ = await client.sendmail(
            arrival.sender, list(arrival.recipients), compose(arrival, host.partition(".")[2])
        )
        stats.accepted += 1
        for reply in refused.values():
            stats.refused[reply.code] += 1
            break
    except aiosmtplib.SMTPRecipientsRefused as error:
        stats.refused[error.recipients[0].code] += 1
    except aiosmtplib.SMTPResponseException as error:
        stats.refused[error.code] += 1
    except (aiosmtplib.SMTPException, OSError):
        stats.failed += 1
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
