"""Which search metric picks the model that is best on data it never saw?

An imbalanced task from scikit-learn's bundled data: digits with Gaussian pixel noise
(``--noise``, so that no model is perfect), one digit as the positive class (~10%).
Per seed the rows are split once (stratified) into train (50%), validation (25%) and
test (25%). The same plain ``hw.Scan`` (Bayesian strategy, seeded) searches an RBF SVC
(``C``, ``gamma``, ``class_weight`` and the decision threshold) three times, each
optimising a different validation metric: ``val_accuracy``, ``val_f1`` and ``honest``.
The model each search chooses is refit and scored once on the test set (MCC and F1).

Optimism: measured = the chosen trial's validation score minus its test score, in the
metric the search reports (accuracy, F1, MCC for honest); predicted = ``honest.luck``'s
estimate from the kept validation predictions, before the test set is touched.

    nice -n 10 python bench/honest.py                 # 5 seeds, 40 trials each
    nice -n 10 python bench/honest.py --seeds 3 --trials 40 --digit 8
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # a shared machine: one core per process

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hpo_widgets as hw  # noqa: E402
from hpo_widgets import honest  # noqa: E402

METRICS = ("val_accuracy", "val_f1", "honest")
# ablations of the honest score (--ablations): plain MCC, and honest without its gap term
ABLATIONS = ("val_mcc", "honest_nogap")
# what each search's validation score is, and the metric its luck is measured in
REPORTED = {"val_accuracy": ("val_accuracy", "accuracy"), "val_f1": ("val_f1", "f1"),
            "honest": ("honest_mcc", "mcc"), "val_mcc": ("honest_mcc", "mcc"),
            "honest_nogap": ("honest_mcc", "mcc")}


def make_data(seed: int, digit: int, noise: float):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, labels = load_digits(return_X_y=True)
    # clean digits are separated perfectly by many SVCs (every metric then ties at 1.0 and
    # there is nothing to choose); pixel noise makes the models, and the choice, differ
    x = x / 16.0 + np.random.default_rng(seed).normal(0.0, noise, x.shape)
    y = (labels == digit).astype(int)
    x_tr, x_rest, y_tr, y_rest = train_test_split(x, y, test_size=0.5, stratify=y,
                                                  random_state=seed)
    x_val, x_te, y_val, y_te = train_test_split(x_rest, y_rest, test_size=0.5,
                                                stratify=y_rest, random_state=seed)
    return x_tr, y_tr, x_val, y_val, x_te, y_te


SPACE = {"C": (1e-2, 1e3, "log"), "gamma": (1e-4, 1.0, "log"),
         "class_weight": ["none", "balanced"], "threshold": (-1.0, 1.0)}


def fit_predict(params, x_tr, y_tr, *xs):
    from sklearn.svm import SVC

    model = SVC(C=params["C"], gamma=params["gamma"],
                class_weight=None if params["class_weight"] == "none" else "balanced")
    model.fit(x_tr, y_tr)
    return [(model.decision_function(x) > params["threshold"]).astype(int) for x in xs]


def search(metric: str, seed: int, data, trials: int, store: Path):
    from sklearn.metrics import accuracy_score, f1_score

    x_tr, y_tr, x_val, y_val, _, _ = data
    folder = store / f"{metric}_{seed}"

    def objective(params, trial):
        p_val, p_tr = fit_predict(params, x_tr, y_tr, x_val, x_tr)
        out = honest.score(y_val, p_val, y_train=y_tr, p_train=p_tr, keep=folder, trial=trial)
        out["val_accuracy"] = accuracy_score(y_val, p_val)
        out["val_f1"] = f1_score(y_val, p_val, zero_division=0)
        out["val_mcc"] = out["honest_mcc"]
        out["honest_nogap"] = honest.score(y_val, p_val, gap_weight=0.0)["honest"]
        return out

    scan = hw.Scan(objective, SPACE, metric=metric, mode="max", strategy="bayes",
                   max_trials=trials, seed=seed, name=f"{metric}_{seed}", store=store)
    scan.start().wait()
    return scan


def score_on_test(params, data):
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    x_tr, y_tr, _, _, x_te, y_te = data
    (p,) = fit_predict(params, x_tr, y_tr, x_te)
    return {"accuracy": accuracy_score(y_te, p), "f1": f1_score(y_te, p, zero_division=0),
            "mcc": matthews_corrcoef(y_te, p)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--digit", type=int, default=8, help="the positive class")
    ap.add_argument("--noise", type=float, default=0.2,
                    help="SD of Gaussian noise added to pixels scaled to [0, 1]")
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep the scans (and their kept predictions) in this folder")
    ap.add_argument("--ablations", action="store_true",
                    help="also search by plain MCC and by honest without its gap term")
    args = ap.parse_args(argv)
    searches = METRICS + ABLATIONS if args.ablations else METRICS
    logging.getLogger("hpo_widgets").setLevel(logging.ERROR)

    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep is not None:
            tmp = args.keep
        for seed in range(args.seeds):
            data = make_data(seed, args.digit, args.noise)
            for metric in searches:
                scan = search(metric, seed, data, args.trials, Path(tmp))
                best = scan.best
                column, luck_metric = REPORTED[metric]
                test = score_on_test(best.params, data)
                luck = honest.luck(scan, metric=luck_metric)
                rows.append({
                    "seed": seed, "search": metric, "trial": best.id,
                    "val": best.metrics[column], "test_mcc": test["mcc"], "test_f1": test["f1"],
                    "measured": best.metrics[column] - test[luck_metric],
                    "predicted": luck.optimism, "sentence": luck.sentence,
                    "params": best.params,
                })
    wall = time.perf_counter() - t0

    print(f"digits + pixel noise {args.noise}, positive class {args.digit} (~10%), "
          f"{args.seeds} seeds x {args.trials} "
          f"trials x {len(searches)} searches (SVC, bayes); wall {wall:.0f} s\n")
    print(f"{'seed':>4} {'search':<13} {'val':>6} {'test MCC':>8} {'test F1':>8} "
          f"{'optimism measured':>17} {'predicted':>9}  luck of the choice")
    for r in rows:
        print(f"{r['seed']:>4} {r['search']:<13} {r['val']:6.3f} {r['test_mcc']:8.3f} "
              f"{r['test_f1']:8.3f} {r['measured']:+17.3f} {r['predicted']:+9.3f}  "
              f"{r['sentence']}")
    print("\nmean over seeds")
    print(f"{'search':<13} {'test MCC':>8} {'test F1':>8} {'optimism measured':>17} "
          f"{'predicted':>9} {'|pred - meas|':>13}")
    by = {m: [r for r in rows if r["search"] == m] for m in searches}
    for m, rs in by.items():
        meas = np.array([r["measured"] for r in rs])
        pred = np.array([r["predicted"] for r in rs])
        print(f"{m:<13} {np.mean([r['test_mcc'] for r in rs]):8.3f} "
              f"{np.mean([r['test_f1'] for r in rs]):8.3f} {meas.mean():+17.3f} "
              f"{pred.mean():+9.3f} {abs(pred.mean() - meas.mean()):13.3f}")
    print("\nhonest's choice against the others, per seed (test MCC, test F1): "
          "at least as good on both?")
    for seed in range(args.seeds):
        h = next(r for r in rows if r["seed"] == seed and r["search"] == "honest")
        verdicts = []
        for m in (x for x in searches if x != "honest"):
            o = next(r for r in rows if r["seed"] == seed and r["search"] == m)
            ok = h["test_mcc"] >= o["test_mcc"] - 1e-12 and h["test_f1"] >= o["test_f1"] - 1e-12
            verdicts.append(f"vs {m}: {'yes' if ok else 'NO'} "
                            f"(MCC {h['test_mcc'] - o['test_mcc']:+.3f}, "
                            f"F1 {h['test_f1'] - o['test_f1']:+.3f})")
        print(f"  seed {seed}: " + "; ".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
