"""The ask/tell interface every strategy implements."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..space import Space
from ..trial import Trial

__all__ = ["Strategy", "point_key"]


def point_key(params: dict[str, Any]) -> str:
    """A hashable, order-independent key for a point (to spot duplicates)."""
    return json.dumps(params, sort_keys=True, default=repr)


class Strategy:
    """Proposes the next point from what has been tried.

    The scan calls :meth:`bind` once, then :meth:`ask` whenever a worker is free and
    :meth:`tell` after each trial ends, always from its single driver thread: a
    strategy need not be thread-safe, but must be quick (it runs between trials).

    Guarantees a strategy gives (checked by the conformance tests in
    ``tests/test_strategies.py``):

    - :meth:`ask` returns a point of the ``space`` it is given, which may differ from
      the previous call's when the user narrows the space mid-scan;
    - given the same seed and the same history, it proposes the same point;
    - it returns ``None`` when it has nothing left to propose (an exhausted grid);
    - failed trials (``value is None``) never crash it.

    ``history`` holds the trials that ended (finished, failed or pruned), oldest
    first; ``pending`` the points of trials still running, so a strategy can avoid
    proposing them twice when trials run in parallel. Both are passed on every call,
    which is what makes a resumed scan carry on where it stopped.
    """

    #: Name shown in the dashboard and stored with the scan.
    name = "strategy"

    def __init__(self) -> None:
        self.seed: int | None = None
        self.minimize = True

    def bind(self, *, seed: int | None, minimize: bool) -> None:
        """Called by the scan before the first :meth:`ask`."""
        self.seed = seed
        self.minimize = minimize

    def validate(self, space: Space) -> None:
        """Raise ``ValueError`` if this strategy cannot search ``space`` (checked up front)."""

    def ask(self, space: Space, history: Sequence[Trial],
            pending: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
        """The next point to try, or ``None`` when there is none left."""
        raise NotImplementedError

    def tell(self, trial: Trial) -> None:
        """A trial ended (it is also in the next ``history``). Optional."""

    def rng(self, n_seen: int) -> np.random.Generator:
        """A generator that depends only on the seed and how many points exist.

        Deriving it from the count, not from a running state, makes proposals
        reproducible after a resume: the 51st point is the same whether the scan ran
        straight through or was killed and reopened at 50.
        """
        if self.seed is None:
            return np.random.default_rng()
        return np.random.default_rng([int(self.seed), n_seen])

    def to_dict(self) -> dict[str, Any]:
        """What the store records about the strategy (its name and settings)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
