"""Crash safety: SIGKILL the server while clients send; every message that got a 250 survives.

The server runs as its own process (``smtp_fakes.py`` serving the lecture host from real
Maildir mailboxes). Four clients send 60 to 120 kB messages to two local users each, as fast
as the server takes them, and note every message the server acknowledged. Once 12 have been
acknowledged the test kills the server with SIGKILL, in the middle of other transfers and
deliveries. It then starts the server again on the same mailboxes (which must recover) and
checks, for both users:

* every acknowledged message is in the mailbox, byte for byte;
* every message in the mailbox is complete: one the clients sent, byte for byte (a message
  the kill interrupted may be there or not, but never in part);
* the restarted server takes mail again.
"""

from __future__ import annotations

import hashlib
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mailsim.live.store import open_store

from smtp_fakes import GUARD_S, Client

SERVER = Path(__file__).with_name("smtp_fakes.py")
CLIENTS = 4
KILL_AFTER = 12
USERS = ("jura", "nekdo")


@contextmanager
def server_process(root: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Run the server process on ``root``; yield it with the port from the ``PORT <n>`` line
    it prints once listening; kill it (if still alive) on the way out."""
    with subprocess.Popen(
        [sys.executable, str(SERVER), str(root)], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], GUARD_S * 3)
            line = process.stdout.readline() if ready else ""
            assert line.startswith("PORT "), f"server did not start: {line!r}"
            yield process, int(line.split()[1])
        finally:
            process.kill()


def payload(client: int, number: int) -> tuple[str, bytes]:
    """A message with a unique Message-ID and a body of hash lines (60 to 120 kB)."""
    message_id = f"<{client}.{number}@crash.firma1.intr>"
    seed = hashlib.sha256(message_id.encode()).hexdigest()
    lines = [f"Message-ID: {message_id}", f"Subject: crash {client}/{number}", ""]
    for index in range(900 + (int(seed[:4], 16) % 900)):
        lines.append(hashlib.sha256(f"{seed}{index}".encode()).hexdigest())
    return message_id, ("\r\n".join(lines) + "\r\n").encode()


class Sender(threading.Thread):
    """One client sending messages until the server goes away."""

    def __init__(self, number: int, port: int, acked: list[str], enough: threading.Event):
        super().__init__(daemon=True)
        self.number, self.port, self.acked, self.enough = number, port, acked, enough
        self.sent: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def run(self) -> None:
        try:
            with Client(self.port) as client:
                client.reply()
                for count in range(10_000):
                    message_id, data = payload(self.number, count)
                    self.sent[message_id] = data
                    client.command("MAIL FROM:<anna@firma2.intr>")
                    for user in USERS:
                        client.command(f"RCPT TO:<{user}@firma1.intr>")
                    client.command("DATA")
                    client.send(data + b".\r\n")
                    if not client.reply().startswith("250 2.0.0 Ok: queued as"):
                        return
                    with self.lock:
                        self.acked.append(message_id)
                        if len(self.acked) >= KILL_AFTER:
                            self.enough.set()
        except OSError:
            return  # the server was killed


def stored_messages(root: Path, user: str) -> dict[str, bytes]:
    """The messages in ``user``'s INBOX by Message-ID, without our Received: header."""
    mailbox = open_store(root, "maildir").mailbox(user)
    found: dict[str, bytes] = {}
    for record in mailbox.messages():
        data = mailbox.read(record.key)
        assert data.startswith(b"Received: "), data[:80]
        body = data[data.index(b"\r\nMessage-ID: ") + 2 :]
        message_id = body.split(b"\r\n", 1)[0].decode().removeprefix("Message-ID: ")
        assert message_id not in found, f"{message_id} stored twice"
        found[message_id] = body
    return found


def test_sigkill_while_clients_send_loses_no_acknowledged_message(tmp_path: Path) -> None:
    acked: list[str] = []
    enough = threading.Event()
    with server_process(tmp_path) as (process, port):
        senders = [Sender(number, port, acked, enough) for number in range(CLIENTS)]
        for sender in senders:
            sender.start()
        assert enough.wait(GUARD_S * 6), "the server acknowledged too few messages"
        process.send_signal(signal.SIGKILL)
        assert process.wait(GUARD_S) == -signal.SIGKILL
        for sender in senders:
            sender.join(GUARD_S)
    sent = {mid: data for sender in senders for mid, data in sender.sent.items()}
    assert len(acked) >= KILL_AFTER

    with server_process(tmp_path) as (process, port), Client(port) as client:
        client.reply()  # the server starts again on the same mailboxes and takes mail
        client.command("MAIL FROM:<anna@firma2.intr>")
        client.command("RCPT TO:<jura@firma1.intr>")
        client.command("DATA")
        after_id, after = payload(99, 0)
        client.send(after + b".\r\n")
        assert client.reply().startswith("250 2.0.0 Ok: queued as")
    sent[after_id] = after

    for user in USERS:
        stored = stored_messages(tmp_path, user)
        missing = [message_id for message_id in acked if message_id not in stored]
        assert not missing, f"{user}: acknowledged but lost: {missing}"
        for message_id, data in stored.items():
            assert data == sent[message_id], f"{user}: {message_id} stored in part"
    assert after_id in stored_messages(tmp_path, "jura")
