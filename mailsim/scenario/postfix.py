"""Postfix main.cf parameters: defaults, ``$name`` expansion, typed access, main.cf and aliases files.

A host's settings are kept as Postfix keeps them, raw strings per parameter name, and expanded on
use the way postconf(5) describes: ``$name``, ``${name}`` and ``$(name)`` substitute another
parameter, ``${name?value}`` gives ``value`` when ``name`` is non-empty, ``${name:value}`` when it
is empty, and ``$$`` is a literal ``$``. Parameters a scenario does not set take the Postfix 3.x
default (compatibility_level 3.6, the value a new Postfix installation has).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mailsim.units import parse_duration, parse_size

__all__ = [
    "POSTFIX_DEFAULTS",
    "KNOWN_UNMODELLED",
    "PostfixSettings",
    "parse_main_cf",
    "parse_aliases",
    "MainCfEntry",
]

# Postfix 3.x defaults (postconf -d, compatibility_level = 3.6) for the parameters mailsim models.
# myhostname and mydomain depend on the host; PostfixSettings fills them in.
POSTFIX_DEFAULTS: dict[str, str] = {
    "myhostname": "",
    "mydomain": "",
    "myorigin": "$myhostname",
    "mydestination": "$myhostname, localhost.$mydomain, localhost",
    "mynetworks_style": "host",
    "mynetworks": "",
    "relay_domains": "",
    "inet_interfaces": "all",
    "alias_maps": "hash:/etc/aliases",
    "alias_database": "hash:/etc/aliases",
    "local_recipient_maps": "proxy:unix:passwd.byname $alias_maps",
    "unknown_local_recipient_reject_code": "550",
    "recipient_delimiter": "",
    "message_size_limit": "10240000",
    "mailbox_size_limit": "51200000",
    "smtpd_relay_restrictions": (
        "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"
    ),
    "smtpd_recipient_restrictions": "",
    "smtpd_sasl_auth_enable": "no",
    "smtpd_tls_auth_only": "no",
    "smtpd_recipient_limit": "1000",
    "smtpd_hard_error_limit": "${stress?1}${stress:20}",
    "smtpd_soft_error_limit": "10",
    "smtpd_timeout": "${stress?10}${stress:300}s",
    "disable_vrfy_command": "no",
    "default_process_limit": "100",
    "smtpd_process_limit": "$default_process_limit",
    "cleanup_process_limit": "$default_process_limit",
    "trivial_rewrite_process_limit": "$default_process_limit",
    "smtp_process_limit": "$default_process_limit",
    "local_process_limit": "$default_process_limit",
    "qmgr_message_active_limit": "20000",
    "qmgr_message_recipient_limit": "20000",
    "queue_run_delay": "300s",
    "minimal_backoff_time": "300s",
    "maximal_backoff_time": "4000s",
    "maximal_queue_lifetime": "5d",
    "bounce_queue_lifetime": "5d",
    "delay_warning_time": "0h",
    "default_destination_concurrency_limit": "20",
    "smtp_destination_concurrency_limit": "$default_destination_concurrency_limit",
    "local_destination_concurrency_limit": "2",
    "initial_destination_concurrency": "5",
    "default_destination_recipient_limit": "50",
    "smtp_destination_recipient_limit": "$default_destination_recipient_limit",
    "local_destination_recipient_limit": "1",
    "smtp_connect_timeout": "30s",
    "smtp_mx_address_limit": "5",
    "smtp_mx_session_limit": "2",
    "mail_spool_directory": "/var/mail",
    "home_mailbox": "",
    "mailbox_command": "",
    "compatibility_level": "3.6",
    "stress": "",
}

# Real main.cf files set many parameters that mailsim accepts but does not model (yet). Naming
# them here lets a file load cleanly while a misspelt parameter is still caught with a suggestion.
KNOWN_UNMODELLED: frozenset[str] = frozenset(
    """
    append_dot_mydomain biff broken_sasl_auth_clients command_directory daemon_directory
    data_directory debug_peer_level html_directory inet_protocols mail_owner mailq_path
    manpage_directory maillog_file meta_directory newaliases_path readme_directory sample_directory
    sendmail_path setgid_group shlib_directory smtp_tls_note_starttls_offer smtp_use_tls
    smtp_tls_security_level smtp_tls_session_cache_database smtp_dns_support_level
    smtp_host_lookup smtpd_banner smtpd_sasl_security_options smtpd_sasl_type smtpd_sasl_path
    smtpd_sasl_local_domain smtpd_tls_CAfile smtpd_tls_cert_file smtpd_tls_key_file
    smtpd_tls_loglevel smtpd_tls_received_header smtpd_tls_security_level
    smtpd_tls_session_cache_database smtpd_tls_session_cache_timeout smtpd_use_tls
    smtpd_tls_chain_files smtpd_helo_required smtpd_helo_restrictions smtpd_client_restrictions
    smtpd_sender_restrictions smtpd_data_restrictions smtpd_forbid_bare_newline
    smtputf8_enable tls_random_source transport_maps virtual_alias_maps virtual_alias_domains
    relayhost queue_directory unknown_local_recipient_reject_code_legacy
    """.split()
)

_REFERENCE = re.compile(
    r"\$(?:\$|\{(?P<brace>[A-Za-z0-9_]+)(?:(?P<op>[?:])(?P<value>[^}]*))?\}"
    r"|\((?P<paren>[A-Za-z0-9_]+)\)|(?P<bare>[A-Za-z0-9_]+))"
)
_LIST_SPLIT = re.compile(r"[\s,]+")


@dataclass(frozen=True, slots=True)
class MainCfEntry:
    """One ``name = value`` of a main.cf, with the line it started on (for error messages)."""

    name: str
    value: str
    line: int


@dataclass(frozen=True)
class PostfixSettings(Mapping[str, str]):
    """One host's main.cf as Postfix sees it: explicit values over defaults, expanded on use.

    ``explicit`` holds what the scenario or main.cf set; lookups fall back to
    :data:`POSTFIX_DEFAULTS`, with ``myhostname`` defaulting to the host's name and ``mydomain``
    to myhostname minus its first label (postconf(5) mydomain).
    """

    hostname: str
    explicit: Mapping[str, str] = field(default_factory=dict)

    # -- Mapping protocol: the raw (unexpanded) value of every known parameter ------------------
    def __getitem__(self, name: str) -> str:
        if name in self.explicit:
            return self.explicit[name]
        if name == "myhostname":
            return self.hostname
        if name == "mydomain":
            myhostname = self.expand("$myhostname")
            return myhostname.partition(".")[2] or "localdomain"
        return POSTFIX_DEFAULTS[name]

    def __iter__(self) -> Iterator[str]:
        yield from POSTFIX_DEFAULTS
        yield from (name for name in self.explicit if name not in POSTFIX_DEFAULTS)

    def __len__(self) -> int:
        return len(POSTFIX_DEFAULTS) + sum(1 for n in self.explicit if n not in POSTFIX_DEFAULTS)

    # -- expansion and typed access ---------------------------------------------------------------
    def expand(self, text: str, _depth: int = 0) -> str:
        """Expand ``$name`` references in ``text`` as postconf(5) describes."""
        if _depth > 20:
            raise ValueError(f"parameter expansion loops: {text!r}")

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name = match.group("brace") or match.group("paren") or match.group("bare")
            raw = self.get(name, "")
            value = self.expand(raw, _depth + 1) if "$" in raw else raw
            op = match.group("op")
            if op == "?":
                return self.expand(match.group("value"), _depth + 1) if value else ""
            if op == ":":
                return "" if value else self.expand(match.group("value"), _depth + 1)
            return value

        return _REFERENCE.sub(replace, text)

    def value(self, name: str) -> str:
        """Return the expanded value of parameter ``name``."""
        return self.expand(self[name]).strip()

    def list(self, name: str) -> tuple[str, ...]:
        """Return a list-valued parameter split on commas and white space, as Postfix does."""
        return tuple(item for item in _LIST_SPLIT.split(self.value(name)) if item)

    def integer(self, name: str) -> int:
        """Return an integer parameter; raise ValueError naming the parameter if it is not one."""
        text = self.value(name)
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{name} = {text!r} is not an integer") from None

    def size(self, name: str) -> int:
        """Return a byte-count parameter (message_size_limit, mailbox_size_limit)."""
        return parse_size(self.value(name))

    def seconds(self, name: str) -> float:
        """Return a time parameter in seconds; a bare number is in seconds except where Postfix
        says otherwise (maximal_queue_lifetime and bounce_queue_lifetime default to days,
        delay_warning_time to hours)."""
        unit = {"maximal_queue_lifetime": "d", "bounce_queue_lifetime": "d"}.get(name, "s")
        if name == "delay_warning_time":
            unit = "h"
        return parse_duration(self.value(name), default_unit=unit)

    def boolean(self, name: str) -> bool:
        """Return a yes/no parameter."""
        return self.value(name).lower() in {"yes", "true", "1", "on"}

    def with_values(self, **values: str) -> PostfixSettings:
        """Return a copy with some parameters set (for sweeps and tests)."""
        return PostfixSettings(self.hostname, {**self.explicit, **values})


def parse_main_cf(text: str) -> list[MainCfEntry]:
    """Parse main.cf text into entries, as postconf(5) "syntax" describes.

    A line starting with white space continues the previous logical line; ``#`` at the start of a
    line begins a comment; blank lines are ignored. Raises ValueError (with the line number) for a
    logical line that is not ``name = value``.
    """
    entries: list[MainCfEntry] = []
    name = ""
    parts: list[str] = []
    start = 0

    def flush() -> None:
        if name:
            entries.append(MainCfEntry(name, " ".join(p for p in parts if p), start))

    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if raw[0].isspace():
            if not name:
                raise ValueError(f"line {number}: continuation line without a parameter: {raw!r}")
            parts.append(stripped)
            continue
        flush()
        key, sep, value = raw.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z0-9_]+", key):
            raise ValueError(f"line {number}: expected 'name = value', got {raw.strip()!r}")
        name, parts, start = key, [value.strip()], number
    flush()
    return entries


def parse_aliases(text: str) -> dict[str, tuple[str, ...]]:
    """Parse an aliases(5) file: ``name: value, value``; continuation lines start with white space.

    Values may be local names, addresses, ``|command`` or ``/file`` (quoted when they contain
    spaces). Raises ValueError with the line number for a line without a colon.
    """
    aliases: dict[str, tuple[str, ...]] = {}
    logical: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if raw[0].isspace() and logical:
            line, body = logical[-1]
            logical[-1] = (line, body + " " + raw.strip())
        else:
            logical.append((number, raw.strip()))
    for number, body in logical:
        name, sep, rest = body.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"line {number}: expected 'name: value, ...', got {body!r}")
        aliases[name.strip().lower()] = tuple(_split_alias_values(rest))
    return aliases


def _split_alias_values(text: str) -> Iterator[str]:
    """Split an alias right-hand side on commas outside double quotes."""
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
            continue
        if char == "," and not quoted:
            item = "".join(current).strip()
            if item:
                yield item
            current = []
            continue
        current.append(char)
    item = "".join(current).strip()
    if item:
        yield item


def read_main_cf(path: Path) -> list[MainCfEntry]:
    """Read and parse a main.cf file."""
    return parse_main_cf(path.read_text(encoding="utf-8"))
