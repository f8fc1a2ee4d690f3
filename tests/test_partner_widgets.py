"""The dashboard's partner parts without a browser: their plot data and texts
(partner_data), and the panel driven by a real scan (clicks call the scan; only the
refresher writes widgets)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import hpo_widgets as hw
from hpo_widgets import analysis
from hpo_widgets.strategies import Strategy
from hpo_widgets.trial import Trial

pytest.importorskip("ipywidgets")
pytest.importorskip("bqplot")

from hpo_widgets.widgets import partner_data as pd_

SPACE = hw.Space(x=hw.Float(0.0, 1.0), lr=hw.Float(1e-4, 1e-1, log=True),
                 act=hw.Choice(["relu", "elu"]), units=hw.Int(8, 64))


def _until(cond, timeout=30.0):
    end = time.time() + timeout
    while not cond():
        assert time.time() < end, "timed out"
        time.sleep(0.02)


def only_x(params):
    return (params["x"] - 0.25) ** 2


def _trials(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = SPACE.sample(rng)
        out.append(Trial(id=i, params=p, status="finished", value=only_x(p),
                         metrics={"value": only_x(p)}))
    return out


# -- plot data ------------------------------------------------------------------------------
def test_importance_bars_put_the_parameter_that_matters_on_top():
    trials = _trials(80)
    imp = analysis.importance(trials, SPACE, True)
    bars = pd_.importance_bars(imp, k=3)
    assert bars["names"][-1] == "x"                # last = drawn on top
    assert len(bars["names"]) == 3 and np.all(np.diff(bars["values"]) >= 0)
    assert "forest" in bars["caption"]
    empty = pd_.importance_bars(None)
    assert empty["names"] == [] and "after a few" in empty["caption"]
    noise = analysis.Importance(values={"x": 0.5, "lr": 0.5}, source="forest",
                                explained=0.0, reliable=False)
    assert "no parameter explains" in pd_.importance_bars(noise)["caption"]


def test_the_belief_band_has_a_mean_a_band_and_a_next_point():
    trials = _trials(40)
    fitted = analysis.fit_surrogate(trials, SPACE, True)
    best = min(trials, key=lambda t: t.value)
    marks = pd_.belief_marks(fitted.predict, SPACE, "x", best.params, True, best.value)
    assert marks["band"].shape == (2, len(marks["x"])) and len(marks["x"]) == 60
    assert np.all(marks["band"][0] <= marks["mean"]) and np.all(marks["mean"] <= marks["band"][1])
    # the belief is lowest near the true optimum, and the next point is where EI peaks
    assert abs(marks["x"][np.argmin(marks["mean"])] - 0.25) < 0.15
    assert len(marks["next_x"]) == 1 and 0.0 <= marks["next_x"][0] <= 1.0
    # a strategy's own next point is shown where it is
    nxt = {**best.params, "x": 0.9}
    shown = pd_.belief_marks(fitted.predict, SPACE, "x", best.params, True, best.value,
                             next_point=nxt)
    assert shown["next_x"].tolist() == [0.9] and shown["next_params"] == nxt
    # choices: one point per value, at its index
    ch = pd_.belief_marks(fitted.predict, SPACE, "act", best.params, True, best.value)
    assert ch["x"].tolist() == [0.0, 1.0]


def test_a_belief_comes_from_the_strategy_when_it_can_predict():
    trials = _trials(20)

    class Predicting(Strategy):
        name = "mine"

        def predict(self, space, history, points):
            return np.full(len(points), 1.0), np.full(len(points), 0.1)

    got = pd_.predictor(Predicting(), SPACE, trials, True)
    assert got is not None and got[1] == "mine's model"
    assert got[0]([trials[0].params])[0].tolist() == [1.0]
    predict, label = pd_.predictor(hw.Bayes(), SPACE, trials, True)   # Bayes' own GP
    assert label == "bayes's model"
    mean, std = predict([trials[0].params, trials[1].params])
    assert np.all(np.isfinite(mean)) and np.all(std > 0)
    from hpo_widgets.strategies import make_strategy

    assert pd_.predictor(make_strategy("random"), SPACE, trials, True) is None  # no belief
    assert pd_.predictor(hw.Bayes(), SPACE, trials[:2], True) is None   # too few trials


def test_fields_round_trip_a_trials_parameters():
    p = {"x": 0.123456789, "lr": 3e-3, "act": "elu", "units": 17}
    texts = pd_.point_fields(p, SPACE)
    assert texts == {"x": "0.123456789", "lr": "0.003", "act": "elu", "units": "17"}
    assert pd_.parse_fields(SPACE, texts) == p
    with pytest.raises(ValueError, match="units: '17.5' is not a whole number"):
        pd_.parse_fields(SPACE, {**texts, "units": "17.5"})
    with pytest.raises(ValueError, match="act: 'tanh' is not one of"):
        pd_.parse_fields(SPACE, {**texts, "act": "tanh"})
    with pytest.raises(ValueError, match="x: 'abc' is not a number"):
        pd_.parse_fields(SPACE, {**texts, "x": "abc"})


def test_user_points_pick_the_users_trials():
    ids = np.array([0, 1, 2, 3])
    x, y = pd_.user_points(ids, np.array([.1, .2, np.nan, .4]), np.arange(4.0), {1, 2, 3})
    assert x.tolist() == [.2, .4] and y.tolist() == [1.0, 3.0]


# -- the panel with a real scan ------------------------------------------------------------
def test_try_near_this_enqueues_and_the_trial_is_marked_as_the_users(tmp_path):
    scan = hw.Scan(only_x, SPACE, strategy="bayes", max_trials=12, seed=0, store=tmp_path,
                   name="try")
    scan.start().wait(60)
    dash = scan.dashboard()
    p = dash.partner
    try:
        _until(lambda: len(p.try_pick.options) == 10)
        assert p.try_pick.options[0][1] == scan.best.id      # rows of the top table
        p.try_pick.value = p.try_pick.options[0][1]
        p._click_try()
        _until(lambda: p.fields["x"].value != "")
        assert p.fields["act"].value == scan.best.params["act"]
        p.fields["x"].value = "0.26"
        p._click_enqueue()
        tid = max(t.id for t in scan.trials)
        assert scan.trial(tid).status == "queued" and scan.trial(tid).params["x"] == 0.26
        _until(lambda: "enqueued as trial" in p.try_note.value)
        scan.max_trials = 13
        scan.start().wait(60)
        assert scan.results.loc[tid, "source"] == "user"
        _until(lambda: tid in dash._user_ids and len(dash.hist_user.x) == 1)
        assert dash.hist_user.x.tolist() == [tid]
        assert dash.param_user.x.tolist() == [pytest.approx(0.26)]
        # a bad field is named, nothing is enqueued
        n = len(scan.trials)
        p.fields["units"].value = "many"
        p._click_enqueue()
        assert len(scan.trials) == n
        _until(lambda: "units" in p.try_note.value)
        # the importance chart and the belief band are drawn (Bayes: a GP's belief)
        _until(lambda: len(p.bars.x) == 4 and len(dash.band_mean.x) > 0)
        assert p.bars.x[-1] == "x"
        assert dash.band_fill.y.shape == (2, len(dash.band_fill.x))
        assert len(dash.band_next.x) == 1
    finally:
        dash.close()


def test_no_band_for_a_strategy_without_a_belief(tmp_path):
    scan = hw.Scan(only_x, SPACE, strategy="random", max_trials=15, seed=0, store=tmp_path,
                   name="rnd")
    scan.start().wait(60)
    dash = scan.dashboard()
    try:
        _until(lambda: dash.partner.cost["computes"] >= 1 and len(dash.partner.bars.x) == 4)
        assert len(dash.band_mean.x) == 0 and len(dash.band_next.x) == 0
    finally:
        dash.close()


def test_exclude_and_include_from_the_panel(tmp_path):
    scan = hw.Scan(only_x, SPACE, max_trials=8, seed=0, store=tmp_path, name="ex")
    scan.start().wait(60)
    dash = scan.dashboard()
    p = dash.partner
    try:
        _until(lambda: len(p.try_pick.options) == 8)
        best = scan.best.id
        p.try_pick.value = best
        p.reason.value = "leaked labels"
        p._click_exclude()
        assert scan.trial(best).excluded == "leaked labels" and scan.best.id != best
        _until(lambda: "hpo-row-excluded" in dash.table.value)
        p._click_include()
        assert scan.trial(best).excluded is None and scan.best.id == best
        assert scan.settings_log["what"].tolist()[-2:] == ["exclude", "include"]
    finally:
        dash.close()


def test_a_proposed_narrowing_is_shown_in_words_and_accepting_it_narrows(tmp_path):
    def lin(params):
        return params["x"]   # the top 20% are all at small x

    scan = hw.Scan(lin, {"x": (0.0, 1.0), "c": ["a", "b"]}, strategy="random",
                   max_trials=150, seed=1, store=tmp_path, name="sug")
    scan.start().wait(60)
    dash = scan.dashboard()
    p = dash.partner
    try:
        _until(lambda: p.suggestion_box.layout.display == "flex")
        s = p.suggestion
        assert s.param == "x" and "x" in p.suggestion_html.value
        assert scan.best.params["x"] <= s.narrow["x"][1]    # never cuts the best
        p._click_dismiss()
        _until(lambda: p.suggestion_box.layout.display == "none")
        p._force = True
        dash._now("partner")
        time.sleep(1.0)
        assert p.suggestion is None or p.suggestion.key != s.key   # stays dismissed
        p.suggestion = s
        p._click_accept()
        assert scan.space["x"].high == pytest.approx(s.narrow["x"][1])
        log = scan.settings_log
        assert log.iloc[-1]["what"] == "space" and log.iloc[-1]["by"] == "suggestion"
    finally:
        dash.close()
