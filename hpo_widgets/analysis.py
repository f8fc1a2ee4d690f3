"""What the trials say: tables, parameter importance, narrowing proposals and the
surrogate's belief along one parameter, as plain data.

Every function here takes the trials (``list[Trial]``), the scan's :class:`Space` and
the direction (``minimize``) and returns numbers, DataFrames or small dataclasses; none
draws, none reads a scan's internals, so the engine (``scan.analyze()``) and the
dashboard share them and ``tests/test_analysis.py`` checks them without a browser.

- :func:`analyze` -- the tables a Talos user reaches for: per-parameter correlation with
  the score, the score per value (choices, discrete values, bins of ranges), importance.
- :func:`importance` -- which parameters matter: the strategy's own estimate when it has
  one (``strategy.importance(space, history)``), otherwise a model-free one (an
  extra-trees forest and each parameter's total effect over the search space, on a bounded
  subsample).
- :func:`suggest_narrowing` -- conservative proposals to narrow the space, each with
  the numbers that justify it and the exact ``scan.narrow(**suggestion.narrow)``
  arguments. The rule is documented on the function.
- :func:`belief_band` -- a surrogate's mean and uncertainty along one parameter, the
  others held at the incumbent, for the parameter-vs-score chart.
- :func:`fit_surrogate` -- a scikit-learn Gaussian process on the trials, for when the
  strategy has no model of its own (and for the narrowing rule's uncertainty check).

Speed: the trials are turned into numpy columns once (:class:`TrialColumns`, one pass
over the list); everything after that is vectorised. A caller computing several views of
the same trials (a dashboard redraw) builds them once with :func:`trial_columns` and
passes ``columns=`` to each function (same trials, space, direction and exclusions).
``analyze`` takes under a second at 100,000 trials (``bench/analyze.py``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
import time
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

from .space import Bool, Choice, Fixed, Float, Int, Param, Space
from .trial import DONE_STATUSES, Trial

__all__ = [
    "Analysis",
    "Importance",
    "RefreshSchedule",
    "Suggestion",
    "TrialColumns",
    "analyze",
    "belief_band",
    "fit_surrogate",
    "importance",
    "suggest_narrowing",
]

#: ``predict(points) -> (mean, std)``: a surrogate's belief at full points of the space
#: (dicts, one value per parameter), in the score's own units.
Predict = Callable[[Sequence[Mapping[str, Any]]], tuple[np.ndarray, np.ndarray]]

#: Most trials the model-free importance and the fallback surrogate are fitted on; above
#: it they use a fixed-seed random subsample, so their cost stops growing with the scan.
MAX_IMPORTANCE_SAMPLES = 1000
MAX_SURROGATE_SAMPLES = 150


# ----------------------------------------------------------------------------------
# Trials as columns, built once
# ----------------------------------------------------------------------------------
def _vkey(value: Any) -> Any:
    """A dict key that tells ``1``, ``1.0`` and ``True`` apart, as Choice does."""
    if isinstance(value, np.generic):
        value = value.item()
    try:
        hash(value)
    except TypeError:
        return (type(value).__name__, repr(value))
    return (type(value).__name__, value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


_PLAIN_NUMBERS = frozenset({int, float, type(None), np.float64, np.float32, np.int64,
                            np.int32})


def _floats(values: list[Any]) -> np.ndarray:
    """Numbers as a float array, NaN for anything else (None, text, booleans)."""
    if set(map(type, values)) <= _PLAIN_NUMBERS:
        # the common case, at C speed (None becomes NaN; booleans and text, which numpy
        # would turn into numbers, never get here)
        return np.array(values, dtype=float).reshape(len(values))
    return np.array([float(v) if _is_number(v) else np.nan for v in values], dtype=float)


@dataclasses.dataclass
class Column:
    """One parameter over the trials.

    A *numeric* column (an Int/Float range, or a fixed parameter that took several
    numbers over the scan's life) has ``values`` (NaN where a trial lacks a number) and
    ``axis``, the coordinate charts and rules work in: ``log10`` of the value for log
    ranges, the value itself otherwise. ``lo``/``hi`` bound the axis over the current
    range and every value tried. A *categorical* column (Choice, Bool, or anything not
    numeric) has ``codes`` (index into ``levels``; -1 where missing): the current
    choice's values first, then values only older trials had.
    """

    name: str
    param: Param
    kind: str                       # "numeric" | "categorical"
    log: bool = False
    values: np.ndarray | None = None
    axis: np.ndarray | None = None
    lo: float = 0.0
    hi: float = 1.0
    codes: np.ndarray | None = None
    levels: list[Any] = dataclasses.field(default_factory=list)

    def unit(self) -> np.ndarray:
        """Every trial in ``[0, 1]`` (numeric: along the axis; categorical: by code);
        missing values at -0.5, so a tree can still split them off."""
        if self.kind == "numeric":
            assert self.axis is not None
            u = (self.axis - self.lo) / ((self.hi - self.lo) or 1.0)
        else:
            assert self.codes is not None
            u = self.codes / max(len(self.levels) - 1, 1)
            u = np.where(self.codes < 0, np.nan, u)
        return np.where(np.isfinite(u), u, -0.5)

    def to_axis(self, values: Sequence[Any]) -> np.ndarray:
        """Axis coordinates of arbitrary values (numeric columns)."""
        return self.axis_of(_floats(list(values)))

    def axis_of(self, x: np.ndarray) -> np.ndarray:
        """Numbers -> axis coordinates (log10 for log ranges; NaN where undefined)."""
        if not self.log:
            return x
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, np.log10(np.where(x > 0, x, 1.0)), np.nan)

    def from_axis(self, a: float) -> float:
        return float(10.0 ** a) if self.log else float(a)


@dataclasses.dataclass
class TrialColumns:
    """Ended trials as numpy columns (one pass over the list), shared by every analysis.

    ``value`` is the score (NaN unless the trial finished with a finite one),
    ``finished`` marks those, ``good`` is the score oriented so that higher is better,
    ``params`` the trials' parameter dicts in the same order.
    """

    ids: np.ndarray
    status: np.ndarray
    value: np.ndarray
    finished: np.ndarray
    good: np.ndarray
    columns: dict[str, Column]
    minimize: bool
    n_excluded: int = 0
    params: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.ids)

    def unit_matrix(self, names: Sequence[str] | None = None) -> np.ndarray:
        names = list(self.columns) if names is None else list(names)
        if not names:
            return np.zeros((self.n, 0))
        return np.column_stack([self.columns[n].unit() for n in names])

    def top_mask(self, fraction: float) -> tuple[np.ndarray, float]:
        """Finished trials in the best ``fraction`` (ties at the cut-off included) and
        the cut-off score."""
        g = self.good[self.finished]
        if len(g) == 0:
            return np.zeros(self.n, dtype=bool), math.nan
        k = max(1, math.ceil(fraction * len(g)))
        cut = float(np.partition(-g, k - 1)[k - 1]) * -1.0
        mask = self.finished & (self.good >= cut)
        return mask, (-cut if self.minimize else cut)

    def point_matrix(self, points: Sequence[Mapping[str, Any]],
                     names: Sequence[str]) -> np.ndarray:
        """Arbitrary points encoded exactly as the trials' :meth:`unit_matrix`."""
        cols = []
        for n in names:
            c = self.columns[n]
            vals = [p.get(n) for p in points]
            if c.kind == "numeric":
                u = (c.to_axis(vals) - c.lo) / ((c.hi - c.lo) or 1.0)
            else:
                index = {_vkey(v): i for i, v in enumerate(c.levels)}
                codes = np.array([index.get(_vkey(v), -1) for v in vals], dtype=float)
                u = np.where(codes < 0, np.nan, codes / max(len(c.levels) - 1, 1))
            cols.append(np.where(np.isfinite(u), u, -0.5))
        return np.column_stack(cols) if cols else np.zeros((len(points), 0))


def trial_columns(trials: Sequence[Trial], space: Space, minimize: bool,
                  excluded: Collection[int] = ()) -> TrialColumns:
    """Ended trials (finished, failed, pruned) as :class:`TrialColumns`.

    Trials whose id is in ``excluded`` are left out (a trial the user marked as not to
    be learned from). Every parameter of ``space`` gets a column unless it never varied.
    """
    skip = set(excluded)
    done = [t for t in trials if t.status in DONE_STATUSES and t.id not in skip]
    n_excluded = sum(1 for t in trials if t.id in skip)
    ids = np.fromiter((t.id for t in done), dtype=np.int64, count=len(done))
    status = np.array([t.status for t in done], dtype=object)
    raw = _floats([t.value for t in done])
    finished = (status == "finished") & np.isfinite(raw)
    value = np.where(finished, raw, np.nan)
    good = -value if minimize else value
    columns: dict[str, Column] = {}
    params = [t.params for t in done]
    for name, values in zip(space, _param_lists(params, list(space)), strict=True):
        col = _column(name, space[name], values)
        if col is not None:
            columns[name] = col
    return TrialColumns(ids=ids, status=status, value=value, finished=finished, good=good,
                        columns=columns, minimize=minimize, n_excluded=n_excluded,
                        params=params)


def _param_lists(params: list[dict[str, Any]], names: list[str]) -> list[list[Any]]:
    """One list of values per parameter (``None`` where a trial lacks it)."""
    out = []
    for n in names:
        try:  # indexing is quicker than .get; trials from before a parameter existed lack it
            out.append([p[n] for p in params])
        except KeyError:
            out.append([p.get(n) for p in params])
    return out


def _column(name: str, param: Param, vals: list[Any]) -> Column | None:
    numeric_param = isinstance(param, Int | Float)
    if isinstance(param, Fixed):
        # Tuned before being fixed? Then it still explains part of the history.
        try:
            distinct = set(vals)
        except TypeError:
            distinct = None
        if distinct is not None and len(distinct) <= 1 and all(
                type(v) is type(param.value) and v == param.value for v in distinct):
            return None
        keys = {_vkey(v) for v in vals}
        keys.add(_vkey(param.value))
        if len(keys) < 2:
            return None
        numeric_param = all(_is_number(v) for v in vals) and _is_number(param.value)
    if numeric_param:
        log = bool(getattr(param, "log", False))
        col = Column(name=name, param=param, kind="numeric", log=log)
        x = _floats(vals)
        col.values = x
        col.axis = col.axis_of(x)
        bounds = [float(param.low), float(param.high)] if isinstance(param, Int | Float) \
            else [float(param.value)]  # type: ignore[union-attr]
        ends = col.to_axis(bounds)
        seen = col.axis[np.isfinite(col.axis)]
        lo = min(float(np.min(ends)), float(seen.min()) if len(seen) else math.inf)
        hi = max(float(np.max(ends)), float(seen.max()) if len(seen) else -math.inf)
        col.lo, col.hi = lo, hi if hi > lo else lo + 1.0
        return col
    levels = list(param.values) if isinstance(param, Choice) else []
    # fast path: exact (class, value) keys, as Choice tells 1, 1.0 and True apart; the
    # rare rest (numpy scalars, unhashable or unseen values) goes through _vkey
    level_types = set(map(type, levels))
    try:
        if len(level_types) == 1 and set(map(type, vals)) <= level_types:
            # one type throughout: plain equality is exact
            plain = {v: i for i, v in enumerate(levels)}
            codes = np.array([plain.get(v, -1) for v in vals], dtype=np.int64)
        else:
            exact = {(v.__class__, v): i for i, v in enumerate(levels)}
            codes = np.array([exact.get((v.__class__, v), -1) for v in vals], dtype=np.int64)
    except TypeError:
        codes = np.full(len(vals), -1, dtype=np.int64)
    index = {_vkey(v): i for i, v in enumerate(levels)}
    for i in np.flatnonzero(codes < 0):
        v = vals[i]
        k = _vkey(v)
        c = index.get(k)
        if c is None:
            if v is None and isinstance(param, Choice) and not param.contains(None):
                continue
            c = index[k] = len(levels)
            levels.append(v)
        codes[i] = c
    return Column(name=name, param=param, kind="categorical", codes=codes, levels=levels)


# ----------------------------------------------------------------------------------
# Importance
# ----------------------------------------------------------------------------------
@dataclasses.dataclass
class Importance:
    """Relative importance per parameter (non-negative, summing to 1 when any is
    positive), where it came from, and how much of the score it explains.

    ``explained`` is the held-out R² of the model-free forest (``None`` for a
    strategy's own estimate): below ``0.05`` no parameter explains the score yet and
    ``reliable`` is false, so a chart says so instead of drawing noise as bars.
    """

    values: dict[str, float]
    source: str
    explained: float | None = None
    reliable: bool = True
    n_trials: int = 0
    seconds: float = 0.0

    def ranked(self) -> list[tuple[str, float]]:
        return sorted(self.values.items(), key=lambda kv: -kv[1])

    def to_frame(self) -> Any:
        import pandas as pd

        rows = [{"param": n, "importance": v, "source": self.source}
                for n, v in self.ranked()]
        return pd.DataFrame(rows, columns=["param", "importance", "source"])


def _normalised(raw: Mapping[str, float]) -> dict[str, float]:
    clipped = {k: max(float(v), 0.0) if math.isfinite(float(v)) else 0.0
               for k, v in raw.items()}
    total = sum(clipped.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in clipped.items()}


def _from_strategy(strategy: Any, space: Space, trials: Sequence[Trial],
                   names: Sequence[str]) -> dict[str, float] | None:
    fn = getattr(strategy, "importance", None)
    if not callable(fn):
        return None
    history = [t for t in trials if t.status in DONE_STATUSES]
    try:
        got = fn(space, history)
    except Exception:  # noqa: BLE001 - a strategy's estimate is optional; fall back
        return None
    if got is None:
        return None
    if isinstance(got, Mapping):
        raw = {str(k): float(v) for k, v in got.items()}
    else:
        arr = np.asarray(got, dtype=float).ravel()
        if len(arr) != len(space.tunable):
            return None
        raw = dict(zip(space.tunable, arr.tolist(), strict=True))
    raw = {n: raw.get(n, 0.0) for n in names}
    return _normalised(raw) if raw else None


def importance(trials: Sequence[Trial], space: Space, minimize: bool = True, *,
               strategy: Any = None, max_samples: int = MAX_IMPORTANCE_SAMPLES,
               seed: int = 0, excluded: Collection[int] = (),
               columns: TrialColumns | None = None) -> Importance:
    """Which parameters the score depends on.

    If ``strategy`` has an ``importance(space, history)`` method that returns a mapping
    ``{param: weight}`` (or one weight per tunable parameter), that is used (e.g. a
    Gaussian process's inverse length scales); one that raises or returns ``None`` (no
    model yet) falls through to the model-free estimate:

    1. the finished trials' scores, oriented so that better is higher, are clipped to
       their 2nd..98th percentiles (a few diverged runs with a loss of 1e9 do not decide
       the fit; magnitudes are kept, since importance is about how much the score moves);
    2. parameters are encoded on ``[0, 1]`` (log ranges in log space, choices by index);
    3. an extra-trees forest is fitted, and each parameter's importance is its total
       effect over the *search space* (sampled uniformly, as fANOVA does): how much the
       forest's prediction moves when only that parameter is redrawn (Jansen's
       estimator), normalised to sum to 1. Measured over the space rather than over the
       trials, a strategy that crowds its trials near the best learning rate does not
       make the learning rate look unimportant (with held-out permutation importance a
       Bayes scan ranked dropout above it). ``explained`` is the forest's held-out R²
       (three folds below 300 trials, one third held out above). At most
       ``max_samples`` trials are used (a fixed-seed subsample), so the cost stops
       growing with the scan.

    Returns an :class:`Importance`; ``reliable`` is false below 10 finished trials or
    when the forest explains less than 5% of the held-out variance.
    """
    t0 = time.perf_counter()
    cols = columns if columns is not None else trial_columns(trials, space, minimize,
                                                             excluded)
    out = _importance(cols, space, trials, strategy, max_samples, seed, excluded)
    out.seconds = time.perf_counter() - t0
    return out


def _importance(cols: TrialColumns, space: Space, trials: Sequence[Trial], strategy: Any,
                max_samples: int, seed: int, excluded: Collection[int]) -> Importance:
    names = list(cols.columns)
    if strategy is not None:
        skip = set(excluded)
        kept = [t for t in trials if t.id not in skip] if skip else trials
        got = _from_strategy(strategy, space, kept, names)
        if got is not None:
            return Importance(values=got, source=f"{getattr(strategy, 'name', 'strategy')} model",
                              n_trials=int(cols.finished.sum()))
    values, explained, n_used = _forest_importance(cols, names, max_samples, seed)
    reliable = explained is not None and explained >= 0.05 and n_used >= 10
    return Importance(values=values, source="forest (total effect)", explained=explained,
                      reliable=reliable, n_trials=n_used)


def _forest_importance(cols: TrialColumns, names: Sequence[str], max_samples: int,
                       seed: int) -> tuple[dict[str, float], float | None, int]:
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold

    idx = np.flatnonzero(cols.finished)
    if len(names) == 0 or len(idx) < 10:
        return dict.fromkeys(names, 0.0), None, len(idx)
    rng = np.random.default_rng(seed)
    if len(idx) > max_samples:
        idx = np.sort(rng.choice(idx, max_samples, replace=False))
    x = np.column_stack([cols.columns[n].unit()[idx] for n in names])
    good = cols.good[idx]
    y = np.clip(good, *np.quantile(good, [0.02, 0.98]))
    if np.ptp(y) == 0:
        return dict.fromkeys(names, 0.0), 0.0, len(idx)
    folds = KFold(3, shuffle=True, random_state=seed)
    splits = list(folds.split(x)) if len(idx) < 300 else [next(iter(folds.split(x)))]
    pred = np.full(len(idx), np.nan)
    # the search space, sampled uniformly (choices at their codes), twice: A and B
    m = 512
    a_b = rng.random((2, m, len(names)))
    for j, n in enumerate(names):
        c = cols.columns[n]
        if c.kind == "categorical":
            k = len(c.levels)
            a_b[:, :, j] = np.minimum(np.floor(a_b[:, :, j] * k), k - 1) / max(k - 1, 1)
    a, b = a_b
    blocks = [a]
    for j in range(len(names)):
        mixed = a.copy()
        mixed[:, j] = b[:, j]
        blocks.append(mixed)
    # Is there any signal? Held-out predictions of forests fitted without those trials.
    for train, test in splits:
        check = ExtraTreesRegressor(n_estimators=48 // (len(splits) + 1), min_samples_leaf=3,
                                    max_features=None, random_state=seed, n_jobs=1)
        pred[test] = check.fit(x[train], y[train]).predict(x[test])
    held = np.isfinite(pred)
    explained = float(r2_score(y[held], pred[held]))
    # The model of the whole space from every trial (a Bayes scan's few early trials far
    # from the optimum are what tells the model the edges are bad: keep them all).
    # Trees: per-tree overhead, not data, is most of the cost at these sizes.
    forest = ExtraTreesRegressor(n_estimators=48, min_samples_leaf=3, max_features=None,
                                 random_state=seed, n_jobs=1).fit(x, y)
    f = forest.predict(np.vstack(blocks)).reshape(len(blocks), m)
    var = f[0].var()
    # Jansen's total-effect estimate: how much the prediction moves when only parameter
    # j is redrawn, as a share of its variance over the space
    total = ((f[0] - f[1:]) ** 2).mean(axis=1) / (2 * var) if var > 0 else \
        np.zeros(len(names))
    return _normalised(dict(zip(names, total.tolist(), strict=True))), explained, len(idx)


# ----------------------------------------------------------------------------------
# analyze(): the tables
# ----------------------------------------------------------------------------------
@dataclasses.dataclass
class Analysis:
    """The result of :func:`analyze`: three DataFrames and the counts behind them.

    - ``correlation``: one row per numeric (and boolean) parameter: ``n`` finished
      trials, ``spearman`` rank correlation with the score and its ``p_value``,
      ``pearson`` on the parameter's axis (log10 of the value for log ranges), and
      ``better_when`` ("higher" / "lower" / "" when not significant at 5%) read with
      the scan's direction. Spearman depends only on order, so it is the same on a log
      or linear axis; Pearson is not, hence the log axis for log ranges.
    - ``by_value``: one row per value of each choice, per value of a discrete
      parameter with at most 20 values, per fifth of each continuous range (on its
      axis): trials ``n`` (ended), ``finished``, ``failed``, ``mean`` and ``best``
      score, ``best_trial``, and ``top_share``, the share of its finished trials that
      are in the scan's top 20%.
    - ``importance``: :class:`Importance` as a frame (``param``, ``importance``,
      ``source``).
    """

    correlation: Any
    by_value: Any
    importance: Any
    importance_detail: Importance
    n_trials: int
    n_finished: int
    n_excluded: int
    seconds: float

    def __repr__(self) -> str:
        return (f"Analysis of {self.n_trials} trials ({self.n_finished} finished) in "
                f"{self.seconds * 1e3:.0f} ms\n\ncorrelation:\n{self.correlation}\n\n"
                f"importance ({self.importance_detail.source}):\n{self.importance}\n\n"
                f"by value:\n{self.by_value}")

    def _repr_html_(self) -> str:
        return (f"<p>{self.n_trials} trials ({self.n_finished} finished)</p>"
                f"<h4>Correlation with the score</h4>{self.correlation.to_html()}"
                f"<h4>Importance ({self.importance_detail.source})</h4>"
                f"{self.importance.to_html()}<h4>Score by value</h4>"
                f"{self.by_value.to_html()}")


def analyze(trials: Sequence[Trial], space: Space, minimize: bool = True, *,
            strategy: Any = None, excluded: Collection[int] = (),
            columns: TrialColumns | None = None, bins: int = 5,
            max_levels: int = 20, seed: int = 0) -> Analysis:
    """Per-parameter tables on all ended trials (see :class:`Analysis`).

    ``excluded`` trial ids are left out of every table. ``strategy`` is asked for its
    own importance first (see :func:`importance`).
    """
    t0 = time.perf_counter()
    cols = columns if columns is not None else trial_columns(trials, space, minimize,
                                                             excluded)
    imp = _importance(cols, space, trials, strategy, MAX_IMPORTANCE_SAMPLES, seed, excluded)
    top, _ = cols.top_mask(0.2)
    return Analysis(correlation=_correlation(cols), by_value=_by_value(cols, top, bins,
                                                                       max_levels),
                    importance=imp.to_frame(), importance_detail=imp, n_trials=cols.n,
                    n_finished=int(cols.finished.sum()), n_excluded=cols.n_excluded,
                    seconds=time.perf_counter() - t0)


def _correlation(cols: TrialColumns) -> Any:
    import pandas as pd
    from scipy.stats import spearmanr

    names, xs = [], []
    for name, c in cols.columns.items():
        if c.kind == "numeric":
            assert c.axis is not None
            x = c.axis
        elif len(c.levels) == 2 and isinstance(c.param, Bool):
            assert c.codes is not None
            x = np.where(c.codes < 0, np.nan, np.array(c.levels, dtype=float)[np.maximum(
                c.codes, 0)])
        else:
            continue
        names.append(name)
        xs.append(x)
    rows = []
    fin = cols.finished
    complete = fin & np.all(np.isfinite(np.column_stack(xs)), axis=1) if xs else fin
    ok_all = [bool(np.array_equal(fin & np.isfinite(x), complete)) for x in xs]
    varies = [len(x[complete]) >= 3 and np.ptp(x[complete]) > 0 for x in xs]
    rho_all = p_all = None
    if xs and all(ok_all) and all(varies) and complete.sum() >= 3 \
            and np.ptp(cols.value[complete]) > 0:
        # the usual case: one call ranks every column once
        table = np.column_stack([cols.value[complete], *(x[complete] for x in xs)])
        got = spearmanr(table)
        rho_all = np.atleast_2d(got.statistic)[0, 1:] if len(xs) > 1 else \
            np.array([got.statistic])
        p_all = np.atleast_2d(got.pvalue)[0, 1:] if len(xs) > 1 else np.array([got.pvalue])
    for j, (name, x) in enumerate(zip(names, xs, strict=True)):
        ok = fin & np.isfinite(x)
        xj, yj = x[ok], cols.value[ok]
        row: dict[str, Any] = {"param": name, "n": int(ok.sum()), "spearman": math.nan,
                               "p_value": math.nan, "pearson": math.nan, "better_when": ""}
        if len(xj) >= 3 and np.ptp(xj) > 0 and np.ptp(yj) > 0:
            if rho_all is not None and p_all is not None:
                rho, p = float(rho_all[j]), float(p_all[j])
            else:
                got = spearmanr(xj, yj)
                rho, p = float(got.statistic), float(got.pvalue)
            row["spearman"], row["p_value"] = rho, p
            row["pearson"] = float(np.corrcoef(xj, yj)[0, 1])
            if p < 0.05:
                up_is_better = (rho < 0) if cols.minimize else (rho > 0)
                row["better_when"] = "higher" if up_is_better else "lower"
        rows.append(row)
    return pd.DataFrame(rows, columns=["param", "n", "spearman", "p_value", "pearson",
                                       "better_when"])


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _by_value(cols: TrialColumns, top: np.ndarray, bins: int, max_levels: int) -> Any:
    import pandas as pd

    columns = ["param", "value", "n", "finished", "failed", "mean", "best", "best_trial",
               "top_share"]
    parts: dict[str, list[Any]] = {k: [] for k in columns}
    fin = cols.finished.astype(float)
    failed = (cols.status == "failed").astype(float)
    topf = top.astype(float)
    value0 = np.where(cols.finished, cols.value, 0.0)
    for name, c in cols.columns.items():
        if c.kind == "categorical":
            assert c.codes is not None
            codes, labels = c.codes, list(c.levels)
        else:
            assert c.values is not None and c.axis is not None
            ok = np.isfinite(c.values)
            size = c.param.size() if isinstance(c.param, Int | Float) else None
            discrete = (size is not None and size <= max_levels) or isinstance(c.param, Fixed)
            distinct = np.unique(c.values[ok]) if discrete else np.empty(0)
            if discrete and len(distinct) <= max_levels:
                labels = [int(v) if isinstance(c.param, Int) else float(v) for v in distinct]
                codes = np.where(ok, np.searchsorted(distinct, np.where(ok, c.values, 0)), -1)
            else:
                edges = np.linspace(c.lo, c.hi, bins + 1)
                codes = np.clip(np.searchsorted(edges, c.axis, side="right") - 1, 0, bins - 1)
                codes = np.where(np.isfinite(c.axis), codes, -1)
                labels = [f"{_fmt(c.from_axis(a))}–{_fmt(c.from_axis(b))}"
                          for a, b in itertools.pairwise(edges)]
        k = len(labels)
        have = codes >= 0
        cs = codes[have]
        n = np.bincount(cs, minlength=k)
        n_fin = np.bincount(cs, weights=fin[have], minlength=k)
        n_top = np.bincount(cs, weights=topf[have], minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(cs, weights=value0[have], minlength=k) / n_fin
        # best finished trial per value, without sorting: the best score per value,
        # then the first finished trial of each value that has it
        good = np.where(cols.finished, cols.good, -np.inf)
        best_good = np.full(k, -np.inf)
        np.maximum.at(best_good, cs, good[have])
        hit = np.flatnonzero(have & cols.finished)
        hit = hit[good[hit] == best_good[codes[hit]]]
        firsts_codes, first_pos = np.unique(codes[hit], return_index=True)
        best = np.full(k, np.nan)
        best_trial = np.full(k, -1, dtype=np.int64)
        best[firsts_codes] = cols.value[hit[first_pos]]
        best_trial[firsts_codes] = cols.ids[hit[first_pos]]
        parts["param"] += [name] * k
        parts["value"] += labels
        parts["n"] += n.tolist()
        parts["finished"] += n_fin.astype(int).tolist()
        parts["failed"] += np.bincount(cs, weights=failed[have], minlength=k).astype(int).tolist()
        parts["mean"] += mean.tolist()
        parts["best"] += best.tolist()
        parts["best_trial"] += [None if b < 0 else int(b) for b in best_trial]
        with np.errstate(invalid="ignore", divide="ignore"):
            parts["top_share"] += np.where(n_fin > 0, n_top / np.maximum(n_fin, 1),
                                           np.nan).tolist()
    frame = pd.DataFrame(parts, columns=columns)
    frame["best_trial"] = frame["best_trial"].astype("Int64")
    return frame


# ----------------------------------------------------------------------------------
# Narrowing proposals
# ----------------------------------------------------------------------------------
@dataclasses.dataclass
class Suggestion:
    """A proposed narrowing of one parameter, with the numbers behind it.

    ``narrow`` holds the exact arguments: ``scan.narrow(**suggestion.narrow)``.
    ``evidence`` has one entry per cut-away region: ``side`` ("above", "below" or
    "value"), the ``boundary`` (or the choice ``value``), the finished ``tries`` there,
    how many of them reached the top (always 0), ``failed`` trials there, ``chance``
    (how likely zero top trials in that many tries would be if the region were as good
    as the scan on average: ``(1 - top_fraction) ** tries``), and for ranges the number
    of equal ``parts`` the region was split into and the fewest tries in any of them.
    """

    param: str
    narrow: dict[str, Any]
    message: str
    evidence: list[dict[str, Any]]
    top_fraction: float
    cutoff: float
    min_tries: int
    n_finished: int

    @property
    def key(self) -> str:
        """Identity of the proposal (to remember a dismissal until the evidence changes)."""
        return repr(sorted(self.narrow.items()))


def _round_sig(x: float, up: bool, digits: int = 2) -> float:
    """``x`` rounded to ``digits`` significant digits, away from the kept region."""
    if x == 0 or not math.isfinite(x):
        return x
    r = float(f"{x:.{digits}g}")
    step = 10.0 ** (math.floor(math.log10(abs(r))) - digits + 1)
    if up and r < x:
        r = float(f"{r + step:.{digits}g}")
    elif not up and r > x:
        r = float(f"{r - step:.{digits}g}")
    return r


def _incumbent(cols: TrialColumns, space: Space) -> dict[str, Any]:
    best = cols.params[int(np.argmax(np.where(cols.finished, cols.good, -np.inf)))]
    fill = space.decode([0.5] * space.ndim)
    return {n: best.get(n, fill[n]) for n in space}


def _optimistic(predict: Predict, points: list[dict[str, Any]], minimize: bool,
                z: float) -> np.ndarray:
    mean, std = _checked_prediction(predict, points)
    return mean - z * std if minimize else -(mean + z * std)


def suggest_narrowing(trials: Sequence[Trial], space: Space, minimize: bool = True, *,
                      top_fraction: float = 0.2, alpha: float = 0.05, parts: int = 10,
                      min_per_part: int = 5, min_finished: int = 20,
                      predict: Predict | None = None, z: float = 2.0,
                      excluded: Collection[int] = (),
                      columns: TrialColumns | None = None) -> list[Suggestion]:
    """Narrowings the evidence supports, most strongly supported first.

    The rule (conservative by construction: every condition must hold):

    - At least ``min_finished`` trials have finished. The *top* trials are the best
      ``top_fraction`` of them (ties at the cut-off count as top).
    - **Ranges** (Int / Float): a candidate cut keeps ``[low, b]`` (or ``[b, high]``)
      with ``b`` rounded *outward* to two significant digits (integers for Int); it
      removes the region beyond ``b`` inside the current range. The region must

      1. hold **no top trial**, and ``b`` must lie at least half a part (1/20 of the
         range, on the log axis for log ranges) beyond every top trial, so the
         neighbourhood of the best is never cut;
      2. hold at least ``min_tries`` finished trials, the smallest number for which
         seeing no top trial would happen by chance less than ``alpha`` (family-wise,
         Bonferroni over every side and choice value tested) if the region were as
         good as the scan on average: ``(1 - top_fraction) ** min_tries < alpha / tests``
         (and never fewer than 10);
      3. be **explored everywhere**: split into equal parts of 1/``parts`` of the range,
         each part holds at least ``min_per_part`` finished trials, and no stretch of
         it wider than one part lacks a trial; a region with a gap (too few trials
         there to tell) is not cut;
      4. when a surrogate ``predict`` is given, not be a place the model is still
         uncertain about: along the region (the other parameters at the incumbent)
         its optimistic value (mean ∓ ``z`` standard deviations) never reaches the top
         cut-off.

      The largest region that passes is proposed; lower and upper cuts of one
      parameter are combined into one proposal.
    - **Choices**: a value is dropped when its finished trials (at least
      ``min_tries``) hold no top trial, it is not the best trial's value, and (with a
      surrogate) the optimistic prediction at the incumbent with that value does not
      reach the cut-off. At least one value is always kept.

    The best trial is never cut away (it is a top trial), and every proposal is checked
    to be a valid ``space.narrow`` that still contains it. Trials in ``excluded`` are
    ignored; failed and pruned trials are not counted as tries (a failure may be a bug,
    not evidence about the region), only reported.
    """
    if not 0 < top_fraction < 1:
        raise ValueError(f"top_fraction must be between 0 and 1, got {top_fraction!r}")
    cols = columns if columns is not None else trial_columns(trials, space, minimize,
                                                             excluded)
    n_fin = int(cols.finished.sum())
    if n_fin < max(min_finished, 2):
        return []
    top, cutoff = cols.top_mask(top_fraction)
    incumbent = _incumbent(cols, space)
    ranged = [n for n in space.tunable if isinstance(space[n], Int | Float) and n in cols.columns]
    choices = [n for n in space.tunable if isinstance(space[n], Choice) and n in cols.columns
               and len(space[n].values) > 1]  # type: ignore[attr-defined]
    tests = 2 * len(ranged) + sum(len(space[n].values) for n in choices)  # type: ignore[attr-defined]
    min_tries = max(10, math.ceil(math.log(alpha / max(tests, 1)) / math.log(1 - top_fraction)))
    failed = cols.status == "failed"
    out: list[Suggestion] = []

    def make(name: str, narrow: dict[str, Any], message: str,
             evidence: list[dict[str, Any]]) -> None:
        try:
            new = space.narrow(**narrow)
        except (TypeError, ValueError):
            return
        if space[name].contains(incumbent[name]) and not new[name].contains(incumbent[name]):
            return  # belt and braces: the best trial's value must survive
        out.append(Suggestion(param=name, narrow=narrow, message=message, evidence=evidence,
                              top_fraction=top_fraction, cutoff=cutoff, min_tries=min_tries,
                              n_finished=n_fin))

    pct = f"{top_fraction:.0%}"
    for name in ranged:
        p = space[name]
        assert isinstance(p, Int | Float)
        c = cols.columns[name]
        assert c.axis is not None
        a_lo, a_hi = (float(v) for v in c.to_axis([p.low, p.high]))
        width = a_hi - a_lo
        if not width > 0:
            continue
        part = width / parts
        tol = 1e-9 * max(1.0, abs(a_lo), abs(a_hi))
        inside = cols.finished & (c.axis >= a_lo - tol) & (c.axis <= a_hi + tol)
        top_x = c.axis[inside & top]
        if len(top_x) == 0:
            continue   # the top trials lie outside the current range: nothing to judge
        cuts: dict[str, dict[str, Any]] = {}
        for side in ("above", "below"):
            best_cut = None
            # largest region first (lowest boundary for "above", highest for "below"):
            # the first that passes is the proposal
            order = range(1, parts) if side == "above" else range(parts - 1, 0, -1)
            for k in order:
                raw = a_lo + k * part
                if side == "above" and raw < top_x.max() + part / 2:
                    continue
                if side == "below" and raw > top_x.min() - part / 2:
                    continue
                value = c.from_axis(raw)
                if isinstance(p, Int):
                    value = math.ceil(value - 1e-9) if side == "above" else math.floor(value + 1e-9)
                else:
                    value = _round_sig(value, up=side == "above")
                b = float(c.to_axis([value])[0])
                if not (a_lo + tol < b < a_hi - tol):
                    continue
                if side == "above":
                    region = inside & (c.axis > b + tol)
                    lo_end, hi_end = b, a_hi
                else:
                    region = inside & (c.axis < b - tol)
                    lo_end, hi_end = a_lo, b
                tries = int(region.sum())
                if tries < min_tries or int((region & top).sum()) > 0:
                    continue
                n_parts = max(1, round((hi_end - lo_end) / part))
                counts, _ = np.histogram(c.axis[region], bins=n_parts, range=(lo_end, hi_end))
                if counts.min() < min_per_part:
                    continue
                # and no empty stretch wider than a part, even across two parts' border
                stops = np.concatenate([[lo_end], np.sort(c.axis[region]), [hi_end]])
                if np.max(np.diff(stops)) > part + tol:
                    continue
                if predict is not None:
                    probe = np.linspace(lo_end, hi_end, 12)
                    probe = probe[(probe > b + tol) if side == "above" else (probe < b - tol)]
                    vals = [p.decode(float(p.encode(c.from_axis(a)))) for a in probe]
                    pts = [{**incumbent, name: v} for v in vals]
                    if len(pts) and np.any(_optimistic(predict, pts, minimize, z)
                                           <= (cutoff if minimize else -cutoff)):
                        continue
                within = (c.axis >= a_lo - tol) & (c.axis <= a_hi + tol)
                beyond = (c.axis > b + tol) if side == "above" else (c.axis < b - tol)
                best_cut = {"side": side, "boundary": value, "tries": tries, "top": 0,
                            "failed": int((failed & within & beyond).sum()),
                            "chance": (1 - top_fraction) ** tries, "parts": n_parts,
                            "min_per_part": int(counts.min())}
                break
            if best_cut is not None:
                cuts[side] = best_cut
        if not cuts:
            continue
        lo = cuts["below"]["boundary"] if "below" in cuts else _plain_num(p, p.low)
        hi = cuts["above"]["boundary"] if "above" in cuts else _plain_num(p, p.high)
        evidence = [cuts[s] for s in ("below", "above") if s in cuts]
        span = f"{_fmt(lo)}…{_fmt(hi)}"
        if len(evidence) == 1:
            e = evidence[0]
            message = (f"{name} {e['side']} {_fmt(e['boundary'])} has not produced a trial in "
                       f"the top {pct} in {e['tries']} tries: narrow {name} to {span}?")
        else:
            lo_e, hi_e = evidence
            message = (f"{name} below {_fmt(lo_e['boundary'])} ({lo_e['tries']} tries) and "
                       f"above {_fmt(hi_e['boundary'])} ({hi_e['tries']} tries) have not "
                       f"produced a trial in the top {pct}: narrow {name} to {span}?")
        make(name, {name: (lo, hi)}, message, evidence)

    for name in choices:
        p = space[name]
        assert isinstance(p, Choice)
        c = cols.columns[name]
        assert c.codes is not None
        drop: list[dict[str, Any]] = []
        best_code = p.index(incumbent[name]) if p.contains(incumbent[name]) else -1
        for i, v in enumerate(p.values):
            if i == best_code:
                continue
            here = cols.finished & (c.codes == i)
            tries = int(here.sum())
            if tries < min_tries or int((here & top).sum()) > 0:
                continue
            if predict is not None and np.any(
                    _optimistic(predict, [{**incumbent, name: v}], minimize, z)
                    <= (cutoff if minimize else -cutoff)):
                continue
            drop.append({"side": "value", "value": v, "tries": tries, "top": 0,
                         "failed": int((failed & (c.codes == i)).sum()),
                         "chance": (1 - top_fraction) ** tries})
        if not drop:
            continue
        gone = [d["value"] for d in drop]
        keep = [v for v in p.values if not any(type(v) is type(g) and v == g for g in gone)]
        if not keep:
            continue
        if len(drop) == 1:
            d = drop[0]
            what = f"{name}={d['value']!r} has not produced a trial in the top {pct} in " \
                   f"{d['tries']} tries"
        else:
            what = (f"{name} = " + ", ".join(f"{d['value']!r} ({d['tries']} tries)" for d in drop)
                    + f" have not produced a trial in the top {pct}")
        action = f"fix {name} to {keep[0]!r}" if len(keep) == 1 else f"keep {name} in {keep!r}"
        make(name, {name: keep}, f"{what}: {action}?", drop)

    out.sort(key=lambda s: min(e["chance"] for e in s.evidence))
    return out


def _plain_num(p: Param, x: float) -> Any:
    return int(x) if isinstance(p, Int) else float(x)


# ----------------------------------------------------------------------------------
# Belief along one parameter
# ----------------------------------------------------------------------------------
def _checked_prediction(predict: Predict,
                        points: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    got = predict(points)
    try:
        mean, std = got
    except (TypeError, ValueError):
        raise TypeError("predict(points) must return (mean, std), got "
                        f"{type(got).__name__}") from None
    mean = np.asarray(mean, dtype=float).ravel()
    std = np.asarray(std, dtype=float).ravel()
    if mean.shape != (len(points),) or std.shape != (len(points),):
        raise ValueError(f"predict(points) returned {mean.size} means and {std.size} standard "
                         f"deviations for {len(points)} points; return one of each per point")
    return mean, np.maximum(std, 0.0)


def band_values(param: Param, n: int = 60) -> list[Any]:
    """Values along one parameter to evaluate a belief at: evenly spaced on its axis
    (in log space for log ranges), every value of a discrete parameter with at most
    ``n``, each value of a choice."""
    if isinstance(param, Choice):
        return list(param.values)
    if isinstance(param, Fixed):
        return [param.value]
    assert isinstance(param, Int | Float)
    size = param.size()           # None for a continuous Float; counted, not listed
    if size is not None and size <= n:
        return list(param.grid() or [])
    if param.log:
        raw = np.exp(np.linspace(math.log(param.low), math.log(param.high), n))
    else:
        raw = np.linspace(param.low, param.high, n)
    if size is None:
        return [float(v) for v in raw]
    out: list[Any] = []
    for v in raw:   # integers and steps: each sample snapped to a legal value, once
        legal = param.decode(float(param.encode(v)))
        if not out or legal != out[-1]:
            out.append(legal)
    return out


def belief_band(predict: Predict, space: Space, param: str, incumbent: Mapping[str, Any], *,
                next_point: Mapping[str, Any] | None = None, n: int = 60,
                z: float = 2.0) -> dict[str, Any]:
    """A surrogate's mean and ``mean ± z·std`` band along ``param``, the other
    parameters held at ``incumbent`` (usually the best trial's params).

    ``predict(points)`` takes full points of the space (dicts) and returns the mean and
    standard deviation of the score there, in the score's units (e.g.
    ``functools.partial(bayes.predict, space, history)`` or :func:`fit_surrogate`).
    Ranges are sampled evenly on their axis (log space for log ranges), integers and
    discrete values on their own values, choices at each value (``x`` is then the
    value's index and ``labels`` its text), as the parameter-vs-score chart lays them
    out (``chart_data.param_axis``). Everything is predicted in one call.

    Returns ``x``, ``mean``, ``std``, ``lower``, ``upper`` (numpy arrays), ``labels``,
    ``incumbent`` (its ``x`` and prediction) and ``next`` (the same for ``next_point``,
    whose other parameters need not equal the incumbent's, or ``None``).
    """
    if param not in space:
        raise KeyError(f"no parameter {param!r}; the space has {list(space)}")
    p = space[param]
    if not p.tunable:
        raise ValueError(f"parameter {param!r} is fixed; a belief band needs a tunable one")
    missing = [k for k in space if k not in incumbent]
    if missing:
        raise ValueError(f"incumbent lacks {missing}; pass a full point (e.g. scan.best.params)")
    base = {k: incumbent[k] for k in space}
    values = band_values(p, n)
    points = [{**base, param: v} for v in values] + [base]
    if next_point is not None:
        points.append(dict(next_point))
    mean, std = _checked_prediction(predict, points)

    def coord(v: Any) -> float:
        if isinstance(p, Choice):
            return float(p.index(v)) if p.contains(v) else math.nan
        return float(v)

    x = np.array([coord(v) for v in values], dtype=float)
    k = len(values)

    def at(i: int, point: Mapping[str, Any]) -> dict[str, Any]:
        return {"x": coord(point[param]), "mean": float(mean[i]), "std": float(std[i]),
                "lower": float(mean[i] - z * std[i]), "upper": float(mean[i] + z * std[i]),
                "params": dict(point)}

    return {"param": param, "x": x, "mean": mean[:k], "std": std[:k],
            "lower": mean[:k] - z * std[:k], "upper": mean[:k] + z * std[:k],
            "labels": [str(v) for v in p.values] if isinstance(p, Choice) else [],
            "log": bool(getattr(p, "log", False)), "incumbent": at(k, base),
            "next": at(k + 1, points[k + 1]) if next_point is not None else None}


class Surrogate:
    """A scikit-learn Gaussian process fitted on the trials (see :func:`fit_surrogate`);
    call it (or its :meth:`predict`) with points to get ``(mean, std)`` of the score."""

    def __init__(self, gp: Any, cols: TrialColumns, names: list[str], n_trials: int) -> None:
        self.gp = gp
        self._cols = cols
        self._names = names
        self.n_trials = n_trials

    def features(self, points: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return _gp_features(self._cols, self._names, self._cols.point_matrix(points,
                                                                             self._names))

    def predict(self, points: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        if len(points) == 0:
            return np.empty(0), np.empty(0)
        mean, std = self.gp.predict(self.features(points), return_std=True)
        return np.asarray(mean, dtype=float), np.asarray(std, dtype=float)

    __call__ = predict


def _gp_features(cols: TrialColumns, names: Sequence[str], unit: np.ndarray) -> np.ndarray:
    """Unit-cube columns with each choice one-hot (a GP should not read an order into
    ``["relu", "elu", "gelu"]``)."""
    parts = []
    for j, n in enumerate(names):
        c = cols.columns[n]
        if c.kind == "categorical" and len(c.levels) > 2:
            k = len(c.levels)
            codes = np.rint(unit[:, j] * (k - 1)).astype(int)
            onehot = (codes[:, None] == np.arange(k)[None, :]).astype(float)
            parts.append(np.where(unit[:, j:j + 1] < 0, 0.0, onehot))
        else:
            parts.append(unit[:, j:j + 1])
    return np.hstack(parts) if parts else np.zeros((len(unit), 0))


def fit_surrogate(trials: Sequence[Trial], space: Space, minimize: bool = True, *,
                  max_samples: int = MAX_SURROGATE_SAMPLES, seed: int = 0,
                  excluded: Collection[int] = (),
                  columns: TrialColumns | None = None) -> Surrogate:
    """A Gaussian process (Matérn 5/2, one length scale per coordinate, a noise term)
    fitted on the finished trials' scores, for strategies that have no model of their
    own and for :func:`suggest_narrowing`'s uncertainty check.

    Above ``max_samples`` finished trials it is fitted on the best quarter of that
    budget plus a fixed-seed random subsample of the rest (what matters for a belief
    near the incumbent is kept; the cost stays bounded).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    cols = columns if columns is not None else trial_columns(trials, space, minimize,
                                                             excluded)
    names = list(cols.columns)
    idx = np.flatnonzero(cols.finished)
    if len(idx) < 2:
        raise ValueError(f"fit_surrogate needs at least 2 finished trials, got {len(idx)}")
    if len(idx) > max_samples:
        order = idx[np.argsort(-cols.good[idx], kind="stable")]
        n_best = max_samples // 4
        rng = np.random.default_rng(seed)
        rest = rng.choice(order[n_best:], max_samples - n_best, replace=False)
        idx = np.sort(np.concatenate([order[:n_best], rest]))
    features = _gp_features(cols, names, cols.unit_matrix(names)[idx])
    y = cols.value[idx]
    kernel = (ConstantKernel(1.0, (1e-3, 1e3))
              * Matern(length_scale=np.ones(features.shape[1]),
                       length_scale_bounds=(1e-2, 1e2), nu=2.5)
              + WhiteKernel(1e-2, (1e-6, 1e0)))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=0,
                                  random_state=seed)
    with warnings.catch_warnings():
        # length scales of parameters that do not matter run to their upper bound: that
        # is the answer (flat along them), not a failure worth a warning per redraw
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(features, y)
    return Surrogate(gp, cols, names, len(idx))


# ----------------------------------------------------------------------------------
# When a dashboard should recompute
# ----------------------------------------------------------------------------------
class RefreshSchedule:
    """When to recompute an expensive view (importance, belief band, proposals).

    Due when enough new trials have finished (``min_new``, and at least ``growth``
    times the count at the last computation, so the number of recomputations grows
    like the logarithm of the scan's length), or ``max_wait`` seconds have passed with
    something new; never sooner than the last computation's cost divided by
    ``max_share``, so these views take at most that share of the kernel's time.

    >>> s = RefreshSchedule(min_new=5)
    >>> s.due(3, now=0.0), s.due(5, now=0.0)
    (False, True)
    >>> s.done(5, cost=0.1, now=0.0); s.due(20, now=5.0)    # 0.1 s cost: wait 10 s
    False
    >>> s.due(20, now=10.0)
    True

    At the default 1% of the kernel's time, a scan of trials 2.4 ms apart pays at most
    about 0.024 ms per trial for these views (``bench/analyze.py``); a scan of real
    trials (seconds) sees them refreshed every few trials.
    """

    def __init__(self, *, min_new: int = 5, growth: float = 0.25, max_wait: float = 60.0,
                 max_share: float = 0.01) -> None:
        self.min_new, self.growth = int(min_new), float(growth)
        self.max_wait, self.max_share = float(max_wait), float(max_share)
        self.n_last = 0
        self.t_last = -math.inf
        self.cost_last = 0.0

    def due(self, n_finished: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        new = n_finished - self.n_last
        if new <= 0 or now - self.t_last < self.cost_last / self.max_share:
            return False
        if new >= max(self.min_new, self.growth * self.n_last):
            return True
        return math.isfinite(self.t_last) and now - self.t_last >= self.max_wait

    def done(self, n_finished: int, cost: float, now: float | None = None) -> None:
        self.n_last = int(n_finished)
        self.t_last = time.monotonic() if now is None else now
        self.cost_last = float(cost)
