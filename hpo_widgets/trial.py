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

__all__ = ["DONE_STATUSES", "STATUSES", "Trial", "TrialHandle"]

#: Every status a trial can have.
STATUSES = ("running", "finished", "failed", "pruned", "interrupted", "queued")
#: Statuses that count toward ``max_trials`` (interrupted trials do not).
DONE_STATUSES = frozenset({"finished", "failed", "pruned"})


@dataclasses.dataclass(frozen=True, slots=True)
class Trial:
    """One trial, as recorded.

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
    """

    id: int
    params: dict[str, Any]
    status: str = "running"
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    value: float | None = None
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    traceback: str | None = None
    curve: tuple[tuple[float, float], ...] = ()
    worker: str | None = None
    source: str | None = None
    excluded: str | None = None

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

    def replace(self, **changes: Any) -> Trial:
        return dataclasses.replace(self, **changes)


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
