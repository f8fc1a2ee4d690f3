"""The honest score and selection luck: corner cases, ranking, resampling, a real Scan."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, r2_score

import hpo_widgets as hw
from hpo_widgets import honest

N, POSITIVES = 2000, 40  # 2% positives


@pytest.fixture
def y_rare():
    return np.r_[np.zeros(N - POSITIVES, dtype=int), np.ones(POSITIVES, dtype=int)]


def predicting(tp: int, fp: int) -> np.ndarray:
    """A prediction for ``y_rare`` with ``tp`` true and ``fp`` false positives."""
    p = np.zeros(N, dtype=int)
    p[N - POSITIVES:N - POSITIVES + tp] = 1
    p[:fp] = 1
    return p


# -- the score ----------------------------------------------------------------------------
def test_models_without_skill_score_the_worst_value_on_rare_positives(y_rare):
    no_skill = {
        "all zeros": np.zeros(N),
        "all ones": np.ones(N),
        "all-zero probabilities": np.full(N, 0.1),
        "no true positives": predicting(0, 40),
        "no true positives, many guesses": predicting(0, 500),
    }
    for name, p in no_skill.items():
        s = honest.score(y_rare, p)
        assert s["honest"] == honest.WORST == 0.0, name
        assert s["honest_degenerate"] == 1, name
    # accuracy would have called the all-zeros model excellent
    assert accuracy_score(y_rare, np.zeros(N)) == 0.98
    # a model with skill is above the floor; one whose lower bound does not clear chance
    # cannot be told from no skill, and scores the floor too
    assert honest.score(y_rare, predicting(8, 30))["honest"] > honest.WORST
    weak = honest.score(y_rare, predicting(1, 30))
    assert weak["honest_mcc"] > 0 and weak["honest_degenerate"] == 0
    assert weak["honest_mcc"] - weak["honest_sd"] < 0 and weak["honest"] == honest.WORST


def test_better_on_the_minority_class_beats_better_accuracy(y_rare):
    cautious = predicting(5, 0)    # finds 5 of 40 positives, never wrong: accuracy 0.9825
    useful = predicting(32, 60)    # finds 32 of 40, with 60 false alarms: accuracy 0.966
    assert accuracy_score(y_rare, cautious) > accuracy_score(y_rare, useful)
    assert honest.score(y_rare, useful)["honest"] > honest.score(y_rare, cautious)["honest"]


def test_a_hair_ahead_on_validation_but_unstable_ranks_below_a_stable_model(y_rare):
    lucky = predicting(12, 0)      # its score rides on 12 rows
    steady = predicting(35, 64)
    s_lucky, s_steady = honest.score(y_rare, lucky), honest.score(y_rare, steady)
    assert s_lucky["honest_mcc"] > s_steady["honest_mcc"]          # wins validation ...
    assert s_lucky["honest_mcc"] - s_steady["honest_mcc"] < 0.001  # ... by a hair
    assert s_lucky["honest_sd"] > 1.5 * s_steady["honest_sd"]
    assert s_steady["honest"] > s_lucky["honest"]                  # and ranks below


def test_over_fitting_gap_is_reported_and_counts_only_when_asked(y_rare):
    p = predicting(30, 30)
    memorised = honest.score(y_rare, p, y_train=y_rare, p_train=y_rare)       # train MCC 1
    modest = honest.score(y_rare, p, y_train=y_rare, p_train=predicting(32, 30))
    assert memorised["honest_mcc"] == modest["honest_mcc"]
    assert memorised["honest_train_mcc"] == 1.0
    assert memorised["honest_gap"] > modest["honest_gap"] >= 0.0
    # the validation score already judges both on unseen rows: same predictions, same score
    assert memorised["honest"] == modest["honest"]
    assert memorised["honest"] == honest.score(y_rare, p)["honest"]
    # a quarter of the gap, when asked for, lowers the memorising model's score by it
    weighted = [honest.score(y_rare, p, y_train=y_rare, p_train=q, gap_weight=0.25)
                for q in (y_rare, predicting(32, 30))]
    assert weighted[0]["honest"] < weighted[1]["honest"] < modest["honest"]
    assert memorised["honest"] - weighted[0]["honest"] == pytest.approx(
        0.25 * memorised["honest_gap"])
    # without train predictions there is no gap column, rather than a made-up 0
    assert "honest_gap" not in honest.score(y_rare, p)


def test_components_are_plain_numbers_and_mcc_is_sklearns(y_rare):
    rng = np.random.default_rng(0)
    proba = y_rare * 0.35 + rng.random(N) * 0.6
    s = honest.score(y_rare, proba)
    assert all(type(v) in (int, float) for v in s.values())
    assert s["honest_mcc"] == pytest.approx(matthews_corrcoef(y_rare, proba > 0.5))
    assert s["honest_lower"] < s["honest_mcc"] < s["honest_upper"]
    assert s["honest"] == pytest.approx(s["honest_mcc"] - s["honest_sd"])
    # the same predictions always get the same score (fixed resamples)
    assert honest.score(y_rare, proba) == s
    # a perfect model is certain: stratified resamples keep every positive class present
    perfect = honest.score(np.r_[np.zeros(98, int), np.ones(2, int)],
                           np.r_[np.zeros(98, int), np.ones(2, int)])
    assert perfect["honest"] == perfect["honest_mcc"] == 1.0


def test_multiclass_probability_matrix_and_string_labels():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 600)
    logits = np.eye(3)[y] * 1.2 + rng.normal(size=(600, 3))
    s = honest.score(y, logits)
    assert s["honest_mcc"] == pytest.approx(matthews_corrcoef(y, logits.argmax(1)))
    assert honest.WORST < s["honest"] < s["honest_mcc"]
    names = np.array(["cat", "dog", "eel"])
    assert honest.score(names[y], names[logits.argmax(1)])["honest"] == pytest.approx(s["honest"])
    assert honest.score(y, np.full(600, 2))["honest"] == honest.WORST


def test_regression_uses_r2_with_the_same_floor():
    rng = np.random.default_rng(2)
    y = rng.normal(size=800)
    good = y + 0.5 * rng.normal(size=800)
    s = honest.score(y, good)
    assert s["honest_r2"] == pytest.approx(r2_score(y, good))
    assert honest.WORST < s["honest"] < s["honest_r2"]
    assert honest.score(y, np.full(800, y.mean()))["honest"] == honest.WORST  # the mean
    assert honest.score(y, -good)["honest"] == honest.WORST                   # worse than it


def test_bootstrap_costs_milliseconds():
    rng = np.random.default_rng(3)
    y = (rng.random(5000) < 0.05).astype(int)
    p = np.where(rng.random(5000) < 0.9, y, 1 - y)
    honest.score(y, p)  # resample weights are built once per validation set
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        honest.score(y, p, y_train=y, p_train=p)
        times.append(time.perf_counter() - t0)
    assert sorted(times)[3] < 0.1  # ~5 ms unloaded; generous for a shared machine


def test_large_validation_sets_are_resampled_in_bounded_blocks():
    rng = np.random.default_rng(4)
    n = 60_000
    y = (rng.random(n) < 0.02).astype(int)
    p = np.where(rng.random(n) < 0.97, y, 1 - y)
    blocks = honest._weight_blocks(n, 200, honest.SEED, y)
    assert len(blocks) > 1 and all(b.size <= honest._BLOCK_CELLS for b in blocks)
    s = honest.score(y, p)
    assert s == honest.score(y, p)  # same resamples, block by block
    assert s["honest_lower"] < s["honest_mcc"] < s["honest_upper"]


def test_bad_input_names_the_argument(y_rare):
    with pytest.raises(ValueError, match="single class"):
        honest.score(np.zeros(50, int), np.zeros(50, int))
    with pytest.raises(ValueError, match="y_val has 2000 rows but p_val has 10"):
        honest.score(y_rare, np.zeros(10))
    with pytest.raises(ValueError, match="both y_train and p_train"):
        honest.score(y_rare, y_rare, y_train=y_rare)
    with pytest.raises(ValueError, match="keep= and trial= go together"):
        honest.score(y_rare, y_rare, keep="somewhere")
    with pytest.raises(ValueError, match="p_val contains NaN"):
        honest.score(y_rare, np.full(N, np.nan))


# -- selection luck -----------------------------------------------------------------------
def test_equal_models_are_indistinguishable_and_share_the_win(y_rare):
    good = predicting(30, 20)
    luck = honest.compare(y_rare, {"a": good, "b": good.copy(), "c": predicting(10, 40)})
    assert sum(luck.p_best.values()) == pytest.approx(1.0)
    assert luck.p_best["a"] == pytest.approx(0.5) and luck.p_best["b"] == pytest.approx(0.5)
    assert luck.p_best["c"] == 0.0
    assert luck.indistinguishable == ["b"]
    assert luck.sentence.startswith("best, but indistinguishable from 1 other")


def test_a_clear_winner_is_distinguishable(y_rare):
    luck = honest.compare(y_rare, {0: predicting(36, 10), 1: predicting(20, 40),
                                   2: predicting(0, 0)})
    assert luck.best == 0 and luck.indistinguishable == []
    assert luck.p_best[0] > 0.99 and sum(luck.p_best.values()) == pytest.approx(1.0)
    assert luck.score[2] == 0.0  # the MCC of a constant prediction
    assert "clearly ahead" in luck.sentence
    lo, hi = luck.interval[0]
    assert lo < luck.score[0] < hi


def test_near_twins_are_indistinguishable_whatever_their_penalties(y_rare):
    """Two models that differ on two rows: the honest penalty (here a slightly larger
    train gap for one) may order them, but chance cannot tell them apart."""
    chosen, twin = predicting(30, 20), predicting(30, 20)
    twin[N - POSITIVES + 29] = 0  # one positive fewer found
    twin[25] = 1                  # one more false alarm
    luck = honest.compare(y_rare, {"chosen": chosen, "twin": twin, "weak": predicting(8, 30)},
                          best="chosen", penalties={"chosen": 0.060, "twin": 0.064,
                                                    "weak": 0.05})
    assert luck.best == "chosen" and luck.indistinguishable == ["twin"]
    assert luck.p_best["chosen"] > luck.p_best["twin"] > 0.0
    assert luck.p_best["weak"] == 0.0


def test_resamples_are_paired_and_match_sklearn(y_rare):
    """Every metric's resampled values are sklearn's on the resampled rows."""
    p = predicting(25, 30)
    w = honest._weights(N, 50, honest.SEED, y_rare)
    assert (w.sum(axis=1) == N).all()
    assert (w[:, y_rare == 1].sum(axis=1) == POSITIVES).all()  # stratified
    rows = np.repeat(np.arange(N), w[7].astype(int))
    luck_rows = {m: honest.compare(y_rare, {"p": p}, metric=m, n_boot=50) for m in
                 ("mcc", "f1", "accuracy")}
    for metric, fn in (("mcc", matthews_corrcoef), ("f1", f1_score), ("accuracy", accuracy_score)):
        assert luck_rows[metric].score["p"] == pytest.approx(fn(y_rare, p))
    # one resample, by hand: the same rows for every trial of the comparison
    assert honest.compare(y_rare[rows], {"p": p[rows]}, metric="mcc").score["p"] == \
        pytest.approx(matthews_corrcoef(y_rare[rows], p[rows]))


def test_predicted_optimism_matches_the_winners_curse_of_equal_models():
    """30 models of the same true quality: the validation winner is just the luckiest.
    The predicted optimism must be close to its measured excess over the true score."""
    rng = np.random.default_rng(0)

    def predict(y):
        return np.where(y == 1, rng.random(len(y)) < 0.6, rng.random(len(y)) < 0.03).astype(int)

    big = (rng.random(100_000) < 0.1).astype(int)
    true_mcc = matthews_corrcoef(big, predict(big))
    measured, predicted = [], []
    for _ in range(10):
        y = (rng.random(1000) < 0.1).astype(int)
        luck = honest.compare(y, {i: predict(y) for i in range(30)}, metric="mcc", n_boot=400)
        measured.append(luck.score[luck.best] - true_mcc)
        predicted.append(luck.optimism)
    assert np.mean(measured) > 0.03  # the curse is real
    assert np.mean(predicted) == pytest.approx(np.mean(measured), rel=0.25)
    # a single trial is not selected from anything: (almost) no optimism
    assert abs(honest.compare(y, {0: predict(y)}, metric="mcc").optimism) < 0.01


# -- in a real Scan -----------------------------------------------------------------------
def test_scan_with_metric_honest_keeps_predictions_and_measures_luck(store):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=0.4, stratify=y, random_state=0)
    folder = store / "lr"

    def objective(params, trial):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=params["C"], max_iter=200))
        model.fit(x_tr, y_tr)
        return honest.score(y_val, model.predict_proba(x_val),
                            y_train=y_tr, p_train=model.predict_proba(x_tr),
                            keep=folder, trial=trial)

    scan = hw.Scan(objective, {"C": (1e-4, 10.0, "log")}, metric="honest", mode="max",
                   max_trials=8, seed=0, name="lr", store=store)
    scan.start().wait(120)
    df = scan.results
    assert (df.status == "finished").all()
    for col in ("honest", "honest_mcc", "honest_sd", "honest_lower", "honest_upper",
                "honest_gap", "honest_train_mcc", "honest_degenerate"):
        assert df[col].notna().all(), col
    assert sorted(p.name for p in (folder / "predictions").glob("*.npz")) == \
        sorted(f"{i}.npz" for i in df.index)
    luck = honest.luck(scan)
    assert luck.best == scan.best.id and luck.n_trials == 8
    assert sum(luck.p_best.values()) == pytest.approx(1.0)
    assert luck.optimism >= 0
    assert luck.sentence.startswith("best")
    assert list(luck.table.columns) == ["mcc", "lower", "upper", "p_best", "indistinguishable"]
    assert luck.table.index[0] == scan.best.id
    # a second object (the folder, reopened read-only) says the same, and changes nothing
    before = sorted((folder / "predictions").iterdir())
    again = honest.luck(folder, top=3)
    assert again.best == luck.best and again.n_trials == 3
    assert sorted((folder / "predictions").iterdir()) == before
    assert honest.luck(scan, metric="f1").metric == "f1"


def test_luck_refuses_predictions_of_different_rows(store):
    def objective(params, trial):
        rows = 4 + trial.id  # a different validation set per trial: not comparable
        y = [0, 1] * (rows // 2) + [1] * (rows % 2)
        honest.keep(store / "s", trial, y, y)
        return {"honest": 0.5}

    scan = hw.Scan(objective, {"x": [1, 2]}, metric="honest", mode="max", max_trials=2,
                   strategy="grid", name="s", store=store)
    scan.start().wait(30)
    assert (scan.results.status == "finished").all()
    with pytest.raises(ValueError, match="same rows"):
        honest.luck(scan)


def test_docstring_examples_run(tmp_path, monkeypatch):
    import doctest

    monkeypatch.chdir(tmp_path)
    assert doctest.testmod(honest, optionflags=doctest.ELLIPSIS).failed == 0


def test_interval_for_error_bars_follows_the_score(y_rare):
    s = honest.score(y_rare, predicting(30, 20), y_train=y_rare, p_train=predicting(38, 5))
    lo, hi = honest.interval(s)
    assert lo < s["honest"] < hi
    assert hi - lo == pytest.approx(s["honest_upper"] - s["honest_lower"])
    assert honest.interval(honest.score(y_rare, np.zeros(N)))[0] == honest.WORST
    assert honest.interval({"val_f1": 0.3}) is None  # a trial scored otherwise: no bar
