"""The machine's side as plain data (hpo_widgets.analysis): tables, importance, narrowing
proposals and the belief band, computed apart from drawing and checked without a browser.

Trials come from real scans (a real SQLite store in a temp folder) or are built as the
store would hold them (real Trial and Space objects)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hpo_widgets as hw
from hpo_widgets import analysis as an
from hpo_widgets.strategies.random import Random
from hpo_widgets.trial import Trial

SPACE = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), units=hw.Int(16, 512, log=True),
                 dropout=hw.Float(0.0, 0.5), act=hw.Choice(["relu", "elu", "gelu"]),
                 batch_norm=hw.Bool(), epochs=hw.Fixed(3))


def _wiggle(p):
    """Deterministic small 'noise' from the parameters that do not matter."""
    return 0.02 * math.sin(1234.5 * p["dropout"] + 98.7 * p["units"])


def lr_only(p):
    """A loss that depends on the learning rate only: best at 1e-3, bad above ~1e-2."""
    return (math.log10(p["lr"]) + 3.0) ** 2 + _wiggle(p)


def act_only(p):
    """relu and gelu about as good (within the wiggle), elu clearly worse."""
    return {"relu": 0.11, "elu": 0.5, "gelu": 0.1}[p["act"]] + _wiggle(p)


def gelu_best(p):
    return {"relu": 0.2, "elu": 0.5, "gelu": 0.1}[p["act"]] + _wiggle(p)


def _scan(objective, store, n=150, name="a", seed=0, space=SPACE, **kw):
    scan = hw.Scan(objective, space, metric="loss", mode="min", strategy="random",
                   max_trials=n, seed=seed, store=store, name=name, **kw)
    scan.start().wait()
    assert scan.status == "finished"
    return scan


def _trial(i, value, status="finished", **params):
    return Trial(id=i, params=params, status=status,
                 metrics={} if value is None else {"loss": value}, value=value,
                 started=0.0, finished=1.0)


def _axis_ok(p, values):
    return np.array([p.contains(v) for v in values])


# ----------------------------------------------------------------------------------
# analyze(): hand-checkable tables
# ----------------------------------------------------------------------------------
def test_analyze_tables_match_a_hand_computed_case():
    space = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), act=hw.Choice(["a", "b"]),
                     bn=hw.Bool(), epochs=hw.Fixed(5))
    trials = [
        _trial(0, 3.0, lr=1e-4, act="a", bn=False, epochs=5),
        _trial(1, 2.0, lr=1e-3, act="b", bn=False, epochs=5),
        _trial(2, 1.0, lr=1e-2, act="a", bn=True, epochs=5),
        _trial(3, 0.5, lr=1e-1, act="b", bn=True, epochs=5),
        _trial(4, None, status="failed", lr=5e-2, act="a", bn=True, epochs=5),
        _trial(5, 9.0, lr=1e-4, act="b", bn=True, epochs=5),       # excluded below
        Trial(id=6, params={"lr": 1e-3, "act": "a", "bn": False, "epochs": 5}),  # running
    ]
    a = an.analyze(trials, space, minimize=True, excluded=[5])
    assert (a.n_trials, a.n_finished, a.n_excluded) == (5, 4, 1)

    corr = a.correlation.set_index("param")
    assert set(corr.index) == {"lr", "bn"}           # Fixed epochs and the 2-value text
    assert corr.loc["lr", "spearman"] == pytest.approx(-1.0)   # choice: no correlation
    # Pearson on the log axis: log10(lr) = -4, -3, -2, -1 against 3, 2, 1, 0.5
    x, y = np.array([-4.0, -3.0, -2.0, -1.0]), np.array([3.0, 2.0, 1.0, 0.5])
    assert corr.loc["lr", "pearson"] == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert corr.loc["lr", "pearson"] != pytest.approx(
        np.corrcoef([1e-4, 1e-3, 1e-2, 1e-1], y)[0, 1])
    assert corr.loc["lr", "n"] == 4
    assert corr.loc["lr", "better_when"] == "higher"  # loss falls as lr rises, p < 0.05

    by = a.by_value.set_index(["param", "value"])
    assert "epochs" not in a.by_value["param"].tolist()
    row_a = by.loc[("act", "a")]
    assert (row_a["n"], row_a["finished"], row_a["failed"]) == (3, 2, 1)
    assert row_a["mean"] == pytest.approx((3.0 + 1.0) / 2)
    assert (row_a["best"], row_a["best_trial"]) == (1.0, 2)
    row_b = by.loc[("act", "b")]
    assert (row_b["n"], row_b["mean"], row_b["best"], row_b["best_trial"]) == (2, 1.25, 0.5, 3)
    # top 20% of 4 finished = the single best (trial 3, act b, bn True)
    assert row_b["top_share"] == 0.5 and row_a["top_share"] == 0.0
    assert by.loc[("bn", True), "best_trial"] == 3 and by.loc[("bn", False), "n"] == 2
    # lr is continuous: five bins on its log axis, each trial in one bin
    lr_rows = a.by_value[a.by_value["param"] == "lr"]
    assert len(lr_rows) == 5 and lr_rows["n"].sum() == 5
    assert lr_rows["value"].iloc[0].startswith("0.0001–")


def test_analyze_reads_a_real_scan_with_failures_and_direction(store):
    def sometimes_fails(p):
        if p["act"] == "elu" and p["batch_norm"]:
            raise RuntimeError("elu with batch norm diverged")
        return 1.0 - lr_only(p)          # an accuracy-like score: higher is better

    scan = hw.Scan(sometimes_fails, SPACE, metric="acc", mode="max", strategy="random",
                   max_trials=80, seed=3, store=store)
    scan.start().wait()
    res = scan.results
    a = an.analyze(scan.trials, scan.space, minimize=False)
    assert a.n_trials == 80 and a.n_finished == int((res["status"] == "finished").sum())
    by = a.by_value.set_index(["param", "value"])
    failed_elu = ((res["act"] == "elu") & res["batch_norm"] & (res["status"] == "failed")).sum()
    assert failed_elu > 0 and by.loc[("act", "elu"), "failed"] == failed_elu
    ok = res[res["status"] == "finished"]
    for v in ("relu", "elu", "gelu"):
        sub = ok[ok["act"] == v]
        assert by.loc[("act", v), "mean"] == pytest.approx(sub["acc"].mean())
        assert by.loc[("act", v), "best"] == pytest.approx(sub["acc"].max())
        assert by.loc[("act", v), "best_trial"] == sub["acc"].idxmax()
    # mode="max": a higher score is better; the best lr is 1e-3, so there is no
    # monotone trend to read, but the table says which way the data leans only if
    # significant
    corr = a.correlation.set_index("param")
    assert set(corr["better_when"]) <= {"higher", "lower", ""}
    assert "Analysis of 80 trials" in repr(a) and "<h4>" in a._repr_html_()


def test_analyze_a_talos_style_space_per_value_and_huge_ranges_without_listing(store):
    """Talos spaces are lists and (low, high, n) steps: the table gives one row per
    value, as Talos users read it; a huge integer range is binned, never enumerated."""
    space = hw.Space.from_dict({"lr": (0.001, 0.1, 5), "units": [32, 64, 128],
                                "seed": (0, 10**12), "epochs": 10})

    def talos_like(p):
        return 1.0 / p["units"] + 0.01 * p["lr"]   # units dominates: its means are ordered

    scan = hw.Scan(talos_like, space, metric="loss", mode="min", strategy="random",
                   max_trials=60, seed=5, store=store)
    scan.start().wait()
    a = an.analyze(scan.trials, scan.space)
    by = a.by_value
    lr_values = by.loc[by["param"] == "lr", "value"].tolist()
    assert lr_values == sorted(set(scan.results["lr"]))          # one row per step value
    assert by.loc[by["param"] == "units", "value"].tolist() == [32, 64, 128]
    assert len(by[by["param"] == "seed"]) == 5                   # binned, not 10**12 rows
    best = by[by["param"] == "units"].sort_values("mean").iloc[0]
    assert best["value"] == 128                                  # 1/units: more is better
    band = an.belief_band(an.fit_surrogate(scan.trials, scan.space), scan.space, "seed",
                          scan.best.params, n=30)
    assert len(band["x"]) <= 30 and band["x"][-1] == 10**12


# ----------------------------------------------------------------------------------
# Importance
# ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("objective", "which"), [(lr_only, "lr"), (act_only, "act")])
def test_importance_ranks_the_one_parameter_that_matters_first(store, objective, which):
    scan = _scan(objective, store, n=120)
    imp = an.importance(scan.trials, scan.space, minimize=True)
    ranked = imp.ranked()
    assert ranked[0][0] == which, ranked
    assert ranked[0][1] > 0.6 and ranked[1][1] < 0.25
    assert imp.reliable and imp.explained > 0.5
    assert imp.source.startswith("forest")
    assert sum(imp.values.values()) == pytest.approx(1.0)
    assert set(imp.values) == set(SPACE.tunable)


def test_importance_is_over_the_space_not_where_a_bayes_scan_crowds(store):
    """A Bayes scan spends most trials near lr = 1e-3, where only dropout/units still
    move the loss a little; the question a user asks is which parameter matters over
    the range they gave, and that is the learning rate."""
    scan = hw.Scan(lr_only, SPACE, metric="loss", mode="min", strategy="bayes",
                   max_trials=60, seed=0, store=store)
    scan.start().wait()
    near = sum(1 for t in scan.trials if 3e-4 < t.params["lr"] < 3e-3)
    assert near > 30                                 # it does crowd around the optimum
    ranked = an.importance(scan.trials, scan.space).ranked()
    assert ranked[0][0] == "lr" and ranked[0][1] > 0.5, ranked


def test_importance_says_unreliable_when_nothing_explains_the_score(store):
    rng = np.random.default_rng(0)
    noise = iter(rng.random(200))
    scan = _scan(lambda p: float(next(noise)), store, n=120)
    imp = an.importance(scan.trials, scan.space)
    assert not imp.reliable and imp.explained < 0.05


def test_importance_is_bounded_at_many_trials():
    rng = np.random.default_rng(1)
    u = rng.random((20_000, SPACE.ndim))
    trials = []
    for i in range(len(u)):
        p = SPACE.decode(u[i])
        trials.append(_trial(i, lr_only(p), **p))
    imp = an.importance(trials, SPACE)
    assert imp.n_trials == an.MAX_IMPORTANCE_SAMPLES
    assert imp.ranked()[0][0] == "lr"


class RandomWithImportance(Random):
    """A strategy with its own importance estimate (as Bayes will have from its GP)."""

    name = "random+"

    def __init__(self, answer):
        super().__init__()
        self.answer = answer
        self.calls = []

    def importance(self, space, history):
        self.calls.append(len(history))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_importance_prefers_the_strategys_own_estimate_and_falls_back(store):
    scan = _scan(lr_only, store, n=40)
    own = RandomWithImportance({"units": 3.0, "dropout": 1.0})
    imp = an.importance(scan.trials, scan.space, strategy=own)
    assert own.calls == [40]
    assert imp.source == "random+ model"
    assert imp.values["units"] == pytest.approx(0.75) and imp.values["lr"] == 0.0
    # also via analyze()
    assert an.analyze(scan.trials, scan.space, strategy=own).importance.iloc[0]["param"] == \
        "units"
    # a strategy with no model yet (None) or a broken estimate: the model-free one
    for answer in (None, RuntimeError("not fitted")):
        imp = an.importance(scan.trials, scan.space, strategy=RandomWithImportance(answer))
        assert imp.source.startswith("forest") and imp.ranked()[0][0] == "lr"
    # one weight per tunable parameter, in order
    per_param = RandomWithImportance([0.0, 0.0, 0.0, 1.0, 0.0])
    assert an.importance(scan.trials, scan.space, strategy=per_param).ranked()[0][0] == "act"


# ----------------------------------------------------------------------------------
# Narrowing proposals
# ----------------------------------------------------------------------------------
def _recount(res, name, side, boundary, cutoff):
    ok = res[res["status"] == "finished"]
    region = ok[ok[name] > boundary] if side == "above" else ok[ok[name] < boundary]
    return len(region), int((region["loss"] <= cutoff).sum())


def test_suggestion_proposes_the_obvious_cut_with_its_numbers(store):
    scan = _scan(lr_only, store, n=200)
    res = scan.results
    sugg = an.suggest_narrowing(scan.trials, scan.space, minimize=True)
    by_param = {s.param: s for s in sugg}
    assert "lr" in by_param, [s.message for s in sugg]
    s = by_param["lr"]
    lo, hi = s.narrow["lr"]
    # the loss is (log10 lr + 3)^2: the top 20% lie within ~0.45 decades of 1e-3, so the
    # obvious cut is the upper part of the range; the cut keeps the optimum with room
    assert 2e-3 < hi < 3e-2 and lo <= 1e-3
    above = next(e for e in s.evidence if e["side"] == "above")
    assert above["boundary"] == hi and above["top"] == 0
    tries, top_there = _recount(res, "lr", "above", hi, s.cutoff)
    assert (tries, top_there) == (above["tries"], 0)
    assert tries >= s.min_tries and above["chance"] == pytest.approx(0.8 ** tries)
    # the cut-off is the top 20% of the finished trials' losses
    finished = np.sort(res.loc[res["status"] == "finished", "loss"].to_numpy())
    assert s.cutoff == finished[math.ceil(0.2 * len(finished)) - 1]
    assert f"lr above {hi:.3g}" in s.message and f"in {tries} tries" in s.message
    assert "top 20%" in s.message and s.message.endswith("?")
    # the arguments are exactly what scan.narrow takes; the best trial stays inside
    best = scan.best
    new = scan.narrow(**s.narrow)
    assert new["lr"].high == hi and new["lr"].contains(best.params["lr"])
    # parameters that do not matter are never proposed
    assert not {"units", "dropout", "batch_norm"} & set(by_param)


def test_suggestion_drops_a_choice_that_never_makes_the_top(store):
    scan = _scan(act_only, store, n=150)
    sugg = {s.param: s for s in an.suggest_narrowing(scan.trials, scan.space)}
    assert sugg["act"].narrow == {"act": ["relu", "gelu"]}
    ev = sugg["act"].evidence[0]
    res = scan.results
    n_elu = int(((res["act"] == "elu") & (res["status"] == "finished")).sum())
    assert ev["value"] == "elu" and ev["tries"] == n_elu
    assert "act='elu' has not produced a trial in the top 20%" in sugg["act"].message
    assert sugg["act"].message.endswith("keep act in ['relu', 'gelu']?")
    # when one value is clearly best, both others go: the proposal fixes it
    scan = _scan(gelu_best, store, n=150, name="b")
    s = next(s for s in an.suggest_narrowing(scan.trials, scan.space) if s.param == "act")
    assert s.narrow == {"act": ["gelu"]} and s.message.endswith("fix act to 'gelu'?")
    assert scan.narrow(**s.narrow)["act"] == hw.Fixed("gelu")


def test_suggestion_never_cuts_the_best_trial(store):
    scan = _scan(lr_only, store, n=200)
    trials = list(scan.trials)
    # a lucky run at lr = 0.08, in the region every other trial says is bad, is the best
    lucky = dict(trials[0].params, lr=0.08)
    trials.append(_trial(10_000, -1.0, **lucky))
    for s in an.suggest_narrowing(trials, scan.space, minimize=True):
        assert scan.space.narrow(**s.narrow)[s.param].contains(lucky[s.param]), s.message
    lr = [s for s in an.suggest_narrowing(trials, scan.space) if s.param == "lr"]
    assert not lr or lr[0].narrow["lr"][1] >= 0.08


def test_suggestion_never_cuts_an_under_explored_region():
    space = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), act=hw.Choice(["relu", "elu"]))
    rng = np.random.default_rng(4)
    trials = []
    # 150 trials spread over 1e-4 .. 1e-2, where the loss lives
    for lr in 10 ** rng.uniform(-4, -2, 150):
        trials.append(_trial(len(trials), (math.log10(lr) + 3) ** 2, lr=float(lr),
                             act=["relu", "elu"][len(trials) % 2]))
    # above 1e-2: a bad region with only 8 tries, too few to tell
    for lr in 10 ** rng.uniform(-2, -1, 8):
        trials.append(_trial(len(trials), 50.0, lr=float(lr), act="relu"))
    # (below ~4e-4 is explored and bad: that cut is fine) nothing cuts into 1e-2 .. 1e-1
    lr = [s for s in an.suggest_narrowing(trials, space) if s.param == "lr"]
    assert all(s.narrow["lr"][1] == 0.1 for s in lr), [s.message for s in lr]
    assert all(e["side"] == "below" for s in lr for e in s.evidence)
    # now 60 bad tries above 0.03 but none in 0.01 .. 0.03 (a gap nobody explored)
    trials = trials[:150]
    for lr in 10 ** rng.uniform(math.log10(0.03), -1, 60):
        trials.append(_trial(len(trials), 50.0, lr=float(lr), act="relu"))
    sugg = [s for s in an.suggest_narrowing(trials, space) if s.param == "lr"]
    assert sugg, "the explored bad region above 0.03 may be cut"
    hi = sugg[0].narrow["lr"][1]
    assert hi > 0.015, "most of the unexplored 0.01..0.03 must stay"
    # the rule's promise, recounted: no stretch of a tenth of the range (0.3 decades)
    # inside the cut region is without a trial
    cut = np.sort([math.log10(t.params["lr"]) for t in trials if t.params["lr"] > hi])
    assert np.diff(np.r_[math.log10(hi), cut, -1.0]).max() <= 0.3 + 1e-9
    # and with every region under-explored (few trials), nothing at all
    assert an.suggest_narrowing(trials[::10], space) == []


def _random_case(seed):
    rng = np.random.default_rng(seed)
    space = hw.Space(x=hw.Float(0.0, 1.0), lr=hw.Float(1e-4, 1e-1, log=True),
                     k=hw.Int(1, 64, log=True), c=hw.Choice(["a", "b", "c"]))
    n = int(rng.integers(30, 400))
    a, b, w, d = rng.normal(size=4)
    trials = []
    for i in range(n):
        p = space.decode(rng.random(4))
        v = (a * p["x"] + b * math.log10(p["lr"]) + w * (p["c"] == "b")
             + d * math.log2(p["k"]) / 3 + rng.normal() * 0.3)
        trials.append(_trial(i, float(v), **p) if rng.random() > 0.05 else
                      _trial(i, None, status="failed", **p))
    return space, trials, bool(rng.random() < 0.5)


def test_random_cases_do_produce_proposals():
    """(So that the guarantees below are checked on real proposals, not on none.)"""
    made = [an.suggest_narrowing(t, s, minimize=m) for s, t, m in map(_random_case, range(12))]
    assert sum(1 for m in made if m) >= 8
    assert {s.param for m in made for s in m} >= {"lr", "x", "k", "c"}


@pytest.mark.parametrize("seed", range(12))
def test_every_suggestion_keeps_its_guarantees_on_random_data(seed):
    """Whatever the data, a proposal never removes the best trial, never a top trial,
    and every cut region is explored in every part (the rule's own numbers, recounted)."""
    space, trials, minimize = _random_case(seed)
    good = np.array([(-t.value if minimize else t.value) if t.value is not None else -np.inf
                     for t in trials])
    best = trials[int(np.argmax(good))]
    fin = np.isfinite(good)
    k = math.ceil(0.2 * fin.sum())
    top_cut = np.sort(good[fin])[::-1][k - 1]
    for s in an.suggest_narrowing(trials, space, minimize=minimize):
        new = space.narrow(**s.narrow)[s.param]
        assert new.contains(best.params[s.param])
        kept_top = [t for t, g in zip(trials, good, strict=True) if g >= top_cut]
        assert all(new.contains(t.params[s.param]) for t in kept_top)
        for e in s.evidence:
            assert e["tries"] >= s.min_tries and e["top"] == 0
            if e["side"] != "value":
                assert e["min_per_part"] >= 5
                # no empty stretch wider than a tenth of the range in the cut region
                p = space[s.param]

                def ax(v, p=p):
                    return math.log10(v) if p.log else v

                lo_end, hi_end = ((ax(e["boundary"]), ax(p.high)) if e["side"] == "above"
                                  else (ax(p.low), ax(e["boundary"])))
                inside = sorted(ax(t.params[s.param]) for t in trials if t.value is not None
                                and lo_end < ax(t.params[s.param]) < hi_end)
                assert np.diff([lo_end, *inside, hi_end]).max() <= (ax(p.high) - ax(p.low)) / 10 \
                    + 1e-9


def test_suggestion_waits_where_the_model_is_still_uncertain(store):
    """A real GP fitted before the upper region was explored is unsure there and vetoes
    the cut; one fitted on everything has seen it is bad and lets it through."""
    scan = _scan(lr_only, store, n=200)
    trials = scan.trials
    without = [s for s in an.suggest_narrowing(trials, scan.space) if s.param == "lr"]
    assert without
    hi = without[0].narrow["lr"][1]
    early = [t for t in trials if t.params["lr"] <= hi]
    stale = an.fit_surrogate(early, scan.space)
    band = an.belief_band(stale, scan.space, "lr", scan.best.params)
    far = band["x"] > 3 * hi
    assert band["std"][far].max() > 5 * band["std"][~far].min()   # it really is unsure
    vetoed = [s for s in an.suggest_narrowing(trials, scan.space, predict=stale)
              if s.param == "lr" and s.narrow["lr"][1] < 0.1]
    assert not vetoed
    informed = an.fit_surrogate(trials, scan.space)
    kept = [s for s in an.suggest_narrowing(trials, scan.space, predict=informed)
            if s.param == "lr"]
    assert kept and kept[0].narrow["lr"][1] < 0.1


def test_no_suggestion_before_enough_trials(store):
    scan = _scan(lr_only, store, n=15)
    assert an.suggest_narrowing(scan.trials, scan.space) == []
    with pytest.raises(ValueError, match="top_fraction"):
        an.suggest_narrowing(scan.trials, scan.space, top_fraction=1.5)


# ----------------------------------------------------------------------------------
# Belief band
# ----------------------------------------------------------------------------------
def test_belief_band_from_a_real_gaussian_process(store):
    scan = _scan(lr_only, store, n=80)
    gp = an.fit_surrogate(scan.trials, scan.space)
    nxt = dict(scan.best.params, lr=0.05)
    band = an.belief_band(gp, scan.space, "lr", scan.best.params, next_point=nxt, n=50)
    x = band["x"]
    assert len(x) == 50 and x[0] == pytest.approx(1e-4) and x[-1] == pytest.approx(1e-1)
    ratios = x[1:] / x[:-1]
    assert np.allclose(ratios, ratios[0])          # log axis: sampled evenly in log space
    assert np.all(band["lower"] <= band["mean"]) and np.all(band["mean"] <= band["upper"])
    assert np.allclose(band["upper"] - band["lower"], 4 * band["std"])
    # the GP has learnt the shape: its mean is lowest near lr = 1e-3 and high at the ends
    at_min = x[np.argmin(band["mean"])]
    assert 3e-4 < at_min < 3e-3
    assert band["mean"][0] == pytest.approx(1.0, abs=0.3)    # (log10 1e-4 + 3)^2 = 1
    assert band["mean"][-1] == pytest.approx(4.0, abs=0.5)   # (log10 1e-1 + 3)^2 = 4
    # its belief matches the truth where trials are (mean within its band at lr=1e-3)
    i = np.argmin(np.abs(np.log(x / 1e-3)))
    truth = lr_only(dict(scan.best.params, lr=float(x[i])))
    assert abs(band["mean"][i] - truth) < 0.3
    assert band["incumbent"]["x"] == scan.best.params["lr"]
    assert band["next"]["x"] == 0.05 and band["next"]["params"] == nxt
    assert band["next"]["mean"] > band["incumbent"]["mean"]
    assert band["log"] and band["labels"] == []


def test_belief_band_along_integers_and_choices(store):
    scan = _scan(act_only, store, n=60)
    gp = an.fit_surrogate(scan.trials, scan.space)
    band = an.belief_band(gp, scan.space, "act", scan.best.params)
    assert band["labels"] == ["relu", "elu", "gelu"] and band["x"].tolist() == [0.0, 1.0, 2.0]
    assert np.argmax(band["mean"]) == 1            # elu is worst (loss 0.5)
    units = an.belief_band(gp, scan.space, "units", scan.best.params, n=40)["x"]
    assert units[0] == 16 and units[-1] == 512 and np.all(np.diff(units) > 0)
    assert np.all(units == np.round(units))


def test_belief_band_refuses_bad_input_by_name(store):
    scan = _scan(lr_only, store, n=20)
    gp = an.fit_surrogate(scan.trials, scan.space)
    with pytest.raises(ValueError, match="'epochs' is fixed"):
        an.belief_band(gp, scan.space, "epochs", scan.best.params)
    with pytest.raises(KeyError, match="no parameter 'nope'"):
        an.belief_band(gp, scan.space, "nope", scan.best.params)
    partial = {k: v for k, v in scan.best.params.items() if k != "units"}
    with pytest.raises(ValueError, match=r"incumbent lacks \['units'\]"):
        an.belief_band(gp, scan.space, "lr", partial)
    with pytest.raises(ValueError, match="one of each per point"):
        an.belief_band(lambda pts: (np.zeros(3), np.zeros(3)), scan.space, "lr",
                       scan.best.params)
    with pytest.raises(ValueError, match="at least 2 finished"):
        an.fit_surrogate(scan.trials[:1], scan.space)


# ----------------------------------------------------------------------------------
# Refresh schedule: what these views may cost a dashboard
# ----------------------------------------------------------------------------------
def test_refresh_schedule_bounds_the_share_of_kernel_time():
    sched = an.RefreshSchedule()
    now, spent, runs = 0.0, 0.0, 0
    cost = 0.2                               # an importance at its subsample cap
    for n in range(1, 30_001):               # 30,000 fast trials, 2 ms apart
        now += 0.002
        if sched.due(n, now=now):
            runs += 1
            spent += cost
            now += cost
            sched.done(n, cost, now=now)
    assert runs >= 3                         # it does keep up with the scan
    assert spent / now <= 0.02               # ~1% of the time (plus the first, free run)
    # slow, real trials (5 s each): the views follow the scan closely
    sched, now, runs = an.RefreshSchedule(), 0.0, 0
    for n in range(1, 201):
        now += 5.0
        if sched.due(n, now=now):
            runs += 1
            sched.done(n, cost, now=now)
    assert runs >= 15
    assert not sched.due(sched.n_last, now=now + 1e6)   # nothing new: never due


def test_views_share_one_set_of_columns(store):
    """A redraw builds the columns once and passes them on: same answers."""
    scan = _scan(lr_only, store, n=120)
    cols = an.trial_columns(scan.trials, scan.space, True)
    assert an.suggest_narrowing(scan.trials, scan.space, columns=cols)[0].narrow == \
        an.suggest_narrowing(scan.trials, scan.space)[0].narrow
    assert an.importance(scan.trials, scan.space, columns=cols).values == \
        an.importance(scan.trials, scan.space).values
    a = an.analyze(scan.trials, scan.space, columns=cols)
    assert a.by_value.equals(an.analyze(scan.trials, scan.space).by_value)


def test_docstring_examples():
    import doctest

    assert doctest.testmod(an, optionflags=doctest.ELLIPSIS).failed == 0


def test_importing_analysis_stays_cheap():
    import subprocess
    import sys

    code = ("import sys, hpo_widgets.analysis; print([m for m in ('pandas', 'sklearn', "
            "'scipy', 'bqplot', 'ipywidgets') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
