"""Read the two Postfix files a host can be configured from: main.cf and aliases.

Both parsers collect every syntax error with its line number instead of stopping at the first, so
a scenario loader can report them all; the ``parse_*`` functions raise the first one for callers
that only want a table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mailsim.errors import MailsimError

__all__ = [
    "AliasEntry",
    "ConfigSyntaxError",
    "MainCfEntry",
    "parse_aliases",
    "parse_main_cf",
    "read_main_cf",
    "scan_aliases",
    "scan_main_cf",
    "split_alias_values",
]

_NAME = re.compile(r"[A-Za-z0-9_]+")


class ConfigSyntaxError(MailsimError, ValueError):
    """A line of a main.cf or aliases file that Postfix would not accept; carries its number."""

    def __init__(self, line: int, expected: str, text: str) -> None:
        self.line = line
        self.expected = expected
        self.text = text
        super().__init__(f"line {line}: expected {expected}, got {text!r}")


@dataclass(frozen=True, slots=True)
class MainCfEntry:
    """One ``name = value`` of a main.cf, with the line it started on (for error messages)."""

    name: str
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class AliasEntry:
    """One ``name: value, ...`` of an aliases(5) file, with the line it started on."""

    name: str
    values: tuple[str, ...]
    line: int


def scan_main_cf(text: str) -> tuple[list[MainCfEntry], list[ConfigSyntaxError]]:
    """Parse main.cf text into entries and every syntax error, as postconf(5) "syntax" says.

    A logical line starts with non-white space; a line starting with white space continues it;
    blank lines and lines whose first non-white character is ``#`` are ignored (also between
    continuation lines); there are no end-of-line comments. A name may be given twice: the last
    value wins, which the caller gets by building a dict from the entries in order.
    """
    entries: list[MainCfEntry] = []
    errors: list[ConfigSyntaxError] = []
    name, parts, start = "", [""], 0

    def flush() -> None:
        if name:
            entries.append(MainCfEntry(name, " ".join(p for p in parts if p), start))

    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if raw[0].isspace():
            if name:
                parts.append(stripped)
            elif not errors or errors[-1].expected != "'name = value'":
                errors.append(
                    ConfigSyntaxError(number, "'name = value' before a continuation", raw)
                )
            continue
        flush()
        key, sep, value = raw.partition("=")
        key = key.strip()
        if not sep or not _NAME.fullmatch(key):
            errors.append(ConfigSyntaxError(number, "'name = value'", stripped))
            name = ""
            continue
        name, parts, start = key, [value.strip()], number
    flush()
    return entries, errors


def parse_main_cf(text: str) -> list[MainCfEntry]:
    """Parse main.cf text into entries; raise the first :class:`ConfigSyntaxError`."""
    entries, errors = scan_main_cf(text)
    if errors:
        raise errors[0]
    return entries


def read_main_cf(path: Path) -> list[MainCfEntry]:
    """Read and parse a main.cf file."""
    return parse_main_cf(path.read_text(encoding="utf-8"))


def scan_aliases(text: str) -> tuple[list[AliasEntry], list[ConfigSyntaxError]]:
    """Parse aliases(5) text into entries and every syntax error.

    ``name: value, value, ...``; a line starting with white space continues the previous one;
    ``#`` lines are comments. Values are separated by commas, and, as Postfix's address parser
    also accepts, by white space; double quotes protect a value with spaces
    (``"|/bin/cat > /dev/null"``) and are removed. Names are case-insensitive (postalias(1)
    folds them to lower case).
    """
    logical: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if raw[0].isspace() and logical:
            line, body = logical[-1]
            logical[-1] = (line, body + " " + raw.strip())
        else:
            logical.append((number, raw.strip()))
    entries: list[AliasEntry] = []
    errors: list[ConfigSyntaxError] = []
    for number, body in logical:
        name, sep, rest = body.partition(":")
        values = tuple(split_alias_values(rest))
        if not sep or not name.strip() or not values:
            errors.append(ConfigSyntaxError(number, "'name: value, ...'", body))
            continue
        entries.append(AliasEntry(name.strip().strip('"').lower(), values, number))
    return entries, errors


def parse_aliases(text: str) -> dict[str, tuple[str, ...]]:
    """Parse an aliases(5) file into a table; raise the first :class:`ConfigSyntaxError`.

    A name given twice keeps its first value, as postalias(1) does (it warns "duplicate entry").
    """
    entries, errors = scan_aliases(text)
    if errors:
        raise errors[0]
    table: dict[str, tuple[str, ...]] = {}
    for entry in entries:
        table.setdefault(entry.name, entry.values)
    return table


def split_alias_values(text: str) -> Iterator[str]:
    """Split an alias right-hand side on commas and white space outside double quotes."""
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif (char == "," or char.isspace()) and not quoted:
            if current:
                yield "".join(current)
            current = []
        else:
            current.append(char)
    if current:
        yield "".join(current)
