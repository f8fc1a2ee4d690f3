"""The quickstart notebook in JupyterLab (issue 11): the scan is watched live, and the
resumed scan's dashboard shows the stored trials and the resumed ones.

The notebook is run as shipped, with one cell put in front that shortens its toy trials
through the notebook's own knob (HPO_DEMO_TRIAL_S, 0.3 s instead of 0.5 s).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from .lab import (
    open_notebook,
    playwright_expect,
    sample,
    start_all_cells,
    wait_all_cells_ran,
    widget_errors,
)

expect = playwright_expect()
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


def _done(dash) -> int:
    m = re.search(r"(\d+)\s*/", dash.locator(".hpo-progress-text").inner_text())
    return int(m.group(1)) if m else -1


def test_quickstart_is_live_and_the_resumed_scan_shows_its_trials(lab_page, make_notebook,
                                                                   lab_server):
    import nbformat

    page = lab_page
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        'import os\nos.environ["HPO_DEMO_TRIAL_S"] = "0.3"'))
    make_notebook.folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, make_notebook.folder / "quickstart.ipynb")
    open_notebook(page, lab_server, f"{make_notebook.folder.name}/quickstart.ipynb")
    start_all_cells(page)
    first = page.locator(".jp-NotebookPanel .hpo-dashboard").first
    t0 = time.time()
    expect(first.locator(".hpo-progress-text")).to_be_visible()
    print(f"first dashboard visible after {time.time() - t0:.1f} s: "
          f"{first.locator('.hpo-progress-text').inner_text()!r}")
    # live: the first dashboard's count grows while the scan runs (several readings)
    counts = sample(lambda: _done(first), n=4, every=0.7)
    assert counts == sorted(counts) and counts[-1] > counts[0], counts
    wait_all_cells_ran(page, timeout=180_000)
    dashes = page.locator(".jp-NotebookPanel .hpo-dashboard")
    expect(dashes).to_have_count(2)
    expect(first.locator(".hpo-progress-text")).to_contain_text("40/40")
    again = dashes.nth(1)
    # the reopened scan's dashboard holds the 40 stored trials and the 20 resumed ones
    expect(again.locator(".hpo-progress-text")).to_contain_text("60/60", timeout=60_000)
    expect(again.locator(".hpo-chart-history path.dot")).to_have_count(60, timeout=10_000)
    expect(again.locator(".hpo-parcoords")).to_have_attribute("data-rows", "60")
    # the narrowing cell moved the first dashboard's sliders
    expect(first.locator(".hpo-space .hpo-param-lr")).to_contain_text("0.001 – 0.1")
    assert widget_errors(page) == []
