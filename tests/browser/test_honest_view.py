"""Selection luck on the dashboard in real JupyterLab (issue 13): the header says how sure
the best is, the table shows intervals and p_best, the score chart has error bars."""

from __future__ import annotations

import re

from .lab import open_notebook, playwright_expect, run_all_cells, widget_errors

expect = playwright_expect()

SETUP = """\
import time
import numpy as np
import hpo_widgets as hw
from hpo_widgets import honest

y_val = np.array([0] * 180 + [1] * 20)      # 10% positives

def objective(params, trial):
    p = y_val.copy()
    p[np.flatnonzero(y_val == 1)[: params["miss"]]] = 0   # miss some positives
    p[: params["false"]] = 1                              # flag some negatives
    time.sleep(0.05)
    return honest.score(y_val, p, keep="hpo_scans/luck", trial=trial)

scan = hw.Scan(objective, {"miss": [1, 2, 4, 8, 12], "false": [2, 3, 8]}, metric="honest",
               mode="max", max_trials=15, strategy="grid", name="luck", store="hpo_scans")
"""

SHOW = """\
scan.start()
scan
"""


def test_header_table_and_error_bars_show_selection_luck(lab_page, make_notebook, lab_server,
                                                         shot):
    page = lab_page
    open_notebook(page, lab_server, make_notebook([SETUP, SHOW]))
    run_all_cells(page)
    dash = page.locator(".hpo-dashboard")
    expect(dash.locator(".hpo-status")).to_contain_text("finished", timeout=60_000)
    # the header's best line says it in words
    expect(dash.locator(".hpo-best")).to_contain_text(
        re.compile(r"best, (but indistinguishable from \d+ others?|clearly ahead)"))
    # the table: the metric with its interval, and p_best
    table = dash.locator(".hpo-table")
    expect(table).to_contain_text("p_best")
    expect(table).to_contain_text(re.compile(r"\d\.\d\d \[\d\.\d\d–\d\.\d\d\]"))
    # error bars: one line per trial under the dots, plus the best-so-far line
    history = dash.locator(".hpo-chart-history")
    expect(history.locator("path.dot").nth(14)).to_be_attached()
    expect(history.locator("path.line").nth(15)).to_be_attached()
    assert widget_errors(page) == []
    shot(dash, "honest_dashboard")
