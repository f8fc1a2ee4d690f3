"""Grid search: every combination once, in a seeded shuffled order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..space import Space
from ..trial import Trial
from .base import Strategy, point_key

__all__ = ["Grid"]


class Grid(Strategy):
    """Tries every point of a discrete space once.

    The order is shuffled (seeded) so that a scan stopped early has still covered the
    whole space evenly, the way a random search would. Points already tried, running,
    or failed are skipped; interrupted ones are tried again. When the user narrows
    the space, the grid of the new space is walked, skipping what was already tried.

    >>> import hpo_widgets as hw
    >>> g = Grid(); g.bind(seed=0, minimize=True)
    >>> space = hw.Space(a=[1, 2], b=["x", "y"])
    >>> sorted(g.ask(space, [], []).items()) in [[("a", a), ("b", b)] for a in (1, 2) for b in "xy"]
    True
    """

    name = "grid"

    def __init__(self, shuffle: bool = True) -> None:
        super().__init__()
        self.shuffle = shuffle
        self._space: Space | None = None
        self._points: list[dict[str, Any]] = []
        self._cursor = 0
        self._seen: set[str] = set()
        self._n_history = 0

    def _layout(self, space: Space) -> None:
        points = list(space.grid())
        if self.shuffle:
            order = np.random.default_rng(self.seed).permutation(len(points))
            points = [points[i] for i in order]
        self._space, self._points, self._cursor = space, points, 0

    def validate(self, space: Space) -> None:
        space.grid_axes()

    def ask(self, space: Space, history: Sequence[Trial],
            pending: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
        if space is not self._space:
            self._layout(space)
        if len(history) < self._n_history:  # a new history (a resumed scan): start over
            self._seen.clear()
            self._n_history = 0
        for t in history[self._n_history:]:
            self._seen.add(point_key(t.params))
        self._n_history = len(history)
        busy = {point_key(p) for p in pending}
        # Points skipped only because they were running stay eligible for later asks.
        while self._cursor < len(self._points):
            p = self._points[self._cursor]
            key = point_key(p)
            if key in self._seen:
                self._cursor += 1
                continue
            if key in busy:
                for later in self._points[self._cursor + 1:]:
                    k = point_key(later)
                    if k not in self._seen and k not in busy:
                        return dict(later)
                return None
            self._cursor += 1
            return dict(p)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shuffle": self.shuffle}
