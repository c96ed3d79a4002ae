"""What smtpd(8) knows about the client of one SMTP session when it decides."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClientSession"]


@dataclass(frozen=True, slots=True)
class ClientSession:
    """The client side of one SMTP session, as the restrictions see it.

    ``address`` is the client IP (permit_mynetworks); ``helo`` the HELO/EHLO name;
    ``sasl_username`` is non-empty once AUTH succeeded (permit_sasl_authenticated); ``tls`` is
    true after STARTTLS or on the smtps port. Frozen and hashable, so an engine can keep one per
    connection and key caches on it.
    """

    address: str
    helo: str = ""
    sasl_username: str = ""
    tls: bool = False
