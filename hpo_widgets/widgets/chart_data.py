"""What the dashboard's charts show, computed apart from drawing.

Plain numpy in, plain arrays and dicts out: every function here is tested without a
browser or a widget (``tests/test_chart_data.py``). The dashboard only copies the
results into bqplot marks. Sizes are bounded (``max_points``) so that what is sent to
the front end per redraw does not grow with the scan.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..space import Choice, Fixed, Float, Int, Param, Space
from ..trial import Trial
from ..values import label

__all__ = [
    "TrialSeries",
    "best_so_far",
    "curves_info",
    "decimate",
    "history_info",
    "param_axis",
    "param_info",
    "parcoords_dims",
    "parcoords_rows",
    "progress_info",
    "top_fraction_ranges",
    "top_rows",
]

#: Honesty columns that evaluate() adds to trials; the table shows them when present.
EVALUATION_COLUMNS = ("cv_mean", "cv_std", "test", "optimism", "optimism_expected")

#: Most points a scatter sends per redraw; beyond it the chart shows a decimated view.
MAX_POINTS = 600


class TrialSeries:
    """Finished trials as growable numpy columns, appended one trial at a time.

    Amortised O(1) per trial, so the dashboard's listener stays cheap however long
    the scan runs; charts read views of the filled part.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.n = 0
        cap = 256
        self._ids = np.empty(cap, dtype=np.int64)
        self._scores = np.empty(cap, dtype=float)
        self._values = np.empty((cap, len(self.names)), dtype=float)

    def append(self, trial_id: int, score: float, coords: Sequence[float]) -> None:
        if self.n == len(self._ids):
            cap = 2 * len(self._ids)
            self._ids = np.resize(self._ids, cap)
            self._scores = np.resize(self._scores, cap)
            self._values = np.resize(self._values, (cap, len(self.names)))
        self._ids[self.n] = trial_id
        self._scores[self.n] = score
        self._values[self.n] = coords
        self.n += 1

    @property
    def ids(self) -> np.ndarray:
        return self._ids[: self.n]

    @property
    def scores(self) -> np.ndarray:
        return self._scores[: self.n]

    @property
    def values(self) -> np.ndarray:
        return self._values[: self.n]

    def column(self, name: str) -> np.ndarray:
        return self._values[: self.n, self.names.index(name)]


def param_coord(param: Param, value: Any) -> float:
    """A parameter value as a number for charts: the value, or a choice's index."""
    if isinstance(param, Choice):
        try:
            return float(param.index(value))
        except ValueError:
            return math.nan
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def best_so_far(ids: np.ndarray, scores: np.ndarray, minimize: bool) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """The best-so-far step line, as its change points plus the last trial.

    Only where the best improves does the line need a vertex, so its size is the
    number of improvements (about log n for random search), not n.

    >>> x, y = best_so_far(np.array([0, 1, 2, 3]), np.array([3.0, 4.0, 1.0, 2.0]), True)
    >>> x.tolist(), y.tolist()
    ([0, 2, 3], [3.0, 1.0, 1.0])
    """
    if len(ids) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0)
    order = np.argsort(ids, kind="stable")
    i, s = ids[order], scores[order]
    run = np.minimum.accumulate(s) if minimize else np.maximum.accumulate(s)
    change = np.ones(len(run), dtype=bool)
    change[1:] = run[1:] != run[:-1]
    x, y = i[change], run[change]
    if x[-1] != i[-1]:  # extend the step to the latest trial
        x, y = np.append(x, i[-1]), np.append(y, run[-1])
    return x, y


def decimate(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS,
             keep: np.ndarray | None = None) -> np.ndarray:
    """Indices of at most ``max_points`` points (plus ``keep``) that sample a scatter fairly.

    Below the cap every point is kept. Above it, an even stride over the points in
    trial order: every region of the scan is shown in proportion, so the density a
    reader sees is the real one (keeping each bin's extremes instead draws structure
    that is not in the data). The lowest and highest y and the indices in ``keep``
    (e.g. the best trials) are always included.
    """
    n = len(x)
    if n <= max_points:
        return np.arange(n)
    sel = np.linspace(0, n - 1, max_points).astype(np.int64)
    finite = np.flatnonzero(np.isfinite(y))
    extremes = [finite[np.argmin(y[finite])], finite[np.argmax(y[finite])]] if len(finite) \
        else []
    extra = np.array(extremes, dtype=np.int64)
    if keep is not None and len(keep):
        extra = np.concatenate([extra, np.asarray(keep, dtype=np.int64)])
    return np.union1d(sel, extra)


def _best_indices(scores: np.ndarray, minimize: bool, k: int) -> np.ndarray:
    if len(scores) == 0:
        return np.empty(0, dtype=np.int64)
    k = min(k, len(scores))
    s = scores if minimize else -scores
    return np.argpartition(s, k - 1)[:k]


def history_info(series: TrialSeries, minimize: bool, max_points: int = MAX_POINTS,
                 excluded: Sequence[int] = ()) -> dict[str, np.ndarray]:
    """Score per trial (decimated) and the best-so-far line; ``excluded`` trials are
    drawn but never the best (the scan does not count them)."""
    ids, scores = series.ids, series.scores
    keep = _best_indices(scores, minimize, 20)
    sel = decimate(ids.astype(float), scores, max_points, keep)
    learnt = ~np.isin(ids, np.asarray(list(excluded), dtype=np.int64)) if len(excluded) \
        else slice(None)
    bx, by = best_so_far(ids[learnt], scores[learnt], minimize)
    return {"x": ids[sel], "y": scores[sel], "best_x": bx, "best_y": by,
            "n": np.array(len(ids))}


def param_axis(param: Param) -> dict[str, Any]:
    """How a parameter is laid out on a chart axis: scale kind, bounds, labels."""
    if isinstance(param, Choice):
        return {"kind": "choice", "min": -0.5, "max": len(param.values) - 0.5,
                "labels": [format_value(v) for v in param.values]}
    if isinstance(param, Fixed):
        v = param_coord(param, param.value)
        return {"kind": "linear", "min": v - 1 if math.isfinite(v) else 0.0,
                "max": v + 1 if math.isfinite(v) else 1.0, "labels": []}
    assert isinstance(param, Float | Int)
    return {"kind": "log" if param.log else ("int" if isinstance(param, Int) else "linear"),
            "min": float(param.low), "max": float(param.high), "labels": []}


def param_info(series: TrialSeries, name: str, minimize: bool,
               max_points: int = MAX_POINTS) -> dict[str, np.ndarray]:
    """One parameter against the score (decimated), for the parameter-vs-score chart."""
    x = series.column(name)
    y = series.scores
    ok = np.isfinite(x)
    x, y = x[ok], y[ok]
    keep = _best_indices(y, minimize, 20)
    sel = decimate(x, y, max_points, keep)
    return {"x": x[sel], "y": y[sel]}


def parcoords_dims(space: Space) -> list[dict[str, Any]]:
    """The axes of the parallel-coordinates chart: every tunable parameter."""
    dims = []
    for name in space.tunable:
        ax = param_axis(space[name])
        dims.append({"name": name, **ax})
    return dims


def parcoords_rows(trials: Iterable[Trial], space: Space) -> tuple[np.ndarray, np.ndarray,
                                                                    np.ndarray]:
    """(ids, values, scores) of finished trials, one column per tunable parameter."""
    names = space.tunable
    ids, vals, scores = [], [], []
    for t in trials:
        if t.status != "finished" or t.value is None:
            continue
        ids.append(t.id)
        scores.append(t.value)
        params = t.params
        vals.append([param_coord(space[n], params.get(n)) for n in names])
    return (np.array(ids, dtype=np.int64), np.array(vals, dtype=float).reshape(len(ids),
                                                                                len(names)),
            np.array(scores, dtype=float))


def curves_info(running: Sequence[Trial], finished: Sequence[Trial],
                live: dict[int, list[tuple[float, float]]], minimize: bool,
                n_best: int = 5, n_running: int = 5) -> dict[str, Any]:
    """Learning curves to draw: running trials (live reports) and the best finished ones.

    Returns padded 2-D arrays (NaN where a curve is shorter) as bqplot's Lines wants,
    with one label and one kind ("running" or "best") per curve.
    """
    series: list[tuple[str, str, list[tuple[float, float]]]] = []
    for t in list(running)[-n_running:]:
        pts = live.get(t.id) or list(t.curve)
        if pts:
            series.append((f"#{t.id} running", "running", pts))
    done = [t for t in finished if t.status == "finished" and t.value is not None and t.curve]
    done.sort(key=lambda t: t.value if minimize else -t.value)  # type: ignore[arg-type,operator]
    for t in done[:n_best]:
        series.append((f"#{t.id} {t.value:.4g}", "best", list(t.curve)))
    if not series:
        return {"x": np.zeros((0, 0)), "y": np.zeros((0, 0)), "labels": [], "kinds": []}
    # at least two columns: bqplot squeezes a (1, 1) array to a scalar and rejects it
    width = max(2, *(len(p) for _, _, p in series))
    x = np.full((len(series), width), np.nan)
    y = np.full((len(series), width), np.nan)
    for i, (_, _, pts) in enumerate(series):
        arr = np.asarray(pts, dtype=float)
        x[i, : len(arr)] = arr[:, 0]
        y[i, : len(arr)] = arr[:, 1]
        # bqplot draws NaN gaps; repeat the last point so short curves end cleanly
        x[i, len(arr):] = arr[-1, 0]
        y[i, len(arr):] = arr[-1, 1]
    return {"x": x, "y": y, "labels": [s[0] for s in series], "kinds": [s[1] for s in series]}


def top_rows(trials: Sequence[Trial], metric: str, minimize: bool, k: int = 10,
             sort_by: str | None = None, ascending: bool | None = None) -> list[dict[str, Any]]:
    """The top ``k`` finished trials as table rows, sorted by ``sort_by`` (default: score)."""
    done = [t for t in trials if t.status == "finished" and t.value is not None]
    if sort_by in (None, metric, "score"):
        asc = minimize if ascending is None else ascending
        done.sort(key=lambda t: t.value if asc else -t.value)  # type: ignore[operator]
    else:
        asc = True if ascending is None else ascending

        def key(t: Trial) -> tuple[int, Any]:
            if sort_by == "trial":
                v: Any = t.id
            elif sort_by == "duration":
                v = t.duration
            else:
                v = t.param(sort_by, t.metric(sort_by))
            return (v is None, v if isinstance(v, int | float) else str(v))

        done.sort(key=key, reverse=not asc)
    rows = []
    for t in done[:k]:
        row = {"trial": t.id, metric: t.value, **t.params, "duration": t.duration,
               "flags": t.metric("flags", "")}
        metrics = t.metrics
        for k in EVALUATION_COLUMNS:   # from KerasScan.evaluate(), when it has run
            if k in metrics:
                row[k] = metrics[k]
        rows.append(row)
    return rows


def top_fraction_ranges(trials: Sequence[Trial], space: Space, minimize: bool,
                        fraction: float = 0.1, min_trials: int = 3) -> dict[str, Any]:
    """Narrowing that keeps the region of the best ``fraction`` of finished trials.

    For ranges: from the lowest to the highest value among the top trials, widened by a
    tenth of that span on each side (in log units for log ranges), clipped to the
    current range. For choices: the values that appear among the top trials.
    Returns ``{}`` when fewer than ``min_trials`` trials have finished.
    """
    done = [t for t in trials if t.status == "finished" and t.value is not None
            and getattr(t, "excluded", None) is None]
    if len(done) < min_trials:
        return {}
    done.sort(key=lambda t: t.value if minimize else -t.value)  # type: ignore[operator]
    top = done[: max(min_trials, math.ceil(len(done) * fraction))]
    out: dict[str, Any] = {}
    for name in space.tunable:
        p = space[name]
        vals = [t.param(name) for t in top]
        if isinstance(p, Choice):
            keep = [v for v in p.values if any(p.contains(x) and p.index(x) == p.index(v)
                                               for x in vals)]
            if keep and len(keep) < len(p.values):
                out[name] = keep
            continue
        assert isinstance(p, Float | Int)
        nums = [float(v) for v in vals if isinstance(v, int | float) and p.contains(v)]
        if not nums:
            continue
        lo, hi = min(nums), max(nums)
        if p.log:
            a, b = math.log(lo), math.log(hi)
            pad = 0.1 * (b - a)
            lo, hi = math.exp(a - pad), math.exp(b + pad)
        else:
            pad = 0.1 * (hi - lo)
            lo, hi = lo - pad, hi + pad
        lo, hi = max(lo, p.low), min(hi, p.high)
        if isinstance(p, Int):
            lo, hi = math.floor(lo), math.ceil(hi)
            if hi - lo < 1:
                continue
        if hi <= lo:
            continue
        if lo > p.low or hi < p.high:
            out[name] = (lo, hi)
    return out


def progress_info(scan: Any) -> dict[str, Any]:
    """Numbers for the header: counts, progress, elapsed, ETA and the best trial."""
    c = scan.counts
    done = c["finished"] + c["failed"] + c["pruned"]
    total = scan.max_trials if scan.max_trials is not None else max(done + c["running"], 1)
    best = scan.best
    return {"done": done, "failed": c["failed"], "pruned": c["pruned"],
            "running": c["running"], "total": total, "status": scan.status,
            "elapsed": scan.elapsed, "eta": scan.eta, "message": scan.message,
            "best_value": None if best is None else best.value,
            "best_params": None if best is None else best.params,
            "best_id": None if best is None else best.id}


def format_seconds(s: float | None) -> str:
    """``75`` -> ``'1:15'``; ``None`` -> ``'–'``."""
    if s is None or not math.isfinite(s):
        return "–"
    s = round(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def format_value(v: Any) -> str:
    """A compact rendering of a parameter or score value (classes and functions by name).

    >>> format_value(0.123456), format_value(len)
    ('0.1235', 'len')
    """
    v = label(v)
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# -- axes: domains, ticks and formats the dashboard sets itself ---------------------------
# bqplot guesses a tick format from the ticks d3 makes of the domain; with a one-point
# domain there is a single tick (or none), the guess is ".undefinedg" and the axis stops
# updating. The dashboard therefore always gives each axis a domain of non-zero width,
# explicit ticks where they must be integers, and one format per axis.

def nice_step(lo: float, hi: float, count: int = 5) -> float:
    """The tick step d3 picks for about ``count`` ticks over ``[lo, hi]`` (1, 2 or 5 x 10^k).

    >>> nice_step(0, 10), nice_step(0.8, 1.3), nice_step(0, 1e-3)
    (2.0, 0.1, 0.0002)
    """
    span = abs(hi - lo)
    if not math.isfinite(span) or span == 0:
        return 1.0
    raw = span / max(count, 1)
    power = math.floor(math.log10(raw))
    err = raw / 10 ** power
    factor = 10 if err >= math.sqrt(50) else 5 if err >= math.sqrt(10) else 2 \
        if err >= math.sqrt(2) else 1
    return float(f"{factor * 10.0 ** power:.12g}")


def value_domain(values: np.ndarray, pad: float = 0.06) -> tuple[float, float]:
    """``(lo, hi)`` covering the finite ``values`` with ``pad`` of the span on each side.

    Never a zero-width domain (a single value gets +-5% of itself, or +-0.5 for zero),
    so points are never drawn on the frame's edge and the axis always has ticks.

    >>> value_domain(np.array([1.0, 2.0]), pad=0.1)
    (0.9, 2.1)
    >>> value_domain(np.array([2.0]))
    (1.9, 2.1)
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    if hi == lo:
        half = abs(lo) * 0.05 or 0.5
        return lo - half, hi + half
    span = hi - lo
    return lo - pad * span, hi + pad * span


def integer_ticks(lo: float, hi: float, count: int = 5) -> np.ndarray:
    """Integer tick values inside ``[lo, hi]``, about ``count`` of them, never a fraction.

    >>> integer_ticks(-0.5, 0.5).tolist(), integer_ticks(-0.5, 10.5).tolist()
    ([0.0], [0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    """
    step = max(1.0, nice_step(lo, hi, count))
    first = math.ceil(lo / step) * step
    ticks = np.arange(first, hi + 1e-9, step)
    return ticks if len(ticks) else np.array([float(round((lo + hi) / 2))])


def nice_ticks(lo: float, hi: float, count: int = 5) -> np.ndarray:
    """Round-numbered ticks inside ``[lo, hi]``, ``nice_step`` apart (what d3 would pick).

    >>> nice_ticks(-0.3, 4.2).tolist(), nice_ticks(0.12, 0.61).tolist()
    ([0.0, 1.0, 2.0, 3.0, 4.0], [0.2, 0.3, 0.4, 0.5, 0.6])
    """
    step = nice_step(lo, hi, count)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    ticks = np.array([float(f"{k * step:.12g}") for k in range(first, last + 1)])
    return ticks if len(ticks) else np.array([float(f"{(lo + hi) / 2:.3g}")])


def tick_format(lo: float, hi: float, count: int = 5) -> str:
    """One d3 format for every tick of ``[lo, hi]``: as many decimals as the step needs.

    ``"1.30"`` beside ``"0.900"`` (a fixed number of significant digits) reads badly;
    ticks 0.9, 1.0 ... 1.3 share ``".1f"``. Very large or small values use ``".2~e"``.

    >>> tick_format(0.8, 1.3), tick_format(0, 500), tick_format(1e-7, 3e-7)
    ('.1f', '.0f', '.2~e')
    """
    step = nice_step(lo, hi, count)
    big = max(abs(lo), abs(hi))
    if big >= 1e6 or (big and big < 1e-3):
        return ".2~e"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f".{decimals}f"


# -- the honest score and selection luck (issue 13) ---------------------------------------
def format_interval(value: Any, interval: tuple[float, float] | None) -> str:
    """A score with its 95% interval, ``0.81 [0.74–0.88]``; the plain value without one.

    >>> format_interval(0.8123, (0.74, 0.881)), format_interval(0.5, None)
    ('0.81 [0.74–0.88]', '0.5')
    """
    if interval is None or value is None:
        return format_value(value)
    lo, hi = interval
    return f"{float(value):.2f} [{lo:.2f}–{hi:.2f}]"


def error_bars(intervals: dict[int, tuple[float, float]],
               max_bars: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of one vertical segment per trial, ``(n, 2)`` arrays for a bqplot
    ``Lines`` mark (one line per row): x the trial id twice, y its interval. At most
    ``max_bars``, the latest trials first kept."""
    ids = sorted(intervals)[-max_bars:]
    if not ids:
        return np.zeros((0, 2)), np.zeros((0, 2))
    x = np.repeat(np.asarray(ids, dtype=float)[:, None], 2, axis=1)
    y = np.asarray([intervals[i] for i in ids], dtype=float)
    return x, y
