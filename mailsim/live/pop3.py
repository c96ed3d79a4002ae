"""The live POP3 and POP3S server: the sans-IO core on asyncio transports (RFC 1939, 2595, 8314).

One :class:`POP3Session` (an ``asyncio.Protocol``) per connection feeds what it receives to a
:class:`~mailsim.protocol.pop3.POP3Connection` and acts on the core's events against a mail store
(:class:`~mailsim.live.mailstore.MailStore`) and a passdb (``verify(user, password) -> bool``):

- login: check the password, hold the maildrop's ``exclusive()`` lock for the rest of the session
  (RFC 1939 section 8; a second session gets ``-ERR [IN-USE]``, RFC 2449 section 8) and take a
  snapshot of its messages; RETR and TOP read from the store;
- QUIT is the UPDATE state (RFC 1939 section 6): the marked messages are deleted, the retrieved
  ones flagged seen, then the reply and the close. A session that ends any other way (client
  gone, idle timeout, server closed) deletes nothing and releases the lock;
- STLS (RFC 2595 section 4): the ``+OK``, then ``loop.start_tls``. Reading is paused from the
  moment STLS is processed and the core drops anything the client pipelined after it, so no
  plaintext command can pass as if it had come over TLS. What the client sends over TLS may
  arrive before ``start_tls`` has returned (see :meth:`POP3Session._handshake`); it waits in the
  core until the session has its TLS transport. POP3S (RFC 8314 section 3.3, port 995) is TLS
  from the first byte: ``implicit_tls=True``.

Plaintext credentials (USER/PASS, AUTH PLAIN) without TLS are taken only from a loopback peer and
only when ``allow_plaintext`` (the classroom default; RFC 2595 section 2.3 asks for the switch)
and the passdb's ``cleartext_allowed``, if it has one, agree; CAPA lists USER and SASL PLAIN
before STLS exactly when they would be accepted. The greeting is
``+OK mailsim ready.``; ``login_greeting="dovecot ready."`` gives the lecture's Dovecot line.

Why ``loop.create_server`` with a protocol and not ``asyncio.start_server``: a StreamReader keeps
the bytes that came after STLS in its own buffer and hands them out after the upgrade -- the
STARTTLS command-injection hole. A protocol sees every byte, and the core can drop them.

With an event log (``events``, a :class:`~mailsim.live.events.LiveEventLog`) the server writes
the simulation's ``fetched`` row (DESIGN.md section 3) when a RETR has sent a message whole, once
per message and session (TOP does not count): ``node`` and daemon ``pop3d``, ``msg`` from the
message's trace header (``X-Mailsim-Id``; none: 0), ``recipient`` the user's address, ``size``
its octets as the ``+OK`` said, ``relay`` the client's IP address and ``detail`` ``pop3``. The
row is written once the whole reply is on the transport -- for a reply big enough to fill the
transport's buffer, once the client has read all but its low-water mark -- and not at all when
the client is gone before that.

Store and passdb calls are synchronous and run on the event loop (a lab serves a classroom, and
the store's ``exclusive()`` lock is entered and left on one thread).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from contextlib import AbstractContextManager
from typing import Protocol

from mailsim.live.events import LiveEventLog, trace_id
from mailsim.live.mailstore import Mailbox, MailboxBusy, MailStore, pop3_uidl
from mailsim.protocol.pop3 import (
    ERR_AUTH_FAILED,
    ERR_IN_USE,
    ERR_SYS_TEMP,
    ERR_UPDATE_FAILED,
    R_IDLE_TIMEOUT,
    Answer,
    Answered,
    AuthRequested,
    Greeting,
    LoginAccepted,
    MessageContent,
    MessageInfo,
    POP3Connection,
    POP3State,
    Quit,
    RemoteProtocolError,
    Retrieve,
    Retrieved,
    StartTLS,
    TLSReady,
    Updated,
    Wait,
)

__all__ = ["POP3Server", "POP3Session", "PassDB", "plaintext_permitted", "recipient_address"]

log = logging.getLogger(__name__)


class PassDB(Protocol):
    """What POP3 needs of a password database. One that also has ``check(user, password) ->
    login | None`` and ``cleartext_allowed(address, secured) -> bool``, as
    :class:`mailsim.live.passdb.PassDB` does, is asked those: ``check`` maps ``Jura@firma1.intr``
    to the maildrop ``jura``, ``cleartext_allowed`` is Dovecot's ``auth_allow_cleartext``. One
    with ``address(login) -> str | None`` names the user's mail address for the event log (see
    :func:`recipient_address` for the rule without it)."""

    def verify(self, user: str, password: str) -> bool: ...


def _loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host == "localhost"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def recipient_address(login: str, user: str, node: str) -> str:
    """The mail address the event log names for a POP3 login (its ``fetched`` ``recipient``).

    ``login`` is the maildrop's owner as the passdb answered, ``user`` the name the client
    logged in with: an address as it is, else ``login`` at the domain ``user`` gave
    (``Jura@Firma1.intr`` -> ``jura@firma1.intr``), else at Postfix's default ``$mydomain`` of
    the ``node`` (its name without the first label: ``neo.firma1.intr`` -> ``firma1.intr``),
    which is the domain of the scenario's users of that host; a bare ``login`` for a node
    without one."""
    if "@" in login:
        return login
    if "@" in user:
        return f"{login}@{user.rpartition('@')[2].lower()}"
    domain = node.partition(".")[2].lower().rstrip(".")
    return f"{login}@{domain}" if domain else login


def plaintext_permitted(peer_host: str, allow_plaintext: bool) -> bool:
    """Return whether a client at ``peer_host`` may send a password without TLS: only when the
    scenario allows it and only from loopback (RFC 2595 section 2.3)."""
    return allow_plaintext and _loopback(peer_host)


class POP3Session(asyncio.Protocol):
    """One client connection of a :class:`POP3Server` (see the module docstring)."""

    def __init__(self, server: POP3Server) -> None:
        self._server = server
        self._conn = POP3Connection(
            secure=server.implicit_tls, tls_available=server.ssl_context is not None
        )
        self._transport: asyncio.Transport
        #: The client as ``[address]:port``, for the log.
        self.peer = "unknown"
        self._mailbox: Mailbox | None = None
        #: The client's IP address, and the logged-in user's mail address (event log).
        self.client_address = ""
        self.recipient = ""
        self._lock: AbstractContextManager[None] | None = None
        self._flags: dict[str, frozenset[str]] = {}
        self._idle: asyncio.TimerHandle | None = None
        self._upgrading = False
        #: Set while the transport takes more output (cleared by pause_writing): what
        #: StreamWriter.drain() waits for.
        self._writable = asyncio.Event()
        self._writable.set()
        self._tls_task: asyncio.Task[None] | None = None
        #: Done when the connection is gone and the maildrop lock released.
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) else ""
        self.client_address = host
        self.peer = f"[{host}]:{peer[1]}" if isinstance(peer, tuple) else "unknown"
        self._conn.plaintext_allowed = self._cleartext_allowed(host)
        self._server.sessions.add(self)
        log.info("pop3 connect from %s", self.peer)
        self._write(self._conn.send(Greeting(self._server.login_greeting)))
        self._touch()

    def data_received(self, data: bytes) -> None:
        self._touch()
        self._conn.receive_data(data)
        if not self._upgrading:
            self._pump()
        # else: the client's first bytes over TLS, read together with its last handshake
        # message; _handshake runs them once the session has its TLS transport

    def pause_writing(self) -> None:
        """The client reads slower than we write: stop taking commands until it catches up."""
        self._writable.clear()
        if not self._upgrading:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._writable.set()
        self._touch()  # the client is reading: not idle
        if not self._upgrading and not self._transport.is_closing():
            self._transport.resume_reading()
            self._pump()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        if self._tls_task is not None and not self._tls_task.done():
            self._tls_task.cancel()  # e.g. still waiting for the +OK to drain
        self._release()
        self._server.sessions.discard(self)
        log.info("pop3 disconnect from %s", self.peer)
        if not self.closed.done():
            self.closed.set_result(None)

    def abort(self) -> None:
        """Drop the connection at once (server shutdown); nothing is deleted."""
        if self._tls_task is not None:
            self._tls_task.cancel()
        self._transport.abort()

    # --- the core's events -------------------------------------------------------------------

    def _pump(self) -> None:
        """Run every complete command line buffered, in order (RFC 2449 PIPELINING)."""
        while self._writable.is_set() and not (self._upgrading or self._transport.is_closing()):
            try:
                event = self._conn.next_event()
            except RemoteProtocolError as exc:
                self._write(exc.reply)
                continue
            if isinstance(event, Wait):
                break
            if isinstance(event, Answered):
                self._write(event.reply)
            elif isinstance(event, StartTLS):
                self._start_tls()
            elif isinstance(event, Retrieved):
                self._fetched(event)
            else:
                self._write(self._conn.send(self._answer(event)))
        if self._conn.state is POP3State.CLOSED and not self._transport.is_closing():
            self._transport.close()

    def _answer(self, event: AuthRequested | Retrieve | Quit) -> Answer:
        """Act on one event; the session boundary, where any failure becomes ``-ERR``."""
        try:
            if isinstance(event, AuthRequested):
                return self._login(event)
            if isinstance(event, Retrieve):
                return MessageContent(self._maildrop().read(event.key))
            return self._update(event)
        except Exception:
            log.exception("pop3 %s: %s failed", self.peer, type(event).__name__)
            return ERR_UPDATE_FAILED if isinstance(event, Quit) else ERR_SYS_TEMP

    def _cleartext_allowed(self, host: str) -> bool:
        """The server's rule (loopback, ``allow_plaintext``) and the passdb's, if it has one."""
        ask = getattr(self._server.passdb, "cleartext_allowed", None)
        permitted = plaintext_permitted(host, self._server.allow_plaintext)
        return permitted and (ask is None or bool(ask(host, False)))

    def _check(self, user: str, password: str) -> str | None:
        """The login name (the maildrop's owner) if ``password`` is ``user``'s, else None."""
        check = getattr(self._server.passdb, "check", None)
        if check is None:
            return user if self._server.passdb.verify(user, password) else None
        login = check(user, password)
        return login if isinstance(login, str) else None

    def _login(self, event: AuthRequested) -> Answer:
        login = self._check(event.user, event.password)
        if login is None:
            log.info("pop3 %s: auth failed user=<%s>", self.peer, event.user)
            return ERR_AUTH_FAILED
        mailbox = self._server.store.mailbox(login)
        lock = mailbox.exclusive()
        try:
            lock.__enter__()
        except MailboxBusy:
            log.info("pop3 %s: user=<%s> maildrop in use", self.peer, login)
            return ERR_IN_USE
        self._lock = lock
        try:
            uidvalidity, messages = mailbox.uidvalidity, mailbox.messages()
        except BaseException:  # no session without its snapshot: give the maildrop back
            self._release()
            raise
        self._mailbox = mailbox
        self._flags = {m.key: m.flags for m in messages}
        self.recipient = self._address(login, event.user)
        log.info("pop3 %s: login user=<%s> method=%s", self.peer, login, event.mechanism)
        return LoginAccepted(
            tuple(MessageInfo(m.key, m.size, pop3_uidl(m.uid, uidvalidity)) for m in messages)
        )

    def _address(self, login: str, user: str) -> str:
        ask = getattr(self._server.passdb, "address", None)
        found = ask(login) if ask is not None else None
        if isinstance(found, str) and found:
            return found
        return recipient_address(login, user, self._server.node)

    def _fetched(self, event: Retrieved) -> None:
        """A RETR sent the message whole (the core says so once per message): log ``fetched``."""
        events = self._server.events
        if events is None:
            return
        try:
            events.emit(
                self._server.node,
                "pop3d",
                "fetched",
                msg=trace_id(event.data),
                recipient=self.recipient,
                size=event.size,
                relay=self.client_address,
                detail="pop3",
            )
        except Exception:  # a full disk under the CSV must not end the session
            log.exception("pop3 %s: logging the fetch of message %d failed", self.peer, event.msg)

    def _update(self, event: Quit) -> Answer:
        """RFC 1939 section 6: remove the messages marked as deleted, durably, then reply."""
        mailbox = self._maildrop()
        if event.deleted:
            mailbox.delete(event.deleted)
        try:
            for key in event.seen:
                if "S" not in self._flags[key]:
                    mailbox.set_flags(key, self._flags[key] | {"S"})
        except (OSError, KeyError):  # deletions done; a lost \Seen flag is not worth an -ERR
            log.exception("pop3 %s: flagging retrieved messages seen failed", self.peer)
        return Updated()

    def _maildrop(self) -> Mailbox:
        assert self._mailbox is not None, "no maildrop before login"
        return self._mailbox

    def _release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.__exit__(None, None, None)

    # --- STLS, idle timeout, output ----------------------------------------------------------

    def _start_tls(self) -> None:
        """STLS: no plaintext byte is read from here on (the core's buffer, which may hold
        commands pipelined after STLS, is cleared by ``send(TLSReady())``), then ``+OK``."""
        self._upgrading = True
        self._transport.pause_reading()
        self._write(self._conn.send(TLSReady()))
        self._tls_task = asyncio.get_running_loop().create_task(self._handshake())

    async def _handshake(self) -> None:
        """Put TLS under the session, then serve what the client has sent over it.

        First the ``+OK`` (and anything before it) must drain, as ``StreamWriter.start_tls``
        drains: the SSL protocol must not inherit a transport whose writing is paused, or
        nobody would resume it. Then ``loop.start_tls``. Its SSL protocol completes the
        handshake in a ``data_received`` of its own and, in that same call, before this
        coroutine can resume, passes on any application data that came in the same read --
        with TLS 1.3 the client speaks first once it has sent its Finished, so its first
        command (curl's CAPA) often shares a segment with it on a busy machine. That data
        reaches :meth:`data_received` while ``_upgrading``; the core keeps it (it is secure
        now, its plaintext buffer already dropped) and :meth:`_pump` runs it below. It can only
        be TLS data: reading on the plain transport stopped at STLS, and from the hand-over on
        every byte goes through the SSL protocol.
        """
        context = self._server.ssl_context
        assert context is not None
        try:
            await self._writable.wait()
            transport = await asyncio.get_running_loop().start_tls(
                self._transport,
                self,
                context,
                server_side=True,
                ssl_handshake_timeout=self._server.tls_handshake_timeout_s,
            )
        except OSError as exc:  # SSLError, reset, handshake timeout: start_tls closed the socket
            log.info("pop3 %s: STLS handshake failed: %s", self.peer, exc)
            return
        if transport is None:
            self._transport.close()
            return
        self._transport = transport
        self._upgrading = False
        self._touch()
        self._pump()

    def _touch(self) -> None:
        """Restart the autologout timer (RFC 1939 section 3)."""
        if self._idle is not None:
            self._idle.cancel()
        if self.closed.done():
            return
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self._server.idle_timeout_s, self._on_idle)

    def _on_idle(self) -> None:
        """Autologout. A client that has stopped reading gets no graceful close: ``close()``
        would wait for output nobody takes, keeping the session and its maildrop lock."""
        log.info("pop3 %s: disconnected for inactivity", self.peer)
        if not self._upgrading:
            self._write(R_IDLE_TIMEOUT)
        if self._transport.get_write_buffer_size():
            self._transport.abort()
        else:
            self._transport.close()

    def _write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)


class POP3Server:
    """A POP3 (port 110) or POP3S (port 995, ``implicit_tls``) listener on a loopback address.

    ``ssl_context`` (a server-side :class:`ssl.SSLContext`) enables STLS, or is the POP3S
    context; ``port=0`` lets the system choose (read :attr:`port` after :meth:`start`).
    ``idle_timeout_s``: RFC 1939 section 3 wants at least 10 minutes, the default.
    ``events``: the lab's event log, given a ``fetched`` row for each message a client
    retrieves (see the module docstring); None logs nothing. ``node``: the host name the rows
    name (``neo.firma1.intr``); the default domain of the users' addresses is taken from it.
    """

    def __init__(
        self,
        store: MailStore,
        passdb: PassDB,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        allow_plaintext: bool = True,
        idle_timeout_s: float = 600.0,
        tls_handshake_timeout_s: float = 30.0,
        login_greeting: str = "mailsim ready.",
        events: LiveEventLog | None = None,
        node: str = "",
    ) -> None:
        if not _loopback(host):  # DESIGN.md section 2: nothing listens beyond 127.0.0.0/8
            raise ValueError(f"POP3Server listens on loopback only, not {host!r}")
        if implicit_tls and ssl_context is None:
            raise ValueError("implicit_tls (POP3S) needs an ssl_context")
        if idle_timeout_s <= 0 or tls_handshake_timeout_s <= 0:
            raise ValueError(f"Non-positive timeout {min(idle_timeout_s, tls_handshake_timeout_s)}")
        self.store = store
        self.passdb = passdb
        self.host = host
        self.ssl_context = ssl_context
        self.implicit_tls = implicit_tls
        self.allow_plaintext = allow_plaintext
        self.idle_timeout_s = idle_timeout_s
        self.tls_handshake_timeout_s = tls_handshake_timeout_s
        self.login_greeting = login_greeting
        self.events = events
        self.node = node
        self.sessions: set[POP3Session] = set()
        self._port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen; connections are served as soon as this returns."""
        if self._server is not None:
            raise RuntimeError("POP3Server already started")
        implicit = self.ssl_context if self.implicit_tls else None
        self._server = await asyncio.get_running_loop().create_server(
            lambda: POP3Session(self),
            self.host,
            self._port,
            ssl=implicit,
            ssl_handshake_timeout=self.tls_handshake_timeout_s if implicit else None,
        )

    @property
    def port(self) -> int:
        """The port listened on (the chosen one when created with ``port=0``)."""
        if self._server is None:
            raise RuntimeError("POP3Server not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and drop every session (no UPDATE: nothing is deleted)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        sessions = list(self.sessions)
        for session in sessions:
            session.abort()
        if sessions:
            await asyncio.wait_for(asyncio.gather(*(s.closed for s in sessions)), timeout=10)
        await server.wait_closed()

    async def __aenter__(self) -> POP3Server:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
