"""Wall time saved by pruning, and whether the best trial survives it.

A toy objective with learning curves shaped like real ones: the validation loss of a
configuration decays from a start value towards its final value, quickly for large
learning rates and slowly for small ones (so early leaders are not always the final
winners), with a little noise; every step sleeps ``--step-ms`` to stand for an epoch.
The same configurations (random search, seeded: proposals do not depend on values)
run without a pruner, with ``Median`` and with ``ASHA``, on ``--jobs`` worker threads
that share the pruner, as a scan runs them.

For each pruner: wall time, steps run, the best final loss among trials that ran to
the end, and whether the configuration that is best without pruning still finished.

    python bench/pruning.py                # 5 seeds, 40 trials of 27 steps, 4 workers
    python bench/pruning.py --seeds 2 --trials 20 --step-ms 1
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpo_widgets.pruning import ASHA, Median, Pruner
from hpo_widgets.space import Float, Int, Space
from hpo_widgets.strategies import Random
from hpo_widgets.trial import Trial

SPACE = Space(lr=Float(1e-4, 1.0, log=True), width=Int(8, 256, log=True))


def final_loss(p: dict) -> float:
    return 0.1 + 0.3 * (math.log10(p["lr"]) + 2.5) ** 2 + 0.05 * (math.log2(p["width"]) - 6) ** 2


def curve(p: dict, steps: int, rng: np.random.Generator) -> list[float]:
    """The loss after each step: a decay towards the final loss, slower for small lr."""
    tau = 1.0 + 8.0 * (1.0 - (math.log10(p["lr"]) + 4) / 4)  # 1 (lr=1) .. 9 (lr=1e-4)
    start = final_loss(p) + 1.5
    return [final_loss(p) + (start - final_loss(p)) * math.exp(-(t + 1) / tau)
            + float(rng.normal(0, 0.005)) for t in range(steps)]


def run(pruner: Pruner | None, configs: list[dict], steps: int, step_s: float, jobs: int,
        seed: int) -> dict:
    if pruner is not None:
        pruner.bind(minimize=True)
    curves = [curve(p, steps, np.random.default_rng([seed, i])) for i, p in enumerate(configs)]

    def one(i: int) -> Trial:
        reported = []
        status = "finished"
        for step, loss in enumerate(curves[i]):
            time.sleep(step_s)
            reported.append((float(step), loss))
            if pruner is not None:
                pruner.report(i, step, loss)
                if pruner.should_prune(i):
                    status = "pruned"
                    break
        t = Trial(id=i, params=configs[i], status=status, value=reported[-1][1],
                  curve=tuple(reported))
        if pruner is not None:
            pruner.complete(t)
        return t

    t0 = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        trials = list(pool.map(one, range(len(configs))))
    wall = time.perf_counter() - t0
    done = [t for t in trials if t.status == "finished"]
    return {"wall": wall, "steps": sum(len(t.curve) for t in trials),
            "best": min(t.value for t in done), "finished": {t.id for t in done},
            "pruned": sum(t.status == "pruned" for t in trials)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--steps", type=int, default=27)
    ap.add_argument("--step-ms", type=float, default=3.0)
    ap.add_argument("--jobs", type=int, default=4)
    args = ap.parse_args(argv)

    pruners = {"none": lambda: None, "median": lambda: Median(),
               "asha": lambda: ASHA(min_resource=1, eta=3)}
    rows: dict[str, list[dict]] = {k: [] for k in pruners}
    for seed in range(args.seeds):
        strategy = Random()
        strategy.bind(seed=seed, minimize=True)
        configs = []
        for _ in range(args.trials):
            configs.append(strategy.ask(SPACE, [Trial(id=i, params=c) for i, c in
                                                enumerate(configs)], []))
        for name, make in pruners.items():
            rows[name].append(run(make(), configs, args.steps, args.step_ms / 1000,
                                  args.jobs, seed))
        best_id = min(rows["none"][-1]["finished"],
                      key=lambda i: curve(configs[i], args.steps,
                                          np.random.default_rng([seed, i]))[-1])
        for name in pruners:
            rows[name][-1]["kept_best"] = best_id in rows[name][-1]["finished"]

    base = rows["none"]
    print(f"\nPruning on a curve-shaped toy objective: {args.trials} trials x {args.steps} "
          f"steps of {args.step_ms:g} ms, {args.jobs} worker threads, {args.seeds} seeds "
          "(means over seeds)\n")
    print("| pruner | wall s | steps run | time saved | trials pruned | best final loss "
          "| best config finished |")
    print("|--------|--------|-----------|------------|---------------|-----------------"
          "|----------------------|")
    for name, rs in rows.items():
        wall = np.mean([r["wall"] for r in rs])
        saved = 1 - wall / np.mean([r["wall"] for r in base])
        steps = np.mean([r["steps"] for r in rs])
        pruned = np.mean([r["pruned"] for r in rs])
        gap = np.mean([r["best"] - b["best"] for r, b in zip(rs, base, strict=True)])
        kept = sum(r["kept_best"] for r in rs)
        print(f"| {name:6s} | {wall:6.2f} | {steps:9.0f} | {saved:10.0%} | {pruned:13.1f} "
              f"| {np.mean([r['best'] for r in rs]):.4f} (+{gap:.4f}) "
              f"| {kept}/{len(rs)} seeds{' ' * 11}|")


if __name__ == "__main__":
    main()
