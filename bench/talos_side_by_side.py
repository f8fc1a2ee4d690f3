"""Ours against Talos on Talos's own template, side by side in one run (ratios).

Two measurements, each variant in its own fresh process, one after the other:

``first``   time to first result in a fresh kernel: from process start to the first
            finished trial, on the same small Talos-style model function and data.
            ``loop``: import Keras, split, call the function once (the floor: a user's own
            code); ``talos``: ``talos.Scan(..., round_limit=1)``; ``ours``: ``hw.KerasScan``
            started at once (its worker, forked from the kernel, imports Keras while the
            data is split and saved); ``ours-spawn``: the same with the worker started as a
            fresh Python (``HPO_WIDGETS_WORKER_START=spawn``; what a kernel that has
            already imported TensorFlow gets).
``trials``  per-trial wall once running, on Talos 2's ``titanic`` template model function
            and its params dict (epochs and batch size pinned so every trial does the same
            work; its ``breast_cancer`` template fails in Talos itself under Keras 3: its
            early stopper monitors ``val_f1score`` without a mode): the time between
            consecutive trial ends, median over ``--trials``.
            Both call the same wrapper around the template, which only notes the time.

Talos is not a dependency: install it apart, without touching the project's environment::

    pip install --no-deps --target /tmp/talos-env talos polars 'ruamel-yaml<0.19'
    python bench/talos_side_by_side.py --talos /tmp/talos-env --trials 12 --epochs 10
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def data():
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    return ((x - x.mean(0)) / x.std(0)).astype("float32"), y.astype("int64")


def small_model(x_train, y_train, x_val, y_val, params):
    import keras

    model = keras.Sequential([keras.Input((x_train.shape[1],)),
                              keras.layers.Dense(params["first_neuron"], activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["acc"])
    out = model.fit(x_train, y_train, validation_data=(x_val, y_val), verbose=0,
                    batch_size=params["batch_size"], epochs=params["epochs"])
    return out, model


FIRST_VARIANTS = ("loop", "talos", "ours", "ours-spawn")

SMALL = {"first_neuron": [16], "batch_size": [32], "epochs": [5]}


def timed_template(x_train, y_train, x_val, y_val, params):
    """Talos's titanic template, noting when each trial ends (same for both)."""
    from talos.templates.models import titanic

    out = titanic(x_train, y_train, x_val, y_val, params)
    with open(os.environ["TRIAL_ENDS"], "a") as f:
        f.write(f"{time.time()}\n")
    return out


def template_params(epochs: int) -> dict:
    from talos.templates.params import titanic

    p = titanic()
    p.update(epochs=[epochs], batch_size=[32])   # the same work in every trial
    return p


def child(kind: str, variant: str, args: argparse.Namespace, workdir: str) -> dict:
    x, y = data()
    out: dict = {"kind": kind, "variant": variant}
    if kind == "first":
        if variant == "loop":
            import numpy as np

            idx = np.random.default_rng(0).permutation(len(x))
            va, tr = idx[:int(0.3 * len(x))], idx[int(0.3 * len(x)):]
            small_model(x[tr], y[tr], x[va], y[va], {k: v[0] for k, v in SMALL.items()})
        elif variant == "talos":
            import talos

            talos.Scan(x, y, params=SMALL, model=small_model, experiment_name=workdir,
                       round_limit=1, disable_progress_bar=True, save_weights=False)
        else:   # ours, ours-spawn
            import hpo_widgets as hw

            scan = hw.KerasScan(small_model, SMALL, x, y, metric="val_acc", max_trials=1,
                                validation_split=0.3, test_split=0, name="first",
                                store=workdir)
            scan.start()
            scan.wait()
            assert scan.trials[0].status == "finished", scan.trials[0].error
        out["first_result_at"] = time.time()
        return out
    ends = Path(workdir) / "ends.txt"
    os.environ["TRIAL_ENDS"] = str(ends)
    p = template_params(args.epochs)
    t0 = time.time()
    if variant == "talos":
        import talos

        talos.Scan(x, y, params=p, model=timed_template, experiment_name=workdir,
                   round_limit=args.trials, disable_progress_bar=True, seed=0)
    else:
        import hpo_widgets as hw

        scan = hw.KerasScan(timed_template, p, x, y, metric="val_acc", max_trials=args.trials,
                            validation_split=0.3, test_split=0, name="trials", store=workdir,
                            seed=0)
        scan.start()
        scan.wait()
        out["failed"] = [t.error for t in scan.trials if t.status != "finished"][:2]
    wall = time.time() - t0
    stamps = [float(s) for s in ends.read_text().split()]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    out.update(wall_s=wall, trials=len(stamps), per_trial_s=statistics.median(gaps),
               first_s=stamps[0] - t0)
    return out


def run(kind: str, variant: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"talos-{kind}-{variant}-") as tmp:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               **({"HPO_WIDGETS_WORKER_START": "spawn"} if variant == "ours-spawn" else {}),
               "PYTHONPATH": os.pathsep.join([str(ROOT), args.talos])}
        started = time.time()
        proc = subprocess.run([sys.executable, __file__, "--child", kind, variant,
                               "--trials", str(args.trials), "--epochs", str(args.epochs),
                               "--workdir", tmp, "--talos", args.talos],
                              capture_output=True, text=True, env=env, timeout=args.timeout,
                              cwd=tmp)
    line = next((s for s in reversed(proc.stdout.splitlines()) if s.startswith("{")), None)
    if line is None:
        return {"kind": kind, "variant": variant, "error": proc.stderr[-600:]}
    res = json.loads(line)
    if kind == "first":
        res["time_to_first_s"] = res["first_result_at"] - started
    res["load"] = os.getloadavg()[0]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--talos", default="/tmp/talos-env", help="folder Talos is installed in")
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--repeat", type=int, default=3, help="time-to-first runs per variant")
    ap.add_argument("--only", choices=("first", "trials"))
    ap.add_argument("--child", nargs=2)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    args.talos = str(Path(args.talos).resolve())   # the children run in their own folder
    if args.child:
        print(json.dumps(child(*args.child, args, args.workdir)))
        return
    rows = []
    firsts: dict[str, list[tuple[float, float]]] = {v: [] for v in FIRST_VARIANTS}
    if args.only in (None, "first"):
        for i in range(args.repeat):   # interleaved: the machine's load falls on all alike
            k = i % len(FIRST_VARIANTS)   # and each goes first in turn (a warm page cache)
            for v in FIRST_VARIANTS[k:] + FIRST_VARIANTS[:k]:
                r = run("first", v, args)
                print(r, flush=True)
                if "error" in r:
                    rows.append(r)
                else:
                    firsts[v].append((r["time_to_first_s"], r["load"]))
    if args.only in (None, "trials"):
        for v in ("talos", "ours"):
            rows.append(run("trials", v, args))
            print(rows[-1], flush=True)
    by = {(r["kind"], r["variant"]): r for r in rows if "error" not in r}
    print(f"\n{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}\n")
    if firsts["loop"]:
        base = statistics.median(t for t, _ in firsts["loop"])
        print(f"time to first result (fresh process), median of {args.repeat} | s | x loop | "
              "all runs, s (1-min load after each)\n---|---|---|---")
        for v in FIRST_VARIANTS:
            if firsts[v]:
                m = statistics.median(t for t, _ in firsts[v])
                print(f"{v} | {m:.2f} | {m / base:.2f} | "
                      f"{', '.join(f'{t:.2f} ({ld:.1f})' for t, ld in firsts[v])}")
    if ("trials", "talos") in by and ("trials", "ours") in by:
        t = by[("trials", "talos")]
        print(f"\nper-trial wall, Talos titanic template, {t['trials']} trials x "
              f"{args.epochs} epochs\nvariant | median s/trial | x talos | wall s | first s"
              "\n---|---|---|---|---")
        for v in ("talos", "ours"):
            r = by[("trials", v)]
            print(f"{v} | {r['per_trial_s']:.2f} | {r['per_trial_s'] / t['per_trial_s']:.2f} | "
                  f"{r['wall_s']:.1f} | {r['first_s']:.1f}")
    for r in rows:
        if "error" in r or r.get("failed"):
            print("problem:", r)


if __name__ == "__main__":
    main()
