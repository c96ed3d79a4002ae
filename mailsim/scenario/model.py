"""The scenario model: the world both engines run (DESIGN.md section 1).

Every record is a frozen dataclass. Scenarios are usually loaded from YAML
(:func:`mailsim.scenario.load_scenario`); the same records can be built in Python, and
:func:`mailsim.scenario.scenario_from_dict` accepts the YAML structure as plain dicts.
Times are float seconds, sizes bytes, rates per second.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from mailsim.scenario.faults import DNSFault, HostBehaviour
from mailsim.scenario.mda import MDARule
from mailsim.scenario.postfix import PostfixSettings

if TYPE_CHECKING:  # shape and organisation build on this module's records
    from mailsim.scenario.organisation import Organisation
    from mailsim.scenario.shape import Burst, Profile, SizeLaw, ZipfCount

__all__ = [
    "DAEMONS",
    "SERVICES",
    "Distribution",
    "MXRecord",
    "Zone",
    "DNSConfig",
    "Capacity",
    "Host",
    "FetchConfig",
    "User",
    "Link",
    "Weighted",
    "Stream",
    "Workload",
    "Scenario",
]

#: The daemons whose service time a scenario can set (Postfix names; ``mda`` is the
#: delivery agent local(8) hands the message to, e.g. procmail; ``dns`` a resolver query).
DAEMONS: tuple[str, ...] = (
    "smtpd",
    "cleanup",
    "trivial_rewrite",
    "qmgr",
    "local",
    "mda",
    "smtp",
    "pop3d",
    "imapd",
    "dns",
)
#: Services a host may run, with their standard TCP ports (DESIGN.md section 2).
SERVICES: Mapping[str, int] = MappingProxyType(
    {
        "smtp": 25,
        "submission": 587,
        "smtps": 465,
        "pop3": 110,
        "pop3s": 995,
        "imap": 143,
        "imaps": 993,
        "dns": 53,
    }
)

DistributionKind = Literal["constant", "exponential", "uniform", "lognormal"]


@dataclass(frozen=True, slots=True)
class Distribution:
    """A non-negative random quantity (service time in seconds, or a size in bytes).

    ``constant``: always ``mean``. ``exponential``: mean ``mean``. ``uniform``: on
    [``low``, ``high``]. ``lognormal``: median ``median`` and shape ``sigma`` (of the log).
    """

    kind: DistributionKind
    mean: float = 0.0
    low: float = 0.0
    high: float = 0.0
    median: float = 0.0
    sigma: float = 0.0

    @classmethod
    def constant(cls, value: float) -> Distribution:
        return cls("constant", mean=value)

    @classmethod
    def exponential(cls, mean: float) -> Distribution:
        return cls("exponential", mean=mean)

    @classmethod
    def uniform(cls, low: float, high: float) -> Distribution:
        return cls("uniform", low=low, high=high, mean=(low + high) / 2)

    @classmethod
    def lognormal(cls, median: float, sigma: float) -> Distribution:
        import math

        return cls("lognormal", median=median, sigma=sigma, mean=median * math.exp(sigma**2 / 2))

    @property
    def is_constant(self) -> bool:
        return self.kind == "constant"


@dataclass(frozen=True, slots=True)
class MXRecord:
    """An MX resource record: lower ``preference`` is tried first (RFC 5321 5.1)."""

    preference: int
    exchange: str


@dataclass(frozen=True, slots=True)
class Zone:
    """One DNS zone: its MX records, A records (name -> IPv4) and the TTL of its answers."""

    origin: str
    ttl: float = 3600.0
    mx: tuple[MXRecord, ...] = ()
    a: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DNSConfig:
    """The zones the lab's DNS serves, and how long one resolver query takes in the simulation."""

    zones: Mapping[str, Zone] = field(default_factory=dict)
    lookup_time: Distribution = field(default_factory=lambda: Distribution.constant(0.002))
    #: resolver failures by domain and time window (issue 3)
    faults: tuple[DNSFault, ...] = ()


@dataclass(frozen=True, slots=True)
class Capacity:
    """Service times per daemon (keys from :data:`DAEMONS`), in seconds.

    The process limits are not here: they are Postfix parameters (default_process_limit,
    smtpd_process_limit, ...) in the host's settings.
    """

    service_time: Mapping[str, Distribution] = field(default_factory=dict)

    def of(self, daemon: str) -> Distribution:
        return self.service_time.get(daemon) or DEFAULT_SERVICE_TIME[daemon]


#: Service times used where a scenario is silent: small, fixed costs of a lightly loaded host.
DEFAULT_SERVICE_TIME: Mapping[str, Distribution] = MappingProxyType(
    {
        "smtpd": Distribution.constant(0.020),
        "cleanup": Distribution.constant(0.005),
        "trivial_rewrite": Distribution.constant(0.001),
        "qmgr": Distribution.constant(0.001),
        "local": Distribution.constant(0.005),
        "mda": Distribution.constant(0.005),
        "smtp": Distribution.constant(0.020),
        "pop3d": Distribution.constant(0.010),
        "imapd": Distribution.constant(0.010),
        "dns": Distribution.constant(0.002),
    }
)


@dataclass(frozen=True, slots=True)
class Host:
    """A mail host: its address, the services it runs and its Postfix settings.

    ``network`` is the host's subnet (for mynetworks_style = subnet); ``aliases`` the parsed
    aliases(5) table its alias_maps name; ``mailbox_format`` Dovecot's mail_location kind.
    """

    name: str
    address: str
    postfix: PostfixSettings
    services: tuple[str, ...] = ("smtp",)
    network: str = ""
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    capacity: Capacity = field(default_factory=Capacity)
    mailbox_format: Literal["maildir", "mbox"] = "maildir"
    #: how its SMTP server misbehaves: outages, refusals, greylisting, session limit
    behaviour: HostBehaviour = field(default_factory=HostBehaviour)
    #: site-wide MDA recipes (/etc/procmailrc), tried before each user's own
    mda_rules: tuple[MDARule, ...] = ()


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """How a user's mail client collects mail: protocol, poll interval, server host."""

    protocol: Literal["pop3", "imap"] = "pop3"
    interval: float = 300.0
    host: str = ""


@dataclass(frozen=True, slots=True)
class User:
    """A mailbox owner and the mail client (MUA) they use.

    ``host`` holds the mailbox; the client at ``client_address`` submits to ``submit_host`` over
    ``submit_service`` (``smtp`` from inside mynetworks, ``submission`` with SASL from outside)
    and fetches as ``fetch`` says (``None``: the user reads mail on the host itself).
    """

    address: str
    host: str
    password: str = ""
    client_address: str = ""
    submit_host: str = ""
    submit_service: Literal["smtp", "submission"] = "smtp"
    sasl: bool = False
    fetch: FetchConfig | None = None
    #: the user's own MDA recipes (~/.procmailrc)
    mda_rules: tuple[MDARule, ...] = ()

    @property
    def local_part(self) -> str:
        return self.address.rpartition("@")[0]

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class Link:
    """Network path between two hosts (or a host and a client address): one-way latency in
    seconds and bandwidth in bytes per second. ``a``/``b`` empty means "every other pair"."""

    a: str = ""
    b: str = ""
    latency: float = 0.001
    bandwidth: float = 12_500_000.0


@dataclass(frozen=True, slots=True)
class Weighted:
    """A choice and its relative weight."""

    value: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Stream:
    """One stream of messages: Poisson at ``rate``, or shaped by the issue-5 fields below.

    Each arrival picks a sender from ``senders`` and ``recipients_per_message`` distinct
    recipients from ``recipients`` (by weight). The message enters at the sender's user's
    ``submit_host`` unless ``connect_to`` is set; ``client_address`` likewise overrides the
    user's client address (an outside relay attempt sets both).

    Shapes (:mod:`mailsim.scenario.shape`), each changing the draws only when used: ``profile``
    makes the rate vary by hour and weekday (``rate`` is then the mean over a full day);
    ``burst`` replaces rate, start and stop by a campaign; ``size`` may be a
    :class:`~mailsim.scenario.shape.LognormalPareto` or an
    :class:`~mailsim.scenario.shape.AttachmentMixture`; ``recipients_per_message`` may be a
    :class:`~mailsim.scenario.shape.ZipfCount`; each recipient is drawn from
    ``remote_recipients`` (outside the organisation) with probability ``remote_share``.
    """

    name: str
    rate: float
    senders: tuple[Weighted, ...]
    recipients: tuple[Weighted, ...]
    size: SizeLaw = field(default_factory=lambda: Distribution.lognormal(3500.0, 1.1))
    recipients_per_message: tuple[int, int] | ZipfCount = (1, 1)
    start: float = 0.0
    stop: float | None = None
    connect_to: str = ""
    client_address: str = ""
    service: Literal["smtp", "submission", ""] = ""
    #: header sets to choose from per message, by weight (e.g. subjects for MDA rules)
    headers: tuple[tuple[tuple[tuple[str, str], ...], float], ...] = ()
    profile: Profile | None = None
    burst: Burst | None = None
    remote_recipients: tuple[Weighted, ...] = ()
    remote_share: float = 0.0

    @property
    def is_plain(self) -> bool:
        """Return whether the stream uses none of the shapes (the issue-2 Poisson stream)."""
        return (
            self.profile is None
            and self.burst is None
            and self.remote_share == 0
            and isinstance(self.size, Distribution)
            and isinstance(self.recipients_per_message, tuple)
        )


@dataclass(frozen=True, slots=True)
class Workload:
    """The message arrivals of a run.

    ``organisation`` is the per-user description the ``org-*`` streams (and any generated
    users) were compiled from, kept for reference; the streams are what runs.
    """

    streams: tuple[Stream, ...] = ()
    organisation: Organisation | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """A complete, validated world: DNS, hosts, users, links, workload and seed.

    ``duration`` is how long arrivals go on; the simulation then lets mail drain for at most
    ``drain`` more seconds. ``source`` names the file it came from (for messages).
    ``warnings`` lists what the loader accepted but a reader should know (a user-defined
    parameter in a real main.cf, an MX exchange without an A record, ...).
    """

    name: str
    hosts: Mapping[str, Host]
    dns: DNSConfig = field(default_factory=DNSConfig)
    users: tuple[User, ...] = ()
    links: tuple[Link, ...] = ()
    workload: Workload = field(default_factory=Workload)
    seed: int = 0
    duration: float = 3600.0
    drain: float = 3600.0
    source: str = "<python>"
    description: str = ""
    warnings: tuple[str, ...] = ()

    def replace(self, **changes: object) -> Scenario:
        """Return a copy with some fields changed (``duration``, ``seed``, ``workload``, ...):
        how notebooks and sweeps vary a loaded scenario."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def host(self, name: str) -> Host:
        """Return the host called ``name``; raise KeyError naming the known hosts."""
        try:
            return self.hosts[name]
        except KeyError:
            raise KeyError(f"no host {name!r}; hosts are {sorted(self.hosts)}") from None

    def user(self, address: str) -> User | None:
        """Return the user with this address (case-insensitive), or None."""
        wanted = address.lower()
        return next((u for u in self.users if u.address.lower() == wanted), None)

    def link(self, a: str, b: str) -> Link:
        """Return the most specific link between ``a`` and ``b`` (either order)."""
        fallback = Link()
        for link in self.links:
            if {link.a, link.b} == {a, b}:
                return link
            if not link.a and not link.b:
                fallback = link
        return fallback
