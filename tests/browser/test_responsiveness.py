"""The page still answers a click quickly while a scan streams many fast trials (issue 4).

A pure-Python objective that returns at once makes the engine run a few thousand trials
a second into the dashboard. We let trials pile up for at most ``RUN_S`` seconds (or
until the page shows ``TARGET`` trials), then click Pause and time, inside the page,
how long the button takes to say "Resume" (target: under half a second). The number
of trials shown at the click is printed (run with ``-s`` to see it).
"""

from __future__ import annotations

import re
import time

from .lab import (
    exec_cell,
    exec_json,
    open_notebook,
    playwright_expect,
    run_all_cells,
    widget_errors,
)

expect = playwright_expect()

RUN_S = 20.0          # trial time this test affords
TARGET = 20_000       # stop waiting once the page shows this many trials
ANSWER_MS = 500       # the target for a click

FAST = """\
import time
import hpo_widgets as hw

def objective(params):
    return (params["x"] - 0.3) ** 2 + (params["y"] - 0.6) ** 2

scan = hw.Scan(objective, hw.Space(x=hw.Float(0.0, 1.0), y=hw.Float(0.0, 1.0)),
               metric="loss", max_trials=None, name="fast", store="hpo_scans", seed=2)
scan.start()
scan.dashboard()
"""

# Click Pause and time, in the page, until the button's label says "Resume".
CLICK_TO_LABEL_JS = """([sel, limit]) => new Promise((resolve) => {
  const b = document.querySelector(sel);
  const t0 = performance.now();
  const obs = new MutationObserver(() => {
    if (/Resume/.test(b.textContent)) { obs.disconnect(); resolve(performance.now() - t0); }
  });
  obs.observe(b, {subtree: true, childList: true, characterData: true, attributes: true});
  b.click();
  setTimeout(() => { obs.disconnect(); resolve(-1); }, limit);
})"""


def shown_trials(dash) -> int:
    m = re.search(r"(\d+)\s*/", dash.locator(".hpo-progress-text").inner_text())
    return int(m.group(1)) if m else 0


def test_pause_answers_quickly_with_many_trials(lab_page, make_notebook, lab_server, shot):
    page = lab_page
    open_notebook(page, lab_server, make_notebook([FAST]))
    run_all_cells(page)
    dash = page.locator(".hpo-dashboard")
    pause = dash.locator("button.hpo-pause")
    expect(dash.locator(".hpo-chart-history svg.svg-figure")).to_be_visible()
    expect(pause).to_be_enabled()
    assert widget_errors(page) == []

    t0 = time.time()
    shown = 0
    while time.time() - t0 < RUN_S and shown < TARGET:   # watching the scan, not a wait
        time.sleep(0.5)
        shown = shown_trials(dash)
    ran_s = time.time() - t0
    dt_ms = page.evaluate(CLICK_TO_LABEL_JS, [".hpo-dashboard button.hpo-pause", 10_000])
    print(f"\n{shown} trials shown after {ran_s:.0f}s of scanning; "
          f"click Pause -> 'Resume' label: {dt_ms:.0f} ms" if dt_ms >= 0 else
          f"\n{shown} trials shown after {ran_s:.0f}s; no answer to Pause within 10 s")
    assert dt_ms >= 0, (f"the page did not answer the Pause click within 10 s with {shown} "
                        "trials shown (the front end falls behind the updates)")

    expect(dash.locator(".hpo-status")).to_contain_text("paused")
    exec_cell(page, "while scan.counts['running']:\n    time.sleep(0.05)", timeout=30_000)
    state = exec_json(page, "{'status': scan.status, 'n_done': scan.n_done}")
    print(f"kernel: {state}")
    assert state["status"] == "paused"
    shot(dash, "dashboard_many_trials")
    assert shown >= 2_000, f"only {shown} trials reached the page in {ran_s:.0f}s"
    assert dt_ms < ANSWER_MS, (f"Pause answered in {dt_ms:.0f} ms with {shown} trials shown "
                               f"(target {ANSWER_MS} ms)")
