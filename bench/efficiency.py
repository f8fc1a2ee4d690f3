"""Sample efficiency of the learning strategies against their peers, side by side.

Minimises Branin (2-D), Hartmann6 (6-D) and Rosenbrock (10-D, on [-5, 10]^10) with
each method, for several seeds, and prints the median and interquartile range of the
simple regret (best value found minus the known minimum) after each budget, the
time each method spends per evaluation, and the time :class:`hw.Bayes` takes to
propose a point at 50, 100 and 200 observations.

Methods: ``bayes`` (ours, hw.Bayes), ``sobol`` and ``random`` (ours, baselines),
``bayes-sklearn`` (ablation: hw.Bayes with scikit-learn's GaussianProcessRegressor),
``optuna-gp`` (Optuna's GPSampler, needs torch), ``optuna-tpe`` (Optuna's TPE,
multivariate) and ``skopt-gp`` (scikit-optimize's gp_minimize). Every method runs in
this process, one after the other, on the same seeds. Our strategies are driven
through ask/tell directly (no Scan), so the engine's overhead is not counted.

Quick run::

    python bench/efficiency.py --seeds 3 --budgets 50 --methods bayes,optuna-tpe

Full run (the table in the issue note)::

    python bench/efficiency.py --seeds 10

Before/after a change, both in one run (``bayes-old`` is the other checkout's Bayes)::

    git worktree add /tmp/old main
    python bench/efficiency.py --seeds 10 --methods bayes,bayes-old --old /tmp/old

An ablation of hw.Bayes against it, as in bench/tuning.py::

    python bench/efficiency.py --seeds 10 --methods 'bayes,bayes[n_initial=5]'
"""

# Matrices keep their maths names (X, F) in the ablation model below.
# ruff: noqa: N803
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))

import hpo_widgets.strategies as hs
from hpo_widgets.space import Float, Space
from hpo_widgets.trial import Trial


# ----------------------------------------------------------------------------------
# Test functions
# ----------------------------------------------------------------------------------
@dataclass
class Problem:
    name: str
    bounds: list[tuple[float, float]]
    fn: Callable[[np.ndarray], float]
    minimum: float

    @property
    def space(self) -> Space:
        return Space({f"x{i}": Float(lo, hi) for i, (lo, hi) in enumerate(self.bounds)})

    def __call__(self, x: np.ndarray) -> float:
        return float(self.fn(np.asarray(x, dtype=float)))


def branin(x: np.ndarray) -> float:
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s


_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(x: np.ndarray) -> float:
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def rosenbrock(x: np.ndarray) -> float:
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


PROBLEMS = {
    "branin": Problem("Branin", [(-5.0, 10.0), (0.0, 15.0)], branin, 0.397887357729738),
    "hartmann6": Problem("Hartmann6", [(0.0, 1.0)] * 6, hartmann6, -3.32236801141551),
    "rosenbrock10": Problem("Rosenbrock10", [(-5.0, 10.0)] * 10, rosenbrock, 0.0),
}


# ----------------------------------------------------------------------------------
# Methods: each returns the sequence of values it evaluated and its own time per call
# ----------------------------------------------------------------------------------
def run_ours(strategy: hs.Strategy, problem: Problem, n: int,
             seed: int, pkg: object = None) -> tuple[list[float], float]:
    """Our strategy on ``problem``; ``pkg`` is another checkout's package (``--old``),
    whose strategy must be given that package's own Space and Trial."""
    space = problem.space if pkg is None else pkg.Space(  # type: ignore[attr-defined]
        {f"x{i}": pkg.Float(lo, hi) for i, (lo, hi) in enumerate(problem.bounds)})  # type: ignore[attr-defined]
    make_trial = Trial if pkg is None else pkg.Trial  # type: ignore[attr-defined]
    names = space.tunable
    strategy.bind(seed=seed, minimize=True)
    history: list[Trial] = []
    spent = 0.0
    for i in range(n):
        t0 = time.perf_counter()
        params = strategy.ask(space, history, [])
        spent += time.perf_counter() - t0
        assert params is not None
        value = problem(np.array([params[k] for k in names]))
        trial = make_trial(id=i, params=params, status="finished", value=value)
        history.append(trial)
        strategy.tell(trial)
    return [t.value for t in history], spent / n  # type: ignore[misc]


def run_optuna(sampler_name: str, problem: Problem, n: int, seed: int) -> tuple[list[float], float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if sampler_name == "gp":
            sampler = optuna.samplers.GPSampler(seed=seed)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
        study = optuna.create_study(sampler=sampler, direction="minimize")
        values: list[float] = []
        evaluating = 0.0

        def objective(trial: optuna.Trial) -> float:
            nonlocal evaluating
            x = np.array([trial.suggest_float(f"x{i}", lo, hi)
                          for i, (lo, hi) in enumerate(problem.bounds)])
            t0 = time.perf_counter()
            v = problem(x)
            evaluating += time.perf_counter() - t0
            values.append(v)
            return v

        t0 = time.perf_counter()
        study.optimize(objective, n_trials=n)
        total = time.perf_counter() - t0
    return values, (total - evaluating) / n


def run_skopt(problem: Problem, n: int, seed: int) -> tuple[list[float], float]:
    from skopt import gp_minimize

    values: list[float] = []
    evaluating = 0.0

    def objective(x: list[float]) -> float:
        nonlocal evaluating
        t0 = time.perf_counter()
        v = problem(np.array(x))
        evaluating += time.perf_counter() - t0
        values.append(v)
        return v

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        gp_minimize(objective, problem.bounds, n_calls=n, random_state=seed)
        total = time.perf_counter() - t0
    return values, (total - evaluating) / n


class _SklearnGP:
    """Ablation: scikit-learn's GaussianProcessRegressor (maximum likelihood, no priors)
    behind the interface of hw.Bayes's own model, to show why the latter is used."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def fit(self, X: np.ndarray, y: np.ndarray, theta0: np.ndarray | None = None) -> None:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        kernel = (ConstantKernel(1.0, (5e-3, 50.0))
                  * Matern(np.full(self.dim, 0.5), (5e-3, 1e3), nu=2.5)
                  + WhiteKernel(1e-4, (1e-6, 1.0)))
        if theta0 is not None:
            kernel = kernel.clone_with_theta(theta0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.gpr = GaussianProcessRegressor(kernel, n_restarts_optimizer=0).fit(X, y)
        self.theta = self.gpr.kernel_.theta
        self._read()

    def _read(self) -> None:
        k = self.gpr.kernel_
        self.s2, self.noise = k.k1.k1.constant_value, k.k2.noise_level
        self.ls = np.atleast_1d(k.k1.k2.length_scale)
        self.alpha, self.X = self.gpr.alpha_, self.gpr.X_train_

    def condition(self, X: np.ndarray, y: np.ndarray) -> None:
        from sklearn.gaussian_process import GaussianProcessRegressor

        self.gpr = GaussianProcessRegressor(self.gpr.kernel_, optimizer=None).fit(X, y)
        self._read()

    def predict(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, sd = self.gpr.predict(F, return_std=True)  # sd includes the white noise
        return mu, np.sqrt(np.maximum(sd**2 - self.noise, 1e-12 * self.s2))

    def predict_grad(self, F: np.ndarray) -> tuple[np.ndarray, ...]:
        mu, sd = self.predict(F)
        dmu, dsd = np.zeros_like(F), np.zeros_like(F)
        for j in range(F.shape[1]):  # no analytic gradients: forward differences
            G = F.copy()
            G[:, j] += 1e-6
            m2, s2 = self.predict(G)
            dmu[:, j], dsd[:, j] = (m2 - mu) / 1e-6, (s2 - sd) / 1e-6
        return mu, sd, dmu, dsd


def sklearn_bayes() -> hs.Strategy:
    from hpo_widgets.strategies.bayes import Bayes

    class SklearnBayes(Bayes):
        def _fit(self, X: np.ndarray, y: np.ndarray) -> _SklearnGP:  # type: ignore[override]
            gp = _SklearnGP(X.shape[1])
            gp.fit(X, y, self._theta.get(X.shape[1]))
            self._theta[X.shape[1]] = gp.theta
            return gp

    return SklearnBayes()


METHODS: dict[str, Callable[[Problem, int, int], tuple[list[float], float]]] = {
    "bayes": lambda p, n, s: run_ours(hs.make_strategy("bayes"), p, n, s),
    "bayes-sklearn": lambda p, n, s: run_ours(sklearn_bayes(), p, n, s),
    "optuna-gp": lambda p, n, s: run_optuna("gp", p, n, s),
    "optuna-tpe": lambda p, n, s: run_optuna("tpe", p, n, s),
    "skopt-gp": run_skopt,
    "sobol": lambda p, n, s: run_ours(hs.make_strategy("sobol"), p, n, s),
    "random": lambda p, n, s: run_ours(hs.make_strategy("random"), p, n, s),
}


def ablated_bayes(spec: str) -> hs.Strategy:
    """hw.Bayes with attributes changed after construction, for methods written
    ``bayes[name=value,...]`` (values in JSON), as in bench/tuning.py."""
    strategy = hs.make_strategy("bayes")
    for item in filter(None, spec.split(",")):
        key, _, text = item.partition("=")
        if not hasattr(strategy, key):
            raise SystemExit(f"hw.Bayes has no attribute {key!r} to ablate")
        setattr(strategy, key, json.loads(text))
    return strategy


# ----------------------------------------------------------------------------------
# Proposal time of hw.Bayes
# ----------------------------------------------------------------------------------
def mixed_space() -> Space:
    import hpo_widgets.space as sp

    return Space(lr=sp.Float(1e-5, 1e-1, log=True), units=sp.Int(16, 512, log=True),
                 layers=sp.Int(1, 4), dropout=sp.Float(0.0, 0.5),
                 activation=sp.Choice(["relu", "elu", "gelu", "tanh"]), batch_norm=sp.Bool(),
                 optimizer=sp.Choice(["adam", "sgd", "rmsprop"]), epochs=sp.Fixed(20))


def make_proposer(name: str) -> hs.Strategy:
    if name == "bayes":
        return hs.make_strategy("bayes")
    import optuna

    from hpo_widgets.strategies.optuna import OptunaStrategy

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return OptunaStrategy(optuna.samplers.GPSampler(seed=0))


def proposal_times(sizes: list[int], repeats: int,
                   who: list[str]) -> list[tuple[str, str, int, float, float]]:
    """Median and max seconds per ask() after ``size`` observations, on Hartmann6 and on a
    mixed Keras-like space; the asks are consecutive (as in a scan: warm starts). Optuna's
    GPSampler runs through our adapter; its first ask also loads the history into the
    study, which the median leaves out."""
    rows = []
    rng = np.random.default_rng(0)
    h6 = PROBLEMS["hartmann6"]
    cases: list[tuple[str, Space, Callable[[dict], float]]] = [
        ("Hartmann6 (6 floats)", h6.space, lambda p: h6(np.array([p[f"x{i}"] for i in range(6)]))),
        ("mixed (2 floats, 2 ints, 3 choices)", mixed_space(),
         lambda p: (math.log10(p["lr"]) + 3) ** 2 + (math.log2(p["units"]) - 7) ** 2 / 4
         + p["dropout"] + 0.3 * (p["activation"] != "gelu") + 0.1 * p["layers"]
         + 0.2 * p["batch_norm"] + float(rng.normal(0, 0.05))),
    ]
    for label, space, fn in cases:
        for size in sizes:
            base = []
            for i in range(size):  # a history of random points (cheap to build)
                params = space.sample(rng)
                base.append(Trial(id=i, params=params, status="finished", value=fn(params)))
            for name in who:
                strategy = make_proposer(name)
                strategy.bind(seed=0, minimize=True)
                history = list(base)
                times = []
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for r in range(repeats):
                        t0 = time.perf_counter()
                        params = strategy.ask(space, history, [])
                        times.append(time.perf_counter() - t0)
                        history.append(Trial(id=size + r, params=params, status="finished",
                                             value=fn(params)))
                rows.append((name, label, size, float(np.median(times)), float(np.max(times))))
    return rows


def warm_up(methods: list[str]) -> None:
    """Import what each method needs before any clock starts (scipy.stats.qmc, torch and
    scikit-learn take seconds to import, which is not a per-evaluation cost)."""
    import scipy.stats.qmc  # noqa: F401

    if any(m.startswith("optuna") for m in methods):
        import optuna  # noqa: F401
    if "optuna-gp" in methods:
        import torch  # noqa: F401
    if "skopt-gp" in methods:
        import skopt  # noqa: F401


# ----------------------------------------------------------------------------------
def fmt(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.2g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.1e}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10, help="seeds per method and function")
    ap.add_argument("--budgets", default="50,100", help="evaluation budgets, comma-separated")
    ap.add_argument("--methods", default="bayes,optuna-gp,optuna-tpe,skopt-gp",
                    help=f"comma-separated, from {','.join(METHODS)}")
    ap.add_argument("--functions", default=",".join(PROBLEMS),
                    help=f"comma-separated, from {','.join(PROBLEMS)}")
    ap.add_argument("--proposal-sizes", default="50,100,200",
                    help="observation counts for the proposal-time table ('' to skip)")
    ap.add_argument("--proposal-repeats", type=int, default=5)
    ap.add_argument("--proposal-methods", default="bayes,optuna-gp",
                    help="whose proposal time to measure: bayes and/or optuna-gp")
    ap.add_argument("--old", default="",
                    help="another checkout (e.g. `git worktree add /tmp/old main`) whose "
                         "Bayes runs as 'bayes-old' in the same run")
    args = ap.parse_args(argv)
    if args.old:
        from tuning import load_old  # bench/tuning.py, next to this file

        old = load_old(args.old)
        METHODS["bayes-old"] = lambda p, n, s: run_ours(old.OldBayes(), p, n, s, pkg=old)

    budgets = [int(b) for b in args.budgets.split(",") if b]
    n = max(budgets)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m.startswith("bayes[") and m.endswith("]"):
            METHODS[m] = lambda p, n, s, spec=m[6:-1]: run_ours(ablated_bayes(spec), p, n, s)
    problems = [PROBLEMS[f.strip()] for f in args.functions.split(",") if f.strip()]
    for m in methods:
        if m not in METHODS:
            ap.error(f"unknown method {m!r}; choose from {', '.join(METHODS)}")

    warm_up(methods)
    regrets: dict[tuple[str, str, int], list[float]] = {}
    per_eval: dict[tuple[str, str], list[float]] = {}
    t_start = time.time()
    for problem in problems:
        for method in methods:
            for seed in range(args.seeds):
                values, seconds = METHODS[method](problem, n, seed)
                best = np.minimum.accumulate(values)
                for b in budgets:
                    regrets.setdefault((method, problem.name, b), []).append(
                        float(best[b - 1] - problem.minimum))
                per_eval.setdefault((method, problem.name), []).append(seconds)
            r = regrets[(method, problem.name, budgets[0])]
            print(f"  [{time.time() - t_start:6.0f}s] {problem.name:12s} {method:13s} "
                  f"median regret@{budgets[0]} {fmt(float(np.median(r)))}", file=sys.stderr,
                  flush=True)

    print(f"\nSimple regret, median [25%, 75%] over {args.seeds} seeds "
          f"(lower is better)\n")
    head = f"| {'method':13s} | {'function':12s} |" + "".join(
        f" {'regret @' + str(b):29s} |" for b in budgets) + " s / eval |"
    print(head)
    print("|" + "|".join("-" * (len(c) + 0) for c in head.split("|")[1:-1]) + "|")
    for problem in problems:
        for method in methods:
            cells = []
            for b in budgets:
                r = np.array(regrets[(method, problem.name, b)])
                q1, med, q3 = np.percentile(r, [25, 50, 75])
                cells.append(f" {fmt(med):>8s} [{fmt(q1)}, {fmt(q3)}]".ljust(30) + " |")
            t = float(np.mean(per_eval[(method, problem.name)]))
            print(f"| {method:13s} | {problem.name:12s} |" + "".join(cells) + f" {t:8.3f} |")

    sizes = [int(s) for s in args.proposal_sizes.split(",") if s]
    if sizes:
        who = [w.strip() for w in args.proposal_methods.split(",") if w.strip()]
        print(f"\nProposal time (seconds per ask, median and max of "
              f"{args.proposal_repeats} consecutive asks)\n")
        print(f"| {'method':9s} | {'space':36s} | observations | median | max    |")
        print(f"|{'-' * 11}|{'-' * 38}|--------------|--------|--------|")
        for name, label, size, med, mx in proposal_times(sizes, args.proposal_repeats, who):
            print(f"| {name:9s} | {label:36s} | {size:12d} | {med:6.3f} | {mx:6.3f} |")


if __name__ == "__main__":
    main()
