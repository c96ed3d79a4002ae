"""mailsim: a mail-system laboratory (Postfix-style MTAs, DNS MX, MDAs, mail clients)."""

__version__ = "0.1.0"
