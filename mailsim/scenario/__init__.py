"""Describe the world both engines run: DNS, hosts with Postfix settings, users, links, workload.

A scenario is loaded from YAML (:func:`load_scenario`) or built from dicts
(:func:`scenario_from_dict`) with the same checks; a host can also be configured from a real
main.cf (:func:`host_from_main_cf`). Every record is a frozen dataclass from
:mod:`mailsim.scenario.model`.
"""

from mailsim.scenario.loader import host_from_main_cf, load_scenario, scenario_from_dict
from mailsim.scenario.model import (
    Capacity,
    Distribution,
    DNSConfig,
    FetchConfig,
    Host,
    Link,
    MXRecord,
    Scenario,
    Stream,
    User,
    Weighted,
    Workload,
    Zone,
)
from mailsim.scenario.postfix import PostfixSettings

__all__ = [
    "Capacity",
    "DNSConfig",
    "Distribution",
    "FetchConfig",
    "Host",
    "Link",
    "MXRecord",
    "PostfixSettings",
    "Scenario",
    "Stream",
    "User",
    "Weighted",
    "Workload",
    "Zone",
    "host_from_main_cf",
    "load_scenario",
    "scenario_from_dict",
]
