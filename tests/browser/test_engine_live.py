"""The engine drives widgets live from its thread: no dashboard, just Scan.subscribe.

Proves the harness end to end: a scan started in a cell keeps updating an ipywidgets
progress bar and label in the page while the kernel is idle; a second cell run from
the page pauses it, and the page stops changing.
"""

from __future__ import annotations

from .lab import (
    exec_cell,
    exec_json,
    kernel_status,
    open_notebook,
    playwright_expect,
    progress_fraction,
    run_all_cells,
    sample,
    wait_kernel_idle,
    widget_errors,
)

expect = playwright_expect()

SETUP = """\
import math, time
import ipywidgets as W
import hpo_widgets as hw

def objective(params):
    time.sleep(0.12)                                   # slow-ish, pure Python
    return (math.log10(params["lr"]) + 2) ** 2 + params["units"] / 1000

space = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), units=hw.Int(16, 512))
scan = hw.Scan(objective, space, metric="loss", max_trials=300, name="live",
               store="hpo_scans", seed=0)
"""

LISTENER = """\
progress = W.IntProgress(value=0, min=0, max=scan.max_trials,
                         description="trials").add_class("hpo-test-progress")
label = W.Label("not started").add_class("hpo-test-label")

def show(event):                       # runs on the scan's thread
    if event.kind in ("trial_finished", "status"):
        progress.value = scan.n_done
        label.value = (f"done={scan.n_done} running={scan.counts['running']} "
                       f"status={scan.status}")

scan.subscribe(show)
scan.start()
W.HBox([progress, label]).add_class("hpo-test-live")
"""


def test_scan_thread_updates_widgets_and_pause_from_page(lab_page, make_notebook, lab_server,
                                                         shot):
    page = lab_page
    open_notebook(page, lab_server, make_notebook([SETUP, LISTENER]))
    run_all_cells(page)

    box = page.locator(".hpo-test-live")
    label = page.locator(".hpo-test-label")
    bar = page.locator(".hpo-test-progress")
    expect(box).to_be_visible()
    expect(label).to_contain_text("status=running")
    assert widget_errors(page) == []

    # Updates arrive from the scan's thread while the kernel does nothing (once the cell's
    # own run has ended: on a loaded machine the page can show "running" before that).
    wait_kernel_idle(page, timeout=30_000)
    readings = sample(lambda: (progress_fraction(bar), label.inner_text(), kernel_status(page)),
                      n=4, every=0.7)
    fractions = [r[0] for r in readings]
    assert fractions == sorted(fractions) and fractions[-1] > fractions[0], readings
    assert len({r[1] for r in readings}) > 1, readings
    assert {r[2] for r in readings} == {"idle"}, readings
    shot(box, "engine_live_running")

    # A cell run from the page pauses the scan; the running trial finishes, then nothing.
    assert exec_cell(page, "scan.pause(); print(scan.status)") == "paused"
    exec_cell(page, "while scan.counts['running']:\n    time.sleep(0.05)", timeout=30_000)
    state = exec_json(page, "{'status': scan.status, 'n_done': scan.n_done, "
                            "'running': scan.counts['running']}")
    assert state["status"] == "paused" and state["running"] == 0, state
    assert 0 < state["n_done"] < 300, state
    expect(label).to_have_text(f"done={state['n_done']} running=0 status=paused")
    frozen = sample(lambda: (label.inner_text(), progress_fraction(bar)), n=3, every=0.6)
    assert len(set(frozen)) == 1, frozen
    assert exec_json(page, "scan.n_done") == state["n_done"]
    shot(box, "engine_live_paused")
