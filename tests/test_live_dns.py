"""The lab DNS: dnspython against the dnslib server (UDP and TCP), resolve_mx, ``mailsim dig``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from dnslib import OPCODE, DNSRecord

from mailsim.cli import main
from mailsim.live.addressing import LabPlan, LabZone, lab_plan
from mailsim.live.dns import (
    DNSLookupError,
    LabDNSServer,
    LabResolver,
    MXTarget,
    format_dig,
    resolve_mx,
)
from mailsim.scenario import load_scenario
from mailsim.scenario.model import MXRecord

FIRMA1 = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "firma1.yaml"
HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def plan() -> LabPlan:
    return lab_plan(load_scenario(FIRMA1), port_offset=0)


@pytest.fixture(scope="module")
def server(plan: LabPlan) -> Iterator[LabDNSServer]:
    with LabDNSServer(plan.zones, HOST, 0) as running:
        yield running


def ask(server: LabDNSServer, name: str, rdtype: str, *, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, use_edns=False)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, HOST, timeout=2.0, port=server.port)


def records(section: list[dns.rrset.RRset]) -> list[str]:
    return [f"{r.name} {r.ttl} {dns.rdatatype.to_text(r.rdtype)} {rd}" for r in section for rd in r]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_mx_answer_is_authoritative_with_ns_and_glue(server: LabDNSServer, tcp: bool) -> None:
    """The lecture's dig -t mx firma1.intr, with the lab's addresses."""
    response = ask(server, "firma1.intr", "MX", tcp=tcp)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert not response.flags & dns.flags.RA
    assert records(response.answer) == ["firma1.intr. 38400 MX 10 neo.firma1.intr."]
    assert records(response.authority) == ["firma1.intr. 38400 NS ns.firma1.intr."]
    assert records(response.additional) == [
        "neo.firma1.intr. 38400 A 127.0.1.4",
        "ns.firma1.intr. 38400 A 127.0.1.5",
    ]


def test_mx_records_keep_their_preferences(server: LabDNSServer) -> None:
    response = ask(server, "firma3.intr", "MX")
    assert records(response.answer) == [
        "firma3.intr. 3600 MX 10 mx1.firma3.intr.",
        "firma3.intr. 3600 MX 20 mx2.firma3.intr.",
    ]


def test_a_record_carries_the_zone_ttl(server: LabDNSServer) -> None:
    response = ask(server, "neo.firma1.intr", "A")
    assert records(response.answer) == ["neo.firma1.intr. 38400 A 127.0.1.4"]


def test_names_are_case_insensitive(server: LabDNSServer) -> None:
    response = ask(server, "NEO.Firma1.INTR", "A")
    assert [rd.address for r in response.answer for rd in r] == ["127.0.1.4"]


def test_soa_and_ns_at_the_apex(server: LabDNSServer) -> None:
    soa = ask(server, "firma2.intr", "SOA")
    assert records(soa.answer) == [
        "firma2.intr. 3600 SOA ns.firma2.intr. hostmaster.firma2.intr. 1 3600 900 604800 300"
    ]
    ns = ask(server, "firma2.intr", "NS")
    assert records(ns.answer) == ["firma2.intr. 3600 NS ns.firma2.intr."]
    assert records(ns.authority) == []
    assert records(ns.additional) == ["ns.firma2.intr. 3600 A 127.0.1.5"]


def test_unknown_name_in_a_lab_zone_is_nxdomain_with_the_soa(server: LabDNSServer) -> None:
    response = ask(server, "nic.firma1.intr", "A")
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.flags & dns.flags.AA
    assert records(response.answer) == []
    # RFC 2308 3: the SOA's TTL in a negative answer is min(TTL, minimum) = 300
    assert records(response.authority) == [
        "firma1.intr. 300 SOA ns.firma1.intr. hostmaster.firma1.intr. 1 3600 900 604800 300"
    ]


def test_a_name_without_the_type_is_nodata(server: LabDNSServer) -> None:
    response = ask(server, "neo.firma1.intr", "MX")
    assert response.rcode() == dns.rcode.NOERROR
    assert records(response.answer) == []
    assert [r.rdtype for r in response.authority] == [dns.rdatatype.SOA]


def test_a_name_outside_the_lab_zones_is_refused(server: LabDNSServer) -> None:
    response = ask(server, "example.com", "A")
    assert response.rcode() == dns.rcode.REFUSED
    assert not response.flags & dns.flags.AA


def test_edns_is_answered_with_edns(server: LabDNSServer) -> None:
    query = dns.message.make_query("firma1.intr", "MX", use_edns=0)
    response = dns.query.udp(query, HOST, timeout=2.0, port=server.port)
    assert (response.edns, response.payload) == (0, 1232)


def test_other_opcodes_are_not_implemented() -> None:
    request = DNSRecord.question("firma1.intr", "SOA")
    request.header.opcode = OPCODE.NOTIFY
    zone = LabZone("firma1.intr", 60, ("ns.firma1.intr",))
    reply = DNSRecord.parse(LabResolver([zone]).resolve(request).pack())
    assert (reply.header.rcode, reply.header.aa) == (4, 0)  # NOTIMP


def test_resolve_mx_sorts_by_preference_with_addresses(server: LabDNSServer) -> None:
    assert resolve_mx("firma3.intr", HOST, server.port) == [
        MXTarget(10, "mx1.firma3.intr", ("127.0.1.2",)),
        MXTarget(20, "mx2.firma3.intr", ("127.0.1.3",)),
    ]
    neo = (10, "neo.firma1.intr", ("127.0.1.4",))
    assert resolve_mx("FIRMA1.intr.", HOST, server.port) == [neo]


def zone_server(*zones: LabZone) -> LabDNSServer:
    return LabDNSServer(zones, HOST, 0)


def test_resolve_mx_implicit_mx_and_exchange_without_address() -> None:
    """RFC 5321 5.1: no MX records, the domain's own A record is the MX (preference 0)."""
    plain = LabZone("plain.test", 60, ("ns.plain.test",), (), {"plain.test": "127.0.1.9"})
    bare = LabZone("bare.test", 60, ("ns.bare.test",), (MXRecord(5, "mx.bare.test"),))
    nomail = LabZone("nomail.test", 60, ("ns.nomail.test",))
    with zone_server(plain, bare, nomail) as server:
        assert resolve_mx("plain.test", HOST, server.port) == [(0, "plain.test", ("127.0.1.9",))]
        assert resolve_mx("bare.test", HOST, server.port) == [(5, "mx.bare.test", ())]
        with pytest.raises(DNSLookupError, match="type=A: Host found but no data") as failure:
            resolve_mx("nomail.test", HOST, server.port)
    assert failure.value.dsn == "5.4.4"


@pytest.mark.parametrize(
    ("domain", "dsn", "text"),
    [
        ("nowhere.firma1.intr", "5.4.4", "name=nowhere.firma1.intr type=A: Host not found"),
        ("example.com", "4.4.3", "name=example.com type=MX: Host not found, try again"),
    ],
)
def test_resolve_mx_failures_carry_postfix_dsn(
    server: LabDNSServer, domain: str, dsn: str, text: str
) -> None:
    with pytest.raises(DNSLookupError, match=re.escape(text)) as failure:
        resolve_mx(domain, HOST, server.port)
    assert failure.value.dsn == dsn


def test_large_answer_is_truncated_over_udp_and_fetched_over_tcp() -> None:
    """RFC 1035 4.2.1: over 512 octets the UDP answer has TC set; dnspython retries over TCP."""
    exchanges = tuple(MXRecord(i, f"mail-exchanger-{i:02}.big.test") for i in range(40))
    big = LabZone("big.test", 60, ("ns.big.test",), exchanges)
    with zone_server(big) as server:
        query = dns.message.make_query("big.test", "MX", use_edns=False)
        udp = dns.query.udp(query, HOST, timeout=2.0, port=server.port)
        assert udp.flags & dns.flags.TC
        targets = resolve_mx("big.test", HOST, server.port)
    assert [t.exchange for t in targets] == [mx.exchange for mx in exchanges]


def test_udp_only_server_and_restart_on_the_same_port(plan: LabPlan) -> None:
    with LabDNSServer(plan.zones, HOST, 0, tcp=False) as first:
        port = first.port
        with pytest.raises(ConnectionRefusedError):
            dns.query.tcp(dns.message.make_query("firma1.intr", "MX"), HOST, 1.0, port)
    with LabDNSServer(plan.zones, HOST, port) as again:  # the sockets were closed
        assert resolve_mx("firma2.intr", HOST, again.port)[0].exchange == "mx.firma2.intr"


def test_only_loopback_addresses() -> None:
    with pytest.raises(ValueError, match=re.escape("loopback only, not on '0.0.0.0'")):
        LabDNSServer([], "0.0.0.0", 0)


LECTURE = """\
; <<>> mailsim dig <<>> -t mx firma1.intr
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 46174
;; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 1, ADDITIONAL: 2
;; WARNING: recursion requested but not available

;; QUESTION SECTION:
;firma1.intr.\t\t\tIN\tMX

;; ANSWER SECTION:
firma1.intr.\t\t38400\tIN\tMX\t10 neo.firma1.intr.

;; AUTHORITY SECTION:
firma1.intr.\t\t38400\tIN\tNS\tns.firma1.intr.

;; ADDITIONAL SECTION:
neo.firma1.intr.\t38400\tIN\tA\t127.0.1.4
ns.firma1.intr.\t\t38400\tIN\tA\t127.0.1.5

;; Query time: 0 msec
;; SERVER: 127.0.1.5#53(127.0.1.5) (UDP)
;; WHEN: Thu Jan 26 13:10:15 CET 2006
;; MSG SIZE  rcvd: 98
"""


def test_format_dig_lays_out_the_lecture_answer(server: LabDNSServer) -> None:
    query = dns.message.make_query("firma1.intr", "MX", use_edns=False)
    query.id = 46174  # the lecture's
    response = dns.query.udp(query, HOST, timeout=2.0, port=server.port)
    when = dt.datetime(2006, 1, 26, 13, 10, 15, tzinfo=dt.timezone(dt.timedelta(hours=1), "CET"))
    text = format_dig(response, "127.0.1.5", 53, command="-t mx firma1.intr", when=when)
    assert text == LECTURE


def test_mailsim_dig_prints_what_dig_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dig", "firma1.intr", "MX", "--scenario", str(FIRMA1)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("; <<>> mailsim dig <<>> @127.0.0.1 -p ")
    assert lines[0].endswith(" -t mx firma1.intr")
    assert ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: " in lines[4]
    assert lines[5] == ";; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 1, ADDITIONAL: 2"
    assert lines[1] == "; (1 server found)"
    assert lines[7:20] == LECTURE.splitlines()[6:19]
    assert lines[-3].startswith(";; SERVER: 127.0.0.1#")
    assert lines[-3].endswith("(127.0.0.1) (UDP)")
    assert lines[-1] == ";; MSG SIZE  rcvd: 98"


def test_mailsim_dig_defaults_to_a_and_speaks_tcp(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dig", "neo.firma1.intr", "--scenario", str(FIRMA1), "--tcp"]) == 0
    out = capsys.readouterr().out
    assert "neo.firma1.intr.\t38400\tIN\tA\t127.0.1.4\n" in out
    assert "(TCP)\n" in out


def test_mailsim_dig_nxdomain_and_bad_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dig", "nic.firma1.intr", "mx", "--scenario", str(FIRMA1)]) == 0
    assert "status: NXDOMAIN" in capsys.readouterr().out
    assert main(["dig", "firma1.intr", "MXX", "--scenario", str(FIRMA1)]) == 2
    assert "unknown record type 'MXX'" in capsys.readouterr().err
