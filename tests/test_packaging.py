"""Project files agree with each other: environment.yml names what pyproject.toml requires."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = data["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements.extend(extra)
    return {_name(r): r.replace(" ", "") for r in requirements}


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    found = {}
    for item in env["dependencies"]:
        if isinstance(item, str) and not item.startswith(("python", "pip")):
            found[_name(item)] = item.replace(" ", "")
    return found


def test_environment_yml_names_every_pyproject_dependency() -> None:
    assert set(_conda_requirements()) == set(_pyproject_requirements())


def test_environment_yml_uses_the_same_version_bounds() -> None:
    pyproject = _pyproject_requirements()
    conda = _conda_requirements()
    for name, requirement in pyproject.items():
        bound = requirement[len(name) :] if requirement.lower().startswith(name) else ""
        conda_bound = conda[name][len(name) :]
        assert bound.lower() == conda_bound.lower(), (name, requirement, conda[name])


def test_python_version_agrees() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert data["project"]["requires-python"] == python.removeprefix("python")


def test_makefile_has_the_two_commands_and_ci_calls_make_test() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme


def test_design_copy_is_kept_in_the_project() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    assert "## 3. Event log schema" in design
