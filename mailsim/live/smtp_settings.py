"""What one smtpd listener needs to know: main.cf parameters, master.cf overrides, limits.

A live host runs one listener per service its scenario lists (``smtp`` on 25, ``submission``
on 587, ``smtps`` on 465). Each is smtpd(8) with main.cf's settings plus the ``-o`` overrides
of Postfix's stock master.cf entry for that service (:data:`SERVICES`). Everything is read once
at start-up into a frozen :class:`SMTPDSettings`; the per-connection code only reads attributes.

:class:`ConnectionGate` is the part of master(8) and anvil(8) the listener needs: at most
``smtpd_process_limit`` sessions at once (further clients wait, connected but not greeted,
as they wait in the listen queue for a free smtpd process) and at most
``smtpd_client_connection_count_limit`` sessions per client address (the next one is greeted
with ``421 4.7.0`` and dropped).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from mailsim.policy.host import HostPolicy

__all__ = ["SERVICES", "ConnectionGate", "SMTPDSettings", "ServiceConfig"]


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """One master.cf smtpd service and the ``-o`` overrides Postfix's stock master.cf gives it.

    ``wrapper_mode``: smtpd_tls_wrappermode = yes (TLS from the first byte, RFC 8314);
    ``tls_required``: smtpd_tls_security_level = encrypt (RFC 3207 section 4: ``530 5.7.0
    Must issue a STARTTLS command first``); ``auth_required``: smtpd_client_restrictions =
    permit_sasl_authenticated, reject, answered with RFC 4954's ``530 5.7.0 Authentication
    required`` at MAIL; ``sasl`` and ``tls_auth_only`` override smtpd_sasl_auth_enable and
    smtpd_tls_auth_only when not None.
    """

    name: str
    wrapper_mode: bool = False
    tls_required: bool = False
    auth_required: bool = False
    sasl: bool | None = None
    tls_auth_only: bool | None = None

    @property
    def needs_tls(self) -> bool:
        """Whether the service cannot run without a certificate."""
        return self.wrapper_mode or self.tls_required


#: The services a scenario host may list, as Postfix's master.cf defines them.
SERVICES: dict[str, ServiceConfig] = {
    "smtp": ServiceConfig("smtp"),
    "submission": ServiceConfig(
        "submission", tls_required=True, auth_required=True, sasl=True, tls_auth_only=True
    ),
    "smtps": ServiceConfig("smtps", wrapper_mode=True, auth_required=True, sasl=True),
}


@dataclass(frozen=True, slots=True)
class SMTPDSettings:
    """smtpd's parameters for one listener (postconf(5) names; times in seconds)."""

    hostname: str
    service: ServiceConfig
    timeout_s: float
    hard_error_limit: int
    recipient_limit: int
    recipient_overshoot_limit: int
    message_size_limit: int
    process_limit: int
    client_connection_limit: int
    helo_required: bool
    disable_vrfy: bool
    sasl: bool
    tls_auth_only: bool
    tls_received_header: bool
    broken_sasl_auth_clients: bool
    smtputf8: bool

    @classmethod
    def from_policy(cls, policy: HostPolicy, service: ServiceConfig) -> SMTPDSettings:
        """Read smtpd's parameters from the host's settings for ``service``."""
        settings = policy.settings
        sasl = settings.boolean("smtpd_sasl_auth_enable") if service.sasl is None else service.sasl
        tls_auth_only = (
            settings.boolean("smtpd_tls_auth_only")
            if service.tls_auth_only is None
            else service.tls_auth_only
        )
        return cls(
            hostname=policy.hostname,
            service=service,
            timeout_s=settings.seconds("smtpd_timeout"),
            hard_error_limit=settings.integer("smtpd_hard_error_limit"),
            recipient_limit=policy.recipient_limit,
            recipient_overshoot_limit=settings.integer("smtpd_recipient_overshoot_limit"),
            message_size_limit=policy.message_size_limit,
            process_limit=policy.process_limit("smtpd"),
            client_connection_limit=settings.integer("smtpd_client_connection_count_limit"),
            helo_required=settings.boolean("smtpd_helo_required"),
            disable_vrfy=settings.boolean("disable_vrfy_command"),
            sasl=sasl,
            tls_auth_only=tls_auth_only,
            tls_received_header=settings.boolean("smtpd_tls_received_header"),
            broken_sasl_auth_clients=settings.boolean("broken_sasl_auth_clients"),
            smtputf8=settings.boolean("smtputf8_enable"),
        )


class Closable(Protocol):
    """A session the listener can end."""

    def close(self) -> None: ...


class ConnectionGate:
    """Session slots (smtpd_process_limit) and per-client counts (anvil(8)) of one listener."""

    def __init__(self, process_limit: int, client_limit: int) -> None:
        if process_limit < 0 or client_limit < 0:
            raise ValueError(f"negative limit: process {process_limit}, client {client_limit}")
        self._slots = asyncio.Semaphore(process_limit) if process_limit else None
        self.client_limit = client_limit
        self.clients: Counter[str] = Counter()
        #: the listener's open connections (closed when the server stops)
        self.sessions: set[Closable] = set()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the listener's session slots for the life of a session."""
        if self._slots is None:
            yield
            return
        async with self._slots:
            yield

    def connect(self, client: str) -> bool:
        """Count a session of ``client``; False when it is one too many (the caller still
        calls :meth:`disconnect`)."""
        self.clients[client] += 1
        return not self.client_limit or self.clients[client] <= self.client_limit

    def disconnect(self, client: str) -> None:
        """Forget a session of ``client``."""
        self.clients[client] -= 1
        if self.clients[client] <= 0:
            del self.clients[client]
