"""Per-trial cost of the engine itself, side by side with Optuna, in one run.

A no-op objective over a 4-parameter mixed space; our random strategy with the durable
SQLite store, against Optuna's RandomSampler with in-memory and with SQLite storage.
Reports ms per trial and flatness (last 10% of trials vs first 10%).

    python bench/overhead.py                 # 1,000 and 10,000 trials
    python bench/overhead.py --sizes 1000    # quicker
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

import hpo_widgets as hw


def objective(params):
    return params["lr"] * params["units"] + (params["act"] == "relu") + params["bn"]


def space():
    return hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), units=hw.Int(16, 512, log=True),
                    act=hw.Choice(["relu", "elu", "gelu"]), bn=hw.Bool())


def flatness(stamps: list[float]) -> float:
    """Median time between trials over the last 10% divided by the first 10%.

    Medians of the gaps, not spans: one descheduling hiccup on a shared machine would
    otherwise decide the ratio.
    """
    gaps = np.diff(np.sort(np.asarray(stamps)))
    k = max(len(gaps) // 10, 2)
    first, last = np.median(gaps[:k]), np.median(gaps[-k:])
    return float(last / first) if first > 0 else float("nan")


def run_ours(n: int, root: Path) -> tuple[float, float]:
    scan = hw.Scan(objective, space(), max_trials=n, seed=0, store=root, name=f"ours{n}")
    t0 = time.perf_counter()
    scan.start().wait()
    wall = time.perf_counter() - t0
    assert scan.n_done == n and scan.counts["finished"] == n
    stamps = sorted(t.finished for t in scan.trials)
    scan.close()
    return wall / n * 1e3, flatness(stamps)


def run_optuna(n: int, storage: str | None) -> tuple[float, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), storage=storage)
    stamps: list[float] = []

    def opt_objective(trial):
        p = {"lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True),
             "units": trial.suggest_int("units", 16, 512, log=True),
             "act": trial.suggest_categorical("act", ["relu", "elu", "gelu"]),
             "bn": trial.suggest_categorical("bn", [False, True])}
        stamps.append(time.perf_counter())
        return objective(p)

    t0 = time.perf_counter()
    study.optimize(opt_objective, n_trials=n)
    wall = time.perf_counter() - t0
    return wall / n * 1e3, flatness(stamps)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--optuna-sqlite-max", type=int, default=1000,
                    help="Optuna+SQLite costs ~50 ms/trial; cap its size to keep the run short")
    args = ap.parse_args()
    logging.getLogger("hpo_widgets").setLevel(logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in args.sizes:
            ours = run_ours(n, root)
            mem = run_optuna(n, None)
            if n <= args.optuna_sqlite_max:
                sql = run_optuna(n, f"sqlite:///{root}/optuna{n}.db")
            else:
                sql = (float("nan"), float("nan"))
            rows.append((n, ours, mem, sql))
    print(f"{'trials':>7} | {'ours+SQLite ms':>14} {'flat':>5} | {'optuna mem ms':>13} {'flat':>5}"
          f" | {'optuna SQLite ms':>16} | {'ours/optuna-mem':>15} {'ours/optuna-sql':>15}")
    for n, (o, of), (m, mf), (s, _) in rows:
        print(f"{n:>7} | {o:>14.3f} {of:>5.2f} | {m:>13.3f} {mf:>5.2f} | {s:>16.3f} | "
              f"{o / m:>15.2f} {o / s:>15.3f}")
    print("flat = median gap between trials, last 10% / first 10% (target <= 1.5)")


if __name__ == "__main__":
    main()
