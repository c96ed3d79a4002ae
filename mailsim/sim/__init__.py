"""The SimPy engine: Postfix-style MTAs, DNS, MDAs and mail clients on a simulated clock."""

from mailsim.sim.engine import Simulation, simulate

__all__ = ["Simulation", "simulate"]
