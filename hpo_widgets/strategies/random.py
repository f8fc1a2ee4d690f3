"""Random search: independent uniform draws from the space's encoding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..space import Space
from ..trial import Trial
from .base import Strategy, point_key

__all__ = ["Random"]


class Random(Strategy):
    """Uniform random search, seeded and reproducible.

    A strong baseline (Bergstra & Bengio, 2012) and the cheapest strategy per trial.

    >>> import hpo_widgets as hw
    >>> s = Random(); s.bind(seed=1, minimize=True)
    >>> s.ask(hw.Space(x=hw.Float(0, 1)), [], [])  # doctest: +ELLIPSIS
    {'x': 0...}
    """

    name = "random"

    def ask(self, space: Space, history: Sequence[Trial],
            pending: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
        rng = self.rng(len(history) + len(pending))
        point = space.sample(rng)
        if pending:
            # In a small discrete space a draw can repeat a running point: draw again.
            busy = {point_key(p) for p in pending}
            for _ in range(100):
                if point_key(point) not in busy:
                    break
                point = space.sample(rng)
        return point
