"""Describe the world both engines run: DNS, hosts with Postfix settings, users, links, workload.

A scenario is loaded from YAML (:func:`load_scenario`) or built from dicts
(:func:`scenario_from_dict`) with the same checks; a host can also be configured from a real
main.cf (:func:`host_from_main_cf`). Every record is a frozen dataclass from
:mod:`mailsim.scenario.model`; the shapes of a stream's traffic (issue 5) are in
:mod:`mailsim.scenario.shape` and the per-user organisation description in
:mod:`mailsim.scenario.organisation`.
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
from mailsim.scenario.organisation import (
    Organisation,
    SpamSource,
    compile_organisation,
    with_organisation,
)
from mailsim.scenario.postfix import PostfixSettings
from mailsim.scenario.shape import (
    AttachmentMixture,
    Burst,
    LognormalPareto,
    Profile,
    ZipfCount,
)

__all__ = [
    "AttachmentMixture",
    "Burst",
    "Capacity",
    "DNSConfig",
    "Distribution",
    "FetchConfig",
    "Host",
    "Link",
    "LognormalPareto",
    "MXRecord",
    "Organisation",
    "PostfixSettings",
    "Profile",
    "Scenario",
    "SpamSource",
    "Stream",
    "User",
    "Weighted",
    "Workload",
    "ZipfCount",
    "Zone",
    "compile_organisation",
    "host_from_main_cf",
    "load_scenario",
    "scenario_from_dict",
    "with_organisation",
]
