"""Chart data, computed apart from drawing (no widgets, no browser)."""

from __future__ import annotations

import numpy as np
import pytest

import hpo_widgets as hw
from hpo_widgets.trial import Trial
from hpo_widgets.widgets import chart_data as cd


def _finished(i, value, **params):
    return Trial(id=i, params=params, status="finished", metrics={"value": value}, value=value,
                 started=0.0, finished=1.0)


def test_trial_series_grows_amortised_and_keeps_every_row():
    s = cd.TrialSeries(["a", "b"])
    for i in range(1000):
        s.append(i, float(i) / 10, [i, -i])
    assert s.n == 1000 and s.ids[-1] == 999
    assert s.column("b")[10] == -10 and s.scores[5] == 0.5


@pytest.mark.parametrize("minimize", [True, False])
def test_best_so_far_has_a_vertex_per_improvement(minimize):
    rng = np.random.default_rng(0)
    scores = rng.random(10_000)
    ids = np.arange(10_000)
    x, y = cd.best_so_far(ids, scores, minimize)
    best = np.minimum.accumulate(scores) if minimize else np.maximum.accumulate(scores)
    assert y[-1] == best[-1] and x[-1] == 9999
    assert len(x) < 40                      # about ln(n) improvements, not n points
    # the step line passes through the running best at every vertex
    assert np.all(best[x] == y)


def test_decimate_keeps_small_series_and_samples_large_ones_fairly():
    x = np.arange(100.0)
    assert len(cd.decimate(x, x, 600)) == 100
    rng = np.random.default_rng(1)
    x = np.arange(100_000.0)
    y = rng.random(x.size)
    y[54321] = -99.0
    sel = cd.decimate(x, y, 600, keep=np.array([7]))
    assert len(sel) <= 603
    assert 54321 in sel and 7 in sel        # the extreme and the kept best survive
    assert y[sel].min() == y.min() and y[sel].max() == y.max()
    # uniform data stays uniform: no band at the extremes, every decile represented
    counts = np.histogram(y[sel], bins=10, range=(0, 1))[0]
    assert counts.min() > 30, counts
    assert np.histogram(x[sel], bins=10)[0].min() >= 55   # every stretch of trials too


def test_history_info_size_is_bounded_as_the_scan_grows():
    sizes = []
    for n in (1_000, 10_000, 100_000):
        s = cd.TrialSeries(["x"])
        rng = np.random.default_rng(n)
        for i, v in enumerate(rng.random(n)):
            s.append(i, v, [v])
        info = cd.history_info(s, minimize=True)
        sizes.append(info["x"].nbytes + info["y"].nbytes + info["best_x"].nbytes
                     + info["best_y"].nbytes)
        assert info["y"].min() == s.scores.min()
    assert sizes[2] <= sizes[1] * 1.2        # flat beyond the cap


def test_param_axis_and_coords():
    sp = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), act=["relu", "elu"], u=hw.Int(1, 9))
    assert cd.param_axis(sp["lr"])["kind"] == "log"
    ax = cd.param_axis(sp["act"])
    assert ax["kind"] == "choice" and ax["labels"] == ["relu", "elu"]
    assert cd.param_coord(sp["act"], "elu") == 1.0
    assert cd.param_axis(sp["u"])["kind"] == "int"
    dims = cd.parcoords_dims(sp)
    assert [d["name"] for d in dims] == ["lr", "act", "u"]


def test_parcoords_rows_only_finished_with_choice_indices():
    sp = hw.Space(x=hw.Float(0, 1), act=["relu", "elu"])
    trials = [_finished(0, 0.5, x=0.1, act="elu"),
              Trial(id=1, params={"x": 0.2, "act": "relu"}, status="failed"),
              _finished(2, 0.3, x=0.9, act="relu")]
    ids, vals, scores = cd.parcoords_rows(trials, sp)
    assert ids.tolist() == [0, 2]
    assert vals.tolist() == [[0.1, 1.0], [0.9, 0.0]]
    assert scores.tolist() == [0.5, 0.3]


def test_curves_info_pads_running_and_best_curves():
    best = _finished(0, 0.1, x=0.1).replace(curve=((0, 1.0), (1, 0.5), (2, 0.1)))
    worse = _finished(1, 0.9, x=0.2).replace(curve=((0, 1.0),))
    running = Trial(id=2, params={"x": 0.3}, status="running")
    info = cd.curves_info([running], [best, worse], {2: [(0, 2.0), (1, 1.5)]}, minimize=True)
    assert info["kinds"] == ["running", "best", "best"]
    assert info["x"].shape == (3, 3)
    assert info["labels"][1].startswith("#0")
    assert info["y"][0].tolist() == [2.0, 1.5, 1.5]     # padded with its last point


def test_top_rows_sorted_by_score_then_by_other_columns():
    trials = [_finished(i, v, x=x) for i, (v, x) in enumerate([(0.5, 3), (0.1, 1), (0.3, 2)])]
    trials.append(Trial(id=9, params={"x": 0}, status="failed"))
    rows = cd.top_rows(trials, "value", minimize=True, k=2)
    assert [r["trial"] for r in rows] == [1, 2]
    rows = cd.top_rows(trials, "value", minimize=False, k=3)
    assert [r["trial"] for r in rows] == [0, 2, 1]
    rows = cd.top_rows(trials, "value", True, k=3, sort_by="x", ascending=False)
    assert [r["x"] for r in rows] == [3, 2, 1]


def test_top_fraction_ranges_narrows_to_where_the_best_are():
    sp = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), act=["relu", "elu", "gelu"],
                  u=hw.Int(1, 100))
    rng = np.random.default_rng(0)
    trials = []
    for i in range(200):
        p = sp.sample(rng)
        score = abs(np.log10(p["lr"]) + 2) + (0 if p["act"] == "relu" else 1) + p["u"] / 1000
        trials.append(_finished(i, score, **p))
    ranges = cd.top_fraction_ranges(trials, sp, minimize=True)
    lo, hi = ranges["lr"]
    assert 1e-4 < lo < 1e-2 < hi < 1e-1
    assert ranges["act"] == ["relu"]
    assert cd.top_fraction_ranges(trials[:2], sp, True) == {}


def test_format_helpers():
    assert cd.format_seconds(75) == "1:15"
    assert cd.format_seconds(3725) == "1:02:05"
    assert cd.format_seconds(None) == "–"
    assert cd.format_value(0.000123456) == "0.0001235"


def test_curves_info_with_a_single_one_point_curve_is_still_two_dimensional():
    running = Trial(id=0, params={}, status="running")
    info = cd.curves_info([running], [], {0: [(0.0, 0.5)]}, minimize=True)
    assert info["x"].shape == (1, 2) and info["y"].tolist() == [[0.5, 0.5]]
    bq = pytest.importorskip("bqplot")
    lines = bq.Lines(x=np.zeros((0, 0)), y=np.zeros((0, 0)))
    lines.x, lines.y = info["x"], info["y"]      # accepted by bqplot


def test_top_rows_carry_evaluation_columns_when_present():
    t = _finished(0, 0.9, x=1).replace(metrics={"value": 0.9, "cv_mean": 0.8, "test": 0.7,
                                                "optimism": 0.2, "flags": "constant_prediction"})
    row = cd.top_rows([t, _finished(1, 0.5, x=2)], "value", minimize=False)[0]
    assert row["optimism"] == 0.2 and row["test"] == 0.7 and "cv_std" not in row
    assert row["flags"] == "constant_prediction"


# -- axes (issue 11): never a degenerate domain, integer ticks, one format per axis --------

def test_value_domain_is_never_degenerate_and_pads():
    assert cd.value_domain(np.array([3.0])) == pytest.approx((2.85, 3.15))
    assert cd.value_domain(np.array([0.0])) == (-0.5, 0.5)
    lo, hi = cd.value_domain(np.array([1.0, 2.0, np.nan]))
    assert lo < 1.0 and hi > 2.0                  # no point on the frame's edge
    assert cd.value_domain(np.array([])) == (0.0, 1.0)


def test_integer_ticks_are_whole_and_inside():
    for lo, hi in [(-0.5, 0.5), (-0.5, 3.5), (-0.5, 99.5), (4999.5, 100000.5)]:
        t = cd.integer_ticks(lo, hi)
        assert len(t) >= 1 and np.all(t == np.round(t)) and t.min() >= lo and t.max() <= hi
        assert len(t) <= 11


def test_nice_ticks_and_one_format():
    t = cd.nice_ticks(0.84, 1.31)
    assert t.tolist() == [0.9, 1.0, 1.1, 1.2, 1.3]
    fmt = cd.tick_format(0.84, 1.31)
    assert fmt == ".1f"
    labels = {f"{v:{fmt[:-1] + 'f'}}" for v in t}
    assert {len(s.split(".")[1]) for s in labels} == {1}    # "1.30" beside "0.900" never
    assert cd.tick_format(0, 500) == ".0f"
    assert cd.tick_format(1e-7, 3e-7) == ".2~e"
    for lo, hi in [(0, 1), (-3, 7), (1e-4, 2e-4), (10, 10000)]:
        t = cd.nice_ticks(lo, hi)
        assert 2 <= len(t) <= 11 and t.min() >= lo - 1e-12 and t.max() <= hi + 1e-12


def test_format_value_names_classes_and_functions():
    import math

    assert cd.format_value(math.sqrt) == "sqrt" and cd.format_value(dict) == "dict"
    assert cd.format_value(0.123456) == "0.1235"


def test_a_score_shows_with_its_interval_and_bars_follow_the_intervals():
    assert cd.format_interval(0.8123, (0.74, 0.881)) == "0.81 [0.74–0.88]"
    assert cd.format_interval(0.5, None) == "0.5"          # no interval: the plain value
    x, y = cd.error_bars({3: (0.2, 0.4), 1: (0.5, 0.9)})
    assert x.tolist() == [[1.0, 1.0], [3.0, 3.0]] and y.tolist() == [[0.5, 0.9], [0.2, 0.4]]
    x, y = cd.error_bars(dict.fromkeys(range(10), (0.0, 1.0)), max_bars=4)
    assert x[:, 0].tolist() == [6, 7, 8, 9]                 # the latest trials
    assert cd.error_bars({})[0].shape == (0, 2)
