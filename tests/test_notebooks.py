"""Every notebook runs top to bottom with small parameters (papermill), without errors."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SMALL = {
    "01-how-mail-travels.ipynb": {"hours": 0.25},
    "02-when-a-partner-is-down.ipynb": {"hours": 4.5},
    "03-the-live-lab.ipynb": {"messages": 5},
}
#: charts each notebook shows
IMAGES = {
    "01-how-mail-travels.ipynb": 4,
    "02-when-a-partner-is-down.ipynb": 3,
    "03-the-live-lab.ipynb": 2,
}
#: notebooks that take a directory to write to (the live lab's mailboxes and events.csv)
WRITES_TO = {"03-the-live-lab.ipynb": "lab_dir"}

pytestmark = pytest.mark.notebooks


def test_every_notebook_has_small_parameters() -> None:
    assert {p.name for p in NOTEBOOKS.glob("*.ipynb")} == set(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_is_thin_and_tagged(name: str) -> None:
    """STYLE.md: parameters cell first (papermill tag), outputs stripped, imports from mailsim."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not cell.outputs for cell in code)
    for cell in code:
        for line in cell.source.splitlines():
            if line.startswith(("import ", "from ")):
                assert line.split()[1].split(".")[0] == "mailsim", line


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs(name: str, tmp_path: Path) -> None:
    papermill = pytest.importorskip("papermill")
    out = tmp_path / name
    parameters = dict(SMALL[name])
    if name in WRITES_TO:
        parameters[WRITES_TO[name]] = str(tmp_path / "files")
    papermill.execute_notebook(
        str(NOTEBOOKS / name),
        str(out),
        parameters=parameters,
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        kernel_name="python3",
    )
    executed = nbformat.read(out, as_version=4)
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == IMAGES[name]
