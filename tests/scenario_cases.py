"""Small scenarios for the loader tests: a valid minimum to break one thing at a time."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from mailsim.errors import ScenarioError, ScenarioIssue
from mailsim.scenario import scenario_from_dict

NEO = "neo.firma1.intr"

#: One host, one user, one stream: the least that loads without an issue.
MINIMAL: dict[str, Any] = {
    "name": "mini",
    "hosts": {
        NEO: {
            "address": "195.113.106.168",
            "network": "195.113.106.0/24",
            "services": ["smtp", "pop3"],
            "postfix": {"mydestination": "$myhostname, $mydomain, localhost"},
        }
    },
    "users": [{"address": "jura@firma1.intr", "host": NEO}],
    "workload": {
        "streams": [
            {
                "name": "office",
                "rate": "60/h",
                "senders": ["jura@firma1.intr"],
                "recipients": ["jura@firma1.intr"],
            }
        ]
    },
}

#: The same scenario as YAML, so issues can be checked for their line numbers.
MINIMAL_YAML = """\
name: mini
hosts:
  neo.firma1.intr:
    address: 195.113.106.168
    network: 195.113.106.0/24
    services: [smtp, pop3]
    postfix:
      mydestination: $myhostname, $mydomain, localhost
users:
  - {address: jura@firma1.intr, host: neo.firma1.intr}
workload:
  streams:
    - name: office
      rate: 60/h
      senders: [jura@firma1.intr]
      recipients: [jura@firma1.intr]
"""


def minimal() -> dict[str, Any]:
    """Return a fresh deep copy of :data:`MINIMAL` to modify."""
    return copy.deepcopy(MINIMAL)


def issues(data: dict[str, Any], **kw: Any) -> list[ScenarioIssue]:
    """Return the issues ``scenario_from_dict`` raises for ``data`` (it must raise)."""
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, **kw)
    return list(info.value.issues)


def write(directory: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``directory/name`` (creating folders) and return the path."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
