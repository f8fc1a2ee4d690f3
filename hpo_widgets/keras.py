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
import os
import shutil
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics as M
from .scan import Scan, ScanEvent, infer_mode
from .space import Space

__all__ = ["KerasScan"]

log = logging.getLogger("hpo_widgets")

_OUR_METRICS = ("f1", "precision", "recall", "balanced_accuracy", "mcc", "pr_auc", "fbeta")
_DATA_CACHE: dict[str, dict[str, np.ndarray]] = {}
_BEST_SEEN: dict[str, float] = {}   # per weights folder: best value this process saved


# -- data ------------------------------------------------------------------------------------
def _to_numpy(obj: Any, what: str) -> np.ndarray:
    if obj is None:
        raise ValueError(f"{what} is missing")
    to_numpy = getattr(obj, "to_numpy", None)   # pandas
    if callable(to_numpy):
        return np.asarray(to_numpy())
    return np.asarray(obj)


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


def _xy(x: Any, y: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    if y is None and type(x).__module__.startswith("tensorflow"):
        return _from_dataset(x)
    xa, ya = _to_numpy(x, f"{what} x"), _to_numpy(y, f"{what} y")
    if len(xa) != len(ya):
        raise ValueError(f"{what}: x has {len(xa)} rows but y has {len(ya)}; they must match")
    return xa, ya


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
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held) index arrays; stratified by ``labels`` when given."""
    idx = np.arange(n)
    if frac <= 0:
        return idx, idx[:0]
    held: list[np.ndarray] = []
    groups = [idx] if labels is None else [idx[labels == c] for c in np.unique(labels)]
    for g in groups:
        g = rng.permutation(g)
        k = round(len(g) * frac)
        if labels is not None and len(g) >= 2:
            k = max(k, 1)   # every class appears in the held-out part
        held.append(g[:k])
    h = np.sort(np.concatenate(held))
    keep = np.setdiff1d(idx, h)
    return keep, h


def _load_data(path: str) -> dict[str, np.ndarray]:
    data = _DATA_CACHE.get(path)
    if data is None:
        data = {p.stem: np.load(p, mmap_mode="r") for p in Path(path).glob("*.npy")}
        _DATA_CACHE.clear()   # one scan's data per process at a time
        _DATA_CACHE[path] = data
    return data


# -- scoring ---------------------------------------------------------------------------------
def _base_name(metric: str) -> str:
    for prefix in ("val_", "test_"):
        if metric.startswith(prefix):
            return metric[len(prefix):]
    return metric


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


def _predict(model: Any, x: Any, batch: int = 4096) -> np.ndarray:
    """Model outputs for ``x``, by calling the model on chunks.

    ``model.predict`` traces a new predict function for every new model (about 0.3 s a
    trial here, every epoch when the reporter scores F1); a direct call does not.
    """
    import keras

    x = np.asarray(x)
    parts = [keras.ops.convert_to_numpy(model(x[i:i + batch], training=False))
             for i in range(0, len(x), batch)]
    return np.concatenate(parts) if parts else np.empty((0,))


def _score(model: Any, x: np.ndarray, y: np.ndarray, metric: str, n_classes: int | None,
           batch_size: int) -> float:
    """``metric`` (its base name) of ``model`` on ``(x, y)``."""
    base = _base_name(metric)
    if n_classes is not None and base in (*_OUR_METRICS, "accuracy"):
        y_prob = _predict(model, x)
        labels = _labels(y)
        assert labels is not None
        return float(_classification_scores(labels, y_prob, n_classes, "", metric)[base])
    res = model.evaluate(x, y, verbose=0, batch_size=max(batch_size, 256), return_dict=True)
    if base not in res:
        raise ValueError(f"the model reports {sorted(res)}, not {base!r}")
    return float(res[base])


def _epoch_reporter(trial: Any, metric: str, x_val: np.ndarray,
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
                    _base_name(metric) in _OUR_METRICS and y_val_labels is not None:
                y_prob = self.last_prob = _predict(self.model, x_val)
                value = _classification_scores(y_val_labels, y_prob, n_classes, "",
                                               metric).get(_base_name(metric))
            if value is not None and math.isfinite(float(value)):
                trial.report(epoch, float(value))
                if trial.should_prune():
                    self.model.stop_training = True

    return Reporter()


class _KerasTrial:
    """The objective a KerasScan runs (picklable: it travels to worker processes)."""

    def __init__(self, build: Callable[..., Any], talos: bool, data_dir: str, metric: str,
                 epochs: int, batch_size: int, n_classes: int | None, seed: int,
                 weights_dir: str | None, fit_kwargs: dict[str, Any], in_process: bool,
                 minimize: bool = True) -> None:
        self.build, self.talos, self.data_dir = build, talos, data_dir
        self.metric, self.epochs, self.batch_size = metric, epochs, batch_size
        self.n_classes, self.seed, self.weights_dir = n_classes, seed, weights_dir
        self.fit_kwargs, self.in_process = fit_kwargs, in_process
        self.minimize = minimize

    def __call__(self, params: dict[str, Any], trial: Any) -> dict[str, Any]:
        import keras

        t0 = time.perf_counter()
        d = _load_data(self.data_dir)
        x_tr, y_tr, x_val, y_val = d["x_train"], d["y_train"], d["x_val"], d["y_val"]
        keras.utils.set_random_seed(self.seed + int(trial.id))
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
            for i, v in enumerate((history.history or {}).get(self.metric, [])):
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
        for k, vs in (history.history or {}).items():
            if vs:
                metrics[k] = float(vs[-1])
        metrics["epochs_run"] = len(getattr(history, "epoch", []) or [])
        if self.n_classes is not None and y_val_labels is not None:
            # the reporter's outputs after the last epoch are the final model's, unless a
            # callback of the user's (e.g. restoring the best weights) changed it since
            y_prob = None if cb is None or self.fit_kwargs.get("callbacks") else cb.last_prob
            if y_prob is None:
                y_prob = _predict(model, x_val)
            metrics.update(_classification_scores(y_val_labels, y_prob, self.n_classes, "val_",
                                                  self.metric))
        value = metrics.get(self.metric)
        if self.weights_dir is not None and isinstance(value, float) and math.isfinite(value):
            # Save only what can be the scan's best: it beats everything this process has
            # seen (the scan's best always does). Saving every model cost ~50 ms a trial.
            seen = _BEST_SEEN.get(self.weights_dir)
            if seen is None or (value < seen if self.minimize else value > seen):
                _BEST_SEEN[self.weights_dir] = value
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


class _KerasEval:
    """Train one configuration on given rows and score it on others (for evaluate())."""

    def __init__(self, trial: _KerasTrial, params: dict[str, Any], train_idx: np.ndarray | None,
                 score_idx: np.ndarray | None, seed: int) -> None:
        self.trial, self.params = trial, params
        self.train_idx, self.score_idx, self.seed = train_idx, score_idx, seed

    def __call__(self, _params: Any = None) -> float:
        import keras

        t = self.trial
        d = _load_data(t.data_dir)
        x_all = np.concatenate([d["x_train"], d["x_val"]])
        y_all = np.concatenate([d["y_train"], d["y_val"]])
        keras.utils.set_random_seed(self.seed)
        if self.train_idx is None:      # final fit on train+val, scored on the test set
            x_fit, y_fit = x_all, y_all
            x_sc, y_sc = np.asarray(d["x_test"]), np.asarray(d["y_test"])
        else:
            x_fit, y_fit = x_all[self.train_idx], y_all[self.train_idx]
            x_sc, y_sc = x_all[self.score_idx], y_all[self.score_idx]
        epochs = int(self.params.get("epochs", t.epochs))
        batch_size = int(self.params.get("batch_size", t.batch_size))
        if t.talos:
            _, model = t.build(x_fit, y_fit, x_sc, y_sc, self.params)
        else:
            model = t.build(self.params)
            model.fit(x_fit, y_fit, epochs=epochs, batch_size=batch_size, verbose=0)
        return _score(model, x_sc, y_sc, t.metric, t.n_classes, batch_size)


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
                 test_data: tuple[Any, Any] | None = None, metric: str = "val_loss",
                 mode: str | None = None, epochs: int = 10, batch_size: int = 32,
                 workers: int = 1, recycle_mb: float | None = 512, split_seed: int = 0,
                 keep_best_model: bool = True, keras_backend: str | None = None,
                 fit_kwargs: dict[str, Any] | None = None, **options: Any) -> None:
        if not callable(build):
            raise TypeError("build must be a function: build(params) -> compiled keras.Model, "
                            "or a Talos model function (x_train, y_train, x_val, y_val, params)")
        for name, frac in (("validation_split", validation_split), ("test_split", test_split)):
            if not (isinstance(frac, int | float) and 0 <= frac < 1):
                raise ValueError(f"{name} must be a fraction in [0, 1), got {frac!r}")
        if validation_data is None and validation_split <= 0:
            raise ValueError("give validation_split > 0 or validation_data=(x_val, y_val): the "
                             "search needs data to score trials on")
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
            raise ValueError(f"workers must be a whole number >= 0, got {workers!r}")
        if mode is None and infer_mode(metric) is None:
            raise ValueError(f"mode: cannot tell whether {metric!r} should be minimised or "
                             "maximised; pass mode='min' or mode='max'")
        env = {"KERAS_BACKEND": keras_backend} if keras_backend else {}
        if workers > 0 and options.get("executor") is None:
            # Start the workers (and their Keras import, 3-5 s) now, while the data is
            # split and saved and the user looks at the dashboard, not at start(). A
            # worker nobody takes leaves after workers.KEEP_WARM_S seconds.
            from .workers import warm_up

            warm_up(workers, preload=["keras"], env=env)
        self.build = build
        self.talos = _is_talos(build)
        x_all, y_all = _xy(x, y, "data")
        labels = _labels(y_all)
        self.n_classes = None if labels is None else int(max(labels.max() + 1, 2))
        if self.n_classes is None and _base_name(metric) in _OUR_METRICS:
            raise ValueError(f"metric {metric!r} needs class labels, but y does not look like "
                             "a classification target (integer labels or one-hot rows)")
        rng = np.random.default_rng(split_seed)
        if test_data is not None:
            x_test, y_test = _xy(*test_data, "test_data")
            rest = np.arange(len(x_all))
        else:
            rest, held = _split(len(x_all), test_split, labels, rng)
            x_test, y_test = x_all[held], y_all[held]
        x_rest, y_rest = x_all[rest], y_all[rest]
        if validation_data is not None:
            x_val, y_val = _xy(*validation_data, "validation_data")
            x_tr, y_tr = x_rest, y_rest
        else:
            lab = None if labels is None else labels[rest]
            tr, va = _split(len(x_rest), validation_split, lab, rng)
            x_tr, y_tr, x_val, y_val = x_rest[tr], y_rest[tr], x_rest[va], y_rest[va]
        self.split_sizes = {"train": len(x_tr), "val": len(x_val), "test": len(x_test)}

        name = options.pop("name", None) or getattr(build, "__name__", "keras")
        if not name.isidentifier() or name == "<lambda>":
            name = "keras"
        store = options.pop("store", "hpo_scans")
        from .store import scan_dir

        folder = scan_dir(store, name)
        data_dir = folder / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        for key, arr in (("x_train", x_tr), ("y_train", y_tr), ("x_val", x_val),
                         ("y_val", y_val), ("x_test", x_test), ("y_test", y_test)):
            np.save(data_dir / f"{key}.npy", np.ascontiguousarray(arr))
        self.weights_dir = folder / "weights" if keep_best_model else None
        if self.weights_dir is not None:
            self.weights_dir.mkdir(parents=True, exist_ok=True)
            best_file = self.weights_dir / "best.json"
            if best_file.exists():   # a continued scan: only better models need saving
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    _BEST_SEEN[str(self.weights_dir)] = float(
                        json.loads(best_file.read_text())["value"])
            else:
                _BEST_SEEN.pop(str(self.weights_dir), None)

        in_process = workers == 0
        objective = _KerasTrial(build, self.talos, str(data_dir), metric, int(epochs),
                                int(batch_size), self.n_classes, int(split_seed),
                                None if self.weights_dir is None else str(self.weights_dir),
                                dict(fit_kwargs or {}), in_process,
                                minimize=(mode or infer_mode(metric)) == "min")
        executor = options.pop("executor", None)
        self._pool_factory: Callable[[], Any] | None = None
        if executor is None and not in_process:
            from .workers import ProcessWorkers

            # a pool per start() and per evaluate(); its workers stay warm in between
            # (workers.KEEP_WARM_S), so Keras is imported once, not once per call
            self._pool_factory = lambda: ProcessWorkers(
                workers, max_rss_growth_mb=recycle_mb, preload=["keras"], env=env)
            options.setdefault("n_jobs", workers)
        super().__init__(objective, space, metric=metric, mode=mode, name=name, store=store,
                         executor=executor, **options)
        self.objective_function = build
        self._keras_trial = objective
        self.subscribe(self._keep_best_weights)

        if self.n_classes is not None:
            msg = M.imbalance_warning(_labels(np.asarray(y_tr)), _base_name(metric))
            if msg:
                warnings.warn(msg, UserWarning, stacklevel=2)
                self.message = msg

    def _meta(self) -> dict[str, Any]:
        # hw.load tells a reopened Keras scan apart (it cannot resume without build + data)
        return {**super()._meta(), "kind": "keras",
                "objective": getattr(self.build, "__qualname__", None)}

    def _make_runner(self) -> Any:
        if self._pool_factory is not None:
            from .scan import _TrialRunner

            return _TrialRunner(self._pool_factory(), owned=True)
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
        d = _load_data(self._keras_trial.data_dir)
        model(np.asarray(d["x_val"][:1]))   # build the weights' shapes
        model.load_weights(path)
        return model

    # -- honest evaluation ---------------------------------------------------------------------
    def evaluate(self, top: int = 5, folds: int = 5) -> Any:
        """Re-train the ``top`` configurations with k-fold cross-validation on train+val
        and score each once on the held-out test set.

        Adds ``cv_mean``, ``cv_std``, ``test`` and ``optimism`` to those trials' metrics (and
        so to ``results``); ``optimism`` is the validation score minus the test score, with
        the sign turned for metrics to minimise, so that a positive value always means the
        search's validation score flattered the model (selection bias). Blocks until done:
        ``top * (folds + 1)`` trainings, in parallel on the scan's workers.
        """
        if not isinstance(top, int) or top < 1:
            raise ValueError(f"top must be a whole number >= 1, got {top!r}")
        if not isinstance(folds, int) or folds < 2:
            raise ValueError(f"folds must be a whole number >= 2, got {folds!r}")
        d = _load_data(self._keras_trial.data_dir)
        if len(d["x_test"]) == 0:
            raise ValueError("no held-out test data: build the scan with test_split > 0 or "
                             "test_data=(x_test, y_test)")
        finished = [t for t in self.trials if t.status == "finished" and t.value is not None]
        if not finished:
            raise ValueError("no finished trial to evaluate yet")
        finished.sort(key=lambda t: t.value if self.minimize else -t.value)  # type: ignore[operator]
        chosen = finished[:top]
        y_all = np.concatenate([d["y_train"], d["y_val"]])
        labels = _labels(y_all)
        n = len(y_all)
        rng = np.random.default_rng(self._keras_trial.seed + 1)
        fold_of = np.empty(n, dtype=int)
        groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c)
                                                         for c in np.unique(labels)]
        for g in groups:   # stratified folds: every class spread over all folds
            g = rng.permutation(g)
            fold_of[g] = np.arange(len(g)) % folds
        jobs: list[tuple[int, int, Any]] = []
        for t in chosen:
            for f in range(folds):
                job = _KerasEval(self._keras_trial, t.params, np.flatnonzero(fold_of != f),
                                 np.flatnonzero(fold_of == f), self._keras_trial.seed + f)
                jobs.append((t.id, f, job))
            jobs.append((t.id, -1, _KerasEval(self._keras_trial, t.params, None, None,
                                              self._keras_trial.seed)))
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
        rows = []
        for t in chosen:
            cv = np.array([scores[(t.id, f)] for f in range(folds)])
            test = scores[(t.id, -1)]
            optimism = (t.value - test) if not self.minimize else (test - t.value)  # type: ignore[operator]
            extra = {"cv_mean": float(cv.mean()), "cv_std": float(cv.std(ddof=1)),
                     "test": test, "optimism": float(optimism)}
            updated = t.replace(metrics={**t.metrics, **extra})
            self._store.add(updated)
            self._put(updated)
            rows.append({"trial": t.id, self.metric: t.value, **extra})
        self._emit(ScanEvent("status", self))
        import pandas as pd

        return pd.DataFrame(rows).set_index("trial")
