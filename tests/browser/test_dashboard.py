"""The live dashboard in real JupyterLab (issue 4): live charts, controls, steering.

Every check that the kernel changed is made in the kernel, through a cell run from the
page (``exec_cell``/``exec_json``), never by reading widget state from Python directly.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from .lab import (
    drag,
    exec_cell,
    exec_json,
    kernel_status,
    open_notebook,
    playwright_expect,
    progress_fraction,
    run_all_cells,
    sample,
    widget_errors,
)

expect = playwright_expect()

# The README's picture: written when missing, or refreshed with HPO_UPDATE_DOCS_SHOT=1
# (not on every run: a tracked PNG would change with each `make test`).
DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"

SETUP = """\
import math, time
import hpo_widgets as hw

def objective(params, trial):
    loss = ((math.log10(params["lr"]) + 2.5) ** 2 / 4 + (params["units"] - 200) ** 2 / 1e5
            + params["dropout"] + {"relu": 0.0, "elu": 0.1, "gelu": 0.05}[params["act"]])
    for epoch in range(params["epochs"]):
        trial.report(epoch, loss + 0.5 / (epoch + 1))
        time.sleep(0.02)
    return {"val_loss": loss}

space = hw.Space(lr=hw.Float(1e-5, 1e-1, log=True), units=hw.Int(16, 512),
                 dropout=hw.Float(0.0, 0.5), act=hw.Choice(["relu", "elu", "gelu"]),
                 epochs=hw.Fixed(4))
scan = hw.Scan(objective, space, metric="val_loss", max_trials=220, name="mlp",
               store="hpo_scans", seed=1)
"""

SHOW = """\
scan.start()
scan                      # a scan displays as its live dashboard
"""


def dots(fig) -> int:
    """Points of the bqplot scatter marks in a figure."""
    return fig.locator("path.dot").count()


def brush(page, fig, frac_lo: float, frac_hi: float) -> None:
    """Drag across a bqplot figure's plot area, from ``frac_lo`` to ``frac_hi`` of its width."""
    area = fig.locator(".plotarea_events, .plotarea_background").first
    drag(page, area, (frac_lo, 0.5), (frac_hi, 0.5), within=fig)


def press(locator, key: str, times: int) -> None:
    locator.focus()
    for _ in range(times):
        locator.press(key)


def test_dashboard_live_pause_slider_brush(lab_page, make_notebook, lab_server, shot):
    page = lab_page
    t0 = time.time()
    open_notebook(page, lab_server, make_notebook([SETUP, SHOW]))
    run_all_cells(page)
    dash = page.locator(".hpo-dashboard")
    history = dash.locator(".hpo-chart-history")
    bar = dash.locator(".hpo-progress")
    expect(dash).to_be_visible()
    expect(history.locator("svg.svg-figure")).to_be_visible()
    expect(dash.locator(".hpo-chart-param svg.svg-figure")).to_be_visible()
    expect(dash.locator(".hpo-space .hpo-param-lr .noUi-handle-lower")).to_be_visible()
    expect(history.locator("path.dot").nth(2)).to_be_attached()   # trials are coming in
    assert widget_errors(page) == []
    t_ready = time.time() - t0

    # -- live: the history chart and the progress bar grow while the kernel is idle --
    readings = sample(lambda: (dots(history), progress_fraction(bar), kernel_status(page)),
                      n=4, every=0.8)
    n_dots = [r[0] for r in readings]
    fill = [r[1] for r in readings]
    assert n_dots == sorted(n_dots) and n_dots[-1] > n_dots[0], readings
    assert fill == sorted(fill) and fill[-1] > fill[0], readings
    assert {r[2] for r in readings} == {"idle"}, readings
    assert "no finished trial" not in dash.locator(".hpo-best").inner_text()
    shot(dash, "dashboard_running")

    # -- Pause in the page pauses the scan in the kernel --
    pause = dash.locator("button.hpo-pause")
    expect(pause).to_be_enabled()
    pause.click()
    expect(pause).to_contain_text("Resume")
    expect(dash.locator(".hpo-status")).to_contain_text("paused")
    assert exec_cell(page, "print(scan.status)") == "paused"

    # -- sliders: keyboard on a focused noUi handle narrows scan.space in the kernel --
    drop = dash.locator(".hpo-space .hpo-param-dropout")
    press(drop.locator(".noUi-handle-upper"), "ArrowLeft", 20)        # 0.5 -> ~0.45
    units = dash.locator(".hpo-space .hpo-param-units")
    press(units.locator(".noUi-handle-lower"), "ArrowRight", 30)      # 16 -> ~46
    expect(drop).to_contain_text(re.compile(r"0\.4\d"))                 # the readout
    space = exec_json(page, "{n: [p.low, p.high] for n, p in scan.space.items() "
                            "if n in ('dropout', 'units')}")
    assert space["dropout"][0] == 0.0 and 0.4 <= space["dropout"][1] < 0.5, space
    assert 16 < space["units"][0] < 100 and space["units"][1] == 512, space

    # -- brushing the param-vs-score chart narrows that parameter (lr, on a log axis) --
    param_fig = dash.locator(".hpo-chart-param")
    assert dash.locator(".hpo-param-picker select").input_value() == "lr"
    brush(page, param_fig, 0.3, 0.7)
    lr_row = dash.locator(".hpo-space .hpo-param-lr")
    expect(lr_row).not_to_contain_text(re.compile(r"1e-05 – 0\.1\b"))
    lr = exec_json(page, "[scan.space['lr'].low, scan.space['lr'].high]")
    assert 1e-5 < lr[0] < lr[1] < 1e-1, lr
    # 0.3..0.7 of a 1e-5..1e-1 log axis is about 1.6e-4..6.3e-3
    assert 3e-5 < lr[0] < 1e-3 and 1e-3 < lr[1] < 3e-2, lr
    shot(dash, "dashboard_steered")
    last_id = exec_json(page, "max(t.id for t in scan.trials)")

    # -- resume; the new trials respect the narrowed space; the scan finishes --
    pause.click()
    expect(pause).to_contain_text("Pause")
    expect(dash.locator(".hpo-status")).to_contain_text("finished", timeout=120_000)
    expect(dash.locator(".hpo-progress-text")).to_contain_text("220/220")
    assert widget_errors(page) == []
    time.sleep(0.6)   # one more redraw period: let the charts settle for the picture
    path = shot(dash, "dashboard_finished")
    if os.environ.get("HPO_UPDATE_DOCS_SHOT") or not DOCS_SHOT.exists():
        DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)   # the README's picture
        shutil.copy(path, DOCS_SHOT)
    late = exec_json(page, f"[[t.params['lr'], t.params['units'], t.params['dropout']] "
                           f"for t in scan.trials if t.id > {last_id}]")
    assert late, "no trial ran after resume"
    for lr_v, units_v, drop_v in late:
        assert lr[0] * 0.999 <= lr_v <= lr[1] * 1.001, (lr, lr_v)
        assert units_v >= space["units"][0] and drop_v <= space["dropout"][1] + 1e-9

    # -- "Narrow to top 10%", "fix" and "Reset" land in scan.space too --
    base = exec_json(page, "space.to_dict()")
    before = units.inner_text()
    dash.locator("button.hpo-narrow-top").click()
    expect(units).not_to_have_text(before)
    top = exec_json(page, "scan.space.to_dict()")
    for name in ("lr", "units"):
        assert top[name]["type"] == base[name]["type"], top
        width = top[name]["high"] - top[name]["low"]
        assert 0 < width < base[name]["high"] - base[name]["low"], (name, top[name])
    dash.locator(".hpo-space .hpo-param-dropout button.hpo-fix").click()
    expect(drop).to_contain_text("= ")
    fixed = exec_json(page, "[scan.space.to_dict()['dropout'], scan.best.params['dropout']]")
    assert fixed[0] == {"type": "fixed", "value": fixed[1]}, fixed
    dash.locator("button.hpo-reset-space").click()
    expect(units).to_contain_text("16 – 512")
    after_reset = exec_json(page, "scan.space.to_dict()")
    assert after_reset == base, "Reset did not restore the space (stale slider re-applied?)"
    assert widget_errors(page) == []
    print(f"timing: dashboard ready {t_ready:.1f}s, test {time.time() - t0:.1f}s")


PARCOORDS_PY = Path(__file__).resolve().parents[2] / "hpo_widgets" / "widgets" / "parcoords.py"


def drag_axis(page, axis, frac_top: float, frac_bottom: float) -> None:
    """Drag along a parallel-coordinates axis (fractions of its height, from the top)."""
    drag(page, axis.locator(".hpo-pc-hit"), (0.5, frac_top), (0.5, frac_bottom))


@pytest.mark.skipif(not PARCOORDS_PY.exists(), reason="no parallel-coordinates widget yet")
def test_parcoords_brush_narrows_and_click_clears(lab_page, make_notebook, lab_server, shot):
    page = lab_page
    setup = SETUP.replace("max_trials=220", "max_trials=80")
    open_notebook(page, lab_server, make_notebook([setup, SHOW]))
    run_all_cells(page)
    dash = page.locator(".hpo-dashboard")
    pc = dash.locator(".hpo-parcoords")
    expect(pc).to_be_visible()
    expect(pc).to_have_attribute("data-synced", "true")
    expect(dash.locator(".hpo-status")).to_contain_text("finished", timeout=90_000)
    expect(pc).to_have_attribute("data-rows", "80")
    assert widget_errors(page) == []
    for dim in ("lr", "units", "dropout", "act", "val_loss"):
        expect(pc.locator(f".hpo-pc-axis[data-dim={dim}]")).to_be_visible()
    units_axis = pc.locator(".hpo-pc-axis[data-dim=units]")
    assert float(units_axis.get_attribute("data-bottom")) == 16
    assert float(units_axis.get_attribute("data-top")) == 512

    # drag the middle half of the units axis: about 140..388 (the top is 512)
    drag_axis(page, units_axis, 0.25, 0.75)
    expect(units_axis).to_have_attribute("data-brushed", "true")
    expect(dash.locator(".hpo-space .hpo-param-units")).not_to_contain_text("16 – 512")
    units = exec_json(page, "[scan.space['units'].low, scan.space['units'].high]")
    assert 110 <= units[0] <= 170 and 360 <= units[1] <= 420, units
    selected = int(pc.get_attribute("data-selected"))
    assert 0 < selected < 80, selected
    shot(pc, "parcoords_brushed")

    # a click on the axis clears its brush and restores the parameter's full range
    drag(page, units_axis.locator(".hpo-pc-hit"), (0.5, 0.1), (0.5, 0.1), steps=1)
    expect(units_axis).not_to_have_attribute("data-brushed", "true")
    expect(dash.locator(".hpo-space .hpo-param-units")).to_contain_text("16 – 512")
    assert exec_json(page, "[scan.space['units'].low, scan.space['units'].high]") == [16, 512]
