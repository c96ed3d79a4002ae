"""The logs in data/postfix-logs/exported/ are what their README says: re-running the command
given there writes the same bytes (the export is deterministic, and the model has not moved
since they were made; if it has, regenerate them with the README's commands)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXPORTED = ROOT / "data" / "postfix-logs" / "exported"
COMMANDS = {
    "firma1-first-hour.log.gz": ["data/scenarios/firma1.yaml", "--until", "1h"],
    "firma1-outage-90m.log.gz": ["data/scenarios/firma1-outage.yaml", "--until", "90m"],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_exported_sample_is_reproducible(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / name
    args = COMMANDS[name]
    code = main(["simulate", str(ROOT / args[0]), *args[1:], "--quiet", "--maillog", str(target)])
    capsys.readouterr()
    assert code == 0
    assert target.read_bytes() == (EXPORTED / name).read_bytes()
    readme = (ROOT / "data" / "postfix-logs" / "README.md").read_text()
    assert f"--maillog data/postfix-logs/exported/{name}" in readme


def test_every_exported_sample_is_documented() -> None:
    assert {path.name for path in EXPORTED.iterdir()} == set(COMMANDS)
