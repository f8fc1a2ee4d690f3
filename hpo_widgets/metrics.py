"""Imbalance-aware classification scores with explicit corner cases.

Every score here is computed from the whole validation set at once (from its confusion
matrix), never as a mean of per-batch values: precision, recall, F1 and MCC averaged over
batches are simply wrong on imbalanced data, where most batches hold no positive at all.

Rules that hold for every function:

- Inputs may be class labels, a 1-D probability of the positive class (``p > threshold``
  is positive), a 2-D ``(n, k)`` probability or logit matrix (argmax), and ``y_true`` may
  be one-hot (argmax). :func:`to_labels` does the conversion.
- Bad input (empty, mismatched lengths, NaN) raises :class:`ValueError` naming the argument.
- Where a ratio is 0/0 the score is ``0.0``, never NaN, and the situation is flagged. Scores
  are :class:`Score` objects: plain floats that carry a ``flags`` tuple. No warnings are
  emitted; flags replace them.

Flags (see :data:`FLAGS` for the full descriptions): ``constant_prediction``,
``majority_class_prediction``, ``single_class_truth``, ``no_positive_truth``,
``no_positive_prediction``, ``no_true_positives``, ``constant_score``,
``undefined_precision``, ``undefined_recall``, ``undefined_f1``, ``undefined_fbeta``,
``undefined_mcc``, ``undefined_pr_auc``, ``no_better_than_baseline``, ``nan_metric``.

Example:
    >>> from hpo_widgets import metrics
    >>> s = metrics.precision([0, 1, 0, 1], [0, 0, 0, 0])
    >>> float(s), s.flags  # doctest: +NORMALIZE_WHITESPACE
    (0.0, ('constant_prediction', 'no_positive_prediction', 'no_true_positives',
           'undefined_precision'))
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "FLAGS",
    "METRICS",
    "Score",
    "accuracy",
    "balanced_accuracy",
    "baseline_score",
    "classification_report",
    "confusion_matrix",
    "degenerate_flags",
    "f1",
    "fbeta",
    "get_metric",
    "higher_is_better",
    "imbalance_warning",
    "matthews_corrcoef",
    "pr_auc",
    "precision",
    "recall",
    "to_labels",
]

FLAGS: dict[str, str] = {
    "constant_prediction": "y_pred holds a single class for every sample",
    "majority_class_prediction": "y_pred is constant and equal to the majority class of y_true",
    "single_class_truth": "y_true holds a single class",
    "no_positive_truth": (
        "the positive class (multi-class: some scored class) has no sample in y_true, "
        "so its recall is 0/0"
    ),
    "no_positive_prediction": (
        "the positive class (multi-class: some scored class) is never predicted, "
        "so its precision is 0/0"
    ),
    "no_true_positives": (
        "the positive class (multi-class: some scored class) is never predicted correctly"
    ),
    "constant_score": "y_score is the same for every sample; it ranks nothing",
    "undefined_precision": "precision was 0/0 and is reported as 0.0",
    "undefined_recall": "recall was 0/0 and is reported as 0.0",
    "undefined_f1": "F1 was 0/0 (no positive anywhere) and is reported as 0.0",
    "undefined_fbeta": "F-beta was 0/0 (no positive anywhere) and is reported as 0.0",
    "undefined_mcc": "MCC was 0/0 (constant prediction or single-class truth), reported as 0.0",
    "undefined_pr_auc": "average precision had no positive sample and is reported as 0.0",
    "no_better_than_baseline": "the score does not beat the trivial baseline (baseline_score)",
    "nan_metric": "the metric value is NaN",
}

_AVERAGES = ("binary", "macro", "micro", "weighted", "auto")


class Score(float):
    """A float that also carries ``flags``: a sorted tuple of short strings.

    It compares, formats, pickles and stores (JSON, SQLite, pandas) like the float it is;
    arithmetic on it gives plain floats. ``flags`` lists the corner cases met while
    computing it (see :data:`FLAGS`); an empty tuple means nothing unusual happened.

    Example:
        >>> s = Score(0.0, ["undefined_recall", "no_positive_truth"])
        >>> s == 0.0, s.flags
        (True, ('no_positive_truth', 'undefined_recall'))
        >>> print(s)
        0.0
    """

    __slots__ = ("flags",)
    flags: tuple[str, ...]

    def __new__(cls, value: float, flags: Sequence[str] = ()) -> Score:
        self = super().__new__(cls, value)
        self.flags = tuple(sorted(set(flags)))
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Score, (float(self), self.flags))

    def __repr__(self) -> str:
        if not self.flags:
            return float.__repr__(self)
        return f"Score({float.__repr__(self)}, flags={self.flags!r})"

    def __str__(self) -> str:
        return float.__repr__(self)


# ---------------------------------------------------------------------------------------
# input conversion


def _as_array(y: Any, name: str) -> np.ndarray:
    if y is None:
        raise ValueError(f"{name} is None; pass an array of labels or probabilities")
    try:
        a = np.asarray(y)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be read as an array: {exc}") from exc
    if a.ndim == 0:
        raise ValueError(
            f"{name} must be a 1-D array of labels or a 2-D (n, k) matrix, got a scalar"
        )
    if a.ndim > 2:
        raise ValueError(f"{name} must be 1-D or 2-D (n, k), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty; metrics need at least one sample")
    if a.ndim == 2 and a.shape[1] == 1:  # a sigmoid output of shape (n, 1)
        a = a[:, 0]
    if a.dtype.kind == "O":
        a = _object_array(a, name)
    return a


def _object_array(a: np.ndarray, name: str) -> np.ndarray:
    values = a.ravel().tolist()
    if any(v is None for v in values):
        raise ValueError(f"{name} contains missing values (None); drop or fill them first")
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        return a.astype(float)
    if all(isinstance(v, str) for v in values):
        return a.astype(str)
    return a


def _check_finite(a: np.ndarray, name: str, allow_inf: bool = False) -> None:
    nan = np.isnan(a)
    if nan.any():
        first = np.argwhere(nan)[0].tolist()
        hint = (
            "missing labels? Drop or fill them"
            if name in ("y_true", "labels")
            else "a diverged model? Fix the model or drop those samples"
        )
        raise ValueError(
            f"{name} contains NaN ({int(nan.sum())} of {a.size} values, first at index "
            f"{first if a.ndim > 1 else first[0]}); {hint} before scoring"
        )
    if not allow_inf and np.isinf(a).any():
        raise ValueError(f"{name} contains infinite values; pass finite labels or scores")


def _check_threshold(threshold: float, logits: bool) -> float:
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}") from None
    if logits and not 0.0 < t < 1.0:
        raise ValueError(f"threshold must be in (0, 1) when logits=True, got {threshold!r}")
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"threshold must be a probability in [0, 1], got {threshold!r}")
    return t


def _convert(
    y: Any,
    name: str,
    *,
    allow_scores: bool,
    threshold: float = 0.5,
    logits: bool = False,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, int | None]:
    """Turn labels / probabilities / one-hot into a 1-D label array, plus the 2-D width."""
    a = _as_array(y, name)
    if a.ndim == 2:
        if a.dtype.kind not in "biuf":
            raise ValueError(f"a 2-D {name} must be a numeric (n, k) matrix, got dtype {a.dtype}")
        af = a.astype(float)
        _check_finite(af, name, allow_inf=True)
        idx = np.argmax(af, axis=1)
        width = a.shape[1]
        if labels is not None:
            if len(labels) != width:
                raise ValueError(
                    f"{name} has {width} columns but labels has {len(labels)} entries; "
                    "labels must name the class of each column, in order"
                )
            return labels[idx], width
        return idx.astype(np.int64), width

    kind = a.dtype.kind
    if kind == "b":
        return a.astype(np.int64), None
    if kind in "iu":
        return a.astype(np.int64, copy=False), None
    if kind == "c":
        raise ValueError(f"{name} is complex; pass real labels or probabilities")
    if kind != "f":
        return a, None  # strings or other hashable labels

    _check_finite(a, name)
    if np.all(a == np.floor(a)):
        return a.astype(np.int64), None
    if not allow_scores:
        bad = a[a != np.floor(a)][0]
        raise ValueError(
            f"{name} must hold class labels or a one-hot (n, k) matrix, but it has "
            f"non-integer values such as {bad!r}"
        )
    t = _check_threshold(threshold, logits)
    if logits:
        positive = a > math.log(t / (1.0 - t))
    else:
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{name} has non-integer values outside [0, 1] (min {lo:.4g}, max {hi:.4g}): "
                "these look like logits or raw scores. Pass probabilities (apply a sigmoid), "
                "class labels, a 2-D (n, k) matrix, or logits=True"
            )
        positive = a > t
    return positive.astype(np.int64), None


def to_labels(
    y: Any, threshold: float = 0.5, *, logits: bool = False, name: str = "y"
) -> np.ndarray:
    """Convert predictions or targets of any supported form to a 1-D array of labels.

    - integer-valued arrays (ints, bools, floats like ``1.0``) and strings: returned as labels;
    - a 1-D array with non-integer values in [0, 1]: a probability of the positive class,
      ``1`` where ``p > threshold`` else ``0``; values outside [0, 1] raise ValueError
      (they look like logits: pass ``logits=True`` to threshold at ``logit(threshold)``);
    - a 2-D ``(n, k)`` matrix (probabilities, logits or one-hot): the argmax of each row;
      an ``(n, 1)`` matrix is treated as 1-D.

    ``name`` is used in error messages. Raises ValueError for empty input, NaN or more
    than two dimensions.

    Example:
        >>> to_labels([0.2, 0.7, 0.5]).tolist()
        [0, 1, 0]
        >>> to_labels([[0.1, 0.9], [0.8, 0.2]]).tolist()
        [1, 0]
        >>> to_labels([-2.0, 0.3], logits=True).tolist()
        [0, 1]
    """
    return _convert(y, name, allow_scores=True, threshold=threshold, logits=logits)[0]


def _check_labels(labels: Any) -> np.ndarray | None:
    if labels is None:
        return None
    lab = _as_array(labels, "labels")
    if lab.dtype.kind == "b":
        lab = lab.astype(np.int64)
    if lab.ndim != 1:
        raise ValueError(f"labels must be a 1-D list of classes, got shape {lab.shape}")
    if len(set(lab.tolist())) != len(lab):
        raise ValueError(f"labels must not repeat a class, got {lab.tolist()!r}")
    return lab


def _is_numeric(a: np.ndarray) -> bool:
    return a.dtype.kind in "biuf"


# Integer labels spanning at most this many values take a counting path instead of sorting.
_DENSE_SPAN = 1 << 16


def _int_span(a: np.ndarray) -> tuple[int, int] | None:
    """(min, max) of an integer array whose span is small enough to count, else None."""
    if a.dtype.kind not in "iu" or a.size == 0:
        return None
    lo, hi = int(a.min()), int(a.max())
    return (lo, hi) if hi - lo < _DENSE_SPAN else None


def _unique(a: np.ndarray, name: str) -> np.ndarray:
    span = _int_span(a)
    if span is not None:
        return np.flatnonzero(np.bincount(a - span[0])) + span[0]
    try:
        return np.unique(a)
    except TypeError as exc:
        raise ValueError(f"{name} mixes label types that cannot be compared: {exc}") from None


def _indices(values: np.ndarray, classes: np.ndarray, name: str) -> np.ndarray:
    """Index of each value in ``classes``; ValueError naming ``name`` for unknown values."""
    if _is_numeric(values) != _is_numeric(classes):
        raise ValueError(
            f"{name} holds {'numeric' if _is_numeric(values) else 'non-numeric'} labels but the "
            f"classes are {classes.tolist()!r}; use the same label type throughout"
        )
    span = _int_span(classes)
    if span is not None and values.dtype.kind in "iu":
        lo, hi = span
        inside = (values >= lo) & (values <= hi)
        if inside.all():
            table = np.full(hi - lo + 1, -1, dtype=np.int64)
            table[classes - lo] = np.arange(len(classes))
            idx = table[values - lo]
            if (idx >= 0).all():
                return idx
            bad = idx < 0
        else:
            bad = ~inside
    else:
        sorter = np.argsort(classes, kind="stable")
        pos = np.searchsorted(classes, values, sorter=sorter)
        idx = sorter[np.minimum(pos, len(classes) - 1)]
        bad = classes[idx] != values
        if not np.any(bad):
            return idx
    v = values[bad][0]
    raise ValueError(
        f"{name} contains label {_py(v)!r}, which is not one of the classes "
        f"{classes.tolist()!r}; add it to labels or fix {name}"
    )


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _index_of(classes: np.ndarray, value: Any) -> int | None:
    for i, c in enumerate(classes.tolist()):
        if c == value:
            return i
    return None


class _Data:
    """Labels of one (y_true, y_pred) pair, their classes and confusion matrix."""

    __slots__ = ("classes", "cm", "p", "t", "width")

    def __init__(self, y_true: Any, y_pred: Any, labels: Any, threshold: float, logits: bool):
        lab = _check_labels(labels)
        t, wt = _convert(y_true, "y_true", allow_scores=False, labels=lab)
        p, wp = _convert(
            y_pred, "y_pred", allow_scores=True, threshold=threshold, logits=logits, labels=lab
        )
        if len(t) != len(p):
            raise ValueError(
                f"y_true has {len(t)} samples but y_pred has {len(p)}; "
                "they must have the same length"
            )
        if lab is None:
            if _is_numeric(t) != _is_numeric(p):
                raise ValueError(
                    "y_true and y_pred hold different label types (one numeric, one not); "
                    "use the same labels in both"
                )
            classes = _unique(
                np.concatenate([_unique(t, "y_true"), _unique(p, "y_pred")]), "y_true/y_pred"
            )
        else:
            classes = lab
        ti = _indices(t, classes, "y_true")
        pi = _indices(p, classes, "y_pred")
        k = len(classes)
        self.t, self.p, self.classes = t, p, classes
        self.cm = np.bincount(ti * k + pi, minlength=k * k).reshape(k, k)
        self.width = max(wt or 0, wp or 0) or None

    @classmethod
    def from_counts(cls, classes: np.ndarray, cm: np.ndarray) -> _Data:
        """A _Data for a known confusion matrix (no per-sample labels)."""
        data = cls.__new__(cls)
        data.t = data.p = np.empty(0)
        data.classes, data.cm, data.width = classes, cm, None
        return data

    def general_flags(self) -> list[str]:
        flags = []
        if np.count_nonzero(self.cm.sum(axis=0)) == 1:
            flags.append("constant_prediction")
        if np.count_nonzero(self.cm.sum(axis=1)) == 1:
            flags.append("single_class_truth")
        return flags


def _resolve_average(
    average: Any, classes: np.ndarray, pos_label: Any, width: int | None = None
) -> str:
    if average not in _AVERAGES:
        raise ValueError(
            f"average={average!r} is not supported; use 'binary', 'macro', 'micro', "
            "'weighted' or 'auto' (per-class values are in classification_report)"
        )
    k = len(classes)
    has_pos = _index_of(classes, pos_label) is not None
    if average == "auto":
        return "macro" if (width or 0) > 2 or k > 2 or (k == 2 and not has_pos) else "binary"
    if average == "binary":
        if k > 2 or (width or 0) > 2:
            n = max(k, width or 0)
            raise ValueError(
                f"average='binary' needs two classes, but the data have {n} "
                f"({classes.tolist()!r}); pass average='macro', 'micro', 'weighted' or 'auto'"
            )
        if k == 2 and not has_pos:
            raise ValueError(
                f"pos_label={pos_label!r} is not one of the classes {classes.tolist()!r}; "
                "pass pos_label= naming the positive class"
            )
    return str(average)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """num/den elementwise, with 0/0 -> 0.0 and a mask of where that happened."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    undefined = den == 0
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=~undefined)
    return out, undefined


def _class_flags(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> list[str]:
    flags = []
    if np.any(tp + fn == 0):
        flags.append("no_positive_truth")
    if np.any(tp + fp == 0):
        flags.append("no_positive_prediction")
    if np.any(tp == 0):
        flags.append("no_true_positives")
    return flags


def _check_beta(beta: Any) -> float:
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a positive number, got {beta!r}") from None
    if not (b > 0 and math.isfinite(b)):
        raise ValueError(f"beta must be a positive finite number, got {beta!r}")
    return b


# ---------------------------------------------------------------------------------------
# computations on a prepared _Data


def _prf(data: _Data, which: str, average: Any, pos_label: Any, beta: float = 1.0) -> Score:
    avg = _resolve_average(average, data.classes, pos_label, data.width)
    cm = data.cm
    tp_all = np.diag(cm).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    truth = cm.sum(axis=1).astype(float)
    if avg == "binary":
        i = _index_of(data.classes, pos_label)
        if i is None:  # the positive class appears nowhere
            tp = fp = fn = np.zeros(1)
        else:
            tp = tp_all[[i]]
            fp = predicted[[i]] - tp
            fn = truth[[i]] - tp
        weights = np.ones(1)
    else:
        tp, fp, fn = tp_all, predicted - tp_all, truth - tp_all
        weights = truth if avg == "weighted" else np.ones(len(tp))
    flags = data.general_flags() + _class_flags(tp, fp, fn)
    if avg == "micro":
        tp, fp, fn = tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True)
        weights = np.ones(1)

    if which == "precision":
        num, den = tp, tp + fp
    elif which == "recall":
        num, den = tp, tp + fn
    else:
        b2 = beta * beta
        num, den = (1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp
    values, undefined = _safe_ratio(num, den)
    if np.any(undefined & (weights > 0)):
        flags.append(f"undefined_{which}")
    return Score(float(np.dot(weights, values) / weights.sum()), flags)


def _accuracy(data: _Data) -> Score:
    return Score(float(np.trace(data.cm) / data.cm.sum()), data.general_flags())


def _balanced_accuracy(data: _Data) -> Score:
    truth = data.cm.sum(axis=1)
    present = truth > 0
    recalls = np.diag(data.cm)[present] / truth[present]
    flags = data.general_flags()
    if not np.all(present):
        flags.append("no_positive_truth")
    return Score(float(recalls.mean()), flags)


def _mcc(data: _Data) -> Score:
    cm = data.cm.astype(float)
    n = cm.sum()
    correct = np.trace(cm)
    t = cm.sum(axis=1)
    p = cm.sum(axis=0)
    cov_tp = correct * n - t @ p
    cov_pp = n * n - p @ p
    cov_tt = n * n - t @ t
    flags = data.general_flags()
    den = cov_tt * cov_pp
    if den <= 0:
        flags.append("undefined_mcc")
        return Score(0.0, flags)
    return Score(float(np.clip(cov_tp / math.sqrt(den), -1.0, 1.0)), flags)


def _average_precision(positive: np.ndarray, score: np.ndarray) -> tuple[float, bool]:
    """Average precision of one binary ranking; (0.0, True) when there is no positive."""
    n_pos = int(positive.sum())
    if n_pos == 0:
        return 0.0, True
    order = np.argsort(-score)  # any order within ties: tied samples are grouped below
    s = score[order]
    y = positive[order]
    # one precision/recall point per distinct score: tied samples enter together
    ends = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[ends].astype(float)
    seen = (ends + 1).astype(float)
    prec = tps / seen
    rec = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, rec]) * prec)), False


def _scores_array(y_score: Any) -> np.ndarray:
    a = _as_array(y_score, "y_score")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"y_score must be numeric scores or probabilities, got dtype {a.dtype}")
    a = a.astype(float)
    _check_finite(a, "y_score")
    return a


def _equals(a: np.ndarray, value: Any) -> np.ndarray:
    """Elementwise ``a == value`` that is all False (not an error) across label types."""
    if _is_numeric(a) != isinstance(value, numbers.Number):
        return np.zeros(len(a), dtype=bool)
    return np.asarray(a == value, dtype=bool)


def _pr_auc(y_true: Any, y_score: Any, average: Any, pos_label: Any, labels: Any) -> Score:
    lab = _check_labels(labels)
    s = _scores_array(y_score)
    flags: list[str] = []

    if s.ndim == 1:
        t, _ = _convert(y_true, "y_true", allow_scores=False, labels=lab)
        if len(t) != len(s):
            raise ValueError(
                f"y_true has {len(t)} samples but y_score has {len(s)}; "
                "they must have the same length"
            )
        truth_classes = _unique(t, "y_true")
        if lab is not None:
            _indices(t, lab, "y_true")
        if len(truth_classes) > 2:
            raise ValueError(
                f"y_score is 1-D (the score of one class) but y_true holds {len(truth_classes)} "
                "classes; pass a 2-D (n, k) y_score for multi-class"
            )
        if len(truth_classes) == 2 and _index_of(truth_classes, pos_label) is None:
            raise ValueError(
                f"pos_label={pos_label!r} is not one of the classes {truth_classes.tolist()!r}; "
                "pass pos_label= naming the positive class"
            )
        if len(truth_classes) == 1:
            flags.append("single_class_truth")
        if s.max() == s.min():
            flags.append("constant_score")
        value, undefined = _average_precision(_equals(t, pos_label), s)
        if undefined:
            flags += ["no_positive_truth", "undefined_pr_auc"]
        return Score(value, flags)

    k = s.shape[1]
    if lab is not None and len(lab) != k:
        raise ValueError(
            f"y_score has {k} columns but labels has {len(lab)} entries; labels must name "
            "the class of each column, in order"
        )
    columns = lab if lab is not None else np.arange(k)
    t, _ = _convert(y_true, "y_true", allow_scores=False, labels=lab)
    if len(t) != len(s):
        raise ValueError(
            f"y_true has {len(t)} samples but y_score has {len(s)}; they must have the same length"
        )
    ti = _indices(t, columns, "y_true")
    avg = _resolve_average(average, columns, pos_label, k)
    if len(np.unique(ti)) == 1:
        flags.append("single_class_truth")
    if np.all(s == s[:1]):
        flags.append("constant_score")
    if avg == "binary":
        j = _index_of(columns, pos_label)
        if j is None:
            raise ValueError(
                f"pos_label={pos_label!r} is not one of the y_score columns' classes "
                f"{columns.tolist()!r}; pass pos_label= or labels="
            )
        value, undefined = _average_precision(ti == j, s[:, j])
        if undefined:
            flags += ["no_positive_truth", "undefined_pr_auc"]
        return Score(value, flags)

    onehot = ti[:, None] == np.arange(k)[None, :]
    if avg == "micro":
        value, _ = _average_precision(onehot.ravel(), s.ravel())
        return Score(value, flags)
    aps = np.empty(k)
    undefined = np.zeros(k, dtype=bool)
    for c in range(k):
        aps[c], undefined[c] = _average_precision(onehot[:, c], s[:, c])
    support = onehot.sum(axis=0).astype(float)
    weights = support if avg == "weighted" else np.ones(k)
    if undefined.any():
        flags.append("no_positive_truth")
        if np.any(undefined & (weights > 0)):
            flags.append("undefined_pr_auc")
    return Score(float(np.dot(weights, aps) / weights.sum()), flags)


# ---------------------------------------------------------------------------------------
# public scores


def confusion_matrix(
    y_true: Any, y_pred: Any, labels: Any = None, *, threshold: float = 0.5, logits: bool = False
) -> np.ndarray:
    """Counts of (true class, predicted class) pairs as a ``(k, k)`` int array.

    Rows are the true class, columns the predicted class, both in the order of ``labels``
    (default: the sorted union of the classes in ``y_true`` and ``y_pred``). A label
    outside ``labels`` raises ValueError. Matrices of several batches can be summed, and
    every score here follows from the summed matrix.

    Example:
        >>> confusion_matrix([0, 1, 1, 0], [0, 1, 0, 0]).tolist()
        [[2, 0], [1, 1]]
        >>> confusion_matrix([0, 1], [0.2, 0.9], labels=[1, 0]).tolist()
        [[1, 0], [0, 1]]
    """
    return _Data(y_true, y_pred, labels, threshold, logits).cm.astype(np.int64)


def precision(
    y_true: Any,
    y_pred: Any,
    *,
    average: str = "binary",
    pos_label: Any = 1,
    labels: Any = None,
    threshold: float = 0.5,
    logits: bool = False,
) -> Score:
    """Precision TP / (TP + FP): of the samples predicted positive, the share that are.

    ``average``: ``"binary"`` (the default; the class ``pos_label`` against the rest, needs
    at most two classes), ``"macro"`` (unweighted mean over classes), ``"micro"`` (from the
    summed counts; equals accuracy for single-label multi-class), ``"weighted"`` (mean
    weighted by each class's support in ``y_true``), or ``"auto"`` (binary for two classes,
    else macro). A class never predicted has precision 0/0: it counts as 0.0 and the Score
    carries ``undefined_precision`` and ``no_positive_prediction``.

    Example:
        >>> print(precision([0, 1, 1, 0], [0, 1, 0, 0]))
        1.0
        >>> precision([0, 1, 1, 0], [0, 0, 0, 0]).flags  # doctest: +NORMALIZE_WHITESPACE
        ('constant_prediction', 'no_positive_prediction', 'no_true_positives',
         'undefined_precision')
    """
    data = _Data(y_true, y_pred, labels, threshold, logits)
    return _prf(data, "precision", average, pos_label)


def recall(
    y_true: Any,
    y_pred: Any,
    *,
    average: str = "binary",
    pos_label: Any = 1,
    labels: Any = None,
    threshold: float = 0.5,
    logits: bool = False,
) -> Score:
    """Recall TP / (TP + FN): of the truly positive samples, the share found.

    Averaging as in :func:`precision`. With no positive in ``y_true`` recall is 0/0: it
    counts as 0.0 and the Score carries ``undefined_recall`` and ``no_positive_truth``.

    Example:
        >>> print(recall([0, 1, 1, 0], [0, 1, 0, 0]))
        0.5
        >>> recall([0, 0, 0], [0, 1, 0]).flags
        ('no_positive_truth', 'no_true_positives', 'single_class_truth', 'undefined_recall')
    """
    data = _Data(y_true, y_pred, labels, threshold, logits)
    return _prf(data, "recall", average, pos_label)


def fbeta(
    y_true: Any,
    y_pred: Any,
    beta: float = 1.0,
    *,
    average: str = "binary",
    pos_label: Any = 1,
    labels: Any = None,
    threshold: float = 0.5,
    logits: bool = False,
) -> Score:
    """F-beta: (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP); ``beta > 1`` favours recall.

    Written on counts, it is defined whenever any positive exists (true or predicted) and
    then is 0.0 when TP is 0 (flag ``no_true_positives``); with no positive anywhere it is
    0/0, reported as 0.0 with ``undefined_fbeta``. Averaging as in :func:`precision`
    (macro averages per-class F-beta; micro uses the summed counts).

    Example:
        >>> round(fbeta([1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 1, 0], beta=2), 4)
        0.5263
    """
    b = _check_beta(beta)
    data = _Data(y_true, y_pred, labels, threshold, logits)
    return _prf(data, "fbeta", average, pos_label, b)


def f1(
    y_true: Any,
    y_pred: Any,
    *,
    average: str = "binary",
    pos_label: Any = 1,
    labels: Any = None,
    threshold: float = 0.5,
    logits: bool = False,
) -> Score:
    """F1 = 2 TP / (2 TP + FP + FN), the harmonic mean of precision and recall.

    Corner cases as in :func:`fbeta` (flag ``undefined_f1`` when there is no positive
    anywhere). Averaging as in :func:`precision`.

    Example:
        >>> round(f1([0, 1, 1, 0], [0, 1, 0, 0]), 4)
        0.6667
        >>> f1([0, 1, 0, 1], [0.1, 0.8, 0.3, 0.4]) == 2 / 3   # probabilities, p > 0.5
        True
    """
    data = _Data(y_true, y_pred, labels, threshold, logits)
    return _prf(data, "f1", average, pos_label)


def accuracy(y_true: Any, y_pred: Any, *, threshold: float = 0.5, logits: bool = False) -> Score:
    """Share of samples predicted correctly. Misleading on imbalanced data: see
    :func:`imbalance_warning`. Never 0/0 (empty input raises ValueError).

    Example:
        >>> print(accuracy([0, 1, 1, 0], [0, 1, 0, 0]))
        0.75
    """
    return _accuracy(_Data(y_true, y_pred, None, threshold, logits))


def balanced_accuracy(
    y_true: Any, y_pred: Any, *, labels: Any = None, threshold: float = 0.5, logits: bool = False
) -> Score:
    """Mean recall over the classes present in ``y_true`` (binary: (TPR + TNR) / 2).

    A class absent from ``y_true`` (only predicted, or named in ``labels``) has no recall
    and is left out of the mean, with the flag ``no_positive_truth``; with a single class in
    the truth the score is that class's recall (flag ``single_class_truth``). A constant
    predictor scores 1/k for k classes in the truth.

    Example:
        >>> print(balanced_accuracy([0, 0, 0, 1], [0, 0, 1, 1]))
        0.8333333333333333
    """
    return _balanced_accuracy(_Data(y_true, y_pred, labels, threshold, logits))


def matthews_corrcoef(
    y_true: Any, y_pred: Any, *, labels: Any = None, threshold: float = 0.5, logits: bool = False
) -> Score:
    """Matthews correlation coefficient in [-1, 1]; 0 is chance level. Multi-class uses
    the K-category generalisation (Gorodkin's R_K) on the full confusion matrix.

    When the denominator is 0 (constant prediction, or a single class in the truth) it is
    0/0: reported as 0.0 with the flag ``undefined_mcc``.

    Example:
        >>> print(matthews_corrcoef([1, 1, 0, 0], [0, 0, 1, 1]))
        -1.0
        >>> matthews_corrcoef([0, 1, 0, 1], [1, 1, 1, 1]).flags
        ('constant_prediction', 'undefined_mcc')
    """
    return _mcc(_Data(y_true, y_pred, labels, threshold, logits))


def pr_auc(
    y_true: Any,
    y_score: Any,
    *,
    average: str = "binary",
    pos_label: Any = 1,
    labels: Any = None,
) -> Score:
    """Area under the precision-recall curve, as average precision: the sum over
    thresholds of (R_n - R_{n-1}) * P_n, tied scores entering together (no interpolation).

    ``y_score``: a 1-D score or probability of ``pos_label`` (binary ``y_true``), or a
    2-D ``(n, k)`` matrix whose columns are the classes ``0..k-1`` (or ``labels``, in
    order). For 2-D, ``average="binary"`` uses the ``pos_label`` column (k = 2) and
    ``"macro"``/``"weighted"`` average one-vs-rest AP per class; ``"micro"`` pools all
    one-vs-rest pairs. A class with no positive in ``y_true`` has AP 0/0: 0.0 with flags
    ``no_positive_truth`` and ``undefined_pr_auc``. A random ranking scores about the
    positive rate, not 0.5.

    Example:
        >>> round(pr_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
        0.8333
    """
    return _pr_auc(y_true, y_score, average, pos_label, labels)


# ---------------------------------------------------------------------------------------
# names, direction, baselines


METRICS: dict[str, Callable[..., Score]] = {
    "accuracy": accuracy,
    "precision": precision,
    "recall": recall,
    "f1": f1,
    "fbeta": fbeta,
    "balanced_accuracy": balanced_accuracy,
    "mcc": matthews_corrcoef,
    "pr_auc": pr_auc,
}
"""Scores usable as scan metrics, by name. Each is called ``fn(y_true, y_pred, **kw)``
(``pr_auc`` takes scores as its second argument). :func:`get_metric` also accepts the
``val_``/``test_`` prefixes and common aliases (``acc``, ``f1_score``, ``matthews_corrcoef``,
``average_precision``, ...)."""

_ALIASES = {
    "acc": "accuracy",
    "binary_accuracy": "accuracy",
    "categorical_accuracy": "accuracy",
    "sparse_categorical_accuracy": "accuracy",
    "f1_score": "f1",
    "fbeta_score": "fbeta",
    "balanced_acc": "balanced_accuracy",
    "matthews_corrcoef": "mcc",
    "average_precision": "pr_auc",
    "ap": "pr_auc",
    "auprc": "pr_auc",
}
_PREFIXES = ("val_", "test_", "train_")
_LOSS_PARTS = ("loss", "error", "mse", "mae", "crossentropy", "hinge", "divergence", "poisson")
_LOSS_TOKENS = {"err", "kld", "nll", "mape", "msle", "logcosh", "brier", "regret"}
_SCORE_TOKENS = {
    "accuracy",
    "acc",
    "f1",
    "fbeta",
    "precision",
    "recall",
    "auc",
    "prauc",
    "mcc",
    "ap",
    "auprc",
    "matthews",
    "corrcoef",
    "iou",
    "dice",
    "r2",
    "sensitivity",
    "specificity",
    "kappa",
    "top",
    "score",
}


def _strip_prefix(name: Any) -> str:
    if not isinstance(name, str):
        raise ValueError(f"metric name must be a string, got {name!r}")
    n = name.strip().lower()
    for prefix in _PREFIXES:
        if n.startswith(prefix):
            return n[len(prefix) :]
    return n


def _canonical(name: Any) -> str | None:
    n = _strip_prefix(name)
    n = _ALIASES.get(n, n)
    return n if n in METRICS else None


def get_metric(name: str) -> Callable[..., Score]:
    """The scoring function registered under ``name`` (``val_``/``test_`` prefixes and
    aliases accepted); ValueError listing the known names otherwise.

    Example:
        >>> get_metric("val_f1") is f1, get_metric("test_acc") is accuracy
        (True, True)
    """
    canonical = _canonical(name)
    if canonical is None:
        raise ValueError(
            f"unknown metric {name!r}; known: {sorted(METRICS)} (and aliases {sorted(_ALIASES)})"
        )
    return METRICS[canonical]


def higher_is_better(name: str) -> bool | None:
    """Whether a larger value of the metric ``name`` is better: True for scores (accuracy,
    F1, precision, AUC, ...), False for loss-like names (containing loss, error, mse,
    mae, crossentropy, ...), None when the name is not recognised. A ``val_``, ``test_``
    or ``train_`` prefix is ignored.

    Example:
        >>> higher_is_better("val_f1"), higher_is_better("val_loss"), higher_is_better("speed")
        (True, False, None)
    """
    from .options import metric_direction  # the one answer, shared with Scan and %%hpo

    return {"max": True, "min": False}.get(metric_direction(_strip_prefix(name)) or "")
    n = _strip_prefix(name)
    if _canonical(n) is not None:
        return True
    if any(part in n for part in _LOSS_PARTS):
        return False
    tokens = {tok for tok in re.split(r"[^a-z0-9.]+", n) if tok}
    if tokens & _LOSS_TOKENS:
        return False
    if tokens & _SCORE_TOKENS or any(re.fullmatch(r"f\d+(\.\d+)?", tok) for tok in tokens):
        return True
    return None


def baseline_score(
    metric_name: str,
    y_true: Any,
    *,
    average: str = "binary",
    pos_label: Any = 1,
    beta: float = 1.0,
    labels: Any = None,
) -> float:
    """The score of a trivial model on ``y_true``: what a real model must beat.

    - ``accuracy``: the share of the majority class (always predicting it);
    - ``precision``/``recall``/``f1``/``fbeta``: the score of always predicting the
      majority class, with the same ``average``/``pos_label`` (ties between majority
      classes go in the baseline's favour). On imbalanced binary data with a rare
      positive class this is 0.0;
    - ``balanced_accuracy``: 1/k for the k classes in ``y_true``;
    - ``mcc``: 0.0 (any constant or random predictor);
    - ``pr_auc``: the positive rate (binary), the mean class rate 1/k (macro, micro) or
      the sum of squared class rates (weighted): the AP of a constant score.

    Example:
        >>> baseline_score("val_accuracy", [0] * 98 + [1] * 2)
        0.98
        >>> baseline_score("f1", [0] * 98 + [1] * 2), baseline_score("balanced_accuracy", [0, 1, 2])
        (0.0, 0.3333333333333333)
    """
    canonical = _canonical(metric_name)
    if canonical is None:
        raise ValueError(
            f"no baseline for metric {metric_name!r}; baselines exist for {sorted(METRICS)}"
        )
    lab = _check_labels(labels)
    t, width = _convert(y_true, "y_true", allow_scores=False, labels=lab)
    n = len(t)
    if canonical == "pr_auc":  # classes are the score columns
        classes = lab if lab is not None else (np.arange(width) if width else _unique(t, "y_true"))
    else:
        classes = lab if lab is not None else _unique(t, "y_true")
    counts = np.bincount(_indices(t, classes, "y_true"), minlength=len(classes))
    if canonical == "accuracy":
        return float(counts.max() / n)
    if canonical == "balanced_accuracy":
        return 1.0 / int(np.count_nonzero(counts))
    if canonical == "mcc":
        return 0.0
    if canonical == "pr_auc":
        rates = counts / n
        avg = _resolve_average(average, classes, pos_label, width)
        if avg == "binary":
            i = _index_of(classes, pos_label)
            return 0.0 if i is None else float(rates[i])
        if avg == "weighted":
            return float(np.sum(rates * rates))
        return float(rates.mean())
    b = _check_beta(beta)
    best = 0.0
    for j in np.flatnonzero(counts == counts.max()):
        cm = np.zeros((len(classes), len(classes)), dtype=np.int64)
        cm[:, j] = counts  # the constant predictor of class j
        data = _Data.from_counts(classes, cm)
        best = max(best, float(_prf(data, canonical, average, pos_label, b)))
    return best


def _class_counts(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    classes = _unique(t, "y_true")
    return classes, np.bincount(_indices(t, classes, "y_true"), minlength=len(classes))


def degenerate_flags(
    y_true: Any,
    y_pred: Any = None,
    metric_value: float | None = None,
    metric_name: str | None = None,
    *,
    average: str = "binary",
    pos_label: Any = 1,
    beta: float = 1.0,
    labels: Any = None,
    threshold: float = 0.5,
    logits: bool = False,
    tol: float = 1e-9,
) -> list[str]:
    """Signs that a model learned nothing: a sorted list of flags, empty when none.

    - ``constant_prediction``: ``y_pred`` holds one class; ``majority_class_prediction``
      when that class is the majority class of ``y_true``;
    - ``no_better_than_baseline``: ``metric_value`` (for ``metric_name``, a known score)
      is at most :func:`baseline_score` (+ ``tol``). Loss-like and unknown names are not
      compared;
    - ``nan_metric``: ``metric_value`` is NaN.

    Example:
        >>> y = [0] * 9 + [1]
        >>> degenerate_flags(y, [0] * 10, metric_value=0.9, metric_name="val_accuracy")
        ['constant_prediction', 'majority_class_prediction', 'no_better_than_baseline']
        >>> degenerate_flags(y, y, metric_value=1.0, metric_name="accuracy")
        []
    """
    flags: list[str] = []
    if y_pred is not None:
        data = _Data(y_true, y_pred, labels, threshold, logits)
        predicted = data.cm.sum(axis=0)
        if np.count_nonzero(predicted) == 1:
            flags.append("constant_prediction")
            truth = data.cm.sum(axis=1)
            if truth[np.argmax(predicted)] == truth.max():
                flags.append("majority_class_prediction")
    if metric_value is not None:
        if metric_name is None:
            raise ValueError("metric_value needs metric_name, to know its baseline")
        value = float(metric_value)
        if math.isnan(value):
            flags.append("nan_metric")
        elif higher_is_better(metric_name) and _canonical(metric_name) is not None:
            base = baseline_score(
                metric_name, y_true, average=average, pos_label=pos_label, beta=beta, labels=labels
            )
            if value <= base + tol:
                flags.append("no_better_than_baseline")
    return sorted(flags)


def imbalance_warning(y_true: Any, metric_name: str, *, min_fraction: float = 0.10) -> str | None:
    """A message when ``metric_name`` is accuracy and a class of ``y_true`` is under
    ``min_fraction`` (10%) of the data, or when ``y_true`` holds a single class; else None.
    Nothing is emitted through ``warnings``: show the message where it helps.

    Example:
        >>> message = imbalance_warning([0] * 98 + [1] * 2, "val_accuracy")
        >>> print(message)  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
        'val_accuracy' is misleading here: class 1 is 2.0% of y_true (2 of 100), so always
        predicting the majority class already scores 0.980. Score with 'f1' (or 'fbeta'), ...
        >>> imbalance_warning([0] * 98 + [1] * 2, "val_f1") is None
        True
    """
    if _canonical(metric_name) != "accuracy":
        return None
    t, width = _convert(y_true, "y_true", allow_scores=False)
    if width:
        classes, counts = np.arange(width), np.bincount(t, minlength=width)
    else:
        classes, counts = _class_counts(t)
    n = len(t)
    advice = "Score with 'f1' (or 'fbeta'), 'balanced_accuracy', 'mcc' or 'pr_auc' instead."
    if np.count_nonzero(counts) == 1:
        only = _py(classes[np.argmax(counts)])
        return (
            f"{metric_name!r} cannot tell a model from a constant predictor: y_true holds a "
            f"single class ({only!r}). Check the validation split. {advice}"
        )
    i = int(np.argmin(counts))
    share = counts[i] / n
    if share < min_fraction:
        return (
            f"{metric_name!r} is misleading here: class {_py(classes[i])!r} is {share:.1%} of "
            f"y_true ({int(counts[i])} of {n}), so always predicting the majority class "
            f"already scores {counts.max() / n:.3f}. {advice}"
        )
    return None


# ---------------------------------------------------------------------------------------
# everything at once


def _looks_like_scores(y_pred: Any) -> bool:
    """True for a 2-D (n, k) matrix or a 1-D array of non-integer numbers."""
    a = np.asarray(y_pred)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.dtype.kind not in "biuf":
        return False
    if a.ndim == 2:
        return True
    if a.dtype.kind != "f":
        return False
    finite = a[np.isfinite(a)]
    return bool(finite.size) and not bool(np.all(finite == np.floor(finite)))


def classification_report(
    y_true: Any,
    y_pred: Any = None,
    y_score: Any = None,
    *,
    average: str = "binary",
    pos_label: Any = 1,
    beta: float = 1.0,
    labels: Any = None,
    threshold: float = 0.5,
    logits: bool = False,
    metric: str | None = None,
) -> dict[str, Any]:
    """All scores of one prediction at once, as a plain dict with ``flags``.

    ``y_pred`` may be labels or probabilities; when it holds probabilities (or a 2-D
    matrix) and ``y_score`` is not given, it also serves as ``y_score`` for ``pr_auc``.
    Either may be omitted, not both. ``metric`` names the scan metric: it adds the
    degenerate-model check (:func:`degenerate_flags`) for that score.

    Keys: ``n``, ``classes``, ``average`` (resolved), ``accuracy``, ``precision``,
    ``recall``, ``f1``, ``fbeta`` (with ``beta``), ``balanced_accuracy``, ``mcc``,
    ``pr_auc`` (None without scores), ``support`` (class -> count in y_true),
    ``per_class`` (class -> precision/recall/f1/support), ``baseline`` (metric ->
    :func:`baseline_score`), ``flags`` (sorted union of every score's flags and the
    degenerate checks) and ``warnings`` (messages such as :func:`imbalance_warning`).

    Example:
        >>> r = classification_report([0, 1, 0, 1], [0.2, 0.9, 0.3, 0.4])
        >>> r["f1"], r["recall"], r["pr_auc"], r["flags"]
        (0.6666666666666666, 0.5, 1.0, [])
        >>> r = classification_report([0, 1, 0, 1], [0.2, 0.4, 0.3, 0.1])
        >>> r["f1"], r["pr_auc"], r["flags"]  # doctest: +NORMALIZE_WHITESPACE
        (0.0, 0.75, ['constant_prediction', 'majority_class_prediction', 'no_positive_prediction',
                     'no_true_positives', 'undefined_mcc', 'undefined_precision'])
    """
    if y_pred is None and y_score is None:
        raise ValueError("pass y_pred (labels or probabilities) and/or y_score")
    if y_pred is None:
        y_pred = y_score
    elif y_score is None and _looks_like_scores(y_pred):
        y_score = y_pred
    b = _check_beta(beta)
    data = _Data(y_true, y_pred, labels, threshold, logits)
    avg = _resolve_average(average, data.classes, pos_label, data.width)

    scores: dict[str, Score] = {
        "accuracy": _accuracy(data),
        "precision": _prf(data, "precision", avg, pos_label),
        "recall": _prf(data, "recall", avg, pos_label),
        "f1": _prf(data, "f1", avg, pos_label),
        "fbeta": _prf(data, "fbeta", avg, pos_label, b),
        "balanced_accuracy": _balanced_accuracy(data),
        "mcc": _mcc(data),
    }
    if y_score is not None:
        scores["pr_auc"] = _pr_auc(y_true, y_score, avg, pos_label, labels)

    flags: set[str] = set()
    for s in scores.values():
        flags.update(s.flags)
    baseline = {
        name: baseline_score(name, data.t, average=avg, pos_label=pos_label, beta=b, labels=labels)
        for name in scores
    }
    if metric is not None:
        canonical = _canonical(metric)
        if canonical not in scores:
            raise ValueError(
                f"metric {metric!r} is not one of the computed scores {sorted(scores)}"
            )
        flags.update(
            degenerate_flags(
                data.t,
                data.p,
                float(scores[canonical]),
                canonical,
                average=avg,
                pos_label=pos_label,
                beta=b,
                labels=labels,
            )
        )
    elif "constant_prediction" in flags:
        flags.update(degenerate_flags(data.t, data.p, labels=labels))

    cm = data.cm
    tp = np.diag(cm).astype(float)
    predicted = cm.sum(axis=0)
    truth = cm.sum(axis=1)
    prec, _ = _safe_ratio(tp, predicted)
    rec, _ = _safe_ratio(tp, truth)
    f1s, _ = _safe_ratio(2 * tp, truth + predicted)
    classes = [_py(c) for c in data.classes]
    per_class = {
        c: {
            "precision": float(prec[i]),
            "recall": float(rec[i]),
            "f1": float(f1s[i]),
            "support": int(truth[i]),
        }
        for i, c in enumerate(classes)
    }
    warning = imbalance_warning(data.t, "accuracy")
    report: dict[str, Any] = {"n": int(cm.sum()), "classes": classes, "average": avg}
    if avg == "binary":
        report["pos_label"] = pos_label
    report["beta"] = b
    report.update({name: float(s) for name, s in scores.items()})
    report.setdefault("pr_auc", None)
    report["support"] = {c: int(truth[i]) for i, c in enumerate(classes)}
    report["per_class"] = per_class
    report["baseline"] = baseline
    report["flags"] = sorted(flags)
    report["warnings"] = [warning] if warning else []
    return report
