"""`make demo` lands on the quickstart notebook, not on JupyterLab's Launcher (issue 11).

The JupyterLab options are read from the Makefile itself (``make -n demo``: a dry run,
nothing is installed or started by it), then a throw-away server is started with them
on a copy of notebooks/, and the page the server sends a visitor to is looked at.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from .lab import playwright_expect, start_lab

expect = playwright_expect()
ROOT = Path(__file__).resolve().parents[2]


def _demo_lab_options() -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.replace("\\\n", " ")
    line = next(ln for ln in out.splitlines() if "jupyter lab" in ln)
    args = shlex.split(line.split("jupyter lab", 1)[1].split("$(", 1)[0])
    return [a for a in args if a.startswith("--")]


def test_make_demo_opens_the_quickstart_notebook(page):
    options = _demo_lab_options()
    assert any(o.startswith("--LabApp.default_url=/lab/tree/notebooks/quickstart.ipynb")
               for o in options), options
    base = Path(tempfile.mkdtemp(prefix="hpo-demo-"))
    (base / "root").mkdir()
    shutil.copytree(ROOT / "notebooks", base / "root" / "notebooks")
    srv = start_lab(base, extra_args=tuple(options))
    try:
        page.set_default_timeout(60_000)
        # what a user opens: the server's address with its token (the URL it prints)
        page.goto(f"{srv.url}/?token={srv.token}")
        panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        expect(panel).to_be_visible(timeout=60_000)
        tab = page.get_by_role("tab", name="quickstart.ipynb", exact=True)
        expect(tab).to_have_attribute("aria-selected", "true")
        expect(panel).to_contain_text("hpo_widgets quickstart")
        expect(page.locator(".jp-Launcher:visible")).to_have_count(0)
        assert "/lab/tree/notebooks/quickstart.ipynb" in page.url
        assert "/lab/tree/notebooks/quickstart.ipynb?token=" in srv.log_tail(20_000)
    finally:
        srv.stop()
        shutil.rmtree(base, ignore_errors=True)
