"""Keras 3 glue: scan a model-building function without new syntax, with honest scores.

``KerasScan(build, space, x, y, ...)`` splits the data once (seeded, stratified for
classification), holds out a test set the search never touches, fits one model per
trial, reports every epoch to ``trial.report`` (live curves, pruning), scores the
chosen metric on the whole validation set (``metrics.py``: F1, balanced accuracy, MCC,
PR-AUC, ... with their corner cases flagged), flags degenerate models, and keeps only
the best model's weights, on disk in the scan folder.

Memory: by default trials run in worker processes (:class:`~hpo_widgets.workers.
ProcessWorkers`) that are replaced when they grow, so the kernel never imports the
framework and stays flat over hundreds of trials; ``workers=0`` runs trials in the
kernel's threads instead. Keras is imported lazily, inside the trial.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import numbers
import os
import shutil
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics as M
from .options import base_metric as _base_name
from .options import metric_direction
from .scan import Scan, ScanEvent
from .space import Space

__all__ = ["KerasScan"]

log = logging.getLogger("hpo_widgets")

_OUR_METRICS = ("f1", "precision", "recall", "balanced_accuracy", "mcc", "pr_auc", "fbeta")
_DATA_CACHE: dict[tuple[str, str], dict[str, Any]] = {}   # (folder, token) -> data
# per (weights folder, data token): the best value this process saved. The token names one
# KerasScan object's data, so a worker forked from the kernel, or a warm one that served an
# earlier scan in the same folder, never skips saving on a value it saw for another scan.
_BEST_SEEN: dict[tuple[str, str], float] = {}


# -- data ------------------------------------------------------------------------------------
# x is one array, or several inputs (a list of arrays, or a dict of them by input name) for a
# functional model with several inputs; every row-wise step (split, folds, scoring) goes
# through these helpers so each input is cut the same way.
XData = Any   # np.ndarray | list[np.ndarray] | dict[str, np.ndarray]

#: Keras metric names that only make sense with class labels.
_CLASSIFICATION = (*_OUR_METRICS, "accuracy", "binary_accuracy", "categorical_accuracy",
                   "sparse_categorical_accuracy", "auc")


def _to_numpy(obj: Any, what: str) -> np.ndarray:
    if obj is None:
        raise ValueError(f"{what} is missing")
    to_numpy = getattr(obj, "to_numpy", None)   # pandas
    if callable(to_numpy):
        return np.asarray(to_numpy())
    return np.asarray(obj)


def _is_multi(x: Any) -> bool:
    """Several inputs: a dict of arrays, or a list/tuple whose items are arrays or frames
    of the same length (a list of plain rows is one input)."""
    if isinstance(x, Mapping):
        return True
    if isinstance(x, list | tuple) and x and all(hasattr(a, "shape") for a in x):
        lengths = {len(a) for a in x}
        return len(lengths) == 1 and len(x) > 1
    return False


def _leaves(x: XData) -> list[tuple[str, np.ndarray]]:
    """(name, array) for every input of ``x``."""
    if isinstance(x, dict):
        return [(str(k), v) for k, v in x.items()]
    if isinstance(x, list):
        return [(str(i), v) for i, v in enumerate(x)]
    return [("", x)]


def _map(fn: Callable[[np.ndarray], np.ndarray], x: XData) -> XData:
    if isinstance(x, dict):
        return {k: fn(v) for k, v in x.items()}
    if isinstance(x, list):
        return [fn(v) for v in x]
    return fn(x)


def _rows(x: XData) -> int:
    return len(_leaves(x)[0][1])


def _take(x: XData, idx: np.ndarray) -> XData:
    return _map(lambda a: a[idx], x)


def _concat(a: XData, b: XData) -> XData:
    if isinstance(a, dict):
        return {k: np.concatenate([a[k], b[k]]) for k in a}
    if isinstance(a, list):
        return [np.concatenate([u, v]) for u, v in zip(a, b, strict=True)]
    return np.concatenate([a, b])


def _numeric_x(a: np.ndarray, what: str) -> np.ndarray:
    """``a`` as numbers the model can train on; a clear error, naming the fix, if not.

    Data prepared the Talos way (``pd.get_dummies(df)`` then ``.values``) is an object
    array of bools and numbers: converted here, once, so worker processes can map it.
    """
    if a.dtype.kind in "OUS":
        try:
            a = a.astype(np.float32)
        except (TypeError, ValueError):
            bad = next((v for v in a.ravel() if not _number_like(v)), None)
            raise ValueError(
                f"{what} holds values that are not numbers (e.g. {bad!r}); encode them "
                "first, e.g. pd.get_dummies(df) for categories, or sklearn's "
                "OrdinalEncoder, and fill missing values (df.fillna)") from None
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        bad_rows = np.flatnonzero(~np.isfinite(a.reshape(len(a), -1)).all(axis=1))
        raise ValueError(
            f"{what} holds NaN or infinite values in {len(bad_rows)} row(s) (first: row "
            f"{int(bad_rows[0])}); a model trained on them gives NaN losses. Fill or drop "
            "them first: df.fillna(...)/df.dropna(), or sklearn's SimpleImputer")
    return a


def _number_like(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _numeric_y(a: np.ndarray, what: str) -> tuple[np.ndarray, list[Any] | None]:
    """(y as numbers, the original class names when string labels were encoded)."""
    if a.dtype.kind in "OUS":
        try:
            num = a.astype(np.float64)
        except (TypeError, ValueError):
            if a.ndim != 1 and not (a.ndim == 2 and a.shape[1] == 1):
                raise ValueError(f"{what} holds values that are not numbers; encode them "
                                 "first (sklearn's LabelEncoder)") from None
            from sklearn.preprocessing import LabelEncoder

            enc = LabelEncoder()
            try:
                codes = enc.fit_transform(a.reshape(-1).astype(str))
            except (TypeError, ValueError) as e:
                raise ValueError(f"{what}: cannot encode the labels ({e}); encode them "
                                 "with sklearn's LabelEncoder first") from None
            return codes.astype(np.int64), list(enc.classes_.tolist())
        a = num.astype(np.int64) if np.all(np.mod(num, 1) == 0) else num
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ValueError(f"{what} holds NaN or infinite values; drop those rows (or fill "
                         "them) before the scan")
    return a, None


def _x_only(x: Any, what: str) -> XData:
    if _is_multi(x):
        if isinstance(x, Mapping):
            return {str(k): _numeric_x(_to_numpy(v, f"{what} x[{k!r}]"), f"{what} x[{k!r}]")
                    for k, v in x.items()}
        return [_numeric_x(_to_numpy(v, f"{what} x[{i}]"), f"{what} x[{i}]")
                for i, v in enumerate(x)]
    return _numeric_x(_to_numpy(x, f"{what} x"), f"{what} x")


def _xy(x: Any, y: Any, what: str) -> tuple[XData, np.ndarray, list[Any] | None]:
    if y is None and type(x).__module__.startswith("tensorflow"):
        xa, ya = _from_dataset(x)
        return _numeric_x(xa, f"{what} x"), *_numeric_y(ya, f"{what} y")
    xs = _x_only(x, what)
    ya, classes = _numeric_y(_to_numpy(y, f"{what} y"), f"{what} y")
    for name, leaf in _leaves(xs):
        if len(leaf) != len(ya):
            where = f"x[{name}]" if name else "x"
            raise ValueError(f"{what}: {where} has {len(leaf)} rows but y has {len(ya)}; they "
                             "must match")
    return xs, ya, classes


def _from_dataset(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    """A finite ``tf.data.Dataset`` of (x, y) pairs, batched or not, as two arrays."""
    spec = ds.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise ValueError("a tf.data.Dataset must yield (x, y) pairs")
    batched = len(spec[0].shape) > 0 and spec[0].shape[0] is None
    pairs = list(ds.as_numpy_iterator())
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    if not xs:
        raise ValueError("the tf.data.Dataset is empty")
    join = np.concatenate if batched else np.stack
    return join([np.asarray(a) for a in xs]), join([np.asarray(b) for b in ys])


def _labels(y: np.ndarray) -> np.ndarray | None:
    """Class labels if ``y`` looks like a classification target, else ``None``."""
    if y.ndim == 2 and y.shape[1] > 1 and np.all((y == 0) | (y == 1)) \
            and np.all(y.sum(axis=1) == 1):
        return y.argmax(axis=1)
    flat = y.reshape(len(y), -1)
    if flat.shape[1] != 1:
        return None
    v = flat[:, 0]
    if v.dtype.kind in "biu" or (v.dtype.kind == "f" and np.all(np.mod(v, 1) == 0)
                                 and len(np.unique(v)) <= 50):
        return v.astype(np.int64)
    return None


def _split(n: int, frac: float, labels: np.ndarray | None,
           seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held) index arrays, seeded; stratified by ``labels`` when every class can
    appear on both sides (scikit-learn's ``train_test_split``)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    if frac <= 0:
        return idx, idx[:0]
    strat = labels
    if labels is not None:
        _, counts = np.unique(labels, return_counts=True)
        if counts.min() < 2:
            strat = None
    size: float | int = frac
    if strat is not None:   # every class in the held-out part, as a stratified split needs
        size = max(round(n * frac), len(np.unique(strat)))
        if n - size < len(np.unique(strat)):
            strat, size = None, frac
    keep, held = train_test_split(idx, test_size=size, random_state=seed, shuffle=True,
                                  stratify=strat)
    return np.sort(keep), np.sort(held)


def _folds(n: int, k: int, labels: np.ndarray | None, seed: int) -> list[tuple[np.ndarray,
                                                                                np.ndarray]]:
    """``k`` (train, scored) index pairs: stratified when every class has ``k`` rows."""
    from sklearn.model_selection import KFold, StratifiedKFold

    idx = np.arange(n)
    if labels is not None and np.unique(labels, return_counts=True)[1].min() >= k:
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(idx, labels))
    return list(KFold(k, shuffle=True, random_state=seed).split(idx))


#: Arrays up to this size are read into a worker's memory; larger ones are memory-mapped.
#: Keras slices its batches out of the arrays every epoch, and slicing a memory map
#: costs more than slicing memory.
_IN_MEMORY_BYTES = 512 * 2**20


def _save_data(data_dir: Path, parts: dict[str, XData]) -> str:
    """Write the arrays; returns a token naming this very data (a warm worker that cached
    an earlier scan's data under the same folder must not reuse it)."""
    import uuid

    token = uuid.uuid4().hex
    layout: dict[str, Any] = {"token": token}
    for key, x in parts.items():
        kind = "dict" if isinstance(x, dict) else "list" if isinstance(x, list) else "array"
        names = [n for n, _ in _leaves(x)]
        layout[key] = {"kind": kind, "names": names}
        for n, leaf in _leaves(x):
            np.save(data_dir / (f"{key}@{names.index(n)}.npy" if kind != "array"
                                else f"{key}.npy"), np.ascontiguousarray(leaf))
    (data_dir / "layout.json").write_text(json.dumps(layout))
    return token


def _load_data(path: str, token: str) -> dict[str, XData]:
    data = _DATA_CACHE.get((path, token))
    if data is None:
        folder = Path(path)
        layout = json.loads((folder / "layout.json").read_text())

        def read(name: str) -> np.ndarray:
            f = folder / name
            mmap = "r" if f.stat().st_size > _IN_MEMORY_BYTES else None
            return np.load(f, mmap_mode=mmap)

        data = {}
        for key, spec in layout.items():
            if key == "token":
                continue
            if spec["kind"] == "array":
                data[key] = read(f"{key}.npy")
            else:
                leaves = [read(f"{key}@{i}.npy") for i in range(len(spec["names"]))]
                data[key] = dict(zip(spec["names"], leaves, strict=True)) \
                    if spec["kind"] == "dict" else leaves
        _DATA_CACHE.clear()   # one scan's data per process at a time
        _DATA_CACHE[(path, token)] = data
    return data


# -- scoring ---------------------------------------------------------------------------------
def _classification_scores(y_true: np.ndarray, y_prob: np.ndarray, n_classes: int,
                           prefix: str, metric: str) -> dict[str, Any]:
    y_prob = np.asarray(y_prob)
    if y_prob.ndim == 2 and y_prob.shape[1] == 1:
        y_prob = y_prob[:, 0]
    average = "binary" if n_classes <= 2 else "macro"
    logits = bool(y_prob.size and (y_prob.min() < 0 or y_prob.max() > 1))
    labels = list(range(max(n_classes, 2)))
    # metric= makes the report add the degenerate-model flags (constant predictions, no
    # better than the majority-class baseline) to the corner-case flags
    base = _base_name(metric)
    scored = base in (*_OUR_METRICS, "accuracy")
    rep = M.classification_report(y_true, y_prob, y_score=y_prob, average=average,
                                  labels=labels, logits=logits, metric=base if scored else None)
    if not scored:   # e.g. val_loss: still flag a model that predicts one class only
        rep["flags"] = sorted(set(rep.get("flags", [])) | set(M.degenerate_flags(
            y_true, M.to_labels(y_prob, logits=logits), average=average, labels=labels)))
    out: dict[str, Any] = {}
    for k in ("accuracy", "precision", "recall", "f1", "balanced_accuracy", "mcc", "pr_auc"):
        v = rep.get(k)
        if v is not None:
            out[f"{prefix}{k}"] = float(v)
    flags = set(rep.get("flags", []))
    out["flags"] = ",".join(sorted(flags))
    out["degenerate"] = bool(flags & {"constant_prediction", "no_better_than_baseline",
                                      "majority_class_prediction"})
    return out


def _one_score(y_true: np.ndarray, y_prob: np.ndarray, n_classes: int, base: str) -> float:
    """One of our scores (``base``: f1, mcc, ...), without the rest of the report: what
    the per-epoch reporter needs, at a fraction of a full report's cost."""
    y_prob = np.asarray(y_prob)
    if y_prob.ndim == 2 and y_prob.shape[1] == 1:
        y_prob = y_prob[:, 0]
    logits = bool(y_prob.size and (y_prob.min() < 0 or y_prob.max() > 1))
    labels = list(range(max(n_classes, 2)))
    average = "binary" if n_classes <= 2 else "macro"
    if base == "pr_auc":
        return float(M.pr_auc(y_true, y_prob if y_prob.ndim == 2 or not logits else
                              1 / (1 + np.exp(-y_prob)), average=average, labels=labels))
    fn = M.get_metric(base)
    kw: dict[str, Any] = {"labels": labels, "logits": logits}
    if base not in ("mcc", "balanced_accuracy"):
        kw["average"] = average
    return float(fn(y_true, y_prob, **kw))


def _honest_labels(y_prob: np.ndarray) -> np.ndarray:
    """Class labels of a model's outputs, as our other scores read them (a 1-D output
    outside [0, 1] is a logit, thresholded at 0)."""
    y_prob = np.asarray(y_prob)
    logits = bool(y_prob.size and (y_prob.min() < 0 or y_prob.max() > 1))
    return M.to_labels(y_prob, logits=logits)


def _honest_scores(y_val: np.ndarray, y_prob: np.ndarray, *, y_train: np.ndarray | None = None,
                   p_train: np.ndarray | None = None, keep: str | None = None,
                   trial: Any = None, task: str = "classification") -> dict[str, Any]:
    """``honest.score`` of a Keras model's outputs (probabilities, logits or values)."""
    from . import honest

    if task == "classification":
        y_prob = _honest_labels(y_prob)
        p_train = None if p_train is None else _honest_labels(p_train)
    return honest.score(y_val, y_prob, y_train=y_train, p_train=p_train, keep=keep,
                        trial=trial, task=task)


#: The train-validation gap of the honest score is measured on at most this many training
#: rows (a seeded sample, the same every trial): predicting them costs little, and 5,000
#: rows pin an MCC down to about +-0.01.
HONEST_TRAIN_ROWS = 5000


def _train_sample(n: int, seed: int) -> np.ndarray:
    if n <= HONEST_TRAIN_ROWS:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, HONEST_TRAIN_ROWS, replace=False))


def _predict(model: Any, x: XData, batch: int = 4096) -> np.ndarray:
    """Model outputs for ``x`` (one array, or a list/dict of inputs), by calling the model
    on chunks.

    ``model.predict`` traces a new predict function for every new model (about 0.3 s a
    trial here, every epoch when the reporter scores F1); a direct call does not. A model
    a direct call does not suit (a subclassed model with its own input handling) gets
    ``model.predict``.
    """
    import keras

    n = _rows(x)
    try:
        parts = [keras.ops.convert_to_numpy(model(_map(lambda a, i=i: np.asarray(a[i:i + batch]),
                                                       x), training=False))
                 for i in range(0, n, batch)]
    except (TypeError, ValueError):
        out = model.predict(x, verbose=0, batch_size=min(batch, max(n, 1)))
        if isinstance(out, list | tuple | dict):
            raise ValueError("the model has several outputs; KerasScan scores one") from None
        return np.asarray(out)
    return np.concatenate(parts) if parts else np.empty((0,))


def _score(model: Any, x: XData, y: np.ndarray, metric: str, n_classes: int | None,
           batch_size: int) -> float:
    """``metric`` (its base name) of ``model`` on ``(x, y)``."""
    base = _base_name(metric)
    if base == "honest":
        # held-out rows are scored by the honest score's base metric: its bootstrap
        # penalty measures the validation noise, which a CV or test score does not carry
        y_prob = _predict(model, x)
        if n_classes is None:
            from sklearn.metrics import r2_score

            return float(r2_score(np.asarray(y, dtype=float).ravel(),
                                  np.asarray(y_prob, dtype=float).ravel()))
        from sklearn.metrics import matthews_corrcoef

        labels = _labels(y)
        assert labels is not None
        return float(matthews_corrcoef(labels, _honest_labels(y_prob)))
    if n_classes is not None and base in (*_OUR_METRICS, "accuracy"):
        y_prob = _predict(model, x)
        labels = _labels(y)
        assert labels is not None
        return float(_classification_scores(labels, y_prob, n_classes, "", metric)[base])
    res = model.evaluate(x, y, verbose=0, batch_size=max(batch_size, 256), return_dict=True)
    if base not in res:
        raise ValueError(f"the model reports {sorted(res)}, not {base!r}")
    return float(res[base])


def _epoch_reporter(trial: Any, metric: str, x_val: XData,
                    y_val_labels: np.ndarray | None, n_classes: int | None) -> Any:
    """A Keras callback that reports the scan's metric every epoch and stops when pruned."""
    import keras

    class Reporter(keras.callbacks.Callback):
        last_prob: np.ndarray | None = None   # validation outputs at the last epoch's end

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            value = logs.get(metric)
            self.last_prob = None
            if value is None and n_classes is not None and \
                    _base_name(metric) in (*_OUR_METRICS, "honest") and \
                    y_val_labels is not None:
                try:
                    y_prob = self.last_prob = _predict(self.model, x_val)
                except Exception:  # noqa: BLE001 - the final scoring says why, once
                    return
                if _base_name(metric) == "honest":
                    # the cheap path: validation rows only (no gap), nothing kept
                    value = _honest_scores(y_val_labels, y_prob)["honest"]
                else:
                    value = _one_score(y_val_labels, y_prob, n_classes, _base_name(metric))
            if value is not None and math.isfinite(float(value)):
                trial.report(epoch, float(value))
                if trial.should_prune():
                    self.model.stop_training = True

    return Reporter()


#: What a KerasScan worker imports: Keras before it takes a trial, scikit-learn's metrics
#: (for our scores, after training) while its first trial trains.
_PRELOAD = ["keras", "+sklearn.metrics"]

_TF_SEEDED: list[bool] = []   # whether this process has set TensorFlow's global seed


def _seed(seed: int) -> None:
    """Seed a trial: its weight initialisers and dropout draw their seeds from Python's
    generator (Keras 3), data from NumPy's.

    TensorFlow's global seed is set once per process only: ``tf.random.set_seed`` also
    clears TensorFlow's eager kernel cache, so seeding it per trial made every trial
    re-create its kernels (``bench/keras_fit_causes.py`` measures it), a cost a plain loop
    does not pay.
    """
    import random

    if not _TF_SEEDED:
        import keras

        keras.utils.set_random_seed(seed)
        _TF_SEEDED.append(True)
    random.seed(seed)
    np.random.seed(seed)


#: Suffix of our own score where the model's history already holds a metric of that name
#: (a Talos function compiling ``precision``): the user's value keeps its name.
OURS_SUFFIX = "_hw"


class _KerasTrial:
    """The objective a KerasScan runs (picklable: it travels to worker processes)."""

    def __init__(self, build: Callable[..., Any], talos: bool, data_dir: str, metric: str,
                 epochs: int, batch_size: int, n_classes: int | None, seed: int,
                 weights_dir: str | None, fit_kwargs: dict[str, Any], in_process: bool,
                 minimize: bool = True, data_token: str = "", val_fraction: float = 0.2,
                 reseed: bool = True, scan_dir: str | None = None) -> None:
        self.build, self.talos, self.data_dir = build, talos, data_dir
        self.metric, self.epochs, self.batch_size = metric, epochs, batch_size
        self.n_classes, self.seed, self.weights_dir = n_classes, seed, weights_dir
        self.fit_kwargs, self.in_process = fit_kwargs, in_process
        self.minimize = minimize
        self.data_token, self.val_fraction, self.reseed = data_token, val_fraction, reseed
        # where honest.score keeps validation predictions (for honest.luck); absolute, as
        # data_dir is, because a worker process may run elsewhere
        self.scan_dir = scan_dir

    def data(self) -> dict[str, XData]:
        return _load_data(self.data_dir, self.data_token)

    def __call__(self, params: dict[str, Any], trial: Any) -> dict[str, Any]:
        import keras

        t0 = time.perf_counter()
        d = self.data()
        x_tr, y_tr, x_val, y_val = d["x_train"], d["y_train"], d["x_val"], d["y_val"]
        if self.reseed:
            _seed(self.seed + int(trial.id))
        epochs = int(params.get("epochs", self.epochs))
        batch_size = int(params.get("batch_size", self.batch_size))
        y_val_labels = _labels(np.asarray(y_val)) if self.n_classes is not None else None
        fit_s = build_s = 0.0
        cb: Any = None
        if self.talos:
            t_fit = time.perf_counter()
            out = self.build(x_tr, y_tr, x_val, y_val, params)
            fit_s = time.perf_counter() - t_fit
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("a Talos-style model function must return (history, model)")
            history, model = out
            # the epochs already ran: report them now so curves and pruners see them
            for i, v in enumerate((getattr(history, "history", None) or {}).get(self.metric,
                                                                                   [])):
                trial.report(i, float(v))
        else:
            t_build = time.perf_counter()
            model = self.build(params)
            build_s = time.perf_counter() - t_build
            if not hasattr(model, "fit"):
                raise TypeError(f"build(params) must return a compiled keras.Model, got "
                                f"{type(model).__name__}")
            if getattr(model, "optimizer", None) is None:
                raise ValueError("build(params) returned a model that is not compiled; call "
                                 "model.compile(optimizer=..., loss=..., metrics=[...]) in it")
            cb = _epoch_reporter(trial, self.metric, x_val, y_val_labels, self.n_classes)
            t_fit = time.perf_counter()
            history = model.fit(x_tr, y_tr, validation_data=(x_val, y_val), epochs=epochs,
                                batch_size=batch_size, verbose=0,
                                callbacks=[cb, *self.fit_kwargs.get("callbacks", [])],
                                **{k: v for k, v in self.fit_kwargs.items() if k != "callbacks"})
            fit_s = time.perf_counter() - t_fit
        metrics: dict[str, Any] = {}
        for k, vs in (getattr(history, "history", None) or {}).items():
            if vs:
                metrics[k] = float(vs[-1])
        metrics["epochs_run"] = len(getattr(history, "epoch", []) or [])
        y_prob = None
        if self.n_classes is not None and y_val_labels is not None:
            y_prob = self._add_our_scores(metrics, model, cb, x_val, y_val_labels)
        if (y_prob is not None or _base_name(self.metric) == "honest") \
                and not metrics.get("scored_from_history"):
            self._add_honest(metrics, model, y_prob, trial, d)
        value = metrics.get(self.metric)
        if value is None and metrics.get("scoring_error"):
            raise RuntimeError(f"could not score {self.metric!r} on the validation data "
                               f"({metrics['scoring_error']}); the model's history holds "
                               f"{sorted(k for k in metrics if k.startswith('val_'))}: pass "
                               "metric= one of them")
        if self.weights_dir is not None and isinstance(value, float) and math.isfinite(value):
            # Save only what can be the scan's best: it beats everything this process has
            # seen (the scan's best always does). Saving every model cost ~50 ms a trial.
            seen_key = (self.weights_dir, self.data_token)
            seen = _BEST_SEEN.get(seen_key)
            if seen is None or (value < seen if self.minimize else value > seen):
                _BEST_SEEN[seen_key] = value
                model.save_weights(os.path.join(self.weights_dir,
                                                f"trial-{trial.id}.weights.h5"))
        metrics["fit_seconds"] = fit_s
        metrics["build_seconds"] = build_s
        metrics["trial_seconds"] = time.perf_counter() - t0
        if self.in_process:
            # In the kernel's own process: drop the graph state Keras keeps per model.
            # (Worker processes are recycled instead, which bounds memory for real.)
            del model
            with contextlib.suppress(TypeError):
                keras.backend.clear_session(free_memory=False)
        return metrics

    def _add_honest(self, metrics: dict[str, Any], model: Any, y_prob: np.ndarray | None,
                    trial: Any, d: dict[str, XData]) -> None:
        """The honest score's columns (``honest``, ``honest_mcc``, ...; ``honest.score``),
        for every classification trial whatever the metric, with its validation
        predictions kept so that ``honest.luck(scan)`` can compare trials; regression
        gets them (R²) when it scans by ``"honest"``."""
        classification = self.n_classes is not None
        try:
            y_val = np.asarray(d["y_val"])
            if y_prob is None:
                y_prob = _predict(model, d["x_val"])
            rows = _train_sample(len(d["y_train"]), self.seed)
            p_train = _predict(model, _take(d["x_train"], rows))
            y_train = np.asarray(d["y_train"])[rows]
            if classification:
                y_val, y_train = _labels(y_val), _labels(y_train)
            keep = None if self.scan_dir is None else self.scan_dir
            scores = _honest_scores(y_val, y_prob, y_train=y_train, p_train=p_train,
                                    keep=keep, trial=None if keep is None else trial,
                                    task="classification" if classification else "regression")
        except Exception as e:  # the training is kept; the reason is recorded
            if _base_name(self.metric) == "honest":
                raise RuntimeError(f"could not compute the honest score: "
                                   f"{type(e).__name__}: {e}") from e
            metrics["honest_error"] = f"{type(e).__name__}: {e}"[:300]
            return
        for k, v in scores.items():
            metrics[f"{k}{OURS_SUFFIX}" if k in metrics else k] = v

    def _add_our_scores(self, metrics: dict[str, Any], model: Any, cb: Any, x_val: XData,
                        y_val_labels: np.ndarray) -> np.ndarray | None:
        """Our scores on the whole validation set, added to the history's last values.

        A name the history already has (the user compiled ``precision``) keeps the user's
        value; ours goes next to it with :data:`OURS_SUFFIX`. When our scoring cannot run
        on this model, the history's values stand and ``scored_from_history`` says so.
        """
        # the reporter's outputs after the last epoch are the final model's, unless a
        # callback of the user's (e.g. restoring the best weights) changed it since
        y_prob = None if cb is None or self.fit_kwargs.get("callbacks") else cb.last_prob
        try:
            if y_prob is None:
                y_prob = _predict(model, x_val)
            ours = _classification_scores(y_val_labels, y_prob, self.n_classes or 2, "val_",
                                          self.metric)
        except Exception as e:  # noqa: BLE001 - the training is kept; the reason is recorded
            metrics["scored_from_history"] = True
            metrics["scoring_error"] = f"{type(e).__name__}: {e}"[:300]
            metrics["flags"] = "scored_from_history"
            return None
        history_names = set(metrics)
        for k, v in ours.items():
            metrics[f"{k}{OURS_SUFFIX}" if k in history_names else k] = v
        return y_prob


class _KerasEval:
    """Train one configuration on given rows and score it on others (for evaluate()).

    The scored rows (the test set, or a fold) are seen once, by our scoring only: a Talos
    function gets a validation split carved from the training rows, so its early stopping
    or checkpointing never looks at them.
    """

    def __init__(self, trial: _KerasTrial, params: dict[str, Any], train_idx: np.ndarray | None,
                 score_idx: np.ndarray | None, seed: int, weights: str | None = None) -> None:
        self.trial, self.params = trial, params
        self.train_idx, self.score_idx, self.seed = train_idx, score_idx, seed
        # kept weights of the validated model: score that very model on the test set, no fit
        self.weights = weights

    def __call__(self, _params: Any = None) -> float:

        t = self.trial
        d = t.data()
        if self.weights is not None:
            model = t.build(self.params)
            model(_map(lambda a: np.asarray(a[:1]), d["x_val"]))   # build the weights' shapes
            model.load_weights(self.weights)
            return _score(model, _map(np.asarray, d["x_test"]), np.asarray(d["y_test"]),
                          t.metric, t.n_classes, int(self.params.get("batch_size",
                                                                     t.batch_size)))
        x_all = _concat(d["x_train"], d["x_val"])
        y_all = np.concatenate([d["y_train"], d["y_val"]])
        _seed(self.seed)
        if self.train_idx is None:      # final fit on train+val, scored on the test set
            x_fit, y_fit = x_all, y_all
            x_sc, y_sc = _map(np.asarray, d["x_test"]), np.asarray(d["y_test"])
        else:
            x_fit, y_fit = _take(x_all, self.train_idx), y_all[self.train_idx]
            x_sc, y_sc = _take(x_all, self.score_idx), y_all[self.score_idx]
        epochs = int(self.params.get("epochs", t.epochs))
        batch_size = int(self.params.get("batch_size", t.batch_size))
        if t.talos:
            labels = _labels(y_fit) if t.n_classes is not None else None
            fit_rows, val_rows = _split(len(y_fit), t.val_fraction, labels, self.seed)
            _, model = t.build(_take(x_fit, fit_rows), y_fit[fit_rows],
                               _take(x_fit, val_rows), y_fit[val_rows], self.params)
        else:
            model = t.build(self.params)
            model.fit(x_fit, y_fit, epochs=epochs, batch_size=batch_size, verbose=0)
        return _score(model, x_sc, y_sc, t.metric, t.n_classes, batch_size)


def _check_options(options: Mapping[str, Any]) -> None:
    """Refuse an unknown keyword (``epoch=3``) before anything is split, started or saved,
    naming the closest of KerasScan's own options and the scan's."""
    import difflib

    ours = [p for p in inspect.signature(KerasScan.__init__).parameters
            if p not in ("self", "build", "space", "x", "y", "options")]
    scan = [p for p, v in inspect.signature(Scan.__init__).parameters.items()
            if p not in ("self", "objective", "space") and v.kind is v.KEYWORD_ONLY]
    known = [*ours, *scan]
    for bad in options:
        if bad in scan:
            continue
        close = difflib.get_close_matches(bad, known, n=1)
        if not scan and not close:
            continue   # the scan's options are not spelled out here: Scan() judges them
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise TypeError(f"KerasScan() got an unknown option {bad!r}; {hint}KerasScan's "
                        f"options are {ours}, and a scan's {scan}")


def _check_space(space: Space) -> None:
    """``epochs`` and ``batch_size`` in the space must be whole numbers >= 1."""
    for what in ("epochs", "batch_size"):
        if what not in space:
            continue
        p = space[what]
        vals = p.grid()
        low = getattr(p, "low", None)
        bad = [v for v in (vals or [low]) if isinstance(v, bool) or not isinstance(
            v, numbers.Real) or v < 1 or float(v) != int(v)]
        if bad:
            example = "batch_size=[16, 32]" if what == "batch_size" else "epochs=10"
            raise ValueError(f"parameter {what!r}: every value must be a whole number >= 1, "
                             f"got {bad[0]!r} in {p!r}; e.g. {example}")


def _is_talos(fn: Callable[..., Any]) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    pos = [p for p in sig.parameters.values()
           if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(pos) >= 5


class KerasScan(Scan):
    """A scan over a Keras model: ``build(params) -> compiled keras.Model``.

    >>> def build(params):                                             # doctest: +SKIP
    ...     model = keras.Sequential([keras.layers.Dense(params["units"], "relu"),
    ...                               keras.layers.Dense(1, "sigmoid")])
    ...     model.compile(keras.optimizers.Adam(params["lr"]), "binary_crossentropy")
    ...     return model
    >>> scan = hw.KerasScan(build, {"units": [16, 64], "lr": (1e-4, 1e-2, "log")},
    ...                     x, y, metric="val_f1", epochs=20)         # doctest: +SKIP
    >>> scan.start()                                                  # doctest: +SKIP

    A Talos model function ``(x_train, y_train, x_val, y_val, params) -> (history,
    model)`` works unchanged. ``epochs`` and ``batch_size`` in params override the
    defaults. ``test_split`` (or ``test_data``) is held out and only used by
    :meth:`evaluate`. ``workers`` trial processes run in parallel (``0``: in the kernel's
    threads, with ``n_jobs``); each is replaced once it grew ``recycle_mb``.
    """

    def __init__(self, build: Callable[..., Any], space: Space | Mapping[str, Any],
                 x: Any = None, y: Any = None, *, validation_split: float = 0.2,
                 validation_data: tuple[Any, Any] | None = None, test_split: float = 0.1,
                 test_data: tuple[Any, Any] | None = None, metric: str | None = None,
                 mode: str | None = None, epochs: int = 10, batch_size: int = 32,
                 workers: int = 1, recycle_mb: float | None = 512, split_seed: int = 0,
                 keep_best_model: bool = True, keras_backend: str | None = None,
                 fit_kwargs: dict[str, Any] | None = None, **options: Any) -> None:
        if not callable(build):
            raise TypeError("build must be a function: build(params) -> compiled keras.Model, "
                            "or a Talos model function (x_train, y_train, x_val, y_val, params)")
        _check_options(options)
        for name, frac in (("validation_split", validation_split), ("test_split", test_split)):
            if not (isinstance(frac, int | float) and 0 <= frac < 1):
                raise ValueError(f"{name} must be a fraction in [0, 1), got {frac!r}")
        if validation_data is None and validation_split <= 0:
            raise ValueError("give validation_split > 0 or validation_data=(x_val, y_val): the "
                             "search needs data to score trials on")
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
            raise ValueError(f"workers must be a whole number >= 0, got {workers!r}")
        for what, v in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{what} must be a whole number >= 1, got {v!r}; e.g. "
                                 f"{what}={10 if what == 'epochs' else 32}")
        if metric is not None and not (isinstance(metric, str) and metric):
            raise TypeError(f"metric must be a name such as 'honest', 'val_f1' or 'val_loss', "
                            f"or None for the default, got {metric!r}")
        if mode is None and metric is not None and metric_direction(metric) is None:
            raise ValueError(f"mode: cannot tell whether {metric!r} should be minimised or "
                             "maximised; pass mode='min' or mode='max'")
        space = Space.coerce(space)
        _check_space(space)
        name = options.pop("name", None)
        if name is None:
            name = getattr(build, "__name__", "keras")
            if not isinstance(name, str) or not name.isidentifier():
                name = "keras"
        else:
            from .store import check_name

            check_name(name)   # kept as given, or refused: never renamed behind your back
        store = options.pop("store", "hpo_scans")
        env = {"KERAS_BACKEND": keras_backend} if keras_backend else {}
        if workers > 0 and options.get("executor") is None:
            # Start the workers (and their Keras import, 3-5 s) now, while the data is
            # checked, split and saved and the user looks at the dashboard, not at start(). A
            # worker nobody takes leaves after workers.KEEP_WARM_S seconds.
            from .workers import warm_up

            warm_up(workers, preload=_PRELOAD, env=env)
        self.build = build
        self.talos = _is_talos(build)
        x_all, y_all, self.classes = _xy(x, y, "data")
        labels = _labels(y_all)
        self.n_classes = None if labels is None else int(max(labels.max() + 1, 2))
        if metric is None:   # the user named none: the honest score, or the loss
            metric = "honest" if self.n_classes is not None else "val_loss"
        base = _base_name(metric)
        if self.n_classes is None and base in _OUR_METRICS:
            raise ValueError(f"metric {metric!r} needs class labels, but y does not look like "
                             "a classification target (integer labels or one-hot rows)")
        if labels is not None and base in (*_CLASSIFICATION, "honest") \
                and len(np.unique(labels)) < 2:
            raise ValueError(
                f"y holds a single class (every label is {labels[0].item()!r}), so {metric!r} "
                "cannot tell one model from another; check the labels (a filter that dropped the "
                "other class?), or pick a regression metric such as val_loss")
        if test_data is not None:
            x_test, y_test, _ = _xy(*test_data, "test_data")
            rest = np.arange(len(y_all))
        else:
            rest, held = _split(len(y_all), test_split, labels, split_seed)
            x_test, y_test = _take(x_all, held), y_all[held]
        x_rest, y_rest = _take(x_all, rest), y_all[rest]
        if validation_data is not None:
            x_val, y_val, _ = _xy(*validation_data, "validation_data")
            x_tr, y_tr = x_rest, y_rest
            val_fraction = len(y_val) / max(len(y_val) + len(y_tr), 1)
        else:
            lab = None if labels is None else labels[rest]
            tr, va = _split(len(y_rest), validation_split, lab, split_seed + 1)
            x_tr, y_tr, x_val, y_val = _take(x_rest, tr), y_rest[tr], _take(x_rest, va), \
                y_rest[va]
            val_fraction = float(validation_split)
        self.split_sizes = {"train": len(y_tr), "val": len(y_val), "test": len(y_test)}

        from .store import scan_dir

        folder = scan_dir(store, name)
        created = not folder.exists()
        try:
            self._set_up(folder, build, space, metric, mode, epochs, batch_size, workers,
                         recycle_mb, split_seed, keep_best_model, env, fit_kwargs, options,
                         name, store, val_fraction,
                         {"x_train": x_tr, "y_train": y_tr, "x_val": x_val, "y_val": y_val,
                          "x_test": x_test, "y_test": y_test})
        except BaseException:
            if created:   # a scan that could not be built leaves nothing behind
                shutil.rmtree(folder, ignore_errors=True)
            raise
        if self.n_classes is not None:
            msg = M.imbalance_warning(_labels(np.asarray(y_tr)), base)
            if msg:
                warnings.warn(msg, UserWarning, stacklevel=2)
                self._set_status(self.status, msg)   # the one place a message changes

    def _set_up(self, folder: Path, build: Callable[..., Any], space: Space, metric: str,
                mode: str | None, epochs: int, batch_size: int, workers: int,
                recycle_mb: float | None, split_seed: int, keep_best_model: bool,
                env: dict[str, str], fit_kwargs: dict[str, Any] | None,
                options: dict[str, Any], name: str, store: Any, val_fraction: float,
                parts: dict[str, Any]) -> None:
        data_dir = folder / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        token = _save_data(data_dir, parts)
        self.weights_dir = folder / "weights" if keep_best_model else None
        if self.weights_dir is not None:
            self.weights_dir.mkdir(parents=True, exist_ok=True)
            best_file = self.weights_dir / "best.json"
            if best_file.exists():   # a continued scan: only better models need saving
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    _BEST_SEEN[(str(self.weights_dir), token)] = float(
                        json.loads(best_file.read_text())["value"])

        in_process = workers == 0
        objective = _KerasTrial(build, self.talos, str(data_dir), metric, int(epochs),
                                int(batch_size), self.n_classes, int(split_seed),
                                None if self.weights_dir is None else str(self.weights_dir),
                                dict(fit_kwargs or {}), in_process,
                                minimize=(mode or metric_direction(metric)) == "min",
                                data_token=token, val_fraction=val_fraction,
                                scan_dir=str(folder.resolve()))
        executor = options.pop("executor", None)
        self._pool_factory: Callable[[], Any] | None = None
        if executor is None and not in_process:
            from .workers import ProcessWorkers

            # a pool per start() and per evaluate(); its workers stay warm in between
            # (workers.KEEP_WARM_S), so Keras is imported once, not once per call
            self._pool_factory = lambda: ProcessWorkers(
                workers, max_rss_growth_mb=recycle_mb, preload=_PRELOAD, env=env)
            options.setdefault("n_jobs", workers)
        super().__init__(objective, space, metric=metric, mode=mode, name=name, store=store,
                         executor=executor, **options)
        self._keras_trial = objective
        self.objective_function = build
        self.subscribe(self._keep_best_weights)

    def _meta(self) -> dict[str, Any]:
        # hw.load tells a reopened Keras scan apart (it cannot resume without build + data)
        return {**super()._meta(), "kind": "keras",
                "objective": getattr(self.build, "__qualname__", None)}

    def _make_runner(self) -> Any:
        if self._pool_factory is not None:
            from .runners import TrialRunner

            return TrialRunner(self._pool_factory(), owned=True)
        return super()._make_runner()

    # -- best model --------------------------------------------------------------------------
    def _keep_best_weights(self, event: ScanEvent) -> None:
        if event.kind != "trial_finished" or self.weights_dir is None or event.trial is None:
            return
        t = event.trial
        path = self.weights_dir / f"trial-{t.id}.weights.h5"
        if not path.exists():
            return
        best = self.best
        if best is not None and best.id == t.id:
            shutil.move(path, self.weights_dir / "best.weights.h5")
            (self.weights_dir / "best.json").write_text(json.dumps(
                {"trial": t.id, "value": t.value, "params": t.params}, default=str))
        else:
            path.unlink(missing_ok=True)

    def best_model(self) -> Any:
        """The best trial's model, rebuilt and loaded with its saved weights (imports Keras)."""
        best = self.best
        if best is None or self.weights_dir is None:
            raise ValueError("no finished trial with saved weights yet")
        path = self.weights_dir / "best.weights.h5"
        if self.talos:
            raise ValueError("a Talos model function builds and fits in one call; rebuild it "
                             f"with params {best.params} and load {path}")
        model = self.build(best.params)
        d = self._keras_trial.data()
        model(_map(lambda a: np.asarray(a[:1]), d["x_val"]))   # build the weights' shapes
        model.load_weights(path)
        return model

    # -- honest evaluation ---------------------------------------------------------------------
    def _expected_optimism(self) -> tuple[int, float] | None:
        """(the chosen trial, the optimism ``honest.luck`` predicts for it), when the
        scan's metric is one luck resamples in the same units as evaluate's ``optimism``
        (honest -> MCC, val_f1, val_accuracy, val_mcc); None otherwise or when no
        predictions were kept."""
        from . import honest

        base = _base_name(self.metric)
        if base not in ("honest", "f1", "accuracy", "mcc", "r2"):
            return None
        try:
            result = honest.luck(self)
        except ValueError:
            return None
        wanted = "mcc" if base == "honest" else base
        if result.metric not in (wanted, "r2" if base == "honest" else wanted):
            return None
        return int(result.best), float(result.optimism)

    def _kept_model(self) -> tuple[int, str] | None:
        """(trial id, weights file) of the model kept as validated, or None."""
        if self.weights_dir is None or self.talos:
            return None
        path, about = self.weights_dir / "best.weights.h5", self.weights_dir / "best.json"
        try:
            trial = int(json.loads(about.read_text())["trial"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return (trial, str(path)) if path.exists() else None

    def evaluate(self, top: int = 5, folds: int = 5) -> Any:
        """Re-train the ``top`` configurations with k-fold cross-validation on train+val
        and score each once on the held-out test set.

        Adds ``cv_mean``, ``cv_std`` and ``test`` (the configuration refit on train+val,
        scored once on the test set: the final word on it) to those trials' metrics (and
        so to ``results``). With ``metric="honest"`` CV and test are scored by MCC (R² for
        regression).

        ``optimism`` is defined here, once: the validation score of a trained model minus
        the test score of *that same model* (``test_validated``: its kept weights, no
        refit), the sign turned for metrics to minimise, so that a positive value means
        the validation score flattered the model by the luck of being chosen
        (``honest_mcc - test_validated`` for ``"honest"``). Only the chosen trial's model
        is kept (``keep_best_model``; not for Talos functions), so only it gets these two.
        ``validation - test`` would mix in the refit: a new training seed (a small
        network's luck at initialisation, which the search also selected for, is lost)
        and more data; it is not what can be predicted from the validation rows. The
        chosen trial also gets ``optimism_expected``, what
        :func:`hpo_widgets.honest.luck` predicted from the validation predictions alone
        (for honest, val_f1, val_accuracy, val_mcc): predicted and measured side by side,
        on the same model. Blocks until done: ``top * (folds + 1) + 1`` trainings or
        scorings, in parallel on the scan's workers.
        """
        if not isinstance(top, int) or top < 1:
            raise ValueError(f"top must be a whole number >= 1, got {top!r}")
        if not isinstance(folds, int) or folds < 2:
            raise ValueError(f"folds must be a whole number >= 2, got {folds!r}")
        d = self._keras_trial.data()
        if len(d["y_test"]) == 0:
            raise ValueError("no held-out test data: build the scan with test_split > 0 or "
                             "test_data=(x_test, y_test)")
        finished = [t for t in self.learnt if t.status == "finished" and t.value is not None]
        if not finished:
            raise ValueError("no finished trial to evaluate yet")
        finished.sort(key=lambda t: t.value if self.minimize else -t.value)  # type: ignore[operator]
        chosen = finished[:top]
        y_all = np.concatenate([d["y_train"], d["y_val"]])
        seed = self._keras_trial.seed
        splits = _folds(len(y_all), folds, _labels(y_all), seed + 1)
        jobs: list[tuple[int, int, Any]] = []
        for t in chosen:
            for f, (train_rows, scored_rows) in enumerate(splits):
                jobs.append((t.id, f, _KerasEval(self._keras_trial, t.params, train_rows,
                                                 scored_rows, seed + f)))
            jobs.append((t.id, -1, _KerasEval(self._keras_trial, t.params, None, None, seed)))
        kept = self._kept_model()
        if kept is not None and kept[0] in {t.id for t in chosen}:
            params = next(t.params for t in chosen if t.id == kept[0])
            jobs.append((kept[0], -2, _KerasEval(self._keras_trial, params, None, None, seed,
                                                 weights=kept[1])))
        scores: dict[tuple[int, int], float] = {}
        pool = self._pool_factory() if self._pool_factory is not None else self.executor
        try:
            if pool is not None and hasattr(pool, "submit"):
                futs = [(tid, f, pool.submit(job)) for tid, f, job in jobs]
                for tid, f, fut in futs:
                    scores[(tid, f)] = float(fut.result())
            else:
                for tid, f, job in jobs:
                    scores[(tid, f)] = float(job())
        finally:
            if self._pool_factory is not None:
                pool.shutdown()
        expected = self._expected_optimism()
        honest_metric = _base_name(self.metric) == "honest"
        rows = []
        for t in chosen:
            cv = np.array([scores[(t.id, f)] for f in range(folds)])
            test = scores[(t.id, -1)]
            extra = {"cv_mean": float(cv.mean()), "cv_std": float(cv.std(ddof=1)),
                     "test": test}
            if (t.id, -2) in scores:     # the validated model itself on the test set
                # CV and test of "honest" are scored by its base (MCC, R² for regression):
                # the validation figure they are held against is that base
                validation = float(t.metrics.get("honest_mcc", t.metrics.get("honest_r2", t.value))
                                   if honest_metric else t.value)  # type: ignore[arg-type]
                same = scores[(t.id, -2)]
                extra["test_validated"] = same
                extra["optimism"] = same - validation if self.minimize else validation - same
            if expected is not None and t.id == expected[0]:
                extra["optimism_expected"] = expected[1]
            self._add_metrics(t.id, extra)   # through the store's one writer
            rows.append({"trial": t.id, self.metric: t.value, **extra})
        self._emit(ScanEvent("status", self))
        import pandas as pd

        return pd.DataFrame(rows).set_index("trial")
