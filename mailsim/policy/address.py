"""Split, qualify and compare mail addresses the way Postfix's address code does.

Postfix keeps the local part as written and folds the domain to lower case; table lookups
(passwd, aliases, local_recipient_maps) fold the local part too. These helpers are pure string
functions; the caller caches results where they sit on a hot path.
"""

from __future__ import annotations

import re

__all__ = [
    "canonical",
    "is_null_sender",
    "split_address",
    "split_extension",
    "strip_brackets",
    "valid_domain",
]

# A host name as valid_hostname(3) accepts it: labels of letters, digits, "-" and "_", at most
# 63 characters each, not starting or ending with "-", 255 characters in all.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"(?=.{{1,255}}$){_LABEL}(?:\.{_LABEL})*")
_LITERAL = re.compile(r"\[(?:IPv6:)?[0-9A-Fa-f.:]+\]")


def strip_brackets(address: str) -> str:
    """Return ``address`` without surrounding white space and ``<...>`` (RFC 5321 path)."""
    address = address.strip()
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1].strip()
    return address


def split_address(address: str) -> tuple[str, str]:
    """Return (local part, domain); the domain is what follows the last ``@`` ("" if none)."""
    local, at, domain = address.rpartition("@")
    if not at:
        return address, ""
    return local, domain


def canonical(address: str, myorigin: str) -> str:
    """Return the canonical form of ``address``, as cleanup(8) and trivial-rewrite(8) make it.

    An unqualified address gets ``@$myorigin`` (append_at_myorigin = yes); the domain is folded
    to lower case and loses one trailing dot; the null address ``<>`` stays "".
    """
    address = strip_brackets(address)
    if not address:
        return ""
    local, domain = split_address(address)
    if not domain:
        return f"{local}@{myorigin}"
    domain = domain.lower()
    if domain.endswith(".") and not domain.endswith(".."):
        domain = domain[:-1]
    return f"{local}@{domain}"


def split_extension(local: str, delimiters: str) -> tuple[str, str]:
    """Return (user, extension) of a local part, as split_addr(3) splits it.

    ``delimiters`` is recipient_delimiter: a set of characters, the first one present splits.
    Postfix never splits postmaster, MAILER-DAEMON and double-bounce, and with ``-`` among the
    delimiters it leaves owner-list and list-request whole for backwards compatibility. A split
    that would leave an empty user is not made.
    """
    if not delimiters:
        return local, ""
    lowered = local.lower()
    if lowered in ("postmaster", "mailer-daemon", "double-bounce"):
        return local, ""
    if "-" in delimiters and (
        lowered.startswith("owner-") or (len(lowered) > 8 and lowered.endswith("-request"))
    ):
        return local, ""
    for index, char in enumerate(local):
        if char in delimiters:
            if index == 0:
                return local, ""
            return local[:index], local[index + 1 :]
    return local, ""


def valid_domain(domain: str) -> bool:
    """Return whether ``domain`` is a valid host name or an address literal (``[1.2.3.4]``)."""
    if domain.startswith("["):
        return _LITERAL.fullmatch(domain) is not None
    return _HOSTNAME.fullmatch(domain) is not None


def is_null_sender(sender: str) -> bool:
    """Return whether ``sender`` is the null reverse-path of a bounce.

    Postfix stores it as "" and prints it as ``from=<>``; mailq and some logs show it as
    ``MAILER-DAEMON``.
    """
    sender = strip_brackets(sender)
    return not sender or sender.upper() == "MAILER-DAEMON"
