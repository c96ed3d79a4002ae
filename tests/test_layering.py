"""The layering of DESIGN.md section 1, checked on the imports of every module (AST, no import).

policy is pure (no simpy, asyncio, sockets); analysis reads only the event log (never sim or
live); scenario and workload know nothing of the engines; nothing below the engines imports them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mailsim"

# layer -> module prefixes it must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "scenario": (
        "mailsim.policy",
        "mailsim.sim",
        "mailsim.live",
        "mailsim.analysis",
        "mailsim.workload",
        "mailsim.protocol",
        "simpy",
        "asyncio",
        "socket",
    ),
    "policy": (
        "mailsim.sim",
        "mailsim.live",
        "mailsim.analysis",
        "mailsim.workload",
        "simpy",
        "asyncio",
        "socket",
        "selectors",
        "ssl",
    ),
    "protocol": (
        "mailsim.sim",
        "mailsim.live",
        "mailsim.analysis",
        "simpy",
        "asyncio",
        "socket",
        "ssl",
    ),
    "workload": ("mailsim.sim", "mailsim.live", "mailsim.analysis", "simpy", "asyncio"),
    "analysis": (
        "mailsim.sim",
        "mailsim.live",
        "mailsim.policy",
        "mailsim.workload",
        "simpy",
        "asyncio",
    ),
    "postfixlog": (
        "mailsim.sim",
        "mailsim.live",
        "mailsim.analysis",
        "mailsim.policy",
        "mailsim.workload",
        "mailsim.scenario",
        "simpy",
        "asyncio",
    ),
    "sim": ("mailsim.live", "asyncio"),
    "live": ("mailsim.sim", "simpy"),
}
# top-level modules shared by every layer: they must not import any layer above them
SHARED = {"errors.py", "units.py", "eventlog.py", "streams.py"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def layer_files() -> list[tuple[str, Path]]:
    files = []
    for layer in FORBIDDEN:
        files.extend((layer, path) for path in sorted((PACKAGE / layer).rglob("*.py")))
    return files


@pytest.mark.parametrize(("layer", "path"), layer_files(), ids=lambda v: str(v))
def test_layer_imports_only_what_it_may(layer: str, path: Path) -> None:
    bad = sorted(
        name
        for name in imported_modules(path)
        for prefix in FORBIDDEN[layer]
        if name == prefix or name.startswith(prefix + ".")
    )
    assert not bad, f"{path.relative_to(PACKAGE.parent)} ({layer}) imports {bad}"


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_modules_import_no_engine(name: str) -> None:
    engines = (
        "mailsim.sim",
        "mailsim.live",
        "mailsim.analysis",
        "mailsim.policy",
        "simpy",
        "asyncio",
    )
    bad = [m for m in imported_modules(PACKAGE / name) if m.startswith(engines)]
    assert not bad, f"mailsim/{name} imports {bad}"


def test_every_layer_directory_is_checked() -> None:
    """A new sub-package must be given a place in the layering before it can land."""
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(FORBIDDEN), f"unchecked packages: {packages - set(FORBIDDEN)}"


def test_no_global_random_in_package() -> None:
    """DESIGN.md section 4: no `random` module or legacy numpy RNG in mailsim/."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        modules = imported_modules(path)
        if "random" in modules or "np.random.seed" in text or "numpy.random.seed" in text:
            offenders.append(str(path))
        for legacy in (
            "np.random.rand(",
            "np.random.randint(",
            "np.random.exponential(",
            "np.random.choice(",
            "np.random.RandomState",
        ):
            if legacy in text:
                offenders.append(f"{path}: {legacy}")
    assert not offenders
