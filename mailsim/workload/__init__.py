"""Workload: the message arrivals both engines consume.

Plain Poisson streams (:mod:`~mailsim.workload.poisson`) and shaped ones
(:mod:`~mailsim.workload.shaped`): daily and weekly profiles (:mod:`~mailsim.workload.profile`),
bursts (:mod:`~mailsim.workload.burst`), heavy-tailed sizes (:mod:`~mailsim.workload.sizes`),
Zipf recipient counts and a local/remote mix (:mod:`~mailsim.workload.recipients`).
"""

from mailsim.workload.poisson import scenario_arrivals, stream_arrivals
from mailsim.workload.records import Arrival
from mailsim.workload.shaped import shaped_arrivals

__all__ = ["Arrival", "scenario_arrivals", "shaped_arrivals", "stream_arrivals"]
