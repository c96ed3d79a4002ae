"""mailsim.policy: Postfix's decisions as pure functions of a host's settings.

Both engines (the SimPy simulation and the live asyncio servers) call :class:`HostPolicy`, so a
simulated node and a live node accept, reject, route, expand, bounce and retry alike. Nothing
here imports simpy, asyncio or sockets (DESIGN.md section 1).
"""

from mailsim.policy.host import HostPolicy
from mailsim.policy.reply import SMTPReply
from mailsim.policy.rewrite import LocalTarget, Resolution
from mailsim.policy.session import ClientSession

__all__ = ["ClientSession", "HostPolicy", "LocalTarget", "Resolution", "SMTPReply"]
