"""Every notebook in notebooks/ runs headless, end to end (nbclient)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def run_notebook(path: Path, workdir: Path):
    shutil.copy(path, workdir / path.name)
    nb = nbformat.read(workdir / path.name, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", "") or o.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    nb = run_notebook(path, tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_quickstart_scans_narrows_and_resumes(tmp_path):
    nb = run_notebook(Path(__file__).parent.parent / "notebooks" / "quickstart.ipynb", tmp_path)
    text = outputs_text(nb)
    assert "<Scan 'quickstart' finished: 60/60 trials" in text
    assert "best val_loss=" in text
    assert (tmp_path / "hpo_scans" / "quickstart" / "trials.sqlite").exists()
