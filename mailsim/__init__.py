"""mailsim: a mail-system laboratory.

One scenario (DNS MX records, Postfix-style hosts, users, links, workload) runs in a SimPy
simulation of Postfix's daemons and queues; the event log it writes is analysed by
:class:`~mailsim.analysis.Run`. The notebook API in one import::

    from mailsim import load_scenario, simulate
    run = simulate(load_scenario("data/scenarios/firma1.yaml"))
    run.summary()
"""

from mailsim.analysis import (
    LogReport,
    Run,
    plot_delivery_paths,
    plot_latency,
    plot_mail_problems,
    plot_mail_traffic,
    plot_queue_depth,
    plot_throughput,
    summarise,
    write_report,
)
from mailsim.errors import MailsimError, ScenarioError
from mailsim.scenario import Scenario, load_scenario, scenario_from_dict
from mailsim.sim import simulate

__version__ = "0.1.0"

__all__ = [
    "LogReport",
    "MailsimError",
    "Run",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "plot_delivery_paths",
    "plot_latency",
    "plot_mail_problems",
    "plot_mail_traffic",
    "plot_queue_depth",
    "plot_throughput",
    "scenario_from_dict",
    "simulate",
    "summarise",
    "write_report",
]
