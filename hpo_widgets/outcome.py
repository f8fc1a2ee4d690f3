"""Running one trial and reading what it returned.

:func:`run_trial` travels to threads, processes and Dask workers: it calls the objective,
catches everything and returns a plain, picklable outcome. :func:`interpret` turns that
outcome into a trial's status, metrics and value. :func:`takes_trial` decides from an
objective's signature whether it gets the trial handle. Knows nothing of ``Scan``.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
import os
import socket
import sys
import threading
import time
import traceback as _tb
from collections.abc import Callable, Mapping
from typing import Any

from .trial import TrialHandle, TrialPruned

__all__ = ["as_number", "interpret", "plain_metric", "run_trial", "takes_trial"]


def run_trial(objective: Callable[..., Any], params: dict[str, Any], handle: TrialHandle,
              pass_trial: bool) -> dict[str, Any]:
    """Call the objective and catch everything; returns a plain, picklable outcome."""
    started = time.time()
    if handle is not None:
        handle.started = started
    out: dict[str, Any] = {"result": None, "error": None, "traceback": None}
    try:
        out["result"] = objective(params, handle) if pass_trial else objective(params)
    except TrialPruned:
        if handle is not None:
            handle.pruned = True
    except BaseException as e:  # noqa: BLE001 - a trial's failure must never kill the scan
        out["error"] = f"{type(e).__name__}: {e}"
        out["traceback"] = _tb.format_exc()
    out.update(curve=list(handle.curve) if handle is not None else [],
               pruned=bool(handle is not None and handle.pruned), started=started,
               finished=time.time(), worker=_worker_name())
    return out


def _worker_name() -> str:
    # interned: a scan of a million trials keeps one copy of each worker's name
    return sys.intern(f"{socket.gethostname()}:{os.getpid()}:"
                      f"{threading.current_thread().name}")


def takes_trial(objective: Callable[..., Any]) -> bool:
    """Whether ``objective`` is called as ``objective(params, trial)``.

    Only when its second positional parameter has no default or is named ``trial``:
    ``lambda p, k=3: ...`` (binding a loop variable) is called with ``params`` alone.
    """
    try:
        sig = inspect.signature(objective)
    except (TypeError, ValueError):
        return False
    ps = list(sig.parameters.values())
    positional = [p for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if not positional:
        if any(p.kind is p.VAR_POSITIONAL for p in ps):
            return True
        raise TypeError("objective must take the params dict as its first argument: "
                        "def objective(params) or def objective(params, trial)")
    if len(required) > 2:
        raise TypeError(f"objective takes {len(required)} required arguments; it should take "
                        "(params) or (params, trial)")
    if len(positional) >= 2:
        second = positional[1]
        return second.default is second.empty or second.name == "trial"
    return any(p.kind is p.VAR_POSITIONAL for p in ps)


def as_number(x: Any) -> float | None:
    """``x`` as a float if it is a real number (numpy and framework scalars too)."""
    if isinstance(x, bool):
        return None
    if isinstance(x, numbers.Real):
        return float(x)
    item = getattr(x, "item", None)  # numpy scalars and 0-d arrays, torch/tf scalars
    if callable(item) and getattr(x, "ndim", getattr(x, "shape", None)) in (0, ()):
        with contextlib.suppress(Exception):
            v = item()
            if isinstance(v, numbers.Real) and not isinstance(v, bool):
                return float(v)
    return None


def plain_metric(x: Any) -> Any:
    """A metric value as the store keeps it: a number, bool, string or None (else text)."""
    n = as_number(x)
    if n is not None:
        return n
    if isinstance(x, bool | str) or x is None:
        return x
    return repr(x)


def interpret(outcome: dict[str, Any], metric: str) -> tuple[str, dict[str, Any],
                                                               float | None, str | None]:
    """``(status, metrics, value, error)`` from what :func:`run_trial` returned."""
    curve = outcome.get("curve") or []
    last = curve[-1][1] if curve else None
    if outcome.get("pruned"):
        res = outcome.get("result")
        metrics = {}
        if isinstance(res, Mapping):
            metrics = {str(k): plain_metric(v) for k, v in res.items()}
        return "pruned", metrics, last, None
    if outcome.get("error"):
        return "failed", {}, None, outcome["error"]
    res = outcome.get("result")
    fix = f"return a number, or a dict of metrics such as {{{metric!r}: 0.25}}"
    if res is None:
        return "failed", {}, None, f"objective returned None; {fix}"
    if isinstance(res, Mapping):
        metrics = {str(k): plain_metric(v) for k, v in res.items()}
        if metric not in metrics:
            return "failed", metrics, None, (
                f"objective returned metrics {sorted(metrics)} but not {metric!r}, the "
                f"scan's metric; return it, or pass metric= one of {sorted(metrics)}")
        v = as_number(res[metric])
        if v is None:
            return "failed", metrics, None, f"metric {metric!r} is {res[metric]!r}, not a number"
    else:
        v = as_number(res)
        if v is None:
            return "failed", {}, None, (
                f"objective returned a {type(res).__name__} ({res!r:.80}); {fix}")
        metrics = {metric: v}
    if not math.isfinite(v):
        return "failed", metrics, None, f"metric {metric!r} is {v} (not finite)"
    return "finished", metrics, v, None
