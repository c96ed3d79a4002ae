"""Read main.cf parameters for the policy: expanded, typed, with errors that name the parameter.

Every default lives in :data:`mailsim.scenario.postfix.POSTFIX_DEFAULTS` (one table, Postfix 3.x
``postconf -d`` at compatibility_level 3.6).
"""

from __future__ import annotations

from mailsim.scenario.postfix import PostfixSettings

__all__ = ["param", "param_bool", "param_int", "param_list"]


def param(settings: PostfixSettings, name: str) -> str:
    """Return the expanded value of ``name`` (the scenario's, or Postfix's default)."""
    return settings.value(name)


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
