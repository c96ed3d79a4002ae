"""Read the main.cf parameters the policy needs that the scenario's defaults table does not list.

:data:`mailsim.scenario.postfix.POSTFIX_DEFAULTS` holds the parameters a scenario commonly sets.
The policy also honours a few more that smtpd(8), trivial-rewrite(8) and local(8) consult; their
Postfix 3.x defaults (postconf -d, compatibility_level 3.6) are kept here as a fallback: a value
the scenario sets, or an entry of POSTFIX_DEFAULTS, always wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from mailsim.scenario.postfix import PostfixSettings

__all__ = ["EXTRA_DEFAULTS", "param", "param_bool", "param_int", "param_list"]

EXTRA_DEFAULTS: Mapping[str, str] = MappingProxyType(
    {
        # smtpd(8) restrictions and their reply codes (postconf(5)).
        "smtpd_reject_unlisted_recipient": "yes",
        "relay_domains_reject_code": "554",
        "reject_code": "554",
        "defer_code": "450",
        "unknown_address_reject_code": "450",
        "non_fqdn_reject_code": "504",
        "show_user_unknown_table_name": "yes",
        "allow_untrusted_routing": "no",
        "smtpd_banner": "$myhostname ESMTP $mail_name",
        "mail_name": "Postfix",
        # trivial-rewrite(8).
        "allow_percent_hack": "yes",
        "swap_bangpath": "yes",
        "relayhost": "",
        # local(8) and the bounce daemon.
        "double_bounce_sender": "double-bounce",
    }
)


def param(settings: PostfixSettings, name: str) -> str:
    """Return the expanded value of ``name``, falling back to :data:`EXTRA_DEFAULTS`."""
    raw = settings.get(name)
    if raw is None:
        raw = EXTRA_DEFAULTS[name]
    return settings.expand(raw).strip()


def param_bool(settings: PostfixSettings, name: str) -> bool:
    """Return a yes/no parameter (postconf(5): case does not matter)."""
    return param(settings, name).lower() in {"yes", "true", "1", "on"}


def param_int(settings: PostfixSettings, name: str) -> int:
    """Return an integer parameter; raise ValueError naming it when the value is not one."""
    text = param(settings, name)
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} = {text!r} is not an integer") from None


def param_list(settings: PostfixSettings, name: str) -> tuple[str, ...]:
    """Return a list parameter split on commas and white space, as Postfix splits it."""
    return tuple(item for item in param(settings, name).replace(",", " ").split() if item)
