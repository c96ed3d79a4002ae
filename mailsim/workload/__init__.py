"""Workload: the message arrivals both engines consume."""

from mailsim.workload.poisson import scenario_arrivals, stream_arrivals
from mailsim.workload.records import Arrival

__all__ = ["Arrival", "scenario_arrivals", "stream_arrivals"]
