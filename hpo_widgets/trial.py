"""Trials: the frozen record every part of the project shares, and the live handle
an objective gets.

:class:`Trial` is what the store keeps, what strategies learn from and what the
dashboard draws. :class:`TrialHandle` is passed to an objective that asks for a
second argument: ``trial.report(step, value)`` feeds live learning curves and the
pruner; ``trial.should_prune()`` says whether to give up early.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

__all__ = ["DONE_STATUSES", "STATUSES", "Trial", "TrialHandle", "metric_columns", "metric_names",
           "param_columns"]

#: Every status a trial can have.
STATUSES = ("running", "finished", "failed", "pruned", "interrupted", "queued")
#: Statuses that count toward ``max_trials`` (interrupted trials do not).
DONE_STATUSES = frozenset({"finished", "failed", "pruned"})


#: Tuples many trials share (their names; no error, no curve, one worker, one source):
#: a scan of a million trials keeps one copy of each, not a million.
_SHARED: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_MAX_SHARED = 4096
_NO_KEYS: tuple[str, ...] = ()


def _shared(t: tuple[Any, ...]) -> tuple[Any, ...]:
    """One copy of each equal tuple (of names; of the fields most trials share)."""
    got = _SHARED.get(t)
    if got is not None:
        return got
    if len(_SHARED) < _MAX_SHARED:
        _SHARED[t] = t
    return t


_FIELDS = ("id", "params", "status", "metrics", "value", "started", "finished", "error",
           "traceback", "curve", "worker", "source", "excluded")
_SET = object.__setattr__


class Trial:
    """One trial, as recorded (immutable).

    ``value`` is the scan's metric (``metrics[metric]``) for finished trials, else the
    last reported value of a pruned one, else ``None``. ``curve`` holds the
    ``(step, value)`` pairs the objective reported. ``source`` says who proposed it (the
    strategy's name, or ``"user"`` for ``scan.enqueue``); ``excluded`` is the reason it
    is left out of what the strategy and pruner learn from (``None``: learnt from).
    A ``queued`` trial was enqueued and has not started yet.

    >>> t = Trial(id=0, params={"lr": 0.1}, status="finished", metrics={"loss": 0.3},
    ...           value=0.3, started=0.0, finished=1.5)
    >>> t.duration
    1.5
    >>> t.params
    {'lr': 0.1}

    Kept small, because a live scan holds every trial: ``params`` and ``metrics`` are a
    tuple of names shared by all trials with the same names and a tuple of values, handed
    out as a new dict on each access (changing that dict changes no trial); a metrics
    dict that is just ``{metric: value}`` keeps no second copy of the value; the fields
    most trials share (no error, no curve, the same worker and source) are one shared
    tuple. ``bench/scale.py``: 0.83 KB a trial in the kernel as a frozen dataclass with
    two dicts, under 0.5 KB so.
    """

    __slots__ = (
        "_keys",
        "_mv",
        "_pv",
        "_rest",
        "finished",
        "id",
        "started",
        "status",
        "value",
    )
    __match_args__ = _FIELDS

    id: int
    status: str
    value: float | None
    started: float | None
    finished: float | None

    def __init__(self, id: int, params: dict[str, Any], status: str = "running",
                 metrics: dict[str, Any] | None = None, value: float | None = None,
                 started: float | None = None, finished: float | None = None,
                 error: str | None = None, traceback: str | None = None,
                 curve: tuple[tuple[float, float], ...] = (), worker: str | None = None,
                 source: str | None = None, excluded: str | None = None) -> None:
        _SET(self, "id", id)
        pk = tuple(params) if params else _NO_KEYS
        _SET(self, "_pv", tuple(params.values()) if params else _NO_KEYS)
        if metrics:
            mk = tuple(metrics)
            vals = tuple(metrics.values())
            one = vals[0]
            # {metric: value}: the value is kept once
            _SET(self, "_mv", None if len(vals) == 1 and value is not None and (
                one is value or (type(one) is type(value) and one == value)) else vals)
        else:
            mk = _NO_KEYS
            _SET(self, "_mv", _NO_KEYS)
        _SET(self, "_keys", _shared((pk, mk)))
        _SET(self, "status", status)
        _SET(self, "value", value)
        _SET(self, "started", started)
        _SET(self, "finished", finished)
        rest = (error, traceback, curve, worker, source, excluded)
        if error is None and curve == ():
            try:
                rest = _shared(rest)
            except TypeError:   # an unhashable field: kept as given
                pass
        _SET(self, "_rest", rest)

    @property
    def params(self) -> dict[str, Any]:
        """The parameter values, by name (a new dict each time)."""
        return dict(zip(self._keys[0], self._pv, strict=True))

    @property
    def metrics(self) -> dict[str, Any]:
        """The metrics the objective returned (a new dict each time)."""
        mv = self._mv
        return dict(zip(self._keys[1], (self.value,) if mv is None else mv, strict=True))

    def param(self, name: str, default: Any = None) -> Any:
        """One parameter's value, without building the dict."""
        try:
            return self._pv[self._keys[0].index(name)]
        except ValueError:
            return default

    def metric(self, name: str, default: Any = None) -> Any:
        """One metric's value, without building the dict."""
        try:
            i = self._keys[1].index(name)
        except ValueError:
            return default
        mv = self._mv
        return self.value if mv is None else mv[i]

    error = property(lambda self: self._rest[0], doc="Why the trial failed (``None``: it did not).")
    traceback = property(lambda self: self._rest[1], doc="The failure's traceback.")
    curve = property(lambda self: self._rest[2], doc="``(step, value)`` pairs reported.")
    worker = property(lambda self: self._rest[3], doc="Where it ran (host:pid:thread).")
    source = property(lambda self: self._rest[4], doc="Who proposed it.")
    excluded = property(lambda self: self._rest[5], doc="Why it is not learnt from.")

    @property
    def duration(self) -> float | None:
        """Seconds the trial ran (``None`` while running or when unknown)."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @property
    def done(self) -> bool:
        """Whether the trial counts toward ``max_trials`` (finished, failed or pruned)."""
        return self.status in DONE_STATUSES

    def _astuple(self) -> tuple[Any, ...]:
        return (self.id, self.params, self.status, self.metrics, self.value, self.started,
                self.finished, *self._rest)

    def replace(self, **changes: Any) -> Trial:
        """A copy with ``changes`` (field names as in the constructor)."""
        kw = dict(zip(_FIELDS, self._astuple(), strict=True))
        unknown = set(changes) - set(kw)
        if unknown:
            raise TypeError(f"Trial has no field(s) {sorted(unknown)}; fields: {_FIELDS}")
        kw.update(changes)
        return Trial(**kw)

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Trial:
            return NotImplemented
        return self._astuple() == other._astuple()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # holds dicts, like the dataclass it was

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={v!r}" for f, v in zip(_FIELDS, self._astuple(), strict=True))
        return f"Trial({inner})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Trial, self._astuple())


def param_columns(trials: list[Trial], names: list[str]) -> dict[str, list[Any]]:
    """``{name: [each trial's value or None]}`` for ``names``, without building a dict a
    trial (what ``scan.results`` does with a live scan's trials)."""
    return _columns(trials, names, 0)


def metric_columns(trials: list[Trial], names: list[str]) -> dict[str, list[Any]]:
    """``{name: [each trial's metric or None]}`` for ``names`` (see :func:`param_columns`)."""
    return _columns(trials, names, 1)


def metric_names(trials: list[Trial]) -> list[str]:
    """Every metric name of ``trials``, in the order they first appear."""
    seen: dict[str, None] = {}
    done: set[int] = set()
    for t in trials:
        keys = t._keys[1]
        if id(keys) not in done:
            done.add(id(keys))
            seen.update(dict.fromkeys(keys))
    return list(seen)


def _columns(trials: list[Trial], names: list[str], which: int) -> dict[str, list[Any]]:
    n = len(trials)
    out: dict[str, list[Any]] = {name: [None] * n for name in names}
    if not n:
        return out
    # trials sharing one key tuple (nearly all) are read by position
    groups: dict[int, tuple[tuple[str, ...], list[int]]] = {}
    for i, t in enumerate(trials):
        keys = t._keys[which]
        g = groups.get(id(keys))
        if g is None:
            groups[id(keys)] = (keys, [i])
        else:
            g[1].append(i)
    for keys, rows in groups.values():
        for name in names:
            try:
                k = keys.index(name)
            except ValueError:
                continue
            col = out[name]
            if which == 0:
                for i in rows:
                    col[i] = trials[i]._pv[k]
            else:
                for i in rows:
                    t = trials[i]
                    mv = t._mv
                    col[i] = t.value if mv is None else mv[k]
    return out


class TrialPruned(Exception):  # noqa: N818 - reads as a status, like Optuna's
    """Raised inside an objective to stop the trial and record it as pruned."""


class TrialHandle:
    """What an objective's ``trial`` argument is.

    >>> def objective(params, trial):
    ...     for epoch in range(3):
    ...         loss = 1.0 / (epoch + 1)
    ...         trial.report(epoch, loss)
    ...         if trial.should_prune():
    ...             break
    ...     return loss

    The handle travels with the trial to a thread, a process or a Dask worker. In the
    kernel's own threads reports reach listeners (live curves) and the pruner at once;
    on other processes they are collected and sent back with the result.
    """

    def __init__(self, trial_id: int, params: dict[str, Any],
                 sink: Callable[[TrialHandle, float, float], None] | None = None,
                 pruner: Callable[[TrialHandle], bool] | None = None) -> None:
        self.id = trial_id
        self.params = params
        self.curve: list[tuple[float, float]] = []
        self.pruned = False
        self._sink = sink
        self._pruner = pruner
        self.started = time.time()

    def __getstate__(self) -> dict[str, Any]:
        # Callbacks into the driver do not cross process boundaries.
        state = self.__dict__.copy()
        state["_sink"] = None
        state["_pruner"] = None
        return state

    def report(self, step: float, value: float) -> None:
        """Record an intermediate ``value`` (e.g. validation loss) at ``step`` (e.g. epoch)."""
        try:
            s, v = float(step), float(value)
        except (TypeError, ValueError):
            raise TypeError(f"trial.report(step, value) takes numbers, got {step!r}, "
                            f"{value!r}") from None
        self.curve.append((s, v))
        if self._sink is not None and math.isfinite(v):
            self._sink(self, s, v)

    def should_prune(self) -> bool:
        """Whether the pruner judges this trial hopeless; if so, stop and return.

        Once it has said yes, the trial is recorded as ``pruned`` whatever it returns.
        """
        if self.pruned:
            return True
        if self._pruner is None or not self.curve:
            return False
        if self._pruner(self):
            self.pruned = True
        return self.pruned

    def prune(self) -> None:
        """Stop the trial now and record it as pruned."""
        self.pruned = True
        raise TrialPruned()

    @property
    def last(self) -> tuple[float, float] | None:
        return self.curve[-1] if self.curve else None
