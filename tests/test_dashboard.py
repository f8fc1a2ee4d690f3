"""The dashboard's kernel side: it follows the scan and steers it (no browser here;
tests/browser/ checks the same things in real JupyterLab)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import hpo_widgets as hw

pytest.importorskip("ipywidgets")
pytest.importorskip("bqplot")

SPACE = {"x": (0.0, 1.0), "lr": (1e-4, 1e-1, "log"), "act": ["relu", "elu", "gelu"],
         "u": (1, 8), "k": hw.Float(0.0, 1.0, num=5), "epochs": 3}   # ends included, by name


def objective(params, trial):
    for s in range(params["epochs"]):
        trial.report(s, params["x"] + 1 / (s + 1))
    return params["x"] + (params["act"] != "relu")


def _until(cond, timeout=10.0):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_dashboard_follows_the_scan(store):
    scan = hw.Scan(objective, SPACE, max_trials=60, store=store, seed=0)
    dash = scan.dashboard()
    assert scan.dashboard() is dash                  # one model, many views
    assert "hpo-dashboard" in dash._dom_classes
    assert dash.progress.value == 0 and "no finished trial" in dash.best_html.value
    scan.start().wait(10)
    _until(lambda: dash.progress.value == 60)
    assert dash.progress.max == 60
    _until(lambda: len(dash.hist_points.x) == 60)      # charts follow within a second
    assert dash.hist_best.y[-1] == pytest.approx(scan.best.value)
    _until(lambda: len(dash.param_points.x) == 60)
    assert f"#{scan.best.id}" in dash.best_html.value
    assert "finished" in dash.status.value
    assert dash.pause_btn.disabled
    assert dash.start_btn.disabled                       # nothing left until max is raised
    dash.max_trials.value = 70
    _until(lambda: not dash.start_btn.disabled)
    _until(lambda: dash.table.value.count("<tr") == 11)  # header + top 10
    _until(lambda: dash.curves.y.shape[0] == 5)          # the best five curves
    assert dash.stats["refreshes"] < 30                  # throttled, not one per event


def test_buttons_call_the_scan(store):
    gate = threading.Semaphore(0)

    def slow(params):
        gate.acquire(timeout=5)
        return params["x"]

    scan = hw.Scan(slow, SPACE, max_trials=100, store=store)
    dash = scan.dashboard()
    dash.start_btn.click()
    assert scan.status == "running"
    dash.pause_btn.click()
    assert scan.status == "paused" and dash.pause_btn.description == "Resume"
    dash.pause_btn.click()
    assert scan.status == "running" and dash.pause_btn.description == "Pause"
    dash.strategy.value = "grid"   # not possible: x is continuous -> said, scan goes on
    assert "continuous" in dash.message.value and scan.strategy.name == "random"
    _until(lambda: dash.strategy.value == "random")
    dash.max_trials.value = 5
    assert scan.max_trials == 5
    for _ in range(10):
        gate.release()
    scan.wait(10)
    assert scan.n_done == 5


def test_sliders_and_toggles_narrow_the_space(store):
    scan = hw.Scan(objective, SPACE, max_trials=5, store=store)
    ed = scan.dashboard().space_editor
    ed.rows["lr"].control.value = (-3.0, -2.0)        # log slider moves in log10 units
    assert scan.space["lr"].low == pytest.approx(1e-3)
    assert scan.space["lr"].high == pytest.approx(1e-2)
    assert "0.001 – 0.01" in ed.rows["lr"].readout.value
    ed.rows["act"]._toggles[2].value = False
    assert scan.space["act"].values == ["relu", "elu"]
    ed.rows["u"].control.value = (2, 4)
    assert scan.space["u"] == hw.Int(2, 4)
    ed.rows["k"].control.index = (1, 3)
    assert scan.space["k"].grid() == pytest.approx([0.25, 0.5, 0.75])
    ed.rows["x"].fix.value = True
    assert isinstance(scan.space["x"], hw.Fixed)
    assert ed.rows["x"].control.disabled
    ed.rows["x"].fix.value = False
    assert scan.space["x"] == hw.Float(0.0, 1.0)
    # the last value of a choice cannot be removed: the note says why, the space stays valid
    ed.rows["act"]._toggles[0].value = False
    ed.rows["act"]._toggles[1].value = False
    assert isinstance(scan.space["act"], hw.Fixed) or "at least one" in ed.note.value
    ed.reset.click()
    assert scan.space == hw.Space.from_dict(SPACE)


def test_space_changes_from_code_move_the_sliders(store):
    scan = hw.Scan(objective, SPACE, max_trials=5, store=store)
    dash = scan.dashboard()
    scan.narrow(u=(3, 5), act=["elu"])
    _until(lambda: dash.space_editor.rows["u"].control.value == (3, 5))
    assert dash.space_editor.rows["act"]._toggles[1].value
    assert not dash.space_editor.rows["act"]._toggles[0].value


def test_brushing_the_param_chart_narrows_that_parameter(store):
    scan = hw.Scan(objective, SPACE, max_trials=20, store=store)
    dash = scan.dashboard()
    dash.param_picker.value = "x"
    dash.param_brush.brushing = True
    dash.param_brush.selected = np.array([0.2, 0.4])
    dash.param_brush.brushing = False
    assert scan.space["x"].low == pytest.approx(0.2) and scan.space["x"].high == pytest.approx(0.4)
    dash.param_picker.value = "act"                     # choices brush by index
    dash.param_brush.brushing = True
    dash.param_brush.selected = np.array([0.6, 2.2])
    dash.param_brush.brushing = False
    assert scan.space["act"].values == ["elu", "gelu"]


def test_narrow_to_top_fraction(store):
    scan = hw.Scan(objective, SPACE, max_trials=80, store=store, seed=1)
    scan.start().wait(10)
    dash = scan.dashboard()
    dash.space_editor.narrow_top.click()
    assert scan.space["act"] == hw.Fixed("relu")       # only relu among the best
    top = sorted((t for t in scan.trials if t.value is not None), key=lambda t: t.value)[:8]
    assert scan.space["x"].high < 0.8            # x is narrowed toward where the best are...
    assert all(scan.space["x"].contains(t.params["x"]) for t in top)   # ...keeping them all


def test_closing_the_dashboard_leaves_the_scan_running(store):
    scan = hw.Scan(objective, SPACE, max_trials=30, store=store)
    dash = scan.dashboard()
    dash.close()
    assert dash._on_event not in scan._listeners
    scan.start().wait(10)
    assert scan.n_done == 30
    assert scan.dashboard() is not dash                  # a fresh one on demand


def test_a_broken_dashboard_cannot_stop_the_scan(store, caplog):
    scan = hw.Scan(objective, SPACE, max_trials=30, store=store)
    dash = scan.dashboard()

    def boom(*a, **k):
        raise RuntimeError("render failed")

    dash._update_header = boom
    scan.start().wait(10)
    assert scan.status == "finished" and scan.n_done == 30


def test_scan_displays_as_its_dashboard_in_a_kernel(store, monkeypatch):
    import hpo_widgets.scan as scan_module

    scan = hw.Scan(objective, SPACE, max_trials=3, store=store)
    assert set(scan._repr_mimebundle_()) == {"text/plain"}   # plain Python: text
    monkeypatch.setattr(scan_module, "_in_kernel", lambda: True)
    bundle = scan._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == \
        scan.dashboard().model_id


def test_the_table_shows_evaluation_columns_when_trials_gain_them(store):
    scan = hw.Scan(objective, SPACE, max_trials=12, store=store, seed=0)
    dash = scan.dashboard()
    scan.start().wait(10)
    best = scan.best
    scan._put(best.replace(metrics={**best.metrics, "cv_mean": 0.5, "test": 0.4,
                                    "optimism": 0.1}))      # what KerasScan.evaluate does
    scan._emit(hw.scan.ScanEvent("status", scan))
    _until(lambda: "optimism" in dash.table.value)
    assert "cv_mean" in dash.table.value
