"""Man and machine as partners, in real JupyterLab (issue 14): a proposed narrowing
accepted in the page changes ``scan.space``; the belief band renders on the
parameter-vs-score chart; "try near this" from the top-trials table enqueues, and the
trial runs and shows as the user's. Kernel state is read through cells in the page."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from .lab import exec_json, open_notebook, playwright_expect, run_all_cells, widget_errors

expect = playwright_expect()

DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "partner.png"

SETUP = """\
import time
import hpo_widgets as hw

DELAY = 0.0          # the first 150 trials are the scan's past; new ones take a second

def objective(params):
    time.sleep(DELAY)
    return (params["x"] - 0.12) ** 2 + (0.02 if params["c"] == "a" else 0.0)

scan = hw.Scan(objective, {"x": (0.0, 1.0), "c": ["a", "b"]}, strategy="random",
               max_trials=150, seed=1, name="partner", store="hpo_scans")
scan.start().wait()
scan.strategy = "bayes"
DELAY = 1.0
"""

SHOW = "scan\n"


def test_accept_a_proposal_see_the_belief_and_try_near_a_row(lab_page, make_notebook,
                                                            lab_server, shot):
    page = lab_page
    t0 = time.time()
    open_notebook(page, lab_server, make_notebook([SETUP, SHOW]))
    run_all_cells(page)
    dash = page.locator(".hpo-dashboard")
    expect(dash).to_be_visible()
    assert widget_errors(page) == []

    # -- the machine's side: importance bars, a proposal in words, the belief band --
    imp = dash.locator(".hpo-importance")
    expect(imp.locator("svg.svg-figure")).to_be_visible()
    expect(imp.locator(".hpo-importance-caption")).to_contain_text("importance from")
    expect(imp.locator("rect.bar").first).to_be_attached()
    proposal = dash.locator(".hpo-suggestion")
    expect(proposal).to_be_visible(timeout=90_000)
    expect(proposal).to_contain_text(re.compile(r"narrow x"))
    param = dash.locator(".hpo-chart-param")
    expect(param.locator("path.area").first).to_be_attached()   # the uncertainty band
    band = exec_json(page, "[len(scan.dashboard().band_mean.x), "
                           "len(scan.dashboard().band_next.x)]")
    assert band[0] > 10 and band[1] == 1, band
    shot(dash.locator(".hpo-param-box"), "partner_belief")

    # -- Accept: the proposal is an ordinary narrow, recorded as a suggestion --
    before = exec_json(page, "[scan.space['x'].low, scan.space['x'].high]")
    proposal.locator("button.hpo-suggestion-accept").click()
    expect(proposal).to_be_hidden()
    after = exec_json(page, "[scan.space['x'].low, scan.space['x'].high, "
                            "scan.settings_log.iloc[-1]['by'], scan.best.params['x']]")
    assert before == [0.0, 1.0] and after[1] < 1.0, (before, after)
    assert after[0] <= after[3] <= after[1] and after[2] == "suggestion", after

    # -- "try near this" from the top table's first row, then Enqueue --
    try_box = dash.locator(".hpo-try")
    pick = try_box.locator(".hpo-try-pick select")
    expect(pick.locator("option").first).to_be_attached()
    pick.select_option(index=0)
    try_box.locator("button.hpo-try-near").click()
    field = try_box.locator(".hpo-try-field-x input")
    expect(field).not_to_have_value("")
    field.fill("0.125")
    field.press("Enter")
    try_box.locator("button.hpo-try-enqueue").click()
    expect(try_box.locator(".hpo-try-note")).to_contain_text("enqueued as trial #150")
    assert exec_json(page, "[scan.trial(150).status, scan.trial(150).params['x']]") == \
        ["queued", 0.125]
    exec_json(page, "setattr(scan, 'max_trials', 151) or scan.start() and None")
    table = dash.locator(".hpo-table")
    expect(table.locator("tr.hpo-row-user")).to_be_visible(timeout=60_000)
    expect(table).to_contain_text("user")
    got = exec_json(page, "[scan.results.loc[150, 'source'], scan.results.loc[150, 'status']]")
    assert got == ["user", "finished"], got
    assert widget_errors(page) == []
    time.sleep(1.5)   # the marks of the new trial reach the charts
    path = shot(dash, "partner_dashboard")
    if not DOCS_SHOT.exists():
        shutil.copy(path, DOCS_SHOT)
    print(f"timing: {time.time() - t0:.1f}s")
