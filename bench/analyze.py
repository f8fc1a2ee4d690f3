"""What the machine's side (hpo_widgets.analysis) costs, by number of trials.

Two tables, one run:

1. ``analyze()`` and the model-free importance, suggestion rule and column building
   at 100 / 1,000 / 10,000 / 100,000 trials (median of ``--repeats`` runs, wall ms).
   Target (issue 14): ``analyze()`` under 1 s at 100,000 trials.
2. Per dashboard redraw at 100 / 1,000 / 10,000 trials, kernel CPU ms: the belief band
   along one parameter from an already fitted surrogate (the strategy's model, which a
   Bayes scan has anyway), fitting the fallback surrogate (for strategies without one),
   importance, and the narrowing proposals; then what that costs per trial when the
   views are recomputed on ``RefreshSchedule`` while trials arrive as fast as a real
   scan of trivial trials delivers them here (measured in the same run), next to the
   dashboard's own 0.035-0.042 ms per trial (bench/dashboard.py).

Trials are real ``Trial`` records over a real ``Space`` (5 tunable parameters and a fixed
one, 3% failed), as the store holds them; the trial rate comes from a real ``hw.Scan``
with a temporary store.

    python bench/analyze.py
    python bench/analyze.py --sizes 100 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time

import numpy as np

import hpo_widgets as hw
from hpo_widgets import analysis as an
from hpo_widgets.trial import Trial

SPACE = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), units=hw.Int(16, 512, log=True),
                 dropout=hw.Float(0.0, 0.5), act=hw.Choice(["relu", "elu", "gelu"]),
                 batch_norm=hw.Bool(), epochs=hw.Fixed(20))


def objective(p: dict) -> float:
    return ((math.log10(p["lr"]) + 3.0) ** 2 + 0.3 * (p["act"] == "elu")
            + 0.1 * p["dropout"] + 0.05 * math.log2(p["units"] / 64) ** 2)


def make_trials(n: int, seed: int = 0) -> list[Trial]:
    rng = np.random.default_rng(seed)
    u = rng.random((n, SPACE.ndim))
    noise = rng.normal(0, 0.05, n)
    failed = rng.random(n) < 0.03
    out = []
    for i in range(n):
        p = SPACE.decode(u[i])
        if failed[i]:
            out.append(Trial(id=i, params=p, status="failed", error="boom", started=i,
                             finished=i + 1.0))
            continue
        v = objective(p) + float(noise[i])
        out.append(Trial(id=i, params=p, status="finished", metrics={"loss": v}, value=v,
                         started=float(i), finished=i + 1.0))
    return out


def timed(fn, repeats: int, clock=time.perf_counter) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = clock()
        out = fn()
        times.append(clock() - t0)
    return statistics.median(times) * 1e3, out


def table_analyze(sizes: list[int], repeats: int) -> None:
    print("\n1) analyze() and its parts, wall ms (median of", repeats, "runs)")
    print(f"{'trials':>7} | {'columns':>8} | {'importance':>10} | {'suggest':>8} | "
          f"{'analyze':>8} | {'(CPU ms)':>8} | top parameter (share, held-out R²)")
    for n in sizes:
        trials = make_trials(n)
        cols_ms, _ = timed(lambda t=trials: an.trial_columns(t, SPACE, True), repeats)
        imp_ms, imp = timed(lambda t=trials: an.importance(t, SPACE, True), repeats)
        sug_ms, _ = timed(lambda t=trials: an.suggest_narrowing(t, SPACE, True), repeats)
        ana_ms, _ = timed(lambda t=trials: an.analyze(t, SPACE, True), repeats)
        ana_cpu, _ = timed(lambda t=trials: an.analyze(t, SPACE, True), repeats,
                           time.process_time)
        name, share = imp.ranked()[0]
        print(f"{n:>7} | {cols_ms:>8.1f} | {imp_ms:>10.1f} | {sug_ms:>8.1f} | {ana_ms:>8.1f} | "
              f"{ana_cpu:>8.1f} | {name} ({share:.2f}, {imp.explained:.2f})")


def trial_interval(n: int = 300) -> float:
    """Seconds between trials of a real scan whose objective costs nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        scan = hw.Scan(objective, SPACE, metric="loss", mode="min", max_trials=n, seed=0,
                       store=tmp, name="rate")
        t0 = time.perf_counter()
        scan.start().wait()
        return (time.perf_counter() - t0) / n


def table_redraw(sizes: list[int], repeats: int, interval: float) -> None:
    cpu = time.process_time
    print("\n2) per redraw, kernel CPU ms (median of", repeats, "runs); amortised per trial "
          f"with RefreshSchedule at one trial every {interval * 1e3:.2f} ms")
    print(f"{'trials':>7} | {'columns':>7} | {'band':>6} | {'importance':>10} | "
          f"{'suggest':>7} | {'redraw':>7} | {'GP fit*':>7} | {'recomputes':>10} | "
          f"{'ms/trial':>8}")
    for n in sizes:
        trials = make_trials(n, seed=1)
        best = min((t for t in trials if t.value is not None), key=lambda t: t.value)
        fit_ms, gp = timed(lambda t=trials: an.fit_surrogate(t, SPACE, True), repeats, cpu)
        cols_ms, cols = timed(lambda t=trials: an.trial_columns(t, SPACE, True), repeats, cpu)
        band_ms, _ = timed(lambda g=gp, b=best: an.belief_band(g, SPACE, "lr", b.params,
                                                              next_point=SPACE.sample(seed=2)),
                           repeats, cpu)
        imp_ms, _ = timed(lambda t=trials, c=cols: an.importance(t, SPACE, True, columns=c),
                          repeats, cpu)
        sug_ms, _ = timed(lambda t=trials, g=gp, c=cols: an.suggest_narrowing(
            t, SPACE, True, predict=g, columns=c), repeats, cpu)
        # a Bayes scan has its model: columns once, band, importance, proposals (with the
        # model's veto); the fallback GP fit (*) is for strategies without a model
        redraw_ms = cols_ms + band_ms + imp_ms + sug_ms
        # (every recompute charged at the full-size cost: an upper bound)
        sched, now, runs = an.RefreshSchedule(), 0.0, 0
        for k in range(1, n + 1):
            now += interval
            if sched.due(k, now=now):
                runs += 1
                sched.done(k, redraw_ms / 1e3, now=now)
        per_trial = runs * redraw_ms / n
        print(f"{n:>7} | {cols_ms:>7.1f} | {band_ms:>6.1f} | {imp_ms:>10.1f} | {sug_ms:>7.1f} | "
              f"{redraw_ms:>7.1f} | {fit_ms:>7.1f} | {runs:>10} | {per_trial:>8.3f}")


def table_panel(sizes: list[int], repeats: int) -> None:
    """The dashboard's partner panel as it runs: a real scan of ``n`` trivial trials
    with its dashboard attached (headless), then one forced recompute + redraw of the
    new parts (importance bars, proposal, belief band along one parameter for Bayes,
    the "try near this" rows), kernel CPU time of the thread doing it."""
    import logging

    import comm
    from comm.base_comm import BaseComm

    class Quiet(BaseComm):   # no front end: messages are dropped
        def publish_msg(self, *a, **k):
            pass

    comm.create_comm = Quiet
    logging.getLogger("hpo_widgets").setLevel(logging.ERROR)
    print("\n3) the dashboard's partner parts, one forced recompute + redraw on a live "
          "dashboard,\n   kernel CPU ms (median of", repeats, "runs)")
    print(f"{'trials':>7} | {'random':>8} | {'bayes (band)':>12} | {'draw only':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            scan = hw.Scan(objective, SPACE, max_trials=n, seed=0, store=tmp, name=f"p{n}")
            scan.start().wait()
            dash = scan.dashboard()
            p = dash.partner
            param = dash._param_name

            def once(p=p, param=param, dash=dash, metric=scan.metric):
                p._force = True
                p.compute(param)
                p.draw(dash._top[:dash.top_k], metric)
                dash._draw_belief()

            rnd, _ = timed(once, repeats, time.thread_time)
            scan.strategy = "bayes"
            bay, _ = timed(once, repeats, time.thread_time)
            draw, _ = timed(lambda p=p, dash=dash, m=scan.metric: p.draw(dash._top[:dash.top_k], m),
                            repeats, time.thread_time)
            print(f"{n:>7} | {rnd:>8.1f} | {bay:>12.1f} | {draw:>9.2f}")
            dash.close()
            scan.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10_000, 100_000])
    ap.add_argument("--redraw-sizes", type=int, nargs="+", default=[100, 1000, 10_000])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    an.analyze(make_trials(50), SPACE, True)         # imports (scipy, sklearn) out of the way
    table_analyze(args.sizes, args.repeats)
    interval = trial_interval()
    table_redraw(args.redraw_sizes, args.repeats, interval)
    table_panel(args.redraw_sizes, args.repeats)


if __name__ == "__main__":
    main()
