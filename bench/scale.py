"""Scale: a scan of 100,000 (and 1,000,000) trials, side by side with Optuna, one run.

Each size runs in its own fresh process (so memory is measured from a clean start):

- ``run``: ms per trial of a no-op objective (ours: durable SQLite; Optuna: in-memory,
  RandomSampler), and flatness (median gap between trials in the last 10% / first 10%);
- ``memory``: kernel RSS growth per trial of the finished scan (ours: the live Scan with
  its trials; Optuna: the in-memory study);
- ``live results``: ``scan.results`` of the live scan vs ``study.trials_dataframe()``;
- ``reopen + results``: a fresh process ``hw.load(path).results`` vs Optuna's
  ``trials_dataframe()`` of its in-memory study of the same size (the issue's yardstick);
- ``dashboard`` (``--dashboard``): building ``Dashboard(scan)`` of the reopened scan.

    python bench/scale.py                         # 100,000 trials
    python bench/scale.py --n 1000000 --no-optuna --dashboard
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _flatness(stamps: list[float]) -> float:
    gaps = np.diff(np.sort(np.asarray(stamps)))
    k = max(len(gaps) // 10, 2)
    first, last = np.median(gaps[:k]), np.median(gaps[-k:])
    return float(last / first) if first > 0 else float("nan")


def objective(params):
    return params["lr"] * params["units"] + (params["act"] == "relu") + params["bn"]


def child_ours(n: int, root: str) -> dict:
    import gc

    import hpo_widgets as hw

    space = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), units=hw.Int(16, 512, log=True),
                     act=hw.Choice(["relu", "elu", "gelu"]), bn=hw.Bool())
    import pandas  # noqa: F401 - imported before measuring, as in a notebook

    gc.collect()
    rss0 = _rss_mb()
    scan = hw.Scan(objective, space, max_trials=n, seed=0, store=root, name="big")
    t0 = time.perf_counter()
    scan.start().wait()
    run = time.perf_counter() - t0
    assert scan.counts["finished"] == n
    gc.collect()
    rss1 = _rss_mb()
    stamps = [t.finished for t in scan.trials]
    t0 = time.perf_counter()
    df = scan.results
    live = time.perf_counter() - t0
    assert len(df) == n
    db = Path(root) / "big" / "trials.sqlite"
    scan.close()
    return {"ms_per_trial": run / n * 1e3, "run_s": run, "flat": _flatness(stamps),
            "kb_per_trial": (rss1 - rss0) * 1024 / n, "live_results_s": live,
            "disk_bytes_per_trial": db.stat().st_size / n}


def child_reopen(path: str, dashboard: bool) -> dict:
    import pandas  # noqa: F401

    import hpo_widgets as hw

    t0 = time.perf_counter()
    scan = hw.load(path)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    df = scan.results
    t_df = time.perf_counter() - t0
    out = {"load_s": t_load, "results_s": t_df, "reopen_results_s": t_load + t_df,
           "rows": len(df)}
    if dashboard:
        from hpo_widgets.widgets import Dashboard

        t0 = time.perf_counter()
        dash = Dashboard(scan)
        out["dashboard_s"] = time.perf_counter() - t0
        with __import__("contextlib").suppress(Exception):
            dash.close()
    return out


def child_optuna(n: int) -> dict:
    import gc

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def obj(trial):
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        units = trial.suggest_int("units", 16, 512, log=True)
        act = trial.suggest_categorical("act", ["relu", "elu", "gelu"])
        bn = trial.suggest_categorical("bn", [False, True])
        return lr * units + (act == "relu") + bn

    import pandas  # noqa: F401

    gc.collect()
    rss0 = _rss_mb()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    t0 = time.perf_counter()
    study.optimize(obj, n_trials=n)
    run = time.perf_counter() - t0
    gc.collect()
    rss1 = _rss_mb()
    stamps = [t.datetime_complete.timestamp() for t in study.trials]
    t0 = time.perf_counter()
    df = study.trials_dataframe()
    t_df = time.perf_counter() - t0
    assert len(df) == n
    return {"ms_per_trial": run / n * 1e3, "run_s": run, "flat": _flatness(stamps),
            "kb_per_trial": (rss1 - rss0) * 1024 / n, "trials_dataframe_s": t_df}


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--no-optuna", action="store_true")
    ap.add_argument("--dashboard", action="store_true")
    ap.add_argument("--child", nargs="*")
    a = ap.parse_args()
    logging.getLogger("hpo_widgets").setLevel(logging.WARNING)
    if a.child is not None:
        kind, *rest = a.child
        if kind == "ours":
            res = child_ours(int(rest[0]), rest[1])
        elif kind == "reopen":
            res = child_reopen(rest[0], rest[1] == "1")
        else:
            res = child_optuna(int(rest[0]))
        print(json.dumps(res))
        return
    with tempfile.TemporaryDirectory() as root:
        ours = _child(["ours", str(a.n), root])
        print("ours  ", json.dumps(ours), flush=True)
        reopen = _child(["reopen", str(Path(root) / "big"), "1" if a.dashboard else "0"])
        print("reopen", json.dumps(reopen), flush=True)
    opt = None if a.no_optuna else _child(["optuna", str(a.n)])
    if opt:
        print("optuna", json.dumps(opt), flush=True)
    rows = [
        ("ms per trial (run)", ours["ms_per_trial"], opt and opt["ms_per_trial"]),
        ("flatness last/first 10%", ours["flat"], opt and opt["flat"]),
        ("kernel KB per trial", ours["kb_per_trial"], opt and opt["kb_per_trial"]),
        ("live results s (vs trials_dataframe)", ours["live_results_s"],
         opt and opt["trials_dataframe_s"]),
        ("reopen + results s (vs trials_dataframe)", reopen["reopen_results_s"],
         opt and opt["trials_dataframe_s"]),
    ]
    print(f"\n{a.n:,} trials, {os.cpu_count()} CPUs")
    print(f"{'':44}{'ours':>10}{'optuna':>10}{'ratio':>8}")
    for label, o, p in rows:
        ratio = f"{o / p:.2f}x" if p else ""
        print(f"{label:44}{o:10.3f}{(p if p is not None else float('nan')):10.3f}{ratio:>8}")
    print(f"run {ours['run_s']:.1f} s; hw.load {reopen['load_s']:.2f} s; results "
          f"{reopen['results_s']:.2f} s; disk {ours['disk_bytes_per_trial']:.0f} B/trial"
          + (f"; Dashboard(scan) {reopen['dashboard_s']:.2f} s" if "dashboard_s" in reopen
             else ""))


if __name__ == "__main__":
    main()
