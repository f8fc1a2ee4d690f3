"""Every notebook in notebooks/ runs headless, end to end (nbclient)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

HERE = Path(__file__).parent.parent / "notebooks"
# notebooks with a dedicated test below are not run a second time by the generic one
DEDICATED = {"quickstart", "keras", "dask"}
NOTEBOOKS = sorted(p for p in HERE.glob("*.ipynb") if p.stem not in DEDICATED)


def run_notebook(path: Path, workdir: Path):
    """Execute a copy of the notebook in ``workdir``; fail on any error output."""
    shutil.copy(path, workdir / path.name)
    nb = nbformat.read(workdir / path.name, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # threads (scan, dashboard) log their failures instead of raising: none may appear
    assert "Traceback" not in outputs_text(nb)
    return nb


def outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", "") or o.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    run_notebook(path, tmp_path)


def test_quickstart_scans_narrows_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("HPO_DEMO_TRIAL_S", "0.02")   # the notebook's own knob (its 1st cell)
    nb = run_notebook(HERE / "quickstart.ipynb", tmp_path)
    text = outputs_text(nb)
    assert "<Scan 'quickstart' finished: 60/60 trials" in text
    assert "best val_loss=" in text
    assert (tmp_path / "hpo_scans" / "quickstart" / "trials.sqlite").exists()


def test_keras_notebook_shows_degenerate_and_optimism(tmp_path):
    pytest.importorskip("keras")
    nb = run_notebook(HERE / "keras.ipynb", tmp_path)
    text = outputs_text(nb)
    assert "'accuracy' is misleading here" in text
    assert "degenerate trials:" in text and "optimism of the winner:" in text
    assert "metric: honest" in text                 # the default of a classification scan
    assert "predicted before evaluate():" in text   # honest.luck next to evaluate()
    for col in ("degenerate", "flags", "cv_mean", "cv_std", "test", "optimism",
                "optimism_expected", "honest_mcc", "p_best"):
        assert col in text


def test_dask_notebook_runs_trials_on_workers(tmp_path):
    pytest.importorskip("distributed")
    nb = run_notebook(HERE / "dask.ipynb", tmp_path)
    assert "24 trials on 2 worker processes" in outputs_text(nb)
