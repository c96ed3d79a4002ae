"""Build one Host from its scenario block: address, services, main.cf, aliases, postfix, capacity.

A host's Postfix settings come, in this order, from the defaults, a real ``main.cf`` file
(``main_cf``), and the YAML ``postfix:`` block on top. Each explicit value keeps where it came
from, so an issue about it names the main.cf line or the YAML line that set it. The checks are
the ones Postfix itself makes: integers where postconf(5) wants them, time units, yes/no,
mynetworks patterns, restriction names, and the settings smtpd and local(8) refuse to start with.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path

from mailsim.scenario.configfile import scan_aliases, scan_main_cf, split_alias_values
from mailsim.scenario.faultconf import build_behaviour
from mailsim.scenario.mdaconf import build_mda_rules
from mailsim.scenario.model import DAEMONS, SERVICES, Capacity, Distribution, Host
from mailsim.scenario.postfix import (
    BOOLEAN_PARAMETERS,
    INTEGER_PARAMETERS,
    SUPPORTED_RESTRICTIONS,
    TIME_PARAMETERS,
    PostfixSettings,
    has_relay_control,
    parse_feedback,
)
from mailsim.scenario.suggest import HOST_KEYS, POSTFIX_PARAMETERS, closest
from mailsim.scenario.traffic import mail_address
from mailsim.scenario.validate import Checker, Where, describe
from mailsim.units import parse_size

__all__ = ["build_host", "check_postfix"]

_HOSTNAME = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_DIGITS = re.compile(r"[0-9]+")
_RESTRICTION_LISTS = ("smtpd_recipient_restrictions", "smtpd_relay_restrictions")
_EXPECT_TIME = "a Postfix time value: a number with an optional unit s, m, h, d or w"
_EXPECT_RELAY = (
    "reject_unauth_destination, defer_unauth_destination, reject or defer in "
    "smtpd_relay_restrictions or smtpd_recipient_restrictions (smtpd refuses mail without one)"
)


def build_host(chk: Checker, at: Where, name: str, value: object, base_dir: Path) -> Host | None:
    """Return the host described by ``value``; problems go to ``chk``.

    A host with problems is still returned when its name is usable (with empty values where the
    input was bad) so later checks do not report a cascade of "unknown host" issues.
    """
    if not _HOSTNAME.fullmatch(name):
        chk.issue(at, "a host name such as neo.firma1.intr", repr(name))
        return None
    data = chk.fields(at, value, "host", HOST_KEYS, {"address": "the host's IP address"})
    if data is None:
        return None
    address = ""
    if data.get("address") is not None:
        address = chk.ip_address(at.key("address", data), data["address"]) or ""
    network = ""
    if data.get("network") is not None:
        network = chk.ip_network(at.key("network", data), data["network"]) or ""
        if (
            network
            and address
            and ipaddress.ip_address(address) not in ipaddress.ip_network(network)
        ):
            chk.issue(
                at.key("network", data),
                f"a network that contains the host address {address}",
                describe(data["network"]),
            )
    services: list[str] = []
    raw_services = chk.sequence(at.key("services", data), data.get("services", ["smtp"]))
    for index, item in enumerate(raw_services or ()):
        where = at.key("services", data).index(index, raw_services)
        service = chk.choice(where, item, SERVICES, "a service")
        if service and service not in services:
            services.append(service)
    mailbox_format = chk.choice(
        at.key("mailbox_format", data),
        data.get("mailbox_format", "maildir"),
        ("maildir", "mbox"),
        "a mailbox format",
    )
    settings = _settings(chk, at, name, data, base_dir)
    rules = build_mda_rules(chk, at.key("mda_rules", data), data.get("mda_rules"), mail_address)
    return Host(
        name=name,
        address=address,
        postfix=settings,
        services=tuple(services),
        network=network,
        aliases=_aliases(chk, at, data, base_dir),
        capacity=_capacity(chk, at.key("capacity", data), data.get("capacity")),
        mailbox_format="mbox" if mailbox_format == "mbox" else "maildir",
        mda_rules=rules,
        behaviour=build_behaviour(chk, at.key("behaviour", data), data.get("behaviour")),
    )


def _settings(
    chk: Checker, at: Where, name: str, data: Mapping[object, object], base_dir: Path
) -> PostfixSettings:
    """Merge main.cf and the ``postfix:`` block over the defaults, then check the result."""
    explicit: dict[str, str] = {}
    origins: dict[str, Where] = {}
    if data.get("main_cf") is not None:
        _read_main_cf(chk, at, data, base_dir, explicit, origins)
    block = chk.mapping(at.key("postfix", data), data.get("postfix"))
    for key, raw in (block or {}).items():
        where = at.key("postfix", data).key(key, block)
        if key not in POSTFIX_PARAMETERS:
            hint = closest(key, POSTFIX_PARAMETERS)
            chk.issue(where, "a known Postfix parameter", str(key), hint)
            continue
        setting = _main_cf_value(chk, where, raw)
        if setting is not None:
            explicit[str(key)], origins[str(key)] = setting, where
    settings = PostfixSettings(name, explicit)
    check_postfix(chk, at.key("postfix"), settings, origins)
    return settings


def _read_main_cf(
    chk: Checker,
    at: Where,
    data: Mapping[object, object],
    base_dir: Path,
    explicit: dict[str, str],
    origins: dict[str, Where],
) -> None:
    """Add the settings of the host's main.cf to ``explicit``, each with its file and line.

    A parameter mailsim does not know is kept with a warning: Postfix accepts user-defined
    parameters in main.cf (they can be referenced as ``$name``).
    """
    loaded = _read(chk, at.key("main_cf", data), data["main_cf"], base_dir, "main.cf")
    if loaded is None:
        return
    file, text = loaded
    entries, errors = scan_main_cf(text)
    for error in errors:
        chk.issue(at.key("main_cf").at_line(file, error.line), error.expected, repr(error.text))
    for entry in entries:
        origin = at.key("postfix").key(entry.name).at_line(file, entry.line)
        explicit[entry.name], origins[entry.name] = entry.value, origin
        if entry.name not in POSTFIX_PARAMETERS:
            hint = closest(entry.name, POSTFIX_PARAMETERS)
            text = "not a parameter mailsim knows; kept, as Postfix keeps user-defined ones"
            chk.warn(origin, text + (f" (did you mean {hint!r}?)" if hint else ""))


def _main_cf_value(chk: Checker, at: Where, value: object) -> str | None:
    """Return a YAML value as main.cf text: yes/no for booleans, a list joined with commas."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value).strip()
    if isinstance(value, list | tuple) and all(isinstance(v, str | int) for v in value):
        return ", ".join(str(v) for v in value)
    chk.issue(at, "a main.cf value: text, a number, yes/no or a list", describe(value))
    return None


def check_postfix(
    chk: Checker, at: Where, settings: PostfixSettings, origins: Mapping[str, Where]
) -> None:
    """Report explicit parameters Postfix would reject, and combinations it will not run with.

    ``at`` is the place of the ``postfix`` block; ``origins`` where each explicit value was set.
    """
    for name, where in origins.items():
        try:
            value = settings.value(name)
        except ValueError as exc:
            chk.issue(where, "$name references that expand (postconf(5))", str(exc))
            continue
        _check_parameter(chk, where, name, value)
    try:
        lists = {name: settings.list(name) for name in _RESTRICTION_LISTS}
        limits = {
            name: settings.value(name) for name in ("mailbox_size_limit", "message_size_limit")
        }
    except ValueError:
        return  # already reported above
    if not any(has_relay_control(items) for items in lists.values()):
        name = next(
            (n for n in reversed(_RESTRICTION_LISTS) if n in origins), _RESTRICTION_LISTS[1]
        )
        shown = ", ".join(f"{n} = {settings.value(n)!r}" for n in _RESTRICTION_LISTS)
        chk.issue(origins.get(name, at.key(name)), _EXPECT_RELAY, shown)
    mailbox, message = limits["mailbox_size_limit"], limits["message_size_limit"]
    numbers = _DIGITS.fullmatch(mailbox) and _DIGITS.fullmatch(message)
    if numbers and 0 < int(mailbox) < int(message):
        name = "mailbox_size_limit" if "mailbox_size_limit" in origins else "message_size_limit"
        chk.issue(
            origins.get(name, at.key(name)),
            f"mailbox_size_limit >= message_size_limit ({message}) or 0 "
            "(local(8) refuses to deliver otherwise, postconf(5))",
            repr(mailbox),
            message,
        )
    if origins.get("myhostname") and settings.value("myhostname") != settings.hostname:
        chk.warn(origins["myhostname"], f"differs from the host's name {settings.hostname!r}")


def _check_parameter(chk: Checker, where: Where, name: str, value: str) -> None:
    """Check one expanded explicit parameter as Postfix would parse it."""
    if name == "unknown_local_recipient_reject_code":
        if not (_DIGITS.fullmatch(value) and 400 <= int(value) <= 599):
            chk.issue(where, "a 4xx or 5xx SMTP reply code", repr(value))
    elif name in INTEGER_PARAMETERS:
        if not _DIGITS.fullmatch(value):
            bytes_ = name in ("message_size_limit", "mailbox_size_limit")
            expected = "a whole number of bytes (main.cf takes no units)" if bytes_ else ""
            suggestion = _bytes(value) if bytes_ else ""
            chk.issue(where, expected or "a non-negative integer", repr(value), suggestion)
    elif name in TIME_PARAMETERS:
        try:
            PostfixSettings("", {name: value}).seconds(name)
        except ValueError:
            chk.issue(where, _EXPECT_TIME, repr(value))
    elif name in BOOLEAN_PARAMETERS:
        if value.lower() not in ("yes", "no"):
            chk.issue(where, "yes or no", repr(value))
    elif name.endswith(("_concurrency_positive_feedback", "_concurrency_negative_feedback")):
        try:
            parse_feedback(value, name)
        except ValueError:
            expected = "feedback x, x/y, x/concurrency or x/sqrt_concurrency between 0 and 1"
            chk.issue(where, expected, repr(value))
    elif name == "mailsim_concurrency_feedback_style":
        chk.choice(where, value, ("postfix", "readme"), "a feedback style")
    elif name == "mynetworks_style":
        chk.choice(where, value, ("host", "subnet", "class"), "a mynetworks style")
    elif name == "mynetworks":
        for item in PostfixSettings("", {name: value}).list(name):
            _check_network_pattern(chk, where, item)
    elif name in _RESTRICTION_LISTS:
        for item in PostfixSettings("", {name: value}).list(name):
            # A "type:table" or "/file" is the argument of a check_* restriction, reported itself.
            name = item.lower()  # smtpd compares restriction names without regard to case
            if ":" not in item and not item.startswith("/") and name not in SUPPORTED_RESTRICTIONS:
                expected = "an smtpd restriction mailsim supports"
                chk.issue(where, expected, repr(item), closest(item, SUPPORTED_RESTRICTIONS))


def _bytes(value: str) -> str:
    """Return ``value`` as whole bytes if it is a size with units (``20MB``), else ""."""
    try:
        return str(parse_size(value))
    except ValueError:
        return ""


def _check_network_pattern(chk: Checker, where: Where, item: str) -> None:
    """Check one mynetworks pattern: an address or network; IPv6 in brackets (postconf(5))."""
    text = item.removeprefix("!")
    if text.startswith("/") or (":" in text and not text.startswith("[")):
        chk.warn(where, f"{item!r}: a table or file in mynetworks is not modelled; ignored")
        return
    bracketed = re.fullmatch(r"\[([^\]]+)\](/[0-9]+)?", text)
    if bracketed:
        text = bracketed.group(1) + (bracketed.group(2) or "")
    try:
        ipaddress.ip_network(text)
        return
    except ValueError:
        pass
    try:
        loose = str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        chk.issue(where, "an IP address or network/prefix", repr(item))
        return
    chk.issue(where, "a network address with no host bits set", repr(item), loose)


def _read(
    chk: Checker, at: Where, ref: object, base_dir: Path, what: str
) -> tuple[str, str] | None:
    """Return (file name for messages, text) of a file the scenario names, relative to it."""
    if not isinstance(ref, str) or not ref.strip():
        chk.issue(at, f"the path of a {what} file", describe(ref))
        return None
    path = Path(ref.strip())
    if not path.is_absolute():
        path = base_dir / path
    try:
        return str(path), path.read_text(encoding="utf-8")
    except OSError as exc:
        chk.issue(at, f"a readable {what} file", f"{path} ({exc.strerror or type(exc).__name__})")
    except UnicodeDecodeError:
        chk.issue(at, f"a readable {what} file", f"{path} (not UTF-8 text)")
    return None


def _aliases(
    chk: Checker, at: Where, data: Mapping[object, object], base_dir: Path
) -> dict[str, tuple[str, ...]]:
    """Return the host's aliases(5) table: the YAML ``aliases`` first, then each file in order.

    Like alias_maps, the first table that has a name wins; within one file a repeated name keeps
    its first value, as postalias(1) does.
    """
    table: dict[str, tuple[str, ...]] = {}
    inline = chk.mapping(at.key("aliases", data), data.get("aliases"))
    for key, raw in (inline or {}).items():
        where = at.key("aliases", data).key(key, inline)
        if isinstance(raw, str):
            values = tuple(split_alias_values(raw))
        elif isinstance(raw, list | tuple) and all(isinstance(v, str) and v for v in raw):
            values = tuple(str(v) for v in raw)
        else:
            values = ()
        if not values or not isinstance(key, str):
            chk.issue(where, "an alias name with one or more destinations", describe(raw))
            continue
        table[key.lower()] = values
    refs = data.get("aliases_file")
    ref_list = chk.sequence(at.key("aliases_file", data), [refs] if isinstance(refs, str) else refs)
    for ref in ref_list or ():
        loaded = _read(chk, at.key("aliases_file", data), ref, base_dir, "aliases")
        if loaded is None:
            continue
        file, text = loaded
        entries, errors = scan_aliases(text)
        for error in errors:
            where = at.key("aliases_file").at_line(file, error.line)
            chk.issue(where, error.expected, repr(error.text))
        seen: set[str] = set()
        for entry in entries:
            if entry.name in seen:
                where = at.key("aliases").key(entry.name).at_line(file, entry.line)
                chk.warn(where, "duplicate entry; the first one is used, as postalias(1) does")
            seen.add(entry.name)
            table.setdefault(entry.name, entry.values)
    return table


def _capacity(chk: Checker, at: Where, value: object) -> Capacity:
    """Return service times per daemon; a Capacity passes through (the Python API)."""
    if isinstance(value, Capacity):
        return value
    data = chk.fields(at, value, "daemon", DAEMONS)
    times: dict[str, Distribution] = {}
    for daemon, spec in (data or {}).items():
        if daemon in DAEMONS:
            distribution = chk.distribution(at.key(daemon, data), spec, "duration")
            if distribution is not None:
                times[str(daemon)] = distribution
    return Capacity(times)
