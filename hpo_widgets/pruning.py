"""Early stopping of hopeless trials, fed by ``trial.report(step, value)``.

A pruner sees every report of every trial of a scan and answers
``should_prune(trial_id)``. The scan calls it from its worker threads, so a pruner
must be thread-safe (the base class gives a lock).

Two rules, chosen with ``Scan(..., pruner="median" | "asha")``:

- :class:`Median` stops a trial whose best value so far is worse than the median of
  what the other trials had reached at the same step. Gentle, needs no setting, good
  when trials cost about the same.
- :class:`ASHA` (asynchronous successive halving) checks trials at rungs
  ``min_resource * eta**k`` and lets only the best ``1/eta`` of those that reached a
  rung go on. Aggressive: saves the most time when many configurations are tried.
"""

from __future__ import annotations

import bisect
import difflib
import math
import numbers
import statistics
import threading
from typing import Any

from .trial import Trial

__all__ = ["ASHA", "PRUNER_NAMES", "Median", "Pruner", "make_pruner"]

PRUNER_NAMES = ("median", "asha")


class Pruner:
    """Base class: decides from learning curves whether a running trial should stop.

    Lifecycle, as the scan drives it:

    - :meth:`bind` once with the direction of the metric;
    - :meth:`report` for every ``trial.report(step, value)`` of a running trial;
    - :meth:`should_prune` when the objective asks;
    - :meth:`complete` when a trial ends (finished, pruned or failed), and for every
      stored trial when a scan is resumed, so the pruner knows the curves so far.

    Must be thread-safe: reports of parallel trials arrive from several threads.
    """

    name = "pruner"

    def __init__(self) -> None:
        self.minimize = True
        self._lock = threading.Lock()

    def bind(self, *, minimize: bool) -> None:
        self.minimize = minimize

    def report(self, trial_id: int, step: float, value: float) -> None:
        """A running trial reported ``value`` at ``step``."""

    def should_prune(self, trial_id: int) -> bool:
        """Whether trial ``trial_id`` should stop now."""
        return False

    def complete(self, trial: Trial) -> None:
        """``trial`` ended; its curve is final."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}


def _count(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _positive(value: Any, what: str) -> float:
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(float(value)) or value <= 0):
        raise ValueError(f"{what} must be a number > 0, got {value!r}")
    return float(value)


def _final_curve(trial: Trial) -> list[tuple[float, float]]:
    return [(float(s), float(v)) for s, v in trial.curve if math.isfinite(float(v))]


class Median(Pruner):
    """Stops a trial whose best value so far is worse than the median of the other
    trials' values at the same step.

    The others are the trials that ended (finished or pruned) and got as far as that
    step; each is read at the last value it reported at or before the step. Nothing is
    pruned before ``n_startup_trials`` trials have finished nor before step
    ``n_warmup_steps`` (early epochs are noisy). Running trials are not compared with
    each other, so a decision does not depend on which thread reported first.

    >>> from hpo_widgets.trial import Trial
    >>> m = Median(n_startup_trials=2); m.bind(minimize=True)
    >>> for i, loss in enumerate([0.5, 0.4, 0.6]):
    ...     m.complete(Trial(id=i, params={}, status="finished", value=loss,
    ...                      curve=((0, loss + 0.5), (1, loss))))
    >>> m.report(9, 0, 2.0); m.should_prune(9)     # worse than the median at step 0 (1.0)
    True
    >>> m.report(8, 0, 0.8); m.should_prune(8)
    False
    """

    name = "median"

    def __init__(self, n_startup_trials: int = 5, n_warmup_steps: float = 0) -> None:
        super().__init__()
        self.n_startup_trials = _count(n_startup_trials, "Median: n_startup_trials", 0)
        if (isinstance(n_warmup_steps, bool) or not isinstance(n_warmup_steps, numbers.Real)
                or n_warmup_steps < 0):
            raise ValueError(f"Median: n_warmup_steps must be a number >= 0, got "
                             f"{n_warmup_steps!r}")
        self.n_warmup_steps = float(n_warmup_steps)
        self._reset()

    def _reset(self) -> None:
        self._running: dict[int, list[tuple[float, float]]] = {}
        # Ended trials that count as peers: sorted steps and the value at each.
        self._peers: dict[int, tuple[list[float], list[float]]] = {}
        self._finished: set[int] = set()

    def bind(self, *, minimize: bool) -> None:
        with self._lock:
            super().bind(minimize=minimize)
            self._reset()

    def report(self, trial_id: int, step: float, value: float) -> None:
        if not math.isfinite(value):
            return
        with self._lock:
            self._running.setdefault(trial_id, []).append((float(step), float(value)))

    def should_prune(self, trial_id: int) -> bool:
        with self._lock:
            curve = self._running.get(trial_id)
            if not curve or len(self._finished) < self.n_startup_trials:
                return False
            step = curve[-1][0]
            if step < self.n_warmup_steps:
                return False
            values = [v for _, v in curve]
            best = min(values) if self.minimize else max(values)
            at_step = []
            for tid, (steps, vals) in self._peers.items():
                if tid == trial_id or not steps or steps[-1] < step:
                    continue
                i = bisect.bisect_right(steps, step) - 1
                if i >= 0:
                    at_step.append(vals[i])
            if not at_step:
                return False
            median = statistics.median(at_step)
            return best > median if self.minimize else best < median

    def complete(self, trial: Trial) -> None:
        with self._lock:
            self._running.pop(trial.id, None)
            if trial.status == "finished":
                self._finished.add(trial.id)
            if trial.status in ("finished", "pruned"):
                # Sorted by step; of several reports at one step the last one counts.
                by_step = dict(_final_curve(trial))
                steps = sorted(by_step)
                self._peers[trial.id] = (steps, [by_step[s] for s in steps])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n_startup_trials": self.n_startup_trials,
                "n_warmup_steps": self.n_warmup_steps}


class ASHA(Pruner):
    """Asynchronous successive halving: at each rung ``min_resource * eta**k`` (k = 0,
    1, ...; steps as reported), a trial goes on only if its best value so far is among
    the best ``1/eta`` of the values recorded at that rung by every trial that reached
    it (at least the best one always goes on).

    Decisions are made as trials reach a rung, against the trials that reached it
    before, so no trial waits for others (Li et al., 2020, "A system for massively
    parallel hyperparameter tuning"). Rungs at or beyond ``max_resource`` are not
    checked. Failed trials do not count.

    >>> a = ASHA(min_resource=1, eta=2); a.bind(minimize=True)
    >>> a.report(0, 1, 0.5); a.should_prune(0)    # first at rung 1: goes on
    False
    >>> a.report(1, 1, 0.9); a.should_prune(1)    # worse half of {0.5, 0.9}
    True
    """

    name = "asha"

    def __init__(self, min_resource: float = 1, eta: float = 3,
                 max_resource: float | None = None) -> None:
        super().__init__()
        self.min_resource = _positive(min_resource, "ASHA: min_resource")
        self.eta = _positive(eta, "ASHA: eta")
        if self.eta <= 1:
            raise ValueError(f"ASHA: eta must be > 1 (the reduction factor), got {eta!r}")
        self.max_resource = None if max_resource is None else _positive(
            max_resource, "ASHA: max_resource")
        if self.max_resource is not None and self.max_resource <= self.min_resource:
            raise ValueError(f"ASHA: max_resource ({max_resource!r}) must exceed "
                             f"min_resource ({min_resource!r})")
        self._reset()

    def _reset(self) -> None:
        self._best: dict[int, float] = {}  # best value so far of each trial with reports
        self._reached: dict[int, int] = {}  # number of rungs each trial has reached
        self._rungs: dict[int, dict[int, float]] = {}  # rung -> trial -> value there
        self._stopped: set[int] = set()

    def rung(self, k: int) -> float:
        """The step of rung ``k``."""
        return self.min_resource * self.eta**k

    def bind(self, *, minimize: bool) -> None:
        with self._lock:
            super().bind(minimize=minimize)
            self._reset()

    def _better(self, a: float, b: float) -> bool:
        return a < b if self.minimize else a > b

    def _record(self, trial_id: int, step: float, value: float, decide: bool) -> None:
        """Takes in one report; records (and, live, judges) every rung it reaches."""
        best = self._best.get(trial_id)
        if best is None or self._better(value, best):
            best = self._best[trial_id] = value
        k = self._reached.get(trial_id, 0)
        while step >= self.rung(k) and (self.max_resource is None
                                        or self.rung(k) < self.max_resource):
            rung = self._rungs.setdefault(k, {})
            rung[trial_id] = best
            if decide and trial_id not in self._stopped:
                better = sum(1 for v in rung.values() if self._better(v, best))
                if better >= max(1, int(len(rung) / self.eta)):
                    self._stopped.add(trial_id)
            k += 1
        self._reached[trial_id] = k

    def report(self, trial_id: int, step: float, value: float) -> None:
        if not math.isfinite(value):
            return
        with self._lock:
            self._record(trial_id, float(step), float(value), decide=True)

    def should_prune(self, trial_id: int) -> bool:
        with self._lock:
            return trial_id in self._stopped

    def complete(self, trial: Trial) -> None:
        with self._lock:
            self._stopped.discard(trial.id)
            if trial.status == "failed":
                for rung in self._rungs.values():
                    rung.pop(trial.id, None)
                return
            if trial.id not in self._reached:  # a stored trial (resume): replay its curve
                for s, v in _final_curve(trial):
                    self._record(trial.id, s, v, decide=False)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "min_resource": self.min_resource, "eta": self.eta,
                "max_resource": self.max_resource}


def _registry() -> dict[str, Any]:
    return {"median": Median, "asha": ASHA}


def make_pruner(spec: Any) -> Pruner | None:
    """A pruner from ``None``, a name (``"median"``, ``"asha"``) or a Pruner object."""
    if spec is None or spec is False:
        return None
    if isinstance(spec, Pruner):
        return spec
    if isinstance(spec, str):
        reg = _registry()
        key = spec.strip().lower()
        if key in reg:
            return reg[key]()
        close = difflib.get_close_matches(key, list(PRUNER_NAMES), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"pruner: unknown pruner {spec!r}; {hint}choose None, "
                         f"{', '.join(repr(n) for n in PRUNER_NAMES)} or pass a Pruner object")
    raise TypeError(f"pruner must be None, 'median', 'asha' or a Pruner object, got {spec!r}")
