"""Plot data and texts for the dashboard's partner parts (issue 14), apart from drawing.

The machine's side: importance bars, the belief band along the parameter-vs-score
chart, the point it would try next there, a proposed narrowing in words. The human's
side: a trial's parameters as editable text fields ("try near this") and back.

Everything here takes plain data (trials, a :class:`~hpo_widgets.space.Space`,
:mod:`hpo_widgets.analysis` results) and returns numbers and strings, so
``tests/test_partner_widgets.py`` checks it without a browser or a widget.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import analysis, values
from ..space import Bool, Choice, Fixed, Float, Int, Space
from ..trial import Trial
from .chart_data import format_value

__all__ = ["belief_marks", "importance_bars", "parse_fields", "point_fields", "predictor",
           "user_points"]


def importance_bars(imp: analysis.Importance | None, k: int = 8) -> dict[str, Any]:
    """The ``k`` most important parameters as horizontal bars, most important on top
    (bqplot draws the first category at the bottom, so the order is reversed), and a
    caption saying where the estimate came from and whether it can be trusted yet."""
    if imp is None or not imp.values:
        return {"names": [], "values": np.zeros(0),
                "caption": "<i>importance appears after a few finished trials</i>"}
    ranked = imp.ranked()[:k]
    names = [n for n, _ in ranked][::-1]
    vals = np.array([v for _, v in ranked][::-1], dtype=float)
    caption = f"importance from {imp.source}, {imp.n_trials} trials"
    if imp.explained is not None:
        caption += f"; explains {max(imp.explained, 0.0):.0%} of the score's variance"
    if not imp.reliable:
        caption = ("<i>no parameter explains the score yet</i> "
                   f"(<span style='opacity:.8'>{caption}</span>)")
    return {"names": names, "values": vals, "caption": caption}


def predictor(strategy: Any, space: Space, trials: Sequence[Trial], minimize: bool, *,
              excluded: Sequence[int] = (),
              columns: analysis.TrialColumns | None = None) -> tuple[Any, str] | None:
    """``(predict, label)`` for the belief band, or ``None`` when there is no belief.

    A strategy with a public ``predict(space, history, points) -> (mean, std)`` is asked
    (its own model, e.g. Bayes' Gaussian process): the band shows what the strategy
    believes, not a second model's guess. Model-free strategies (random, sobol, grid)
    have no belief to show.
    """
    skip = set(excluded)
    history = [t for t in trials if t.done and t.id not in skip]
    if sum(1 for t in history if t.status == "finished") < 3:
        return None
    own = getattr(strategy, "predict", None)
    if callable(own):
        return functools.partial(own, space, history), f"{strategy.name}'s model"
    return None


def _next_on_band(band: Mapping[str, Any], best: float | None, minimize: bool) -> int | None:
    """Where along the band expected improvement over ``best`` is highest."""
    mean, std = np.asarray(band["mean"]), np.asarray(band["std"])
    if not len(mean) or best is None:
        return None
    from scipy.stats import norm

    gain = (best - mean) if minimize else (mean - best)
    s = np.maximum(std, 1e-12)
    zz = gain / s
    ei = gain * norm.cdf(zz) + s * norm.pdf(zz)
    return int(np.argmax(ei))


def belief_marks(predict: Callable[..., Any], space: Space, param: str,
                 incumbent: Mapping[str, Any], minimize: bool, best: float | None, *,
                 next_point: Mapping[str, Any] | None = None, n: int = 60) -> dict[str, Any]:
    """The belief along ``param`` as chart data: ``x``, ``mean``, ``band`` (2 x n:
    lower, upper), and ``next_x``/``next_y`` (one point each, or empty): the strategy's
    next point when given, else where expected improvement along the band is highest."""
    band = analysis.belief_band(predict, space, param, incumbent, next_point=next_point, n=n)
    x = np.asarray(band["x"], dtype=float)
    ok = np.isfinite(x) & np.isfinite(band["mean"]) & np.isfinite(band["std"])
    out = {"param": param, "x": x[ok], "mean": np.asarray(band["mean"])[ok],
           "band": np.vstack([np.asarray(band["lower"])[ok], np.asarray(band["upper"])[ok]]),
           "next_x": np.zeros(0), "next_y": np.zeros(0), "next_params": None}
    nxt = band.get("next")
    if nxt is not None and math.isfinite(nxt["x"]):
        out.update(next_x=np.array([nxt["x"]]), next_y=np.array([nxt["mean"]]),
                   next_params=nxt["params"])
    else:
        i = _next_on_band({"mean": out["mean"], "std": np.asarray(band["std"])[ok]}, best,
                          minimize)
        if i is not None:
            out.update(next_x=out["x"][i:i + 1], next_y=out["mean"][i:i + 1])
    return out


def user_points(ids: np.ndarray, x: np.ndarray, y: np.ndarray,
                user_ids: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """The points of trials the user enqueued, to mark them on a chart."""
    if not user_ids or not len(ids):
        return np.zeros(0), np.zeros(0)
    mine = np.isin(ids, np.fromiter(user_ids, dtype=np.int64, count=len(user_ids)))
    ok = mine & np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def point_fields(params: Mapping[str, Any], space: Space) -> dict[str, str]:
    """A trial's tunable parameters as the text of editable fields ("try near this")."""
    out = {}
    for name in space.tunable:
        v = params.get(name)
        out[name] = repr(v) if isinstance(v, float) else str(values.label(v))
    return out


def _parse_one(name: str, p: Any, text: str) -> Any:
    text = text.strip()
    if isinstance(p, Choice):
        for v in p.values:
            if text in (str(values.label(v)), repr(v), str(v)):
                return v
        if isinstance(p, Bool) and text.lower() in ("true", "false", "1", "0"):
            return text.lower() in ("true", "1")
        raise ValueError(f"{name}: {text!r} is not one of "
                         f"{[str(values.label(v)) for v in p.values]}")
    if isinstance(p, Int | Float):
        try:
            x = float(text)
        except ValueError:
            raise ValueError(f"{name}: {text!r} is not a number") from None
        if isinstance(p, Int):
            if x != round(x):
                raise ValueError(f"{name}: {text!r} is not a whole number")
            return round(x)
        return x
    if isinstance(p, Fixed):
        return p.value
    return text


def parse_fields(space: Space, texts: Mapping[str, str]) -> dict[str, Any]:
    """The edited fields back as parameter values (``ValueError`` naming the field);
    ``scan.enqueue`` then checks them against the space."""
    return {n: _parse_one(n, space[n], t) for n, t in texts.items() if n in space}


def row_label(t: Trial, metric: str) -> str:
    """How a top-trials row is named in the "try near this" picker."""
    mark = " (yours)" if t.source == "user" else ""
    out = " (excluded)" if t.excluded else ""
    return f"#{t.id} {metric}={format_value(t.value)}{mark}{out}"
