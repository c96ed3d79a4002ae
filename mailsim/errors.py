"""The one exception tree of mailsim.

Deferrals and bounces inside a simulation are data (events), never exceptions: these classes are
for misuse of the package and for bad input.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MailsimError", "ScenarioError", "ScenarioIssue"]


class MailsimError(Exception):
    """Base class of every error mailsim raises on purpose."""


@dataclass(frozen=True, slots=True)
class ScenarioIssue:
    """One problem found while loading a scenario.

    ``path`` is the dotted field path (``hosts.neo.postfix.mynetworks``); ``expected`` says what
    would have been accepted; ``suggestion`` names the closest known key for a misspelt one.
    """

    file: str
    path: str
    expected: str
    got: str = ""
    suggestion: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        text = f"{where}: {self.path or '<top>'}: expected {self.expected}"
        if self.got:
            text += f", got {self.got}"
        if self.suggestion:
            text += f" (did you mean {self.suggestion!r}?)"
        return text


class ScenarioError(MailsimError, ValueError):
    """A scenario could not be loaded; carries every issue found, not just the first."""

    def __init__(self, issues: list[ScenarioIssue] | ScenarioIssue) -> None:
        self.issues: tuple[ScenarioIssue, ...] = (
            (issues,) if isinstance(issues, ScenarioIssue) else tuple(issues)
        )
        count = len(self.issues)
        head = f"{count} problem{'s' if count != 1 else ''} in scenario"
        super().__init__(head + ":\n" + "\n".join(f"  {issue}" for issue in self.issues))
