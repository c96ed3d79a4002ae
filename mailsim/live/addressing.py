"""Live lab addressing (DESIGN.md section 2): loopback addresses, the port plan, the lab's zones.

Every host of the scenario gets its own loopback address: 127.0.1.1, 127.0.1.2, ... in sorted order
of the host names, so every MTA listens on the same SMTP port and MX resolution works as on the
Internet. The lab's DNS answers A records with these addresses instead of the scenario's (the
lecture's neo.firma1.intr is 195.113.106.168 in the scenario and, say, 127.0.1.4 in the lab).

Theory of operation, all computed from the scenario alone:

* **hosts** get 127.0.1.1.. (``base`` + 1, + 2, ...);
* **the nameserver** is the first host that runs ``dns``; without one the lab has its own
  nameserver on the next address, named ``ns.<zone>`` in every zone (an A record is added, so the
  AUTHORITY and ADDITIONAL sections look like the lecture's ``dig -t mx firma1.intr``);
* **names without a host** (an A record whose address no host has) get the following addresses,
  one per scenario address. Nothing listens there, so connecting is refused, as to a machine that
  is down; a lab never sends a packet beyond 127.0.0.0/8;
* **ports** are the standard ones (:data:`~mailsim.scenario.model.SERVICES`: 25, 587, 465, 110,
  995, 143, 993, DNS 53) when the process may bind ports below 1024, otherwise each is moved by one
  lab-wide offset, :data:`PORT_OFFSET` (10025, 10587, ..., 10053).

Only ``port_offset=None`` looks beyond the scenario: it asks :func:`may_bind_privileged`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from mailsim.scenario.model import SERVICES, MXRecord, Scenario

__all__ = [
    "BASE",
    "NEGATIVE_TTL_S",
    "PORT_OFFSET",
    "LabHost",
    "LabPlan",
    "LabZone",
    "Nameserver",
    "format_plan",
    "lab_plan",
    "may_bind_privileged",
]

#: the address below the first host's: hosts get BASE + 1, BASE + 2, ...
BASE = "127.0.1.0"
#: added to every standard port when the process may not bind ports below 1024
PORT_OFFSET = 10000
#: the SOA minimum: how long resolvers cache NXDOMAIN and NODATA (RFC 2308 section 5), the same
#: 300 s the simulation's resolver caches NXDOMAIN for (mailsim.sim.dns.NEGATIVE_TTL_S)
NEGATIVE_TTL_S = 300
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
#: services spoken over TLS from the first byte; the others start in plain text (STARTTLS)
TLS_SERVICES = frozenset({"smtps", "pop3s", "imaps"})
CAP_NET_BIND_SERVICE = 10  # linux/capability.h


@dataclass(frozen=True, slots=True)
class LabHost:
    """A scenario host in the lab: its loopback ``address``, the ``scenario_address`` it stands for,
    and the TCP ``ports`` of the services it runs (service -> port, in SERVICES order)."""

    name: str
    address: str
    scenario_address: str
    ports: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Nameserver:
    """Where the lab's DNS listens; ``host`` is the scenario host running it ("" if none does)."""

    address: str
    port: int
    host: str = ""


@dataclass(frozen=True, slots=True)
class LabZone:
    """One zone as the lab's DNS serves it: the scenario's MX records, A records pointing at lab
    addresses, the NS names and one TTL (whole seconds, RFC 1035 3.2.1) for every record."""

    origin: str
    ttl: int
    ns: tuple[str, ...]
    mx: tuple[MXRecord, ...] = ()
    a: Mapping[str, str] = field(default_factory=dict)
    negative_ttl: int = NEGATIVE_TTL_S


@dataclass(frozen=True, slots=True)
class LabPlan:
    """Addresses, ports and zones of one scenario's live lab (see the module docstring)."""

    scenario: str
    base: str
    port_offset: int
    hosts: tuple[LabHost, ...]
    nameserver: Nameserver
    zones: Mapping[str, LabZone]
    #: A-record names no host answers for -> the lab address where nothing listens
    unserved: Mapping[str, str] = field(default_factory=dict)

    def host(self, name: str) -> LabHost:
        """Return the lab host called ``name``; raise KeyError naming the known hosts."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(f"no host {name!r}; hosts are {[h.name for h in self.hosts]}")

    def address(self, name: str) -> str:
        """Return the lab address of a host or of a name in the lab's zones ("" if unknown)."""
        wanted = name.lower().rstrip(".")
        for host in self.hosts:
            if host.name.lower() == wanted:
                return host.address
        for zone in self.zones.values():
            if wanted in zone.a:
                return zone.a[wanted]
        return self.unserved.get(wanted, "")

    def port(self, service: str) -> int:
        """Return the lab's TCP (or, for ``dns``, UDP and TCP) port of ``service``."""
        return service_port(service, self.port_offset)


def service_port(service: str, port_offset: int) -> int:
    """Return the standard port of ``service`` moved by ``port_offset``."""
    try:
        return SERVICES[service] + port_offset
    except KeyError:
        raise ValueError(f"unknown service {service!r}; services are {sorted(SERVICES)}") from None


def may_bind_privileged() -> bool:
    """Whether this process may bind ports below 1024: root, CAP_NET_BIND_SERVICE, or (Linux) a
    net.ipv4.ip_unprivileged_port_start at or below the lowest standard port (25)."""
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        start = 1024
    if start <= min(SERVICES.values()):
        return True
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return hasattr(os, "geteuid") and os.geteuid() == 0
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_NET_BIND_SERVICE & 1)
    return hasattr(os, "geteuid") and os.geteuid() == 0


def lab_plan(scenario: Scenario, base: str = BASE, port_offset: int | None = None) -> LabPlan:
    """Return the lab's addresses, ports and zones for ``scenario`` (see the module docstring).

    ``port_offset`` None: 0 if :func:`may_bind_privileged`, else :data:`PORT_OFFSET`.
    Raise ValueError if ``base`` is not a loopback address or the ports do not fit.
    """
    first = _loopback(base)
    if port_offset is None:
        port_offset = 0 if may_bind_privileged() else PORT_OFFSET
    if port_offset < 0 or max(SERVICES.values()) + port_offset > 65535:
        raise ValueError(f"port offset {port_offset} puts ports outside 1..65535")
    allocated = 0

    def allocate() -> str:
        nonlocal allocated
        allocated += 1
        address = first + allocated
        if address not in LOOPBACK:
            raise ValueError(f"lab address {address} (base {base} + {allocated}) left 127.0.0.0/8")
        return str(address)

    names = sorted(scenario.hosts)
    hosts = tuple(_lab_host(scenario, name, allocate(), port_offset) for name in names)
    by_name = {host.name.lower(): host.address for host in hosts}
    by_scenario_address = {h.scenario_address: h.address for h in hosts if h.scenario_address}
    dns_host = next((h for h in hosts if "dns" in scenario.hosts[h.name].services), None)
    nameserver = Nameserver(
        dns_host.address if dns_host else allocate(),
        service_port("dns", port_offset),
        dns_host.name if dns_host else "",
    )
    elsewhere = {
        address
        for zone in scenario.dns.zones.values()
        for name, address in zone.a.items()
        if name.lower() not in by_name and address not in by_scenario_address
    }
    lab_of_elsewhere = {
        address: allocate() for address in sorted(elsewhere, key=ipaddress.IPv4Address)
    }
    unserved: dict[str, str] = {}
    zones: dict[str, LabZone] = {}
    for origin in sorted(scenario.dns.zones):
        zone = scenario.dns.zones[origin]
        a: dict[str, str] = {}
        for name, address in sorted(zone.a.items()):
            owner = name.lower().rstrip(".")
            lab = by_name.get(owner) or by_scenario_address.get(address)
            if lab is None:
                lab = unserved[owner] = lab_of_elsewhere[address]
            a[owner] = lab
        if dns_host is not None:
            ns: tuple[str, ...] = (dns_host.name.lower(),)
        else:
            ns = (_free_ns_name(origin.lower(), a, by_name),)
            a[ns[0]] = nameserver.address
        zones[origin] = LabZone(
            origin.lower().rstrip("."),
            max(0, round(zone.ttl)),
            ns,
            tuple(sorted(zone.mx, key=lambda mx: (mx.preference, mx.exchange))),
            MappingProxyType(a),
        )
    return LabPlan(
        scenario.name,
        str(first),
        port_offset,
        hosts,
        nameserver,
        MappingProxyType(zones),
        MappingProxyType(unserved),
    )


def _loopback(base: str) -> ipaddress.IPv4Address:
    try:
        address = ipaddress.IPv4Address(base)
    except ValueError:
        raise ValueError(f"lab base address {base!r} is not an IPv4 address") from None
    if address not in LOOPBACK:
        raise ValueError(f"lab base address {base!r} is not in 127.0.0.0/8")
    return address


def _lab_host(scenario: Scenario, name: str, address: str, port_offset: int) -> LabHost:
    services = scenario.hosts[name].services
    ports = {s: service_port(s, port_offset) for s in SERVICES if s in services}
    return LabHost(name, address, scenario.hosts[name].address, MappingProxyType(ports))


def _free_ns_name(origin: str, a: Mapping[str, str], hosts: Mapping[str, str]) -> str:
    """``ns.<origin>``, or ns1, ns2, ... if the scenario already uses that name."""
    label, number = "ns", 0
    while f"{label}.{origin}" in a or f"{label}.{origin}" in hosts:
        number += 1
        label = f"ns{number}"
    return f"{label}.{origin}"


def format_plan(plan: LabPlan, ca_file: str = "ca.pem") -> str:
    """Return the plan as the table printed at start-up: one line per service with a command a
    student can copy (telnet for plain text, ``openssl s_client`` for TLS, dig for DNS)."""
    ports = "standard" if plan.port_offset == 0 else f"standard + {plan.port_offset}"
    if any(
        port != service_port(service, plan.port_offset)
        for host in plan.hosts
        for service, port in host.ports.items()
    ):
        ports = "chosen by the system (ephemeral)"
    span = f"{plan.hosts[0].address}..{plan.hosts[-1].address}" if plan.hosts else "none"
    lines = [
        f"lab {plan.scenario}: {len(plan.hosts)} hosts ({span}), nameserver "
        f"{plan.nameserver.address}, ports {ports}"
    ]
    if plan.port_offset:
        lines.append("(binding ports below 1024 needs root or CAP_NET_BIND_SERVICE)")
    lines.append("")
    rows = [("host", "address", "service", "port", "try it")]
    for host in plan.hosts:
        first = (host.name, host.address)
        for service, port in host.ports.items():
            command = _try(plan, host.address, service, ca_file, port)
            rows.append((*first, service, str(port), command))
            first = ("", "")
        if first[0]:
            rows.append((*first, "-", "-", ""))
    if not plan.nameserver.host:
        ns = plan.nameserver
        rows.append(
            ("(nameserver)", ns.address, "dns", str(ns.port), _try(plan, "", "dns", "", ns.port))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    if plan.unserved:
        lines += ["", "names without a host (nothing listens: connection refused, a machine down):"]
        width = max(map(len, plan.unserved))
        lines += [f"  {name.ljust(width)}  {addr}" for name, addr in sorted(plan.unserved.items())]
    lines += [
        "",
        f"TLS: trust the lab CA {ca_file} (openssl -CAfile, mutt ssl_ca_certificates_file,",
        "Thunderbird: Settings > Privacy & Security > Certificates > Import).",
    ]
    return "\n".join(lines)


def _try(plan: LabPlan, address: str, service: str, ca_file: str, port: int) -> str:
    if service in TLS_SERVICES:
        return f"openssl s_client -connect {address}:{port} -CAfile {ca_file}"
    if service == "submission":
        return f"openssl s_client -connect {address}:{port} -starttls smtp -CAfile {ca_file}"
    if service == "dns":
        ns = plan.nameserver
        dash_p = "" if ns.port == SERVICES["dns"] else f" -p {ns.port}"
        return f"dig @{ns.address}{dash_p} {next(iter(plan.zones), 'example')} MX"
    return f"telnet {address} {port}"
