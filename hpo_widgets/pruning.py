"""Early stopping of hopeless trials, fed by ``trial.report(step, value)``.

A pruner sees every report of every trial of a scan and answers
``should_prune(trial_id)``. The scan calls it from its worker threads, so a pruner
must be thread-safe (the base class gives a lock).
"""

from __future__ import annotations

import difflib
import threading
from typing import Any

from .trial import Trial

__all__ = ["Pruner", "make_pruner", "PRUNER_NAMES"]

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

    def report(self, trial_id: int, step: float, value: float) -> None:  # noqa: B027
        """A running trial reported ``value`` at ``step``."""

    def should_prune(self, trial_id: int) -> bool:
        """Whether trial ``trial_id`` should stop now."""
        return False

    def complete(self, trial: Trial) -> None:  # noqa: B027
        """``trial`` ended; its curve is final."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}


def _registry() -> dict[str, Any]:
    reg: dict[str, Any] = {}
    try:
        from .pruners import ASHA, Median  # type: ignore[attr-defined]
        reg.update(median=Median, asha=ASHA)
    except ImportError:  # pragma: no cover - not written yet
        pass
    return reg


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
