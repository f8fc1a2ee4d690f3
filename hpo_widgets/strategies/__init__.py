"""Strategies behind one ask/tell interface (:class:`Strategy`).

``make_strategy`` turns what a user passes as ``Scan(strategy=...)`` into an object.
"""

from __future__ import annotations

import difflib
from typing import Any

from .base import Strategy
from .grid import Grid
from .random import Random

__all__ = ["STRATEGY_NAMES", "Grid", "Random", "Strategy", "make_strategy"]


def _registry() -> dict[str, Any]:
    # Strategies with heavier imports (scipy, scikit-learn, optuna) load on first use.
    reg: dict[str, Any] = {"grid": Grid, "random": Random}
    try:
        from .sobol import Sobol
        reg["sobol"] = Sobol
    except ImportError:  # pragma: no cover - module not there yet
        pass
    try:
        from .bayes import Bayes
        reg["bayes"] = Bayes
    except ImportError:  # pragma: no cover
        pass
    # Optuna's TPE by name; optuna itself is imported (or its absence explained, with the
    # install command) when the scan first asks for a point
    from .optuna import OptunaStrategy
    reg["optuna"] = reg["tpe"] = OptunaStrategy
    return reg


STRATEGY_NAMES = ("grid", "random", "sobol", "bayes")


def make_strategy(spec: Any) -> Strategy:
    """A strategy from a name (``"random"``...) or an object that is already one."""
    if isinstance(spec, Strategy):
        return spec
    if isinstance(spec, str):
        reg = _registry()
        key = spec.strip().lower()
        if key in reg:
            return reg[key]()
        close = difflib.get_close_matches(key, list(reg), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"strategy: unknown strategy {spec!r}; {hint}choose one of "
                         f"{sorted(reg)} or pass a Strategy object")
    if isinstance(spec, type) and issubclass(spec, Strategy):
        return spec()
    raise TypeError(f"strategy must be a name such as 'random' or a Strategy object, got {spec!r}")
