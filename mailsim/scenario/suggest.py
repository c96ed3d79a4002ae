"""The vocabulary of the scenario YAML format, and the closest known word for a misspelt one.

Every mapping of the format has a closed set of keys, listed here once so that the loader, its
error messages and the documentation agree. A misspelt key or value gets the closest known word
(:func:`difflib.get_close_matches`), as ``postconf -n`` warns about a mistyped parameter name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from mailsim.scenario.postfix import KNOWN_UNMODELLED, POSTFIX_DEFAULTS

__all__ = [
    "DISTRIBUTION_PARAMETERS",
    "BEHAVIOUR_KEYS",
    "BURST_KEYS",
    "ORGANISATION_KEYS",
    "POPULARITY_KEYS",
    "PROFILE_KEYS",
    "PROFILE_NAMES",
    "SIZE_LAW_KEYS",
    "SPAM_KEYS",
    "ZIPF_KEYS",
    "DNS_FAULT_KEYS",
    "DNS_FAULT_KINDS",
    "DNS_KEYS",
    "GREYLIST_KEYS",
    "OUTAGE_KEYS",
    "REPLY_RULE_KEYS",
    "SMTP_STAGES",
    "FETCH_KEYS",
    "HEADER_SET_KEYS",
    "HOST_KEYS",
    "LINK_KEYS",
    "MDA_ACTIONS",
    "MDA_RULE_KEYS",
    "MX_KEYS",
    "POSTFIX_PARAMETERS",
    "STREAM_KEYS",
    "TOP_KEYS",
    "USER_KEYS",
    "WEIGHTED_KEYS",
    "WORKLOAD_KEYS",
    "ZONE_KEYS",
    "closest",
]

TOP_KEYS = (
    "name",
    "description",
    "seed",
    "duration",
    "drain",
    "dns",
    "hosts",
    "users",
    "links",
    "workload",
)
DNS_KEYS = ("lookup_time", "zones", "faults")
ZONE_KEYS = ("ttl", "mx", "a")
MX_KEYS = ("preference", "exchange")
HOST_KEYS = (
    "address",
    "network",
    "services",
    "mailbox_format",
    "main_cf",
    "aliases_file",
    "aliases",
    "postfix",
    "capacity",
    "mda_rules",
    "behaviour",
)
USER_KEYS = (
    "address",
    "host",
    "password",
    "client_address",
    "submit_host",
    "submit_service",
    "sasl",
    "fetch",
    "mda_rules",
)
FETCH_KEYS = ("protocol", "interval", "host")
# faults (issue 3): a host's misbehaving SMTP server, the resolver's failures
BEHAVIOUR_KEYS = ("down", "replies", "greylist", "session_limit", "session_limit_reply")
OUTAGE_KEYS = ("start", "end")
REPLY_RULE_KEYS = ("reply", "stage", "probability", "start", "end", "recipients")
GREYLIST_KEYS = ("delay", "reply")
SMTP_STAGES = ("connect", "helo", "mail", "rcpt", "data")
DNS_FAULT_KEYS = ("domain", "kind", "start", "end")
DNS_FAULT_KINDS = ("servfail", "timeout", "nxdomain")
LINK_KEYS = ("between", "latency", "bandwidth")
WORKLOAD_KEYS = ("streams", "organisation")
STREAM_KEYS = (
    "name",
    "rate",
    "start",
    "stop",
    "senders",
    "recipients",
    "recipients_per_message",
    "size",
    "connect_to",
    "client_address",
    "service",
    "headers",
    # shapes (issue 5), see scenario/shape.py
    "profile",
    "burst",
    "remote_recipients",
    "remote_share",
    "popularity",
)
#: ``profile: {...}``: hourly and weekly weights, and the weekday and time the run starts at.
PROFILE_KEYS = ("hourly", "weekly", "origin")
#: Named profiles for ``profile``, ``profile.hourly`` and ``profile.weekly``.
PROFILE_NAMES = ("office", "flat")
BURST_KEYS = ("at", "messages", "over", "rate")
POPULARITY_KEYS = ("senders", "recipients")
#: Size laws beyond DISTRIBUTION_PARAMETERS (``dist`` -> its keys; lognormal_pareto takes ``mu``
#: or ``median``).
SIZE_LAW_KEYS: dict[str, tuple[str, ...]] = {
    "lognormal_pareto": ("mu", "median", "sigma", "threshold", "alpha"),
    "mixture": ("body", "attachment_share", "attachment"),
}
ZIPF_KEYS = ("dist", "s", "max")
#: ``workload.organisation``: the per-user description (scenario/organisation.py).
ORGANISATION_KEYS = (
    "domain",
    "host",
    "users",
    "messages_per_user_per_day",
    "peak_hour_share",
    "outside_share",
    "inbound_per_user_per_day",
    "spam_share",
    "profile",
    "correspondents",
    "popularity",
    "recipients_per_message",
    "size",
    "spam",
    "fetch",
)
SPAM_KEYS = ("senders", "client_address", "size", "recipients_per_message")
WEIGHTED_KEYS = ("address", "weight")
#: ``streams[i].headers`` items: one set of message headers and its weight.
HEADER_SET_KEYS = ("headers", "weight")
#: An MDA recipe (``hosts.<name>.mda_rules[i]``, ``users[i].mda_rules[i]``), model.MDARule.
MDA_RULE_KEYS = (
    "action",
    "name",
    "header",
    "pattern",
    "sender",
    "min_size",
    "max_size",
    "folder",
    "forward_to",
    "vacation_period",
    "vacation_text",
)
MDA_ACTIONS = ("folder", "discard", "forward", "vacation")

#: Distribution kind -> the parameters it takes (besides ``dist``), see model.Distribution.
DISTRIBUTION_PARAMETERS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "exponential": ("mean",),
    "uniform": ("low", "high"),
    "lognormal": ("median", "sigma"),
}

#: Every parameter name a YAML ``postfix:`` block may set.
POSTFIX_PARAMETERS: frozenset[str] = frozenset(POSTFIX_DEFAULTS) | KNOWN_UNMODELLED


def closest(word: object, known: Iterable[str]) -> str:
    """Return the known word closest to ``word``, or "" when none is close enough."""
    matches = difflib.get_close_matches(str(word), sorted(known), n=1, cutoff=0.6)
    return matches[0] if matches else ""
