"""analysis/ reads only the event log: it imports no engine, no event loop and no pyplot."""

from __future__ import annotations

import ast
from pathlib import Path

import mailsim.analysis

FORBIDDEN = ("mailsim.sim", "mailsim.live", "simpy", "asyncio", "matplotlib.pyplot")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_analysis_imports_neither_engines_nor_event_loops() -> None:
    package = Path(mailsim.analysis.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert len(modules) >= 10
    offending = {
        f"{path.name}: {name}"
        for path in modules
        for name in imported_modules(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    }
    assert not offending
