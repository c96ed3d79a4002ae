"""Postfix main.cf parameters: defaults, ``$name`` expansion, typed access, main.cf, aliases.

A host's settings are kept as Postfix keeps them, raw strings per parameter name, and expanded on
use the way postconf(5) describes: ``$name``, ``${name}`` and ``$(name)`` substitute another
parameter (an undefined one is empty), ``${name?value}`` and ``${name?{value}}`` give ``value``
when ``name`` is non-empty, ``${name:value}`` and ``${name:{value}}`` when it is empty,
``${name?{value1}:{value2}}`` chooses between two values (Postfix 3.0), and ``$$`` is a literal
``$``. Parameters a scenario does not set take the Postfix 3.x default (compatibility_level 3.6,
the value a new Postfix installation has).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from mailsim.scenario.configfile import MainCfEntry, parse_aliases, parse_main_cf, read_main_cf
from mailsim.units import parse_duration, parse_size

__all__ = [
    "BOOLEAN_PARAMETERS",
    "INTEGER_PARAMETERS",
    "KNOWN_UNMODELLED",
    "POSTFIX_DEFAULTS",
    "RELAY_CONTROL_RESTRICTIONS",
    "has_relay_control",
    "parse_feedback",
    "SUPPORTED_RESTRICTIONS",
    "TIME_PARAMETERS",
    "MainCfEntry",
    "PostfixSettings",
    "parse_aliases",
    "parse_main_cf",
    "read_main_cf",
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
    "luser_relay": "",
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
    "smtpd_hard_error_limit": "${stress?{1}:{20}}",
    "smtpd_soft_error_limit": "10",
    "smtpd_timeout": "${stress?{10}:{300}}s",
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
    "mail_name": "Postfix",
    # smtpd(8) restrictions and their reply codes
    "smtpd_reject_unlisted_recipient": "yes",
    "relay_domains_reject_code": "554",
    "reject_code": "554",
    "defer_code": "450",
    "unknown_address_reject_code": "450",
    "non_fqdn_reject_code": "504",
    "show_user_unknown_table_name": "yes",
    "allow_untrusted_routing": "no",
    # trivial-rewrite(8)
    "allow_percent_hack": "yes",
    "swap_bangpath": "yes",
    "relayhost": "",
    # local(8) and bounce(8)
    "double_bounce_sender": "double-bounce",
    # --- smtpd(8) of the live servers (issue 4) ---
    "smtpd_helo_required": "no",
    "smtpd_client_connection_count_limit": "50",
    "smtpd_recipient_overshoot_limit": "1000",
    "smtpd_tls_received_header": "no",
    "broken_sasl_auth_clients": "no",
    "smtputf8_enable": "yes",
    # --- qmgr(8) scheduler, retries and notifications (issue 3: queue manager) ---
    # SCHEDULER_README "Concurrency configuration parameters"; transport-specific names default
    # to the default_ ones as postconf -d shows them
    "default_destination_concurrency_positive_feedback": "1",
    "default_destination_concurrency_negative_feedback": "1",
    "default_destination_concurrency_failed_cohort_limit": "1",
    "smtp_initial_destination_concurrency": "$initial_destination_concurrency",
    "smtp_destination_concurrency_positive_feedback": (
        "$default_destination_concurrency_positive_feedback"
    ),
    "smtp_destination_concurrency_negative_feedback": (
        "$default_destination_concurrency_negative_feedback"
    ),
    "smtp_destination_concurrency_failed_cohort_limit": (
        "$default_destination_concurrency_failed_cohort_limit"
    ),
    "local_initial_destination_concurrency": "$initial_destination_concurrency",
    "local_destination_concurrency_positive_feedback": (
        "$default_destination_concurrency_positive_feedback"
    ),
    "local_destination_concurrency_negative_feedback": (
        "$default_destination_concurrency_negative_feedback"
    ),
    "local_destination_concurrency_failed_cohort_limit": (
        "$default_destination_concurrency_failed_cohort_limit"
    ),
    # bounce(8): how much of the original message a non-delivery notification returns
    "bounce_size_limit": "50000",
    # not Postfix: "postfix" models qmgr_queue.c's feedback arithmetic (Postfix 3.x), "readme"
    # SCHEDULER_README's pseudocode (mailsim.policy.scheduler explains the difference)
    "mailsim_concurrency_feedback_style": "postfix",
    # --- smtp(8) client and DNS (issue 3: DNS, network and faults) ---
    # smtp_connect_timeout, smtp_mx_address_limit and smtp_mx_session_limit are listed above
    "smtp_randomize_addresses": "yes",
    "smtp_skip_5xx_greeting": "yes",
    "smtp_defer_if_no_mx_address_found": "no",
    "smtpd_banner": "$myhostname ESMTP $mail_name",
}

# Real main.cf files set many parameters that mailsim accepts but does not model (yet). Naming
# them here lets a file load cleanly while a misspelt parameter is still caught with a suggestion.
KNOWN_UNMODELLED: frozenset[str] = frozenset(
    """
 append_dot_mydomain biff command_directory daemon_directory
 data_directory debug_peer_level html_directory inet_protocols mail_owner
 mail_version maillog_file mailq_path manpage_directory meta_directory newaliases_path
 queue_directory readme_directory sample_directory sendmail_path setgid_group
 shlib_directory smtp_dns_support_level smtp_host_lookup smtp_tls_CAfile smtp_tls_CApath
 smtp_tls_note_starttls_offer smtp_tls_security_level smtp_tls_session_cache_database
 smtp_use_tls smtpd_client_restrictions smtpd_data_restrictions
 smtpd_forbid_bare_newline smtpd_helo_restrictions smtpd_sasl_local_domain
 smtpd_sasl_path smtpd_sasl_security_options smtpd_sasl_type smtpd_sender_restrictions
 smtpd_tls_CAfile smtpd_tls_CApath smtpd_tls_cert_file smtpd_tls_chain_files smtpd_tls_key_file
 smtpd_tls_loglevel smtpd_tls_security_level
 smtpd_tls_session_cache_database smtpd_tls_session_cache_timeout smtpd_use_tls
 tls_random_source transport_maps unknown_local_recipient_reject_code_legacy
 virtual_alias_domains virtual_alias_maps
 """.split()  # noqa: SIM905 - a word list reads better than 60 quoted lines
)

#: The smtpd restrictions mailsim's policy implements, in smtpd_recipient_restrictions and
#: smtpd_relay_restrictions (postconf(5); the policy engine imports this list).
#: ``permit``/``reject``/``defer`` end a list; ``permit_mynetworks`` matches the client against
#: mynetworks; ``permit_sasl_authenticated`` an authenticated client; ``permit_auth_destination``
#: and ``reject_unauth_destination``/``defer_unauth_destination`` compare the recipient domain
#: with mydestination and relay_domains; ``reject_unlisted_recipient`` looks the recipient up in
#: local_recipient_maps; ``reject_unknown_recipient_domain`` needs an MX or A record for it;
#: ``reject_non_fqdn_recipient`` needs a fully-qualified recipient domain.
SUPPORTED_RESTRICTIONS: tuple[str, ...] = (
    "permit",
    "reject",
    "defer",
    "permit_mynetworks",
    "permit_sasl_authenticated",
    "permit_auth_destination",
    "reject_unauth_destination",
    "defer_unauth_destination",
    "reject_unlisted_recipient",
    "reject_unknown_recipient_domain",
    "reject_non_fqdn_recipient",
)

#: smtpd refuses to start unless smtpd_relay_restrictions or smtpd_recipient_restrictions holds
#: one of these (postconf(5) smtpd_recipient_restrictions; defer_if_permit and the obsolete
#: check_relay_domains count too, but mailsim does not model them).
RELAY_CONTROL_RESTRICTIONS: frozenset[str] = frozenset(
    {"reject", "defer", "reject_unauth_destination", "defer_unauth_destination"}
)


def has_relay_control(names: Iterable[str]) -> bool:
    """Return whether a restriction list can refuse relaying, as smtpd's start-up check sees it
    (smtpd_check.c has_required()): a relay-control restriction before any ``permit``, since
    what follows ``permit`` never runs."""
    for name in names:
        if name.lower() == "permit":
            return False
        if name.lower() in RELAY_CONTROL_RESTRICTIONS:
            return True
    return False


#: Parameters whose value is a decimal integer (postconf(5) gives each as "default: N").
INTEGER_PARAMETERS: frozenset[str] = frozenset(
    {name for name in POSTFIX_DEFAULTS if name.endswith("_limit")}
    | {"initial_destination_concurrency", "unknown_local_recipient_reject_code"}
    | {"smtpd_recipient_overshoot_limit"}
)
#: Parameters whose value is a time: a number with an optional unit s, m, h, d or w.
TIME_PARAMETERS: frozenset[str] = frozenset(
    {
        "queue_run_delay",
        "minimal_backoff_time",
        "maximal_backoff_time",
        "maximal_queue_lifetime",
        "bounce_queue_lifetime",
        "delay_warning_time",
        "smtp_connect_timeout",
        "smtpd_timeout",
    }
)
#: Parameters whose value is ``yes`` or ``no`` (case does not matter to Postfix).
BOOLEAN_PARAMETERS: frozenset[str] = frozenset(
    {"smtpd_sasl_auth_enable", "smtpd_tls_auth_only", "disable_vrfy_command"}
    | {"smtp_randomize_addresses", "smtp_skip_5xx_greeting", "smtp_defer_if_no_mx_address_found"}
    | {"smtpd_helo_required", "smtpd_tls_received_header", "broken_sasl_auth_clients"}
    | {"smtputf8_enable"}
)

_NAME = re.compile(r"[A-Za-z0-9_]+")
_LIST_SPLIT = re.compile(r"[\s,]+")


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
        """Expand ``$name`` references in ``text`` as postconf(5) describes.

        Raises ValueError for a reference loop or a malformed ``${...}``.
        """
        if _depth > 20:
            raise ValueError(f"parameter expansion loops: {text!r}")
        out: list[str] = []
        pos = 0
        while (dollar := text.find("$", pos)) >= 0:
            out.append(text[pos:dollar])
            pos = self._reference(text, dollar, out, _depth)
        out.append(text[pos:])
        return "".join(out)

    def _reference(self, text: str, dollar: int, out: list[str], depth: int) -> int:
        """Expand the reference starting at ``text[dollar]`` into ``out``; return where it ends."""
        after = text[dollar + 1 : dollar + 2]
        if after == "$":
            out.append("$")
            return dollar + 2
        if after not in ("{", "("):
            match = _NAME.match(text, dollar + 1)
            if not match:  # a lone "$" stays as it is
                out.append("$")
                return dollar + 1
            out.append(self._lookup(match.group(), depth))
            return match.end()
        close = _matching(text, dollar + 1)
        inner = text[dollar + 2 : close]
        if after == "(":
            if not _NAME.fullmatch(inner):
                raise ValueError(f"bad parameter reference {text[dollar : close + 1]!r}")
            out.append(self._lookup(inner, depth))
            return close + 1
        name, op, arg = _split_conditional(inner)
        value = self._lookup(name, depth)
        if not op:
            out.append(value)
        elif (op == "?") == bool(value):
            out.append(self.expand(arg[0], depth + 1))
        elif len(arg) > 1:
            out.append(self.expand(arg[1], depth + 1))
        return close + 1

    def _lookup(self, name: str, depth: int) -> str:
        raw = self.get(name, "")
        return self.expand(raw, depth + 1) if "$" in raw else raw

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


def _matching(text: str, open_at: int) -> int:
    """Return the index of the bracket closing the one at ``text[open_at]`` (nesting counts)."""
    opener = text[open_at]
    closer = "}" if opener == "{" else ")"
    depth = 0
    for index in range(open_at, len(text)):
        if text[index] == opener:
            depth += 1
        elif text[index] == closer:
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"unbalanced {opener!r} in {text[open_at - 1 :]!r}")


def _split_conditional(inner: str) -> tuple[str, str, tuple[str, ...]]:
    """Split the inside of ``${...}`` into name, operator and the value(s) it may produce."""
    match = _NAME.match(inner)
    if not match:
        raise ValueError(f"bad parameter reference ${{{inner}}}")
    name, rest = match.group(), inner[match.end() :]
    if not rest:
        return name, "", ()
    op, arg = rest[0], rest[1:]
    if op not in "?:":
        raise ValueError(f"bad parameter reference ${{{inner}}}")
    if not arg.startswith("{"):
        return name, op, (arg,)
    end = _matching(arg, 0)
    first, tail = arg[1:end], arg[end + 1 :]
    if not tail:
        return name, op, (first,)
    if op == "?" and tail.startswith(":{") and _matching(tail, 1) == len(tail) - 1:
        return name, op, (first, tail[2:-1])
    raise ValueError(f"bad parameter reference ${{{inner}}}")


_FEEDBACK = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(?:/\s*([A-Za-z_]+|[0-9]*\.?[0-9]+))?\s*$")


def parse_feedback(text: str, name: str = "feedback") -> tuple[float, str]:
    """Parse a *_destination_concurrency_{positive,negative}_feedback value: ``1``, ``0.25``,
    ``1/4``, ``1/concurrency`` or ``1/sqrt_concurrency`` (qmgr_feedback.c
    qmgr_feedback_init()). Return (base, divisor) with divisor "", "concurrency" or
    "sqrt_concurrency"; raise ValueError quoting a bad value.

    Postfix warns and uses 1 for a malformed value or one outside [0, 1]; a scenario is better
    served by an error.
    """
    match = _FEEDBACK.match(text)
    if match is None:
        raise ValueError(f"{name} = {text!r}: expected x, x/y, x/concurrency or x/sqrt_concurrency")
    base, below = float(match.group(1)), match.group(2)
    divisor = ""
    if below in ("concurrency", "sqrt_concurrency"):
        divisor = below
    elif below is not None:
        try:
            denominator = float(below)
        except ValueError:
            raise ValueError(f"{name} = {text!r}: unknown divisor {below!r}") from None
        if denominator <= 0:
            raise ValueError(f"{name} = {text!r}: divisor must be positive")
        base /= denominator
    if not 0.0 <= base <= 1.0:
        raise ValueError(f"{name} = {text!r}: feedback must be between 0 and 1")
    return base, divisor
