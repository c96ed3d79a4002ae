"""``mailsim lab up``: every service of a scenario, live on its loopback addresses.

DESIGN.md section 2: each scenario host gets its own loopback address (127.0.1.x, from
:func:`~mailsim.live.addressing.lab_plan`), and there runs what the scenario lists for it —
SMTP, submission and SMTPS (:class:`~mailsim.live.smtp_server.SMTPServer`, the shared policy),
POP3 and POP3S (:class:`~mailsim.live.pop3.POP3Server`) on the host's mail store — with a
certificate from the lab CA; the lab DNS answers the scenario's zones with the lab addresses. A
student copies the printed table into telnet or ``openssl s_client``; a notebook uses
:class:`Lab` as an async context manager.

(IMAP and relaying between hosts come with the next issue; here mail for a host's own
domains is delivered into its store.)
"""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from mailsim.live.addressing import LabPlan, format_plan, lab_plan
from mailsim.live.dns import LabDNSServer
from mailsim.live.events import LiveEventLog
from mailsim.live.passdb import CLASSROOM, AuthSettings, PassDB
from mailsim.live.pop3 import POP3Server
from mailsim.live.smtp_server import SMTPServer
from mailsim.live.smtp_settings import SERVICES as SMTP_SERVICES
from mailsim.live.store import HostStore, open_store
from mailsim.live.tls import LabCA
from mailsim.policy import HostPolicy
from mailsim.scenario.model import Scenario

if TYPE_CHECKING:
    from mailsim.analysis import Run

__all__ = ["Lab", "ephemeral_ports"]


def ephemeral_ports(plan: LabPlan) -> LabPlan:
    """Return ``plan`` with every port 0, so the OS picks free ones (tests, parallel labs);
    :attr:`Lab.ports` then says where each service really listens."""
    hosts = tuple(
        dataclasses.replace(host, ports=dict.fromkeys(host.ports, 0)) for host in plan.hosts
    )
    nameserver = dataclasses.replace(plan.nameserver, port=0)
    return dataclasses.replace(plan, hosts=hosts, nameserver=nameserver)


class Lab:
    """The live lab of one scenario under ``directory`` (mail stores, TLS files)."""

    def __init__(
        self,
        scenario: Scenario,
        directory: Path | str,
        *,
        plan: LabPlan | None = None,
        auth: AuthSettings = CLASSROOM,
    ) -> None:
        self.scenario = scenario
        self.directory = Path(directory)
        self.plan = plan if plan is not None else lab_plan(scenario)
        self.auth = auth
        self.ca = LabCA(self.directory / "tls")
        #: the run's event log (DESIGN.md section 3), also written to ``events.csv`` as it
        #: happens; opened by :meth:`start`
        self.events: LiveEventLog | None = None
        self.stores: dict[str, HostStore] = {}
        self.dns: LabDNSServer | None = None
        self.smtp: dict[str, SMTPServer] = {}
        self.pop3: dict[str, dict[str, POP3Server]] = {}
        #: host -> service -> the port it listens on (after start)
        self.ports: dict[str, dict[str, int]] = {}

    async def start(self) -> None:
        """Start the DNS, then every host's SMTP and POP3 listeners; return when all listen.

        A new event log starts too (``<directory>/events.csv``: one file per lab run)."""
        self.events = LiveEventLog(self.directory / "events.csv")
        self.dns = LabDNSServer(
            self.plan.zones, self.plan.nameserver.address, self.plan.nameserver.port
        ).start()
        try:
            for lab_host in self.plan.hosts:
                await self._start_host(lab_host.name, lab_host.address, dict(lab_host.ports))
        except BaseException:
            await self.close()
            raise

    async def _start_host(self, name: str, address: str, ports: dict[str, int]) -> None:
        host = self.scenario.hosts[name]
        policy = HostPolicy(host, self.scenario)
        users = [u.local_part for u in self.scenario.users if u.host == name]
        store = self.stores[name] = open_store(
            self.directory / "mail" / name,
            host.mailbox_format,
            mailbox_path=policy.mailbox_path,
            users=users,
        )
        store.recover()
        self.ca.issue(name, [address])
        context = self.ca.server_context(name)
        listening: dict[str, int] = {}
        smtp_ports = {s: p for s, p in ports.items() if s in SMTP_SERVICES}
        if smtp_ports:
            smtp = SMTPServer.for_host(
                self.scenario, name, store, auth=self.auth, address=address,
                services=smtp_ports, tls_context=context, events=self.events,
            )  # fmt: skip
            await smtp.start()
            self.smtp[name] = smtp
            listening.update(smtp.ports)
        passdb = PassDB.from_scenario(self.scenario, name, self.auth)
        for service, implicit in (("pop3", False), ("pop3s", True)):
            if service in ports:
                server = POP3Server(
                    store, passdb, host=address, port=ports[service],
                    ssl_context=context, implicit_tls=implicit, events=self.events, node=name,
                )  # fmt: skip
                await server.start()
                self.pop3.setdefault(name, {})[service] = server
                listening[service] = server.port
        self.ports[name] = listening

    def address(self, host: str) -> str:
        """The loopback address of scenario host ``host``; KeyError if it is not in the lab."""
        for lab_host in self.plan.hosts:
            if lab_host.name == host:
                return lab_host.address
        raise KeyError(f"{host!r} is not a host of the lab")

    def run(self, name: str = "") -> Run:
        """What the lab did so far, as the notebooks' :class:`~mailsim.analysis.Run`."""
        if self.events is None:
            raise RuntimeError("the lab has not started: no event log yet")
        return self.events.run(name or self.scenario.name, {"scenario": self.scenario.name})

    def client_context(self) -> ssl.SSLContext:
        """A TLS client context that trusts the lab CA (for smtplib/poplib in notebooks)."""
        return self.ca.client_context()

    def table(self) -> str:
        """The table of addresses, ports and commands printed at start-up."""
        plan = self.plan
        if self.ports:
            # only what really listens, on the port it got (IMAP comes with the next issue)
            hosts = tuple(
                dataclasses.replace(h, ports=dict(self.ports.get(h.name, {}))) for h in plan.hosts
            )
            dns_port = self.dns.port if self.dns is not None else plan.nameserver.port
            plan = dataclasses.replace(
                plan,
                hosts=hosts,
                nameserver=dataclasses.replace(plan.nameserver, port=dns_port),
            )
        return format_plan(plan, ca_file=str(self.ca.directory / "ca.pem"))

    async def close(self) -> None:
        """Stop every server (mail already accepted is on disk)."""
        for servers in self.pop3.values():
            for server in servers.values():
                await server.close()
        for smtp in self.smtp.values():
            await smtp.close()
        if self.dns is not None:
            self.dns.stop()
        if self.events is not None:
            self.events.close()  # the rows stay readable: run() still works
        self.pop3.clear()
        self.smtp.clear()
        self.dns = None

    async def __aenter__(self) -> Lab:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()
