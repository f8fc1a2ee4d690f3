"""Quasi-random search: a scrambled Sobol sequence mapped through the space encoding."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..space import Space
from ..trial import Trial
from .base import Strategy, point_key

__all__ = ["Sobol", "SobolSequence"]


class SobolSequence:
    """The points of one scrambled Sobol sequence in ``[0, 1)^d``, by index.

    Blocks of ``2^m`` points are generated (scipy warns about other sizes, since
    only those keep the balance properties) and grown on demand; the first ``2^m``
    points of a scrambled sequence do not depend on how many are drawn, so point
    ``i`` is the same however far the sequence has been extended.

    >>> seq = SobolSequence(2, seed=0)
    >>> bool(np.all(seq.point(5) == SobolSequence(2, seed=0).points(8)[5]))
    True
    """

    def __init__(self, d: int, seed: int) -> None:
        self.d = int(d)
        self.seed = int(seed)
        self._cache = np.empty((0, self.d))

    def points(self, n: int) -> np.ndarray:
        """The first ``n`` points, shape ``(n, d)``."""
        if n > len(self._cache):
            from scipy.stats import qmc  # scipy loads only when a sequence is used

            m = max(4, math.ceil(math.log2(max(n, 1))))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # 2^m points: nothing to warn about
                self._cache = qmc.Sobol(self.d, scramble=True, seed=self.seed).random_base2(m)
        return self._cache[:n]

    def point(self, i: int) -> np.ndarray:
        """Point number ``i`` (0-based)."""
        return self.points(i + 1)[i]


def finite_size(space: Space, limit: int = 100_000) -> int | None:
    """Number of points of a discrete space, or ``None`` (continuous, or too large to care)."""
    size = space.grid_size()
    if size is None or size > limit:
        return None
    return size


def tried_in(space: Space, trials: Sequence[Trial], pending: Sequence[dict[str, Any]]) -> set[str]:
    """Keys of the points of ``space`` that ended or are running."""
    keys = set()
    for params in [t.params for t in trials] + list(pending):
        if space.contains(params):
            keys.add(point_key({n: params[n] for n in space}))
    return keys


class Sobol(Strategy):
    """Quasi-random search: points of a scrambled Sobol sequence, seeded.

    Covers the space more evenly than random draws (fewer clumps and holes), which
    matters for small budgets; the same seed gives the same sequence. Point ``n`` is
    the ``n``-th point of the sequence, where ``n`` counts the trials that ended or
    are running, so a resumed scan carries on where it stopped. In a discrete space
    points already tried or running are skipped, and ``None`` is returned once every
    point has been tried.

    >>> import hpo_widgets as hw
    >>> s = Sobol(); s.bind(seed=0, minimize=True)
    >>> sorted(s.ask(hw.Space(x=hw.Float(0, 1), act=["relu", "elu"]), [], []))
    ['act', 'x']
    """

    name = "sobol"

    def __init__(self) -> None:
        super().__init__()
        self._sequences: dict[int, SobolSequence] = {}
        self._random_seed: int | None = None

    def bind(self, *, seed: int | None, minimize: bool) -> None:
        super().bind(seed=seed, minimize=minimize)
        self._sequences.clear()

    def sequence(self, d: int) -> SobolSequence:
        """The sequence used for ``d`` tunable parameters."""
        if d not in self._sequences:
            seed = self.seed
            if seed is None:  # unseeded: one random scramble, kept for the whole scan
                if self._random_seed is None:
                    self._random_seed = int(np.random.default_rng().integers(2**31))
                seed = self._random_seed
            self._sequences[d] = SobolSequence(d, seed)
        return self._sequences[d]

    def ask(self, space: Space, history: Sequence[Trial],
            pending: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
        n = len(history) + len(pending)
        if space.ndim == 0:
            point = space.decode([])
            return None if tried_in(space, history, pending) else point
        seq = self.sequence(space.ndim)
        size = finite_size(space)
        if size is None:
            return space.decode(seq.point(n))
        # A discrete space: skip points already tried or running.
        seen = tried_in(space, history, pending)
        if len(seen) >= size:
            return None
        for i in range(n, n + max(1024, 8 * size)):
            point = space.decode(seq.point(i))
            if point_key(point) not in seen:
                return point
        # The sequence keeps missing the few points left: take the first one left.
        for point in space.grid():
            if point_key(point) not in seen:
                return point
        return None  # pragma: no cover - len(seen) < size guarantees a point above

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}
