"""A real KerasScan by the honest score: the optimism predicted before evaluate() vs the
optimism measured by it (the note figure of issue 13).

Digits with Gaussian pixel noise (``--noise``, so that no model is perfect), one digit as
the positive class (~10%), a one-hidden-layer network; ``--trials`` random trials with the
default metric (``honest``), then ``honest.luck(scan)`` (predicted optimism of the chosen
trial's validation MCC, from its kept validation predictions alone) and
``scan.evaluate(top=5, folds=3)`` (measured: the chosen model's validation MCC minus the
test MCC of that same model, ``test_mcc``; ``test_refit`` is the configuration refit on
train+val, and ``val_minus_refit`` the gap to it, which also holds the new training seed
and the extra data, so it is not what the prediction is about).

    nice -n 10 python bench/honest_keras.py                   # 1 seed, 50 trials
    nice -n 10 python bench/honest_keras.py --seeds 3 --trials 60
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def build(params):
    import keras

    model = keras.Sequential([keras.Input((64,)),
                              keras.layers.Dense(params["units"], activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(params["lr"]), "binary_crossentropy")
    return model


def one(seed: int, trials: int, noise: float, store: str) -> dict:
    from sklearn.datasets import load_digits

    import hpo_widgets as hw
    from hpo_widgets import honest

    x, digit = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    x = (x / 16 + rng.normal(0, noise, x.shape)).astype("float32")
    y = (digit == 9).astype(int)
    space = {"units": [2, 4, 8, 16, 32], "lr": (1e-4, 3e-2, "log"), "epochs": [2, 4, 8],
             "batch_size": 64}
    scan = hw.KerasScan(build, space, x, y, test_split=0.3, validation_split=0.3,
                        max_trials=trials, store=store, name=f"digits{seed}", seed=seed,
                        split_seed=seed)
    t0 = time.perf_counter()
    scan.start().wait()
    search_s = time.perf_counter() - t0
    luck = honest.luck(scan)
    out = scan.evaluate(top=5, folds=3)
    best = scan.best
    row = out.loc[best.id]
    return {"seed": seed, "trials": len(scan.trials), "val_rows": scan.split_sizes["val"],
            "best": best.id, "honest": best.value, "val_mcc": best.metrics["honest_mcc"],
            "cv_mcc": row.cv_mean, "test_refit": row.test, "test_mcc": row.test_validated,
            "predicted": luck.optimism, "measured": row.optimism,
            "val_minus_refit": best.metrics["honest_mcc"] - row.test,
            "sentence": luck.sentence, "search_s": search_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--noise", type=float, default=0.5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as store:
        rows = [one(s, a.trials, a.noise, store)
                for s in range(a.first_seed, a.first_seed + a.seeds)]
    keys = ["seed", "trials", "val_rows", "best", "honest", "val_mcc", "cv_mcc", "test_mcc",
            "test_refit", "predicted", "measured", "val_minus_refit", "search_s"]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k])
                                for k in keys) + " |")
        print(f"  seed {r['seed']}: {r['sentence']}")
    if len(rows) > 1:
        mean = {k: np.mean([r[k] for r in rows]) for k in ("predicted", "measured",
                                                           "val_minus_refit")}
        print("mean: " + ", ".join(f"{k} {v:+.3f}" for k, v in mean.items()))
    from hpo_widgets import workers

    workers.release()


if __name__ == "__main__":
    main()
