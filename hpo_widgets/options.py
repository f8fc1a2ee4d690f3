"""A scan's settings: one frozen, validated description.

:class:`ScanOptions` is built (and every value checked, with an error that names the
option and the fix) by ``Scan``, by ``%%hpo``'s parser and from a stored scan's meta;
:meth:`ScanOptions.to_meta` is what the store records. :func:`metric_direction` is the
one answer to "should this metric be minimised or maximised?" (losses first), used by the
scan, ``%%hpo``, ``metrics.higher_is_better`` and the dashboard.

This module knows nothing of ``Scan``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import math
import numbers
import os
import re
from pathlib import Path
from typing import Any

__all__ = ["OPTION_NAMES", "ScanOptions", "base_metric", "check_option", "metric_direction"]

# -- which way is better ----------------------------------------------------------------
_PREFIXES = ("val_", "test_", "train_", "valid_", "validation_")
# Substrings that make a name a loss wherever they appear ("val_dice_loss", "f1_loss",
# "score_error", "rmse"): checked before any score word, so a loss of a score is a loss.
_LOSS_PARTS = ("loss", "error", "mse", "mae", "crossentropy", "hinge", "divergence",
               "poisson", "perplexity", "regret")
_LOSS_TOKENS = {"err", "kld", "nll", "mape", "msle", "logcosh", "brier", "cost", "time",
                "latency", "seconds", "duration", "wer", "cer", "value", "distance"}
_SCORE_TOKENS = {"accuracy", "acc", "f1", "fbeta", "precision", "recall", "auc", "prauc",
                 "roc", "mcc", "ap", "auprc", "matthews", "corrcoef", "iou", "dice", "r2",
                 "sensitivity", "specificity", "kappa", "top", "score", "balanced",
                 "reward", "return", "honest", "map", "ndcg", "bleu", "rouge", "jaccard"}


def base_metric(metric: str) -> str:
    """Which score a metric is, whatever split it was measured on: ``val_f1`` and
    ``test_f1`` are ``f1``; ``honest`` stays ``honest``. One answer for KerasScan, the
    honest score and the dashboard.

    >>> base_metric("val_honest"), base_metric("test_f1"), base_metric("loss")
    ('honest', 'f1', 'loss')
    """
    for prefix in ("val_", "test_"):
        if metric.startswith(prefix):
            return metric[len(prefix):]
    return metric


def metric_direction(metric: str) -> str | None:
    """``"min"`` for loss-like metric names, ``"max"`` for scores, ``None`` if unknown.

    Losses are recognised first, so a loss named after a score is still a loss:

    >>> [metric_direction(m) for m in ("val_dice_loss", "f1_loss", "score_error", "val_f1",
    ...                                "honest", "throughput")]
    ['min', 'min', 'min', 'max', 'max', None]
    """
    if not isinstance(metric, str):
        raise TypeError(f"metric must be the name of a metric (a string), got {metric!r}")
    m = metric.strip().lower()
    for prefix in _PREFIXES:
        if m.startswith(prefix):
            m = m[len(prefix):]
            break
    tokens = {t for t in re.split(r"[^a-z0-9.]+", m) if t}
    if any(part in m for part in _LOSS_PARTS) or tokens & _LOSS_TOKENS:
        return "min"
    if tokens & _SCORE_TOKENS or any(re.fullmatch(r"f\d+(\.\d+)?", t) for t in tokens) \
            or any(w in m for w in ("accuracy", "precision", "recall", "auc")):
        return "max"
    return None


# -- one validated description --------------------------------------------------------
OPTION_NAMES = ("metric", "mode", "strategy", "max_trials", "time_limit", "n_jobs", "seed",
                "pruner", "executor", "name", "store", "max_consecutive_failures",
                "trial_timeout")


def _whole(name: str, v: Any, minimum: int, allow_none: bool) -> int | None:
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
        none = " or None" if allow_none else ""
        raise ValueError(f"{name} must be a whole number >= {minimum}{none}, got {v!r}")
    return int(v)


def _seconds(name: str, v: Any, *, none_means: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, _dt.timedelta):
        v = v.total_seconds()
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise TypeError(f"{name} must be a number of seconds (or a timedelta), got "
                            f"{v!r}; e.g. {name}=60, or None for {none_means}") from None
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a number of seconds (or a timedelta), got {v!r}; "
                        f"e.g. {name}=60, or None for {none_means}")
    v = float(v)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {v!r}; "
                         f"pass None for {none_means}")
    return v


def _store(v: Any, *, writable: bool) -> Path:
    if v is None or not isinstance(v, str | os.PathLike) or (isinstance(v, str) and not v):
        raise TypeError(f"store must be a folder path (str or pathlib.Path), got {v!r}; the "
                        "default is store='hpo_scans'")
    p = Path(v).expanduser()
    if p.exists() and not p.is_dir():
        raise ValueError(f"store={str(v)!r} is a file, not a folder; pass the folder that "
                         "holds your scans (e.g. store='hpo_scans'), or hw.load(path) to "
                         "open one scan")
    if writable:
        probe = p
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not os.access(probe, os.W_OK | os.X_OK):
            raise PermissionError(
                f"store={str(v)!r} is read-only here ({str(probe)!r} cannot be written), so "
                "trials could not be saved; pass store= a folder you can write to. To look at "
                "a stored scan without running it, hw.load(path) works read-only")
    return p


def check_option(name: str, value: Any) -> Any:
    """One option's value, checked (the normalised value, or a named error)."""
    if name == "metric":
        if not isinstance(value, str) or not value:
            raise TypeError(f"metric must be the name of a metric (a string), got {value!r}")
        return value
    if name == "mode":
        if value not in (None, "min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {value!r}")
        return value
    if name == "max_trials":
        return _whole("max_trials", value, 1, True)
    if name == "time_limit":
        return _seconds("time_limit", value, none_means="no time limit")
    if name == "trial_timeout":
        return _seconds("trial_timeout", value, none_means="no per-trial limit")
    if name == "n_jobs":
        return _whole("n_jobs", value, 1, True)
    if name == "max_consecutive_failures":
        return _whole("max_consecutive_failures", value, 1, False)
    if name == "seed":
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, numbers.Integral)):
            raise TypeError(f"seed must be an integer or None, got {value!r}")
        return None if value is None else int(value)
    if name == "store":
        return _store(value, writable=False)
    if name == "name":
        if value is not None:
            from .store import check_name

            check_name(value)
        return value
    return value


@dataclasses.dataclass(frozen=True)
class ScanOptions:
    """Every setting of a scan, validated once. Build with :meth:`build`."""

    metric: str = "value"
    mode: str = "min"
    strategy: Any = "random"
    max_trials: int | None = 100
    time_limit: float | None = None
    n_jobs: int | None = None
    seed: int | None = None
    pruner: Any = None
    executor: Any = None
    name: str = "scan"
    store: Path = Path("hpo_scans")
    max_consecutive_failures: int = 10
    trial_timeout: float | None = None

    @classmethod
    def build(cls, *, objective: Any = None, writable: bool = False, caller: str = "Scan",
              **given: Any) -> ScanOptions:
        """Check every option; unknown names get a "did you mean" error. ``writable``:
        the store must accept writes (a scan that may run)."""
        unknown = [k for k in given if k not in OPTION_NAMES]
        if unknown:
            bad = unknown[0]
            close = difflib.get_close_matches(bad, OPTION_NAMES, n=1)
            hint = f"did you mean {close[0]!r}?" if close else \
                f"the options are {list(OPTION_NAMES)}"
            raise TypeError(f"{caller}() got an unknown option {bad!r}; {hint}")
        kw = {f.name: f.default for f in dataclasses.fields(cls)}
        kw.update(given)
        metric = check_option("metric", kw["metric"])
        mode = check_option("mode", kw["mode"])
        if mode is None:
            mode = metric_direction(metric)
            if mode is None:
                raise ValueError(f"mode: cannot tell whether {metric!r} should be minimised or "
                                 "maximised; pass mode='min' or mode='max'")
        name = kw["name"]
        if name is None:
            name = getattr(objective, "__name__", None) or "scan"
            if not name.isidentifier() or name == "<lambda>":
                name = "scan"
        check_option("name", name)
        return cls(
            metric=metric, mode=mode, strategy=kw["strategy"],
            max_trials=check_option("max_trials", kw["max_trials"]),
            time_limit=check_option("time_limit", kw["time_limit"]),
            n_jobs=check_option("n_jobs", kw["n_jobs"]),
            seed=check_option("seed", kw["seed"]), pruner=kw["pruner"],
            executor=kw["executor"], name=name,
            store=_store(kw["store"], writable=writable),
            max_consecutive_failures=check_option("max_consecutive_failures",
                                                  kw["max_consecutive_failures"]),
            trial_timeout=check_option("trial_timeout", kw["trial_timeout"]))

    def replace(self, **changes: Any) -> ScanOptions:
        for k, v in changes.items():
            changes[k] = check_option(k, v)
        return dataclasses.replace(self, **changes)

    def to_meta(self) -> dict[str, Any]:
        """The settings the store records (strategy and pruner are recorded by the scan,
        as their ``to_dict()``; the executor is not stored)."""
        return {"name": self.name, "metric": self.metric, "mode": self.mode,
                "max_trials": self.max_trials, "time_limit": self.time_limit,
                "n_jobs": self.n_jobs, "seed": self.seed,
                "max_consecutive_failures": self.max_consecutive_failures,
                "trial_timeout": self.trial_timeout}

    @staticmethod
    def from_meta(meta: dict[str, Any]) -> dict[str, Any]:
        """The options a stored scan's meta gives back (keyword arguments for ``Scan``);
        values the meta lacks or that no longer validate are left to the defaults."""
        out: dict[str, Any] = {}
        for key in ("metric", "mode", "max_trials", "time_limit", "seed",
                    "max_consecutive_failures", "trial_timeout", "n_jobs"):
            if key in meta:
                try:
                    out[key] = check_option(key, meta[key])
                except (TypeError, ValueError):
                    continue
        return out
