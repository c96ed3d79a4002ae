"""The lab's DNS: an authoritative server for the scenario's zones, an MX resolver, ``dig``.

:class:`LabDNSServer` answers from the lab zones (:func:`mailsim.live.addressing.lab_plan`) over
UDP and TCP on a loopback address, built on dnslib's server framework. It is authoritative (AA
flag) and not recursive (no RA flag), as a zone's primary server is (RFC 1035 4.3.1, 6.2):

* a name in a lab zone with records of the asked type: those (MX, A, NS, SOA, all for ANY), the
  zone's NS in AUTHORITY, the MX and NS targets' A records in ADDITIONAL, as the lecture shows;
* a name that exists without that type (NODATA) or does not exist (NXDOMAIN): the SOA in AUTHORITY,
  its TTL the SOA minimum, so resolvers cache the negative answer (RFC 2308 3, 5);
* a name outside every lab zone, or a class other than IN: REFUSED (the lab never recurses);
* a UDP answer over 512 octets is truncated (TC) and the client retries over TCP (RFC 1035 4.2.1).

:func:`resolve_mx` is the MTA's side of RFC 5321 5.1, with dnspython; :func:`dig` and
:func:`format_dig` print an answer as dig does.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset
from dnslib import CLASS, EDNS0, MX, NS, OPCODE, QTYPE, RCODE, RR, SOA, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, TCPServer

from mailsim.errors import MailsimError
from mailsim.live.addressing import LabZone

__all__ = [
    "DNSLookupError",
    "LabDNSServer",
    "LabResolver",
    "MXTarget",
    "dig",
    "format_dig",
    "resolve_mx",
]

_log = logging.getLogger(__name__)
_Zones = Iterable[LabZone] | Mapping[str, LabZone]
#: the SOA's serial, refresh, retry and expire (RFC 1035 3.3.13); the minimum is the zone's
_SOA_TIMES = (1, 3600, 900, 604800)
_NAMED = (QTYPE.MX, QTYPE.NS)
#: largest UDP answer without EDNS (RFC 1035 2.3.4); the payload size we announce with EDNS
UDP_LIMIT, EDNS_PAYLOAD = 512, 1232
_POLL_S = 0.02  # how soon a serving loop notices stop()
TCP_IDLE_S = 5.0  # a silent TCP client is dropped after this long (RFC 7766 6.2.3)


class LabResolver(BaseResolver):  # type: ignore[misc]
    """Answer queries from lab zones (the module docstring says how); thread-safe (read-only)."""

    def __init__(self, zones: _Zones) -> None:
        items = zones.values() if isinstance(zones, Mapping) else zones
        self.zones = {zone.origin.lower().rstrip("."): zone for zone in items}
        #: zone origin -> owner name -> records at that name
        self._nodes = {origin: _records(zone) for origin, zone in self.zones.items()}

    def resolve(self, request: DNSRecord, handler: object = None) -> DNSRecord:
        """Return the reply to ``request`` (dnslib's resolver hook; no I/O, so tests call it)."""
        reply = request.reply(ra=0, aa=1)
        reply.header.ad = 0  # nothing here is DNSSEC-validated (RFC 4035 3.2.3)
        if any(rr.rtype == QTYPE.OPT for rr in request.ar):
            reply.add_ar(EDNS0(udp_len=EDNS_PAYLOAD))  # RFC 6891 7: answer EDNS with EDNS
        if request.header.opcode != OPCODE.QUERY:
            return _failed(reply, RCODE.NOTIMP)
        if len(request.questions) != 1:
            return _failed(reply, RCODE.FORMERR)
        question = request.q
        name = str(question.qname).lower().rstrip(".")
        origin = self._origin_of(name)
        if origin is None or question.qclass != CLASS.IN:
            return _failed(reply, RCODE.REFUSED)
        zone, nodes = self.zones[origin], self._nodes[origin]
        records = nodes.get(name)
        exists = records is not None or any(owner.endswith("." + name) for owner in nodes)
        wanted = [rr for rr in records or () if question.qtype in (rr.rtype, QTYPE.ANY)]
        if not wanted:  # NXDOMAIN, or NODATA: the name exists without this type (RFC 2308 2.2)
            reply.header.rcode = RCODE.NOERROR if exists else RCODE.NXDOMAIN
            reply.add_auth(_soa(zone, negative=True))
            return reply
        for rr in wanted:
            reply.add_answer(RR(question.qname, rr.rtype, rr.rclass, rr.ttl, rr.rdata))
        if not (name == origin and any(rr.rtype == QTYPE.NS for rr in wanted)):
            for rr in nodes[origin]:
                if rr.rtype == QTYPE.NS:
                    reply.add_auth(rr)
        self._add_glue(reply)
        return reply

    def _origin_of(self, name: str) -> str | None:
        """The lab zone holding ``name``: the longest origin it ends with."""
        labels = name.split(".")
        for index in range(len(labels)):
            origin = ".".join(labels[index:])
            if origin in self.zones:
                return origin
        return None

    def _add_glue(self, reply: DNSRecord) -> None:
        """ADDITIONAL: A records of the MX exchanges and name servers named in the reply."""
        seen = {str(rr.rname).lower().rstrip(".") for rr in reply.rr if rr.rtype == QTYPE.A}
        for rr in [*reply.rr, *reply.auth]:
            # the exchange of an MX, the host of an NS
            target = str(rr.rdata.label).lower().rstrip(".") if rr.rtype in _NAMED else ""
            origin = self._origin_of(target) if target and target not in seen else None
            if origin is not None:
                seen.add(target)
                glue = self._nodes[origin].get(target, ())
                reply.ar += [a for a in glue if a.rtype == QTYPE.A]


def _records(zone: LabZone) -> dict[str, list[RR]]:
    """The zone's records by owner name: SOA, NS and MX at the origin, A records at their names."""
    origin, ttl = zone.origin.lower().rstrip("."), zone.ttl
    nodes: dict[str, list[RR]] = {origin: [_soa(zone)]}
    nodes[origin] += [RR(origin, QTYPE.NS, ttl=ttl, rdata=NS(ns)) for ns in zone.ns]
    nodes[origin] += [
        RR(origin, QTYPE.MX, ttl=ttl, rdata=MX(mx.exchange.lower(), mx.preference))
        for mx in zone.mx
    ]
    for name, address in zone.a.items():
        owner = name.lower().rstrip(".")
        nodes.setdefault(owner, []).append(RR(owner, QTYPE.A, ttl=ttl, rdata=A(address)))
    return nodes


def _soa(zone: LabZone, *, negative: bool = False) -> RR:
    """The zone's SOA; in a negative answer its TTL is min(TTL, minimum) (RFC 2308 3)."""
    origin = zone.origin.lower().rstrip(".")
    ttl = min(zone.ttl, zone.negative_ttl) if negative else zone.ttl
    times = (*_SOA_TIMES, zone.negative_ttl)
    return RR(origin, QTYPE.SOA, ttl=ttl, rdata=SOA(zone.ns[0], f"hostmaster.{origin}", times))


def _failed(reply: DNSRecord, rcode: int) -> DNSRecord:
    reply.header.rcode, reply.header.aa = rcode, 0
    return reply


class _Handler(DNSHandler):  # type: ignore[misc]
    def get_reply(self, data: bytes) -> bytes:
        """dnslib's, but a truncated UDP answer keeps its question (resolvers check it) and the
        client's EDNS buffer size counts (RFC 6891 6.2.5)."""
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        packed: bytes = reply.pack()
        opt = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
        limit = max(UDP_LIMIT, min(opt[0].rclass, EDNS_PAYLOAD)) if opt else UDP_LIMIT
        if self.protocol == "udp" and len(packed) > limit:
            reply.rr, reply.auth = [], []
            reply.ar = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
            reply.header.tc = 1
            packed = reply.pack()
        return packed

    def handle(self) -> None:
        if self.server.socket_type == socket.SOCK_STREAM:
            self.request.settimeout(TCP_IDLE_S)  # a silent client must not hold stop() up
        try:
            super().handle()
        except OSError as error:
            _log.warning("lab DNS: %s from %s", error, self.client_address)


class LabDNSServer:
    """The lab's authoritative DNS on ``address``:``port`` (UDP, and TCP unless ``tcp=False``).

    ``port`` 0 picks a free port (the same for UDP and TCP); read it from :attr:`port` after
    :meth:`start`. Use as a context manager, or call :meth:`start` and :meth:`stop`. Only
    loopback addresses are accepted (DESIGN.md section 2: nothing listens beyond 127.0.0.0/8).
    """

    def __init__(
        self, zones: _Zones, address: str = "127.0.0.1", port: int = 0, *, tcp: bool = True
    ) -> None:
        if not ipaddress.ip_address(address).is_loopback:
            raise ValueError(f"the lab DNS listens on loopback only, not on {address!r}")
        self.resolver = LabResolver(zones)
        self.address, self.port, self.tcp = address, port, tcp
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> LabDNSServer:
        """Bind the sockets and serve from background threads; return self."""
        if self._servers:
            raise MailsimError("the lab DNS server is already running")
        for _attempt in range(20):
            udp = self._bind(socketserver.ThreadingUDPServer, self.port)
            bound = udp.server_address[1]
            try:
                tcp = self._bind(TCPServer, bound) if self.tcp else None
            except OSError:
                udp.server_close()
                if self.port:
                    raise
                continue  # the free UDP port is taken for TCP: try another
            self.port = bound
            self._servers = [udp] if tcp is None else [udp, tcp]
            break
        else:  # pragma: no cover - twenty UDP ports in a row busy over TCP
            raise MailsimError(f"no port free for both UDP and TCP on {self.address}")
        for server, kind in zip(self._servers, ("udp", "tcp"), strict=False):
            thread = threading.Thread(
                target=server.serve_forever, args=(_POLL_S,), name=f"lab-dns-{kind}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving, close the sockets and join every thread."""
        for server, thread in zip(self._servers, self._threads, strict=True):
            server.shutdown()
            server.server_close()
            thread.join()
        self._servers, self._threads = [], []

    def _bind(self, kind: type[Any], port: int) -> Any:
        """A threading server, its request threads joined on close (dnslib's sets SO_REUSEADDR:
        only TCP uses it, a UDP port must not be shared)."""
        server = kind((self.address, port), _Handler)
        server.daemon_threads = False
        server.resolver = self.resolver
        server.logger = DNSLogger("-request,-reply,-truncated", logf=_log.warning)
        return server

    def __enter__(self) -> LabDNSServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class MXTarget(NamedTuple):
    """One MX exchange of a mail domain: preference, host name and its IPv4 addresses."""

    preference: int
    exchange: str
    addresses: tuple[str, ...]


class DNSLookupError(MailsimError):
    """A lookup failed as Postfix reports it (dns_lookup.c): ``dsn`` 4.4.3 for a temporary
    failure (SERVFAIL, REFUSED, timeout), 5.4.4 when the domain has no mail host."""

    def __init__(self, text: str, dsn: str) -> None:
        super().__init__(text)
        self.dsn = dsn


def resolve_mx(
    domain: str, server: str, port: int = 53, *, timeout_s: float = 2.0
) -> list[MXTarget]:
    """Return ``domain``'s mail exchanges by preference with their addresses (RFC 5321 5.1),
    asking the lab DNS at ``server``:``port`` with dnspython (TCP when an answer is truncated).
    No MX records: the domain itself, preference 0, if it has an A record (the implicit MX); an
    exchange without an A record has no addresses. Raise :class:`DNSLookupError`."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = [server], port
    resolver.timeout = resolver.lifetime = timeout_s
    domain = domain.lower().rstrip(".")
    try:
        answer = resolver.resolve(domain, "MX", search=False)
    except dns.resolver.NoAnswer:  # no MX records: the implicit MX, or nothing
        addresses = _addresses(resolver, domain)
        if not addresses:
            raise DNSLookupError(_NOT_FOUND.format(domain, "A", _NODATA), "5.4.4") from None
        return [MXTarget(0, domain, addresses)]
    except dns.resolver.NXDOMAIN:  # smtp(8) tries the A record next and names that lookup
        raise DNSLookupError(_NOT_FOUND.format(domain, "A", _NXDOMAIN), "5.4.4") from None
    except dns.exception.DNSException:
        raise DNSLookupError(_NOT_FOUND.format(domain, "MX", _TRY_AGAIN), "4.4.3") from None
    exchanges = sorted((rd.preference, rd.exchange.to_text(True).lower()) for rd in answer)
    return [MXTarget(p, name, _addresses(resolver, name)) for p, name in exchanges]


#: Postfix's wording (dns_strerror.c), as the simulation's resolver (sim/dns.py) uses it
_NOT_FOUND = "Host or domain name not found. Name service error for name={} type={}: {}"
_NXDOMAIN, _TRY_AGAIN = "Host not found", "Host not found, try again"
_NODATA = "Host found but no data record of requested type"


def _addresses(resolver: dns.resolver.Resolver, name: str) -> tuple[str, ...]:
    try:
        answer = resolver.resolve(name, "A", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return ()
    except dns.exception.DNSException:
        raise DNSLookupError(_NOT_FOUND.format(name, "A", _TRY_AGAIN), "4.4.3") from None
    return tuple(sorted(rdata.address for rdata in answer))


def dig(
    name: str, rdtype: str = "A", server: str = "127.0.0.1", port: int = 53, *, tcp: bool = False
) -> str:
    """Ask ``server`` for ``name``/``rdtype`` and return the answer as ``dig`` prints it; the
    query goes as the lecture's DiG 9.2.4 sent it: recursion desired, no EDNS."""
    command = f"@{server}{'' if port == 53 else f' -p {port}'} -t {rdtype.lower()} {name}"
    command += " +tcp" if tcp else ""
    query = dns.message.make_query(name, rdtype.upper(), use_edns=False)
    started = time.perf_counter()
    response = (dns.query.tcp if tcp else dns.query.udp)(query, server, 2.0, port)
    note = ""
    if response.flags & dns.flags.TC and not tcp:  # as dig does (RFC 1035 4.2.1)
        note, tcp = ";; Truncated, retrying in TCP mode.\n", True
        response = dns.query.tcp(query, server, 2.0, port)
    elapsed_ms = (time.perf_counter() - started) * 1000
    shown = format_dig(response, server, port, command=command, tcp=tcp, query_time_ms=elapsed_ms)
    return note + shown


def format_dig(
    response: dns.message.Message,
    server: str,
    port: int = 53,
    *,
    command: str = "",
    tcp: bool = False,
    query_time_ms: float = 0.0,
    when: dt.datetime | None = None,
) -> str:
    """Return ``response`` laid out as ``dig`` prints it: the header, QUESTION, ANSWER, AUTHORITY
    and ADDITIONAL sections (empty ones left out) and the statistics, as in the lecture."""

    def class_and_type(rrset: dns.rrset.RRset) -> list[str]:
        return [dns.rdataclass.to_text(rrset.rdclass), dns.rdatatype.to_text(rrset.rdtype)]

    flags = dns.flags.to_text(response.flags).lower().split()
    shown = " ".join(f for f in ("qr", "aa", "tc", "rd", "ra", "ad", "cd") if f in flags)
    sections = response.answer, response.authority, response.additional
    counts = [len(response.question), *(sum(map(len, section)) for section in sections)]
    counts[3] += response.edns >= 0  # dig counts the OPT pseudo-record
    lines = [
        f"; <<>> mailsim dig <<>> {command or response.question[0].name}",
        *(["; (1 server found)"] if command.startswith("@") else []),
        ";; global options: +cmd",
        ";; Got answer:",
        f";; ->>HEADER<<- opcode: {dns.opcode.to_text(response.opcode())}, "
        f"status: {dns.rcode.to_text(response.rcode())}, id: {response.id}",
        f";; flags: {shown}; QUERY: {counts[0]}, ANSWER: {counts[1]}, AUTHORITY: {counts[2]}, "
        f"ADDITIONAL: {counts[3]}",
    ]
    if "rd" in flags and "ra" not in flags:
        lines.append(";; WARNING: recursion requested but not available")
    lines.append("")
    if response.edns >= 0:
        edns = f"; EDNS: version: {response.edns}, flags:; udp: {response.payload}"
        lines += [";; OPT PSEUDOSECTION:", edns]
    lines.append(";; QUESTION SECTION:")
    for q in response.question:
        lines.append(_fields([";" + q.name.to_text(), *class_and_type(q)], (32, 40)))
    columns = (24, 32, 40, 48)  # TTL, class, type and data
    for title, section in zip(("ANSWER", "AUTHORITY", "ADDITIONAL"), sections, strict=True):
        if section:
            lines += ["", f";; {title} SECTION:"]
            lines += [
                _fields([r.name.to_text(), str(r.ttl), *class_and_type(r), rd.to_text()], columns)
                for r in section
                for rd in r
            ]
    size = len(response.wire if response.wire is not None else response.to_wire())
    stamp = (when or dt.datetime.now().astimezone()).strftime("%a %b %d %H:%M:%S %Z %Y")
    lines += [
        "",
        f";; Query time: {round(query_time_ms)} msec",
        f";; SERVER: {server}#{port}({server}) ({'TCP' if tcp else 'UDP'})",
        f";; WHEN: {stamp}",
        f";; MSG SIZE  rcvd: {size}",
    ]
    return "\n".join(lines) + "\n"


def _fields(texts: Sequence[str], columns: Sequence[int]) -> str:
    """One line as dig lays it out (BIND masterdump.c indent()): each field after the first starts
    at its column, reached with 8-wide tabs, or one space after the previous field if past it."""
    line, at = texts[0], len(texts[0])
    for text, column in zip(texts[1:], columns, strict=True):
        to = max(column, at + 1)
        tabs = to // 8 - at // 8
        line += "\t" * tabs + " " * (to % 8 if tabs else to - at) + text
        at = to + len(text)
    return line
