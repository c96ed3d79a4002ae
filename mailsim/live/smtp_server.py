"""The live smtpd of one host: a listener per service on the host's loopback address.

DESIGN.md section 2: every host of a live lab has its own address in 127.0.0.0/8 and its
services on the standard ports (25 smtp, 587 submission, 465 smtps) or a lab-wide offset.
:class:`SMTPServer` opens the listeners, each a :class:`~mailsim.live.smtp.MailsimSMTP` per
connection with the service's master.cf overrides, all sharing one
:class:`~mailsim.live.smtp_handler.PolicyHandler` and one
:class:`~mailsim.live.spool.Spool`. Port 0 asks the kernel for a free port (tests); the ports
actually bound are in :attr:`SMTPServer.ports`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import Mapping
from ipaddress import ip_address, ip_network
from types import TracebackType
from typing import Any

from mailsim.live.events import LiveEventLog
from mailsim.live.mailstore import MailStore
from mailsim.live.passdb import CLASSROOM, AuthSettings, PassDB
from mailsim.live.smtp import MailsimSMTP
from mailsim.live.smtp_handler import PolicyHandler
from mailsim.live.smtp_settings import SERVICES, ConnectionGate, SMTPDSettings
from mailsim.live.spool import Spool
from mailsim.policy.host import HostPolicy
from mailsim.scenario.model import Host, Scenario

__all__ = ["LOOPBACK", "SMTPServer", "live_host"]

#: The only network a live lab listens on (DESIGN.md section 2).
LOOPBACK = ip_network("127.0.0.0/8")


def live_host(host: Host) -> Host:
    """Return ``host`` as a live node runs it: mail_name ``mailsim`` unless the scenario sets
    one, so the banner says which software answers (``220 neo.firma1.intr ESMTP mailsim``)."""
    if "mail_name" in host.postfix.explicit:
        return host
    return dataclasses.replace(host, postfix=host.postfix.with_values(mail_name="mailsim"))


class SMTPServer:
    """Listeners for one host's SMTP services.

    ``services`` maps service names of :data:`~mailsim.live.smtp_settings.SERVICES` to ports
    (0: any free port); ``tls_context`` is the server certificate's context, needed by
    submission and smtps and enabling STARTTLS on smtp; ``passdb`` the host's users for AUTH
    (none: nobody can authenticate); ``events`` the lab's event log (none: not logged).
    Raises ValueError for an address outside 127.0.0.0/8,
    an unknown service, or a TLS service without a certificate.
    """

    def __init__(
        self,
        policy: HostPolicy,
        store: MailStore,
        *,
        address: str = "127.0.0.1",
        services: Mapping[str, int] | None = None,
        tls_context: ssl.SSLContext | None = None,
        passdb: PassDB | None = None,
        events: LiveEventLog | None = None,
    ) -> None:
        if ip_address(address) not in LOOPBACK:
            raise ValueError(f"live servers listen on 127.0.0.0/8 only, not {address!r}")
        wanted = dict(services if services is not None else {"smtp": 0})
        for name in wanted:
            if name not in SERVICES:
                raise ValueError(f"unknown SMTP service {name!r} (known: {', '.join(SERVICES)})")
            if SERVICES[name].needs_tls and tls_context is None:
                raise ValueError(f"service {name!r} needs a tls_context (a server certificate)")
        self.policy = policy
        self.address = address
        self.tls_context = tls_context
        self.passdb = passdb or PassDB(())
        self.handler = PolicyHandler(policy, Spool(policy, store), self.passdb, events)
        self._wanted = wanted
        self._servers: dict[str, asyncio.Server] = {}
        self._gates: list[ConnectionGate] = []
        #: the port each service listens on, once started
        self.ports: dict[str, int] = {}

    @classmethod
    def for_host(
        cls,
        scenario: Scenario,
        host_name: str,
        store: MailStore,
        *,
        auth: AuthSettings = CLASSROOM,
        **options: Any,
    ) -> SMTPServer:
        """Build the server of scenario host ``host_name``, its passdb from the scenario's
        users with ``auth`` (Dovecot's auth settings; CRAM-MD5 needs it listed)."""
        host = live_host(scenario.hosts[host_name])
        passdb = PassDB.from_scenario(scenario, host_name, auth)
        return cls(HostPolicy(host, scenario), store, passdb=passdb, **options)

    async def start(self) -> None:
        """Open every listener; return when all accept connections."""
        loop = asyncio.get_running_loop()
        for name, port in self._wanted.items():
            service = SERVICES[name]
            settings = SMTPDSettings.from_policy(self.policy, service)
            gate = ConnectionGate(settings.process_limit, settings.client_connection_limit)
            self._gates.append(gate)
            server = await loop.create_server(
                lambda s=settings, g=gate: MailsimSMTP(self.handler, s, g, self.tls_context),
                host=self.address,
                port=port,
                ssl=self.tls_context if service.wrapper_mode else None,
                reuse_address=True,
            )
            self._servers[name] = server
            self.ports[name] = server.sockets[0].getsockname()[1]

    def port(self, service: str = "smtp") -> int:
        """Return the port ``service`` listens on (after :meth:`start`)."""
        return self.ports[service]

    async def close(self) -> None:
        """Stop listening and end the sessions still open."""
        for server in self._servers.values():
            server.close()
        for gate in self._gates:
            for session in list(gate.sessions):
                session.close()
        for server in self._servers.values():
            await server.wait_closed()
        self._servers.clear()
        self._gates.clear()

    async def __aenter__(self) -> SMTPServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
