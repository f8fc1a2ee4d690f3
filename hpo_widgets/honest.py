"""One honest score per trial, and the luck of picking the best, measured.

Choosing a model by its validation score has two traps. Accuracy and naive F1 flatter
useless models on imbalanced data, and the trial that tops the validation set is partly
the luckiest one. This module gives any :class:`~hpo_widgets.Scan` a single number to
optimise that avoids the first trap and pays for the second, plus a measurement of the
luck that remains.

The honest score (:func:`score`), higher is better, in [0, 1]::

    honest = max(0, base - z * sd_boot)           (z = 1)
    honest = 0 when the model has no skill (base <= 0)

- ``base`` is the **Matthews correlation coefficient** for classification (binary and
  multi-class, sklearn's definition). It uses all four cells of the confusion matrix, so
  it cannot be gamed by the majority class the way accuracy can, nor by the choice of the
  "positive" class the way F1 can; it is 0 for any constant or random predictor whatever
  the class balance, so "no skill" has one meaning on every data set. Regression uses
  **R²**, for the same reason: 0 is "predicting the mean", whatever the scale of y.
- **No skill scores the worst value, 0.** A constant prediction (all zeros, all ones),
  a binary model with no true positives (its MCC is ``-FP*FN/... <= 0``) or anything no
  better than chance gets 0, the bottom of the scale, where accuracy would give the
  all-zeros model 0.98 on 2% positives. A model whose lower bound does not clear chance
  gets 0 too: it cannot be told from no skill. The floor is 0 and not -1 on purpose: a
  model-based strategy (``"bayes"``) fits a smooth surface to the scores, and a jump from
  about 0 to -1 at the edge of skill bends that surface out of shape for every
  neighbouring point (with a -1 floor the Bayes searches of ``bench/honest.py`` found
  models 0.07 worse in mean test MCC); a floor reached continuously, like F1's, does not.
- **Instability** is paid for with one bootstrap standard deviation of the base score
  over the validation rows (``z = 1``: the one-standard-error rule of Breiman et al.;
  under a normal approximation ``base - sd`` is an 84% lower confidence bound). A model
  that wins by a hair on a few lucky rows has a wide interval and falls behind a steady
  one: the search favours what will still be true on new data. Each class is resampled
  within itself (with 2% positives a plain bootstrap has resamples without a positive,
  where the score is 0/0), from a fixed seed: the same predictions always get the same
  score and every trial is judged on the same resampled rows.
- **Over-fitting** is paid for by the validation score itself: it is measured on rows
  the model never trained on, so for a given model it is already an unbiased estimate of
  the score on new data. The train-validation gap (``honest_train_mcc``, ``honest_gap``,
  when train predictions are given) is reported, not subtracted (``gap_weight=0``). The
  train score tells capacity, not error: a model that interpolates its training rows (an
  RBF SVC with a large C, a network trained long) has train MCC 1 whether it is good or
  bad, so the gap is just ``1 - base``, a tilt that adds no information and makes weak
  but informative trials score 0 sooner. With a quarter of the gap subtracted (the
  default before), Bayesian searches of ``bench/honest.py`` stalled in low-capacity
  corners: on seeds 0-7, two searches each, the chosen models' mean test MCC was 0.784
  against 0.796 without it (and in 16 searches of seeds 0-3, 3 with the gap stalled at
  test MCC 0.49-0.64, none without). Chosen there, the rule held on fresh seeds 8-15:
  0.788 against 0.798 (the spread between repeated searches, 0.023 against 0.029, did
  not shrink there). ``gap_weight > 0`` brings the term back for those who want it.

Every part is returned as its own number (``honest_mcc``, ``honest_sd``,
``honest_lower``/``honest_upper`` the 95% bootstrap interval of the base score,
``honest_gap``, ``honest_degenerate``...), so each becomes a column of ``scan.results``.
Bootstraps are computed from confusion-matrix counts of weighted resamples, one matrix
product for all of them: a whole :func:`score` of 5,000 rows takes about 5 ms, a third
of it sklearn's own MCC.

Selection luck: pass ``keep=`` and ``trial=`` to :func:`score` and it keeps the trial's
validation predictions (``<scan folder>/predictions/<trial id>.npz``, a few kB). Then
:func:`luck` resamples the validation rows once and scores every kept trial on the same
resamples (paired), giving each its interval, its probability of being the best, which
trials the best cannot be told apart from, a sentence for the header, and the expected
optimism of the winner (how much its validation score exceeds its true score, given how
many trials competed and how noisy they are), before any test set is touched.

Example:
    >>> import numpy as np
    >>> from hpo_widgets import honest
    >>> y = np.array([0] * 98 + [1] * 2)
    >>> honest.score(y, np.zeros(100))["honest"]          # all zeros: no skill
    0.0
    >>> s = honest.score(y, y)                             # perfect
    >>> s["honest"], s["honest_mcc"]
    (1.0, 1.0)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .options import base_metric

__all__ = ["Luck", "compare", "interval", "keep", "luck", "score"]

#: The lowest honest score: a model with no skill, or one that cannot be told from it.
WORST = 0.0
#: Default bootstrap sizes: the per-trial score (an SD needs few resamples) and the
#: comparison of trials (tail probabilities need more).
N_BOOT_SCORE = 200
N_BOOT_LUCK = 1000
#: The seed of every bootstrap: same rows, same resamples, same score.
SEED = 0
PREDICTIONS = "predictions"
_METRICS = {"classification": ("mcc", "f1", "accuracy"), "regression": ("r2",)}


# ---------------------------------------------------------------------------------------
# resampling


#: Resample weights are built in blocks of at most this many cells (16 MB of float32),
#: and kept for reuse (the same validation rows every trial) when they fit in one block.
_BLOCK_CELLS = 1 << 22


def _resampled(x: np.ndarray, n_boot: int, seed: int,
               strata: np.ndarray | None = None) -> np.ndarray:
    """``(n_boot, cols)`` sums of the per-row columns ``x`` over ``n_boot`` bootstrap
    resamples of its rows: one matrix product per block of resamples.

    Row counts instead of index lists: every statistic here is a function of such sums
    (confusion-matrix counts, sums of squares), so all resamples of all trials cost one
    BLAS call. ``strata`` (class codes of the rows) resamples each class within itself,
    keeping the class counts: with 2% positives a plain bootstrap leaves some resamples
    without a single positive, where every score is 0/0 and the spread measures the
    resampling, not the model. The same ``(rows, n_boot, seed, strata)`` always give the
    same resamples, so every trial is judged on the same rows.
    """
    x = np.asarray(x, dtype=np.float32)
    return np.vstack([w @ x for w in _weight_blocks(len(x), n_boot, seed, strata)])


def _weight_blocks(n: int, n_boot: int, seed: int,
                   strata: np.ndarray | None = None) -> list[np.ndarray]:
    codes = None if strata is None else np.asarray(strata, dtype=np.int64).tobytes()
    per_block = max(1, _BLOCK_CELLS // max(n, 1))
    starts = range(0, n_boot, per_block)
    if len(starts) == 1:
        return [_cached_block(n, n_boot, seed, 0, codes)]
    return [_block(n, min(per_block, n_boot - i), seed, k, codes) for k, i in enumerate(starts)]


def _weights(n: int, n_boot: int, seed: int, strata: np.ndarray | None = None) -> np.ndarray:
    """The ``(n_boot, n)`` row counts of the resamples, in one array (for inspection)."""
    return np.vstack(_weight_blocks(n, n_boot, seed, strata))


@functools.lru_cache(maxsize=4)
def _cached_block(n: int, rows: int, seed: int, index: int, codes: bytes | None) -> np.ndarray:
    w = _block(n, rows, seed, index, codes)
    w.flags.writeable = False
    return w


def _block(n: int, rows: int, seed: int, index: int, codes: bytes | None) -> np.ndarray:
    rng = np.random.default_rng([seed, index])
    if codes is None:
        groups = [np.arange(n)]
    else:
        strata = np.frombuffer(codes, dtype=np.int64)
        groups = [np.flatnonzero(strata == c) for c in np.unique(strata)]
    offsets = np.arange(rows)[:, None] * n
    flat = [(members[rng.integers(0, len(members), size=(rows, len(members)))] + offsets)
            .ravel() for members in groups]
    counts = np.bincount(np.concatenate(flat), minlength=rows * n)
    return counts.reshape(rows, n).astype(np.float32)


def _mcc_from_counts(tp: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """K-class MCC (Gorodkin's R_K, sklearn's definition) over the last axis: ``tp``,
    ``truth`` and ``pred`` are per-class counts; 0/0 gives 0, as in sklearn."""
    s = truth.sum(-1)
    c = tp.sum(-1)
    num = c * s - (pred * truth).sum(-1)
    den = (s * s - (pred * pred).sum(-1)) * (s * s - (truth * truth).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / np.sqrt(den)
    return np.where(den > 0, out, 0.0)


def _f1_from_counts(tp: np.ndarray, truth: np.ndarray, pred: np.ndarray,
                    pos: int | None) -> np.ndarray:
    """Binary F1 of class index ``pos``, or macro F1 when ``pos`` is None (0/0 -> 0)."""
    num = 2.0 * tp
    den = truth + pred
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return f[..., pos] if pos is not None else f.mean(-1)


def _class_metric(name: str, tp: np.ndarray, truth: np.ndarray, pred: np.ndarray,
                  pos: int | None) -> np.ndarray:
    if name == "mcc":
        return _mcc_from_counts(tp, truth, pred)
    if name == "f1":
        return _f1_from_counts(tp, truth, pred, pos)
    return tp.sum(-1) / truth.sum(-1)  # accuracy


def _r2_from_sums(sw: float | np.ndarray, swy: np.ndarray, swy2: np.ndarray,
                  sse: np.ndarray) -> np.ndarray:
    sst = swy2 - swy * swy / sw
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 1.0 - sse / sst
    return np.where(sst > 0, out, 0.0)


# ---------------------------------------------------------------------------------------
# input


def _task(y: Any, task: str) -> str:
    if task not in ("auto", "classification", "regression"):
        raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
    if task != "auto":
        return task
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] > 1:
        return "classification"  # one-hot
    a = a.ravel() if a.ndim == 2 else a
    if a.dtype.kind == "f" and a.size and np.all(np.isfinite(a)) and np.any(a != np.floor(a)):
        return "regression"
    return "classification"


def _labels(y: Any, name: str, threshold: float) -> np.ndarray:
    from . import metrics  # the project's conversion rules: probabilities, one-hot, logits

    return metrics.to_labels(y, threshold, name=name)


def _regression_values(y: Any, name: str) -> np.ndarray:
    a = np.asarray(y, dtype=float)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of numbers, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values; a diverged model? "
                         "Fix the model or drop those rows before scoring")
    return a


def _check_lengths(y: np.ndarray, p: np.ndarray, names: tuple[str, str]) -> None:
    if len(y) != len(p):
        raise ValueError(f"{names[0]} has {len(y)} rows but {names[1]} has {len(p)}; pass the "
                         "predictions of exactly the rows of the labels")


def _encode(y: np.ndarray, preds: Iterable[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray],
                                                                  np.ndarray]:
    """Class indices of y and of each prediction over the union of their classes."""
    preds = list(preds)
    try:
        classes = np.unique(np.concatenate([y, *preds]))
    except TypeError as exc:
        raise ValueError(f"labels and predictions mix types that cannot be compared: {exc}") \
            from None
    return (np.searchsorted(classes, y), [np.searchsorted(classes, p) for p in preds], classes)


def _pos_index(classes: np.ndarray, y_codes: np.ndarray, pos_label: Any) -> int | None:
    """Index of the positive class for binary F1 (None: macro F1 for >2 classes)."""
    if len(np.unique(y_codes)) > 2:
        return None
    hits = np.flatnonzero(classes == pos_label)
    if hits.size:
        return int(hits[0])
    return int(np.argmin(np.bincount(y_codes, minlength=len(classes))))  # the minority class


# ---------------------------------------------------------------------------------------
# the score


def score(y_val: Any, p_val: Any, *, y_train: Any = None, p_train: Any = None,
          threshold: float = 0.5, task: str = "auto", z: float = 1.0,
          gap_weight: float = 0.0, n_boot: int = N_BOOT_SCORE,
          keep: Any = None, trial: Any = None) -> dict[str, float]:
    """The honest score of one trial and its components, a dict of plain numbers.

    Return it from an objective and scan with ``metric="honest"``::

        def objective(params, trial):
            model = make(params).fit(x_train, y_train)
            return honest.score(y_val, model.predict_proba(x_val),
                                y_train=y_train, p_train=model.predict_proba(x_train),
                                keep="hpo_scans/mine", trial=trial)

    ``p_val`` may be class labels, a 1-D probability of the positive class (positive
    where ``p > threshold``), or an ``(n, k)`` probability/logit matrix; ``y_val`` labels
    or one-hot. Regression (``task="regression"``, or float targets with fractions) takes
    predicted values. ``y_train``/``p_train`` (optional, both or neither) add the
    train score and the train-validation gap as columns; ``gap_weight`` (default 0) is
    how much of that gap is subtracted (why 0: the module docstring). ``keep`` (a scan,
    its folder, or a folder path) with ``trial`` (the objective's trial handle, or a
    trial id) keeps the validation predictions for :func:`luck`.

    Keys, classification: ``honest``, ``honest_mcc`` (validation MCC), ``honest_sd``
    (its bootstrap standard deviation), ``honest_lower``/``honest_upper`` (95% bootstrap
    interval of the MCC), ``honest_degenerate`` (1 when the model has no skill, then
    ``honest`` is 0), ``honest_n`` (validation rows); with train predictions also
    ``honest_train_mcc`` and ``honest_gap``. Regression: the same with ``r2`` for ``mcc``.
    The formula and its reasons are in this module's docstring.

    Example:
        >>> y = [0] * 95 + [1] * 5
        >>> s = score(y, [0] * 94 + [1] + [1] * 4 + [0])
        >>> round(s["honest_mcc"], 3), s["honest"] < s["honest_mcc"], s["honest_degenerate"]
        (0.789, True, 0)
    """
    kind = _task(y_val, task)
    if not math.isfinite(z) or z < 0:
        raise ValueError(f"z must be a number >= 0 (standard errors to subtract), got {z!r}")
    if not math.isfinite(gap_weight) or gap_weight < 0:
        raise ValueError(f"gap_weight must be a number >= 0, got {gap_weight!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 20:
        raise ValueError(f"n_boot must be a whole number >= 20, got {n_boot!r}")
    if (y_train is None) != (p_train is None):
        raise ValueError("pass both y_train and p_train (for the train-validation gap), or "
                         "neither")
    if (keep is None) != (trial is None):
        raise ValueError("keep= and trial= go together: keep names the scan (or its folder), "
                         "trial the objective's trial handle (or the trial id)")

    if kind == "regression":
        out, stored = _score_regression(y_val, p_val, y_train, p_train, z, gap_weight, n_boot)
    else:
        out, stored = _score_classification(y_val, p_val, y_train, p_train, threshold, z,
                                            gap_weight, n_boot)
    if keep is not None:
        penalty = out["honest_mcc" if kind == "classification" else "honest_r2"] - out["honest"]
        _write(keep, trial, kind=kind, penalty=penalty, degenerate=out["honest_degenerate"],
               **stored)
    return out


def interval(metrics: Mapping[str, Any]) -> tuple[float, float] | None:
    """The 95% interval of a trial's honest score, for error bars: its base score's
    bootstrap interval moved by the same penalty, within [0, 1]; None when ``metrics``
    (a trial's ``metrics`` or a row of ``results``) holds no honest score.

    Example:
        >>> interval({"honest": 0.5, "honest_mcc": 0.6, "honest_lower": 0.45,
        ...           "honest_upper": 0.72})
        (0.35, 0.62)
    """
    try:
        value = float(metrics["honest"])
        base = float(metrics["honest_mcc"] if "honest_mcc" in metrics else metrics["honest_r2"])
        lower, upper = float(metrics["honest_lower"]), float(metrics["honest_upper"])
    except (KeyError, TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (value, base, lower, upper)):
        return None
    shift = base - value
    return (round(max(WORST, lower - shift), 12), round(min(1.0, upper - shift), 12))


def _combine(base: float, sd: float, gap: float | None, z: float, gap_weight: float,
             degenerate: bool) -> float:
    if degenerate:
        return WORST
    value = base - z * sd - (gap_weight * gap if gap is not None else 0.0)
    return float(min(1.0, max(WORST, value)))


def _score_classification(y_val: Any, p_val: Any, y_train: Any, p_train: Any,
                          threshold: float, z: float, gap_weight: float,
                          n_boot: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    from sklearn.metrics import matthews_corrcoef

    y = _labels(y_val, "y_val", threshold)
    p = _labels(p_val, "p_val", threshold)
    _check_lengths(y, p, ("y_val", "p_val"))
    if len(np.unique(y)) < 2:
        raise ValueError(f"y_val holds a single class ({y[0]!r}): no score can tell a model "
                         "from a constant guess. Use a stratified validation split")
    mcc = float(matthews_corrcoef(y, p))
    yc, (pc,), classes = _encode(y, [p])
    k, n = len(classes), len(y)
    eye = np.eye(k, dtype=np.float32)
    truth_1h, pred_1h = eye[yc], eye[pc]
    # per resample: true positives, truth and prediction counts of every class
    counts = _resampled(np.hstack([truth_1h * (yc == pc)[:, None], truth_1h, pred_1h]),
                        n_boot, SEED, yc)
    boot = _mcc_from_counts(counts[:, :k].astype(float), counts[:, k:2 * k].astype(float),
                            counts[:, 2 * k:].astype(float))
    sd = float(boot.std(ddof=1))
    lower, upper = (float(v) for v in np.quantile(boot, [0.025, 0.975]))
    gap = train = None
    if y_train is not None:
        yt = _labels(y_train, "y_train", threshold)
        pt = _labels(p_train, "p_train", threshold)
        _check_lengths(yt, pt, ("y_train", "p_train"))
        train = float(matthews_corrcoef(yt, pt))
        gap = max(0.0, train - mcc)
    # MCC <= 0 covers constant predictions (0/0, defined 0) and binary models with no
    # true positives (numerator -FP*FN): no skill, whatever the class balance.
    degenerate = mcc <= 0.0
    out = {"honest": _combine(mcc, sd, gap, z, gap_weight, degenerate), "honest_mcc": mcc,
           "honest_sd": sd, "honest_lower": lower, "honest_upper": upper,
           "honest_degenerate": int(degenerate), "honest_n": n}
    if train is not None:
        out["honest_train_mcc"] = train
        out["honest_gap"] = gap
    return out, {"y": y, "p": p}


def _score_regression(y_val: Any, p_val: Any, y_train: Any, p_train: Any, z: float,
                      gap_weight: float, n_boot: int) -> tuple[dict[str, float],
                                                               dict[str, np.ndarray]]:
    from sklearn.metrics import r2_score

    y = _regression_values(y_val, "y_val")
    p = _regression_values(p_val, "p_val")
    _check_lengths(y, p, ("y_val", "p_val"))
    if np.ptp(y) == 0:
        raise ValueError("y_val is constant: R² is undefined. Use a validation set whose "
                         "targets vary")
    r2 = float(r2_score(y, p))
    boot = _r2_boot(y, p, lambda x: _resampled(x, n_boot, SEED))
    sd = float(boot.std(ddof=1))
    lower, upper = (float(v) for v in np.quantile(boot, [0.025, 0.975]))
    gap = train = None
    if y_train is not None:
        yt = _regression_values(y_train, "y_train")
        pt = _regression_values(p_train, "p_train")
        _check_lengths(yt, pt, ("y_train", "p_train"))
        train = float(r2_score(yt, pt))
        gap = max(0.0, train - r2)
    # R² <= 0: no better than predicting the mean (a constant prediction scores <= 0)
    degenerate = r2 <= 0.0 or np.ptp(p) == 0
    out = {"honest": _combine(r2, sd, gap, z, gap_weight, degenerate), "honest_r2": r2,
           "honest_sd": sd, "honest_lower": lower, "honest_upper": upper,
           "honest_degenerate": int(degenerate), "honest_n": len(y)}
    if train is not None:
        out["honest_train_r2"] = train
        out["honest_gap"] = gap
    return out, {"y": y, "p": p}


def _r2_boot(y: np.ndarray, preds: np.ndarray,
             resample: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """R² of each resample (``resample(x)`` sums the rows of ``x`` per resample) for one
    prediction (1-D) or several (2-D, one per column); centred first, for precision."""
    y0 = y - y.mean()
    p0 = np.asarray(preds, dtype=float) - y.mean()
    p0 = p0[:, None] if p0.ndim == 1 else p0
    sums = resample(np.column_stack([y0, y0 * y0, (y0[:, None] - p0) ** 2])).astype(float)
    out = _r2_from_sums(float(len(y)), sums[:, :1], sums[:, 1:2], sums[:, 2:])
    return out[:, 0] if np.ndim(preds) == 1 else out


# ---------------------------------------------------------------------------------------
# keeping predictions


def _folder(keep: Any) -> Path:
    path = getattr(keep, "path", keep)  # a Scan, or its folder
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"keep must be a scan, its folder or a folder path, got "
                        f"{type(keep).__name__}")
    return Path(path).expanduser() / PREDICTIONS


def _trial_id(trial: Any) -> int:
    tid = getattr(trial, "id", trial)
    if isinstance(tid, bool) or not isinstance(tid, int | np.integer) or tid < 0:
        raise TypeError(f"trial must be the objective's trial handle or a trial id (an int "
                        f">= 0), got {trial!r}")
    return int(tid)


def keep(folder: Any, trial: Any, y_val: Any, p_val: Any, *, threshold: float = 0.5,
         task: str = "auto", penalty: float = 0.0) -> Path:
    """Keep one trial's validation predictions for :func:`luck` (what :func:`score` does
    with ``keep=``); returns the file written, ``<folder>/predictions/<id>.npz``.

    Use it when the objective scans by another metric but the luck of its choice should
    still be measured. ``penalty`` (the trial's base score minus its honest score) lets
    :func:`luck` redo a choice made by ``"honest"`` in its optimism estimate.
    """
    kind = _task(y_val, task)
    if kind == "regression":
        y, p = _regression_values(y_val, "y_val"), _regression_values(p_val, "p_val")
    else:
        y, p = _labels(y_val, "y_val", threshold), _labels(p_val, "p_val", threshold)
    _check_lengths(y, p, ("y_val", "p_val"))
    return _write(folder, trial, kind=kind, penalty=float(penalty), degenerate=0, y=y, p=p)


def _compact(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu" and a.size:
        lo, hi = int(a.min()), int(a.max())
        for t in (np.int8, np.int16, np.int32):
            if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
                return a.astype(t)
    if a.dtype.kind == "f":
        return a.astype(np.float32)
    return a


def _write(folder: Any, trial: Any, *, kind: str, penalty: float, degenerate: int,
           y: np.ndarray, p: np.ndarray) -> Path:
    d = _folder(folder)
    tid = _trial_id(trial)
    d.mkdir(parents=True, exist_ok=True)
    target = d / f"{tid}.npz"
    # written aside and renamed: a reader never sees half a file, a crash leaves none
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{tid}-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, y=_compact(y), p=_compact(p), kind=np.array(kind),
                                penalty=np.array(float(penalty)),
                                degenerate=np.array(int(degenerate)))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _read(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as z:
        return {"y": z["y"], "p": z["p"], "kind": str(z["kind"]),
                "penalty": float(z["penalty"]), "degenerate": int(z["degenerate"])}


# ---------------------------------------------------------------------------------------
# selection luck


@dataclasses.dataclass(frozen=True)
class Luck:
    """How sure the choice of the best trial is, from paired bootstrap resamples.

    Fields keyed by trial: ``score`` (the validation ``metric``: MCC, F1, accuracy or
    R²), ``interval`` (its 95% bootstrap interval), ``p_best`` (the share of resamples in
    which the trial has the best ``metric``; ties split, the shares sum to 1). ``best`` is
    the chosen trial (the scan's best: with ``metric="honest"`` the most stable of the
    good ones, not always the highest MCC). ``indistinguishable`` lists the trials it
    cannot be told apart from: the 95% paired interval of the difference of their
    ``metric`` holds 0. Chance, not the honest penalty, decides this: two near-identical
    models whose penalties differ by a hair are still indistinguishable.

    ``optimism`` is the expected excess of the chosen trial's validation ``metric`` over
    its true value, given how many trials competed and how noisy they are (see
    ``_winners_curse``); ``evaluate()``'s measured ``optimism`` is the figure to hold it
    against. ``sentence`` says it all for the header.
    """

    metric: str
    best: Any
    score: dict[Any, float]
    interval: dict[Any, tuple[float, float]]
    p_best: dict[Any, float]
    indistinguishable: list[Any]
    optimism: float
    n_boot: int
    n_trials: int

    @property
    def sentence(self) -> str:
        """One line for the header, e.g. ``best, but indistinguishable from 3 others``."""
        if self.n_trials == 1:
            return "the only trial so far"
        n = len(self.indistinguishable)
        share = f"top {self.metric} in {self.p_best[self.best]:.0%} of resamples"
        if n == 0:
            return f"best, clearly ahead of the rest ({share})"
        others = "1 other" if n == 1 else f"{n} others"
        return f"best, but indistinguishable from {others} ({share})"

    @property
    def table(self) -> Any:
        """A DataFrame, the chosen trial first, then by score: the metric's value, lower,
        upper, p_best and indistinguishable (from the chosen one)."""
        import pandas as pd

        others = sorted((k for k in self.score if k != self.best), key=lambda k: -self.score[k])
        order = [self.best, *others]
        rows = [{"trial": k, self.metric: self.score[k], "lower": self.interval[k][0],
                 "upper": self.interval[k][1], "p_best": self.p_best[k],
                 "indistinguishable": k == self.best or k in self.indistinguishable}
                for k in order]
        return pd.DataFrame(rows).set_index("trial")

    def __str__(self) -> str:
        return (f"trial {self.best}: {self.sentence}; expected optimism of its validation "
                f"{self.metric}: {self.optimism:+.3f}")


def compare(y_val: Any, predictions: Mapping[Any, Any], *, metric: str | None = None,
            best: Any = None, penalties: Mapping[Any, float] | None = None,
            threshold: float = 0.5, task: str = "auto", pos_label: Any = 1,
            n_boot: int = N_BOOT_LUCK, alpha: float = 0.05, seed: int = SEED) -> Luck:
    """Compare trials' predictions of the same validation rows on the same resamples.

    ``predictions`` maps a trial key to its predictions (any form :func:`score` takes).
    ``metric``: ``"mcc"`` (default for classification), ``"f1"`` (of ``pos_label`` for
    two classes, else macro), ``"accuracy"``, or ``"r2"`` (default for regression).
    ``best`` is the trial the search chose (default: the highest ``metric``); a search
    that chose by the honest score passes each trial's ``penalties`` (its ``metric``
    minus its honest score), so that the optimism estimate redoes the same choice.
    Returns a :class:`Luck`.

    Example:
        >>> y = [0] * 90 + [1] * 10
        >>> good = [0] * 90 + [1] * 9 + [0]
        >>> c = compare(y, {"a": good, "b": good, "c": [0] * 100})
        >>> c.p_best["a"] + c.p_best["b"] + c.p_best["c"], c.indistinguishable, c.p_best["c"]
        (1.0, ['b'], 0.0)
    """
    if not predictions:
        raise ValueError("predictions is empty: pass {trial: predictions} for one trial or more")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 20:
        raise ValueError(f"n_boot must be a whole number >= 20, got {n_boot!r}")
    kind = _task(y_val, task)
    metric = metric or ("r2" if kind == "regression" else "mcc")
    if metric not in _METRICS[kind]:
        raise ValueError(f"metric must be one of {_METRICS[kind]} for {kind}, got {metric!r}")
    keys = list(predictions)
    if best is not None and best not in predictions:
        raise ValueError(f"best={best!r} is not one of the compared trials")
    pen = np.array([float((penalties or {}).get(k, 0.0)) for k in keys])

    if kind == "regression":
        y = _regression_values(y_val, "y_val")
        preds = np.column_stack([_regression_values(predictions[k], f"predictions[{k!r}]")
                                 for k in keys])
        _check_lengths(y, preds, ("y_val", "predictions"))
        boot = _r2_boot(y, preds, lambda x: _resampled(x, n_boot, seed))
        point = _r2_boot(y, preds, lambda x: x.sum(axis=0, keepdims=True))[0]
    else:
        y = _labels(y_val, "y_val", threshold)
        labs = [_labels(predictions[k], f"predictions[{k!r}]", threshold) for k in keys]
        for k, lab in zip(keys, labs, strict=True):
            _check_lengths(y, lab, ("y_val", f"predictions[{k!r}]"))
        yc, pcs, classes = _encode(y, labs)
        k_cls = len(classes)
        pos = _pos_index(classes, yc, pos_label) if metric == "f1" else None
        eye = np.eye(k_cls, dtype=np.float32)
        truth_1h = eye[yc]
        feats = [truth_1h]
        for pc in pcs:
            feats += [truth_1h * (yc == pc)[:, None], eye[pc]]
        x = np.hstack(feats)
        boot, point = (_per_trial(c, k_cls, len(keys), metric, pos)
                       for c in (_resampled(x, n_boot, seed, yc), x.sum(axis=0, keepdims=True)))
        point = point[0]

    best_i = keys.index(best) if best is not None else int(np.argmax(point - pen))
    top = boot.max(axis=1, keepdims=True)
    winners = boot >= top  # ties share the win
    p_best = (winners / winners.sum(axis=1, keepdims=True)).mean(axis=0)
    lo_diff, hi_diff = np.quantile(boot[:, [best_i]] - boot, [alpha / 2, 1 - alpha / 2], axis=0)
    indist = [keys[j] for j in np.argsort(-point, kind="stable")
              if j != best_i and lo_diff[j] <= 0 <= hi_diff[j]]
    skill = point > 0 if metric != "accuracy" else np.ones(len(keys), dtype=bool)
    optimism = _winners_curse(boot, point, pen, skill, best_i)
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    return Luck(metric=metric, best=keys[best_i],
                score={k: float(point[j]) for j, k in enumerate(keys)},
                interval={k: (float(lo[j]), float(hi[j])) for j, k in enumerate(keys)},
                p_best={k: float(p_best[j]) for j, k in enumerate(keys)},
                indistinguishable=indist, optimism=optimism, n_boot=n_boot,
                n_trials=len(keys))


#: Trials whose validation score lies within this many of the chosen trial's bootstrap
#: standard deviations could swap places with it; they set the spread of true scores.
CONTENDERS_SD = 4.0


def _winners_curse(boot: np.ndarray, point: np.ndarray, penalty: np.ndarray,
                   skill: np.ndarray, chosen: int) -> float:
    """Expected excess of the chosen trial's validation score over its true score.

    The paired resamples give every trial's noise (``boot - point``) and how the noises of
    trials move together. The true scores are unknown, and the validation scores spread
    more than they do, by the noise: the contenders (trials with skill within
    ``CONTENDERS_SD`` of the chosen one's standard deviation) are shrunk toward their
    mean by ``tau² / (tau² + sd²)``, with ``tau²`` their spread less their mean noise
    variance (empirical Bayes, as James-Stein). On every resample the search's choice is
    redone on ``true + noise - penalty``; the winner's noise, averaged, is the optimism.

    Why shrink: taking the validation scores as the truth (a plain bootstrap) keeps the
    lucky leader ahead of its rivals by exactly its luck, and underestimated the optimism
    of 30 equal models by 30%. Why only the contenders: a search's trials near its
    optimum are close, its others far; a spread fitted to all of them barely shrinks the
    close ones. Simulated (tests/test_honest.py) it is right for equal contenders and
    1.5x high for widely spread ones. In ``bench/honest.py`` (digits, 16 runs each) it
    predicted +0.037 (random searches) and +0.041 (Bayesian, seeds 8-15) for measured
    +0.054 and +0.054 in MCC. The measured figure also holds the split's own luck: one
    seed's validation rows flatter every model, chosen or not, by a shift with SD ~0.045
    (``bench/honest.py --shift``, from 30 random configurations); less that shift the
    measured optimism was +0.041 and +0.045, within 0.004 of the prediction (SE ~0.015).
    An adaptive search may still chase the validation noise in ways resampling a fixed
    set of trials cannot replay; it did not show at this precision.
    """
    noise = boot - point
    sd2 = noise.var(axis=0, ddof=1)
    truth = point.astype(float).copy()
    near = skill & (point - penalty >= (point - penalty)[chosen]
                    - CONTENDERS_SD * math.sqrt(sd2[chosen]))
    if near.sum() > 1:
        m = point[near].mean()
        tau2 = max(0.0, float(point[near].var(ddof=1) - sd2[near].mean()))
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.where(tau2 + sd2 > 0, tau2 / (tau2 + sd2), 1.0)
        truth[near] = m + factor[near] * (point[near] - m)
    win = np.argmax(truth + noise - penalty, axis=1)
    return float(np.mean(noise[np.arange(len(win)), win]))


def _per_trial(counts: np.ndarray, k: int, n_trials: int, metric: str,
               pos: int | None) -> np.ndarray:
    """(rows, n_trials) scores from the stacked counts [truth, (tp, pred) per trial]."""
    counts = counts.astype(float)
    truth = counts[:, :k]
    per = counts[:, k:].reshape(len(counts), n_trials, 2, k)
    return _class_metric(metric, per[:, :, 0, :], truth[:, None, :], per[:, :, 1, :], pos)


def luck(scan: Any, *, top: int | None = None, metric: str | None = None,
         n_boot: int = N_BOOT_LUCK, alpha: float = 0.05) -> Luck:
    """Selection luck of a scan whose objective kept its predictions (:func:`score` with
    ``keep=scan``/its folder and ``trial=trial``, or :func:`keep`).

    ``scan`` is a Scan (a running one too) or its folder (opened read-only with
    :func:`hpo_widgets.load`). Its finished trials with kept predictions are compared,
    paired, by ``metric``: the scan's own metric when it is one this module resamples
    (``val_f1`` -> ``"f1"``...), else MCC (R² for regression), which is what ``honest``
    is built on. The chosen trial is the scan's best; a scan by ``"honest"`` redoes its
    penalised choice in the optimism estimate. ``top`` keeps only the best ``top`` trials
    (the optimism is only fair when every trial that competed is included).

    Example (``objective`` returning ``honest.score(..., keep=scan_folder, trial=trial)``)::

        result = honest.luck(scan)
        print(result.sentence)       # best, but indistinguishable from 3 others (...)
        result.table                 # score, interval, p_best per trial
        result.optimism              # expected val - true gap of the winner
    """
    if not hasattr(scan, "trials"):
        from .scan import load

        scan = load(scan)
    folder = _folder(scan)
    trials = [t for t in scan.trials if t.status == "finished" and t.value is not None
              and getattr(t, "excluded", None) is None]   # excluded: never the best
    found = {t.id: folder / f"{t.id}.npz" for t in trials}
    found = {tid: p for tid, p in found.items() if p.exists()}
    if not found:
        raise ValueError(f"no kept predictions under {str(folder)!r} for finished trials: "
                         "return honest.score(y_val, p_val, keep=<scan folder>, trial=trial) "
                         "from the objective")
    order = sorted(found, key=lambda tid: scan.trial(tid).value,
                   reverse=getattr(scan, "mode", "max") == "max")
    if top is not None:
        order = order[:top]
    kept = {tid: _read(found[tid]) for tid in order}
    first = kept[order[0]]
    for tid, rec in kept.items():
        if rec["y"].shape != first["y"].shape or not np.array_equal(rec["y"], first["y"]):
            raise ValueError(f"trial {tid} kept predictions of other validation rows than "
                             f"trial {order[0]}: selection luck compares trials on the same "
                             "rows; keep one validation split for the whole scan")
    own = base_metric(str(getattr(scan, "metric", "")))
    if metric is None:
        metric = own if own in _METRICS[first["kind"]] else None
    penalties = ({tid: rec["penalty"] for tid, rec in kept.items()} if own == "honest"
                 else None)
    return compare(first["y"], {tid: rec["p"] for tid, rec in kept.items()}, metric=metric,
                   best=order[0], penalties=penalties, task=first["kind"], n_boot=n_boot,
                   alpha=alpha)
