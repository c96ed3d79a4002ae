"""Load a scenario from YAML, or from the same structure as Python dicts, checking everything.

``load_scenario("data/scenarios/firma1.yaml")`` and ``scenario_from_dict(data)`` run the same
checks and raise one :class:`~mailsim.errors.ScenarioError` listing every problem, each with the
file, the field path (``hosts[neo.firma1.intr].postfix.mynetworks``: keys with dots go in
brackets), what was expected, the closest known word for a misspelt one, and the line. Files a
host names (``main_cf``, ``aliases_file``) are read relative to the scenario file.

Top-level keys: ``name``, ``description``, ``seed``, ``duration``, ``drain``, ``dns``, ``hosts``,
``users``, ``links``, ``workload``; data/scenarios/README.md describes the whole format.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Hashable, Iterator, Mapping
from pathlib import Path

import yaml

from mailsim.errors import ScenarioError, ScenarioIssue
from mailsim.scenario.faultconf import build_dns_faults
from mailsim.scenario.hostconf import build_host
from mailsim.scenario.model import (
    Distribution,
    DNSConfig,
    Host,
    Link,
    MXRecord,
    Scenario,
    User,
    Zone,
)
from mailsim.scenario.orgconf import add_organisation
from mailsim.scenario.suggest import DNS_KEYS, LINK_KEYS, MX_KEYS, TOP_KEYS, ZONE_KEYS, closest
from mailsim.scenario.traffic import build_users, build_workload
from mailsim.scenario.validate import Checker, LineList, LineMap, Where, describe

__all__ = ["host_from_main_cf", "load_scenario", "scenario_from_dict"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read a scenario YAML file; raise ScenarioError listing every problem found."""
    file = Path(path)
    source = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ScenarioError(ScenarioIssue(source, "", "a readable scenario file", reason)) from None
    except UnicodeDecodeError:
        raise ScenarioError(ScenarioIssue(source, "", "a UTF-8 scenario file", "")) from None
    try:
        data = yaml.load(text, Loader=_MarkedLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = None if mark is None else mark.line + 1
        got = exc.problem or str(exc)
        raise ScenarioError(ScenarioIssue(source, "", "valid YAML", got, line=line)) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(ScenarioIssue(source, "", "valid YAML", str(exc))) from None
    return _build(Checker(source), data, file.parent)


def scenario_from_dict(
    data: Mapping[str, object],
    source: str = "<dict>",
    base_dir: str | os.PathLike[str] | None = None,
) -> Scenario:
    """Build a scenario from the YAML structure given as dicts and lists; same checks, same
    errors as :func:`load_scenario`. Relative file names resolve against ``base_dir`` (default:
    the current directory)."""
    return _build(Checker(source), data, Path(base_dir) if base_dir is not None else Path())


def host_from_main_cf(
    name: str,
    address: str,
    main_cf_path: str | os.PathLike[str],
    aliases_path: str | os.PathLike[str] | None = None,
    **kw: object,
) -> Host:
    """Return a Host configured from a real main.cf (and aliases) file.

    ``kw`` takes the other keys of a YAML host block (``network``, ``services``,
    ``mailbox_format``, ``postfix`` overrides, ``capacity`` as a dict or a Capacity, ``aliases``).
    Raises ScenarioError for a problem; warnings (such as user-defined parameters in main.cf) are
    only reported by the scenario loaders, on ``Scenario.warnings``.
    """
    block: dict[str, object] = {"address": address, "main_cf": os.fspath(main_cf_path), **kw}
    if aliases_path is not None:
        block["aliases_file"] = os.fspath(aliases_path)
    chk = Checker("<python>")
    host = build_host(chk, Where("<python>", "hosts").key(name), name, block, Path())
    if chk.issues or host is None:
        raise ScenarioError(chk.issues)
    return host


# -- YAML with line numbers -----------------------------------------------------------------------
class _MarkedLoader(yaml.SafeLoader):
    """A SafeLoader whose mappings and lists remember the line of each key and item."""


def _construct_map(loader: _MarkedLoader, node: yaml.MappingNode) -> Iterator[LineMap]:
    data = LineMap()
    yield data
    first_line: dict[object, int] = {}
    for key_node, _ in node.value:
        if key_node.tag != _MERGE_TAG:  # keys merged in with "<<" may be overridden
            key = _key(loader, key_node)
            line = key_node.start_mark.line + 1
            if key in first_line:
                data.duplicates.append((key, first_line[key], line))
            first_line.setdefault(key, line)
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = _key(loader, key_node)
        data.key_lines[key] = key_node.start_mark.line + 1
        data[key] = loader.construct_object(value_node, deep=True)


def _key(loader: _MarkedLoader, node: yaml.Node) -> object:
    key = loader.construct_object(node, deep=True)
    if not isinstance(key, Hashable):
        raise yaml.constructor.ConstructorError(
            None, None, "found a list or mapping as a mapping key", node.start_mark
        )
    return key


def _construct_seq(loader: _MarkedLoader, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList()
    yield data
    for child in node.value:
        data.item_lines.append(child.start_mark.line + 1)
        data.append(loader.construct_object(child, deep=True))


_MarkedLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_MarkedLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


# -- the scenario ---------------------------------------------------------------------------------
def _build(chk: Checker, value: object, base_dir: Path) -> Scenario:
    """Check and assemble the whole scenario; raise ScenarioError if anything is wrong."""
    top = Where(chk.source, "", 1 if isinstance(value, LineMap) else None)
    required = {"name": "the scenario's name", "hosts": "a mapping of host names to hosts"}
    data = chk.fields(top, value, "scenario", TOP_KEYS, required)
    if data is None:
        raise ScenarioError(chk.issues)
    name = chk.text(top.key("name", data), data["name"]) if data.get("name") is not None else ""
    description = data.get("description", "")
    if not isinstance(description, str):
        chk.issue(top.key("description", data), "a string", describe(description))
    seed = chk.integer(top.key("seed", data), data.get("seed", 0))
    duration = chk.quantity(top.key("duration", data), data.get("duration", 3600.0), "duration")
    if duration == 0:
        chk.issue(top.key("duration", data), "a duration > 0", describe(data["duration"]))
    drain = chk.quantity(top.key("drain", data), data.get("drain", 3600.0), "duration")
    dns = _dns(chk, top.key("dns", data), data.get("dns"))
    hosts: dict[str, Host] = {}
    host_map = chk.mapping(top.key("hosts", data), data.get("hosts"))
    for host_name, block in (host_map or {}).items():
        where = top.key("hosts", data).key(host_name, host_map)
        host = build_host(chk, where, str(host_name), block, base_dir)
        if host is not None:
            hosts[host.name] = host
    users = build_users(chk, top.key("users", data), data.get("users"), hosts)
    links = _links(chk, top.key("links", data), data.get("links"), hosts)
    workload = build_workload(chk, top.key("workload", data), data.get("workload"), hosts, users)
    workload, users = add_organisation(
        chk, top.key("workload", data), data.get("workload"), hosts, users, workload
    )
    _cross_check(chk, top, data, dns, hosts, users)
    if chk.issues:
        raise ScenarioError(chk.issues)
    return Scenario(
        name=name or "",
        hosts=hosts,
        dns=dns,
        users=tuple(users),
        links=tuple(links),
        workload=workload,
        seed=seed or 0,
        duration=duration or 3600.0,
        drain=3600.0 if drain is None else drain,
        source=chk.source,
        description=description.strip() if isinstance(description, str) else "",
        warnings=tuple(chk.warnings),
    )


def _dns(chk: Checker, at: Where, value: object) -> DNSConfig:
    """Return the DNS zones (MX and A records) and the resolver's lookup time."""
    data = chk.fields(at, value, "dns", DNS_KEYS)
    if data is None:
        return DNSConfig()
    lookup = Distribution.constant(0.002)
    if data.get("lookup_time") is not None:
        lookup = (
            chk.distribution(at.key("lookup_time", data), data["lookup_time"], "duration") or lookup
        )
    zones: dict[str, Zone] = {}
    zone_map = chk.mapping(at.key("zones", data), data.get("zones"))
    for origin, spec in (zone_map or {}).items():
        zone = _zone(chk, at.key("zones", data).key(origin, zone_map), str(origin), spec)
        if zone is not None:
            zones[zone.origin] = zone
    faults = build_dns_faults(chk, at.key("faults", data), data.get("faults"))
    return DNSConfig(zones=zones, lookup_time=lookup, faults=faults)


def _zone(chk: Checker, at: Where, origin: str, value: object) -> Zone | None:
    data = chk.fields(at, value, "zone", ZONE_KEYS)
    if data is None:
        return None
    origin = origin.lower().rstrip(".")
    ttl = chk.quantity(at.key("ttl", data), data.get("ttl", 3600.0), "duration")
    records: list[MXRecord] = []
    mx_items = chk.sequence(at.key("mx", data), data.get("mx")) or ()
    for index, item in enumerate(mx_items):
        record = _mx(chk, at.key("mx", data).index(index, mx_items), item)
        if record is not None:
            records.append(record)
    a_records: dict[str, str] = {}
    a_map = chk.mapping(at.key("a", data), data.get("a"))
    for name, address in (a_map or {}).items():
        where = at.key("a", data).key(name, a_map)
        owner = str(name).lower().rstrip(".")
        if owner != origin and not owner.endswith("." + origin):
            chk.issue(where, f"a name inside the zone {origin}", repr(name))
            continue
        checked = chk.ip_address(where, address, version=4)
        if checked is not None:
            a_records[owner] = checked
    return Zone(origin=origin, ttl=3600.0 if ttl is None else ttl, mx=tuple(records), a=a_records)


def _mx(chk: Checker, at: Where, value: object) -> MXRecord | None:
    """Return an MX record from ``{preference: 10, exchange: neo.firma1.intr}`` or the zone-file
    form ``"10 neo.firma1.intr"``."""
    if isinstance(value, str) and len(value.split()) == 2 and value.split()[0].isdigit():
        words = value.split()
        value = {"preference": int(words[0]), "exchange": words[1]}
    required = {"preference": "the MX preference (0-65535)", "exchange": "the mail server's name"}
    data = chk.fields(at, value, "MX record", MX_KEYS, required)
    if data is None or data.get("preference") is None or data.get("exchange") is None:
        return None
    preference = chk.integer(at.key("preference", data), data["preference"], 0)
    if preference is not None and preference > 65535:
        chk.issue(at.key("preference", data), "an MX preference 0-65535", describe(preference))
    exchange = chk.text(at.key("exchange", data), data["exchange"], "the mail server's name")
    if preference is None or exchange is None:
        return None
    return MXRecord(preference, exchange.lower().rstrip("."))


def _links(chk: Checker, at: Where, value: object, hosts: Mapping[str, Host]) -> list[Link]:
    """Return the links; one without ``between`` is the default for every other pair."""
    items = chk.sequence(at, value) or ()
    links: list[Link] = []
    seen: dict[frozenset[str], int] = {}
    for index, item in enumerate(items):
        where = at.index(index, items)
        data = chk.fields(where, item, "link", LINK_KEYS)
        if data is None:
            continue
        ends: list[str] = []
        if data.get("between") is not None:
            ends = _ends(chk, where.key("between", data), data["between"], hosts)
        usable = bool(ends) or data.get("between") is None
        key = frozenset(ends)
        if usable and key in seen:
            expected = "a pair no other link has" if ends else "at most one link without between"
            chk.issue(where.key("between", data), expected, f"same as links[{seen[key]}]")
        if usable:
            seen.setdefault(key, index)
        latency = chk.quantity(where.key("latency", data), data.get("latency", 0.001), "duration")
        bandwidth = chk.quantity(
            where.key("bandwidth", data), data.get("bandwidth", 12_500_000.0), "bandwidth"
        )
        if latency is not None and bandwidth is not None and usable:
            a, b = ends or ("", "")
            links.append(Link(a=a, b=b, latency=latency, bandwidth=bandwidth))
    return links


def _ends(chk: Checker, at: Where, value: object, hosts: Mapping[str, Host]) -> list[str]:
    """Return the two ends of a link: host names or client IP addresses."""
    expected = "two different ends: host names or client IP addresses"
    pair = chk.sequence(at, value)
    if pair is None:
        return []
    if len(pair) != 2 or pair[0] == pair[1]:
        chk.issue(at, expected, describe(value) if len(pair) != 2 else repr(list(pair)))
        return []
    ends: list[str] = []
    for index, end in enumerate(pair):
        if isinstance(end, str) and end in hosts:
            ends.append(end)
            continue
        try:
            ends.append(str(ipaddress.ip_address(end)) if isinstance(end, str) else "")
        except ValueError:
            ends.append("")
        if not ends[-1]:
            what = "a host of the scenario or a client IP address"
            chk.issue(at.index(index, pair), what, describe(end), closest(end, hosts))
    return ends if all(ends) else []


def _cross_check(
    chk: Checker,
    top: Where,
    data: Mapping[object, object],
    dns: DNSConfig,
    hosts: Mapping[str, Host],
    users: list[User],
) -> None:
    """Check what spans sections: MX targets, A records against hosts, alias targets."""
    a_records = {name: address for zone in dns.zones.values() for name, address in zone.a.items()}
    for origin, zone in dns.zones.items():
        for index, record in enumerate(zone.mx):
            where = _locate(top, data, "dns", "zones", origin, "mx", index, "exchange")
            if record.exchange not in hosts and record.exchange not in a_records:
                expected = "a host of the scenario or a name with an A record"
                known = set(hosts) | set(a_records)
                chk.issue(where, expected, repr(record.exchange), closest(record.exchange, known))
            elif record.exchange not in a_records:
                chk.warn(where, f"{record.exchange} has no A record; add one to the zone")
        for name, address in zone.a.items():
            host = hosts.get(name)
            if host is not None and host.address and host.address != address:
                where = _locate(top, data, "dns", "zones", origin, "a", name)
                chk.issue(where, f"the address of host {name}", repr(address), host.address)
    owners: dict[str, str] = {}
    for name, host in hosts.items():
        if host.address and host.address in owners:
            where = _locate(top, data, "hosts", name, "address")
            got = f"{host.address!r} (also {owners[host.address]})"
            chk.issue(where, "an address no other host has", got)
        owners.setdefault(host.address, name)
        local = {u.local_part.lower() for u in users if u.host == name}
        for alias, targets in host.aliases.items():
            for target in targets:
                bare = not target.startswith(("|", "/", ":include:")) and "@" not in target
                if bare and target.lower() not in local and target.lower() not in host.aliases:
                    where = _locate(top, data, "hosts", name, "aliases", alias)
                    chk.warn(where, f"{target!r} is neither a user of this host nor an alias")


def _locate(at: Where, value: object, *steps: str | int) -> Where:
    """Return the place of ``value[step][step]...``, with the line of the deepest part found."""
    for step in steps:
        if isinstance(step, int):
            at = at.index(step, value)
            items = value if isinstance(value, list | tuple) else ()
            value = items[step] if step < len(items) else None
        else:
            at = at.key(step, value)
            value = value.get(step) if isinstance(value, Mapping) else None
    return at
