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
    assert scan.status == "paused"
    _until(lambda: dash.pause_btn.description == "Resume")
    dash.pause_btn.click()
    assert scan.status == "running"
    _until(lambda: dash.pause_btn.description == "Pause")
    dash.strategy.value = "grid"   # not possible: x is continuous -> said, scan goes on
    assert scan.strategy.name == "random"
    _until(lambda: "discrete parameters" in dash.message.value)
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
    _until(lambda: "0.001 – 0.01" in ed.rows["lr"].readout.value)
    ed.rows["act"]._toggles[2].value = False
    assert scan.space["act"].values == ["relu", "elu"]
    ed.rows["u"].control.value = (2, 4)
    assert scan.space["u"] == hw.Int(2, 4)
    ed.rows["k"].control.index = (1, 3)
    assert scan.space["k"].grid() == pytest.approx([0.25, 0.5, 0.75])
    ed.rows["x"].fix.value = True
    assert isinstance(scan.space["x"], hw.Fixed)
    _until(lambda: ed.rows["x"].control.disabled)
    ed.rows["x"].fix.value = False
    assert scan.space["x"] == hw.Float(0.0, 1.0)
    _until(lambda: not ed.rows["x"].control.disabled)
    # the last value of a choice cannot be removed: the note says why, the space stays valid
    ed.rows["act"]._toggles[0].value = False
    _until(lambda: scan.space["act"] == hw.Fixed("elu"))
    ed.rows["act"]._toggles[1].value = False
    _until(lambda: "at least one" in ed.note.value)
    assert scan.space["act"] == hw.Fixed("elu")
    _until(lambda: ed.rows["act"]._toggles[1].value)   # the toggle is put back
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
    _until(lambda: dash._param_name == "x")     # the writer swaps the chart in
    dash.param_brush.brushing = True
    dash.param_brush.selected = np.array([0.2, 0.4])
    dash.param_brush.brushing = False
    assert scan.space["x"].low == pytest.approx(0.2) and scan.space["x"].high == pytest.approx(0.4)
    dash.param_picker.value = "act"                     # choices brush by index
    _until(lambda: dash._param_name == "act")
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


# -- issue 11: one writer, state set from code, stale messages, brushes ---------------------

def _widgets(root):
    """Every widget reachable from the dashboard (children, figures, marks, axes, scales)."""
    import ipywidgets as W

    seen, todo = {}, [root]
    while todo:
        w = todo.pop()
        if not isinstance(w, W.Widget) or w.model_id in seen:
            continue
        seen[w.model_id] = w
        for name in w.keys:
            v = getattr(w, name, None)
            vals = v.values() if isinstance(v, dict) else v if isinstance(v, list | tuple) \
                else [v]
            todo.extend(x for x in vals if isinstance(x, W.Widget))
    return list(seen.values())


def test_only_the_refresher_writes_widget_state(store):
    """Clicks, picks and code changes are answered by the refresher thread, not the caller's."""
    gate = threading.Semaphore(0)

    def slow(params, trial):
        trial.report(0, params["x"])
        gate.acquire(timeout=5)
        return params["x"]

    scan = hw.Scan(slow, SPACE, max_trials=6, store=store)
    dash = scan.dashboard()
    writers: list[tuple[str, str]] = []
    me = threading.current_thread()
    typed = set()     # widgets the test itself edits, as a user would in the browser

    def watch(change):
        if threading.current_thread() is me and change["owner"].model_id not in typed:
            writers.append((type(change["owner"]).__name__, change["name"]))

    for w in _widgets(dash):
        w.observe(watch)
    dash.start_btn.click()
    dash.pause_btn.click()
    _until(lambda: dash.pause_btn.description == "Resume")
    dash.pause_btn.click()
    typed.add(dash.param_picker.model_id)
    dash.param_picker.value = "lr"
    typed.add(dash.max_trials.model_id)
    dash.max_trials.value = 5
    scan.narrow(u=(2, 6))
    for _ in range(10):
        gate.release()
    scan.wait(10)
    _until(lambda: "finished" in dash.status.value)
    _until(lambda: dash.space_editor.rows["u"].control.value == (2, 6))
    assert writers == [], f"widgets written on the caller's thread: {sorted(set(writers))}"


def test_an_edit_during_a_redraw_is_not_lost(store, monkeypatch):
    """The user moves a slider while the refresher is moving that very slider."""
    from hpo_widgets.widgets import dashboard as dmod

    inside = threading.Event()
    real = dmod._ParamRow._readout

    def slow_readout(p):
        if threading.current_thread().name.startswith("hpo-dashboard") and \
                isinstance(p, hw.Int):
            inside.set()
            time.sleep(0.4)      # the refresher is mid-redraw of the "u" row
        return real(p)

    scan = hw.Scan(objective, SPACE, max_trials=5, store=store)
    dash = scan.dashboard()
    row = dash.space_editor.rows["u"]
    monkeypatch.setattr(dmod._ParamRow, "_readout", staticmethod(slow_readout))
    scan.narrow(u=(2, 7))                     # from code: the refresher redraws the sliders
    assert inside.wait(5)
    row.control.value = (3, 6)                # the user's drag lands during that redraw
    _until(lambda: scan.space["u"] == hw.Int(3, 6))
    _until(lambda: row.control.value == (3, 6) and "3 – 6" in row.readout.value)


def test_max_trials_set_from_code_shows_in_the_box(store):
    scan = hw.Scan(objective, SPACE, max_trials=1500, store=store)
    dash = scan.dashboard()
    assert dash.max_trials.value == 1500
    scan.max_trials = 4000
    _until(lambda: dash.max_trials.value == 4000)
    _until(lambda: "/4000" in dash.progress_text.value)
    assert scan.max_trials == 4000      # showing it did not echo anything back


def test_raising_max_trials_clears_max_trials_reached(store):
    scan = hw.Scan(objective, SPACE, max_trials=8, store=store)
    dash = scan.dashboard()
    scan.start().wait(10)
    _until(lambda: "max_trials reached" in dash.message.value)
    _until(lambda: dash.start_btn.disabled)
    dash.max_trials.value = 12                     # the user raises it in the box
    _until(lambda: "/12" in dash.progress_text.value)   # a redraw after the change...
    time.sleep(3 * dash.min_interval)
    assert "max_trials reached" not in dash.message.value   # ...no longer says it
    _until(lambda: not dash.start_btn.disabled and dash.start_btn.description == "Continue")


def test_the_param_brush_follows_the_space(store):
    """A narrowing from anywhere (parallel coordinates, code) moves the param chart's brush."""
    scan = hw.Scan(objective, SPACE, max_trials=5, store=store)
    dash = scan.dashboard()
    dash.param_picker.value = "x"
    _until(lambda: dash._param_name == "x")
    dash.parcoords.selection = {"x": [0.2, 0.4]}            # what a parcoords brush sends
    assert scan.space["x"] == hw.Float(0.2, 0.4)
    _until(lambda: dash.param_brush.selected is not None
           and np.allclose(dash.param_brush.selected, [0.2, 0.4]))
    dash.parcoords.selection = {}                            # a click clears it
    _until(lambda: dash.param_brush.selected is None or len(dash.param_brush.selected) == 0)
    dash.param_picker.value = "act"
    _until(lambda: dash._param_name == "act")
    scan.narrow(act=["elu", "gelu"])
    _until(lambda: dash.param_brush.selected is not None
           and np.allclose(dash.param_brush.selected, [0.6, 2.4]))


def test_history_axis_is_sound_from_the_first_trial(store):
    """One finished trial: a domain of non-zero width, integer ticks, a concrete format
    (bqplot guessed ".undefinedg" from a one-point domain and froze the chart)."""
    gate = threading.Semaphore(0)

    def slow(params):
        gate.acquire(timeout=5)
        return params["x"]

    scan = hw.Scan(slow, SPACE, max_trials=3, store=store)
    dash = scan.dashboard()
    scan.start()
    gate.release()
    _until(lambda: len(dash.hist_points.x) == 1)
    hx, hy = dash.hist_points.scales["x"], dash.hist_points.scales["y"]
    _until(lambda: hx.max is not None and hx.min is not None and hx.max > hx.min)
    assert hy.max > hy.min
    assert hx.min < dash.hist_points.x[0] < hx.max
    assert hy.min < dash.hist_points.y[0] < hy.max              # not on the frame's edge
    ticks = np.asarray(dash.hist_xaxis.tick_values)
    assert len(ticks) >= 1 and np.all(ticks == np.round(ticks))   # integer trials
    assert dash.hist_xaxis.tick_format == "d"
    assert dash.hist_yaxis.tick_format and "undefined" not in dash.hist_yaxis.tick_format
    gate.release()
    gate.release()
    scan.wait(10)
    _until(lambda: len(dash.hist_points.x) == 3)
    assert hx.min < dash.hist_points.x.min() and dash.hist_points.x.max() < hx.max


def test_hints_and_legends(store):
    def silent(params):      # never reports: no learning curves, ever
        return params["x"]

    scan = hw.Scan(silent, SPACE, max_trials=4, store=store)
    dash = scan.dashboard()
    assert "no finished trial yet" in dash.hist_caption.value
    assert "no data yet" in dash.curves_caption.value
    scan.start().wait(10)
    _until(lambda: "trial.report" in dash.curves_caption.value)   # says why it stays empty
    _until(lambda: "best so far" in dash.hist_caption.value)
    scan2 = hw.Scan(objective, SPACE, max_trials=6, store=store, name="curvy")
    dash2 = scan2.dashboard()
    scan2.start().wait(10)
    _until(lambda: "best finished" in dash2.curves_caption.value)   # a legend per curve


def test_trial_view_shows_captured_output(store):
    def chatty(params):
        return {"loss": params["x"], "stdout": f"epoch 1/1 x={params['x']:.3f}\n<warn>"}

    scan = hw.Scan(chatty, SPACE, metric="loss", max_trials=3, store=store)
    dash = scan.dashboard()
    scan.start().wait(10)
    t = scan.trials[1]
    dash.trial_pick.value = t.id
    dash.trial_show.value = True
    _until(lambda: "epoch 1/1" in dash.trial_out.value)
    assert "&lt;warn&gt;" in dash.trial_out.value        # escaped, never run as HTML
    assert f"#{t.id}" in dash.trial_out.value


def test_values_that_are_functions_show_by_name(store):
    import math as _m

    space = {"f": [_m.sqrt, _m.log1p], "x": (0.0, 1.0)}
    scan = hw.Scan(lambda p: p["f"](p["x"]), space, max_trials=4, store=store)
    dash = scan.dashboard()
    assert [t.description for t in dash.space_editor.rows["f"]._toggles] == ["sqrt", "log1p"]
    scan.start().wait(10)
    _until(lambda: "sqrt" in dash.table.value or "log1p" in dash.table.value)
    assert "<built-in" not in dash.table.value


def test_dock_without_a_side_panel_says_so_and_shows_inline(store, monkeypatch):
    """Outside JupyterLab / Notebook 7: one line saying so, the dashboard inline, and
    nothing returned (a cell ending in ``scan.dock()`` shows no second copy)."""
    import IPython.display

    from hpo_widgets import lab

    for var in ("JPY_SESSION_NAME", "JUPYTERHUB_USER", "HPO_WIDGETS_FORCE_LAB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(lab, "_app", None)
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    scan = hw.Scan(objective, SPACE, max_trials=3, store=store)
    assert scan.dock() is None
    assert len(shown) == 2 and "No side panel here" in shown[0].value
    assert shown[1] is scan.dashboard()


# -- issue 13: the honest score and selection luck on the dashboard -------------------------

_Y = np.array([0] * 180 + [1] * 20)     # 10% positives, the validation rows of every trial


def _honest_objective(folder):
    """Predictions that miss ``params["miss"]`` of the 20 positives and flag 3 negatives:
    a real honest.score, predictions kept under the scan's folder."""
    from hpo_widgets import honest

    def objective(params, trial):
        p = _Y.copy()
        p[np.flatnonzero(_Y == 1)[: params["miss"]]] = 0
        p[:3] = 1
        return honest.score(_Y, p, keep=folder, trial=trial)

    return objective


def test_the_header_says_how_sure_the_best_is_and_the_table_shows_intervals(store):
    scan = hw.Scan(_honest_objective(store / "luck"), {"miss": [1, 2, 10, 18]},
                   metric="honest", max_trials=4, store=store, name="luck", strategy="grid")
    dash = scan.dashboard()
    scan.start().wait(20)
    luck = hw.honest.luck(scan, top=20)
    _until(lambda: luck.sentence in dash.best_html.value)   # the header says it in words
    assert "indistinguishable from 1 other" in luck.sentence   # 1 or 2 missed: a coin
    best = scan.best
    cell = hw.widgets.chart_data.format_interval(best.value, hw.honest.interval(best.metrics))
    assert cell.startswith(f"{best.value:.2f} [")                  # "0.85 [0.75–0.92]"
    _until(lambda: f"<td style='padding:2px 6px;text-align:right'>{cell}</td><td style="
           f"'padding:2px 6px;text-align:right'>{luck.p_best[best.id]:.0%}</td>"
           in dash.table.value)                                    # the interval, p_best
    # error bars on the score-per-trial chart: one per trial, around its score
    _until(lambda: dash.honest_view.bars.x.shape == (4, 2))
    for (x0, _), (lo, hi) in zip(dash.honest_view.bars.x, dash.honest_view.bars.y,
                                 strict=True):
        t = scan.trial(int(x0))
        top, bottom = dash.hist_yaxis.scale.max, dash.hist_yaxis.scale.min
        want = np.clip(hw.honest.interval(t.metrics), bottom, top)   # within the chart
        assert lo <= t.value <= hi and (lo, hi) == pytest.approx(tuple(want))
    assert dash.honest_view.bars in dash.history_fig.marks


def test_after_evaluate_the_table_shows_validation_cv_test_and_both_optimisms(store):
    scan = hw.Scan(_honest_objective(store / "ev"), {"miss": [1, 10]}, metric="honest",
                   max_trials=2, store=store, name="ev", strategy="grid")
    dash = scan.dashboard()
    scan.start().wait(20)
    best = scan.best
    scan._put(best.replace(metrics={**best.metrics, "cv_mean": 0.7, "cv_std": 0.05,
                                    "test": 0.65, "optimism": 0.2,
                                    "optimism_expected": 0.15}))  # what evaluate() adds
    scan._emit(hw.scan.ScanEvent("status", scan))
    _until(lambda: "optimism_expected" in dash.table.value)
    head = dash.table.value.split("</thead>")[0]
    order = [head.index(c) for c in ("honest_mcc", "cv_mean", "test", ">optimism<",
                                     "optimism_expected")]
    assert order == sorted(order)                        # side by side, in this order
    assert f"{best.metrics['honest_mcc']:.4g}" in dash.table.value


def test_a_scan_that_keeps_nothing_shows_no_luck_and_no_bars(store):
    scan = hw.Scan(objective, SPACE, max_trials=5, store=store, seed=0)
    dash = scan.dashboard()
    scan.start().wait(10)
    _until(lambda: f"#{scan.best.id}" in dash.best_html.value)
    assert "hpo-luck" not in dash.best_html.value and "p_best" not in dash.table.value
    assert dash.honest_view.luck is None and dash.honest_view.bars.x.shape == (0, 2)


def test_luck_is_recomputed_at_most_every_interval_while_the_scan_runs(store):
    from hpo_widgets.widgets.honest_view import HonestView

    gate = threading.Event()
    inner = _honest_objective(store / "slow")

    def slow(params, trial):
        if trial.id >= 2:
            gate.wait(20)
        return inner(params, trial)

    scan = hw.Scan(slow, {"miss": [1, 2, 10, 18]}, metric="honest", max_trials=4,
                   store=store, name="slow", strategy="grid", n_jobs=1)
    view = HonestView(scan, _scales(), luck_interval=3600)
    scan.start()
    _until(lambda: scan.n_done == 2)
    first = view.update_luck()
    assert first is not None and first.n_trials == 2
    gate.set()
    _until(lambda: scan.status == "finished")
    assert view.update_luck() is not first          # stopped: computed once more
    assert view.update_luck().n_trials == 4
    view.close()


def _scales():
    import bqplot as bq

    return {"x": bq.LinearScale(), "y": bq.LinearScale()}


def test_an_excluded_trial_is_never_the_best_in_the_views_and_a_damaged_file_stops_nothing(
        store):
    """Excluded trials stay on the charts but are never 'best': not on the best-so-far
    line, not in selection luck, not where 'Narrow to top 10%' looks. A kept-predictions
    file that cannot be read leaves the luck out and the rest of the redraw drawn."""
    from hpo_widgets import honest
    from hpo_widgets.widgets import chart_data as cd
    from hpo_widgets.widgets.honest_view import HonestView

    scan = hw.Scan(_honest_objective(store / "ex"), {"miss": [1, 2, 10, 18]},
                   metric="honest", max_trials=4, store=store, name="ex", strategy="grid")
    dash = scan.dashboard()
    scan.start().wait(20)
    best = scan.best
    scan.exclude(best.id, "data bug")
    assert scan.best.id != best.id and best.id not in [t.id for t in scan.learnt]
    assert honest.luck(scan).table.index[0] != best.id
    _until(lambda: float(best.value) not in dash.hist_best.y.tolist())   # the best line
    ranges = cd.top_fraction_ranges(scan.trials, scan.space, scan.minimize, min_trials=1)
    assert best.params["miss"] not in ranges["miss"]
    (store / "ex" / honest.PREDICTIONS / f"{scan.best.id}.npz").write_bytes(b"not a zip")
    view = HonestView(scan, _scales())
    assert view.update_luck() is None                  # no luck, no exception
