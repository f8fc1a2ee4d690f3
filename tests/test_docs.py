"""The examples in docstrings run (they are what users copy first)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["hpo_widgets.space", "hpo_widgets.trial", "hpo_widgets.scan", "hpo_widgets.store",
           "hpo_widgets.strategies.grid", "hpo_widgets.strategies.random",
           "hpo_widgets.magics", "hpo_widgets.widgets.chart_data"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_import_is_cheap():
    import subprocess
    import sys

    code = ("import sys, hpo_widgets; heavy = [m for m in ('tensorflow', 'keras', 'bqplot', "
            "'ipywidgets', 'dask', 'distributed', 'pandas', 'sklearn', 'torch', 'optuna') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_readme_quickstart_runs_as_written(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    quickstart = blocks[0]
    assert "hw.Scan(" in quickstart and "scan.results" in quickstart
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(quickstart, "README.md", "exec"), ns)
    scan = ns["scan"]
    assert scan.status == "stopped" and scan.message == "stopped"
    assert scan.counts["running"] == 0
    assert (tmp_path / "hpo_scans" / "mlp" / "trials.sqlite").exists()
    talos = blocks[1]
    exec(compile("import hpo_widgets as hw\n" + talos, "README.md", "exec"), ns)
    assert ns["space"]["units"].values == [32, 64, 128]
