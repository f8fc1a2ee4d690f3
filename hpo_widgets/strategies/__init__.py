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


# name -> (module, class); heavier imports (scipy, scikit-learn, optuna) load on first use.
# Optuna's TPE by name: optuna itself is imported (or its absence explained, with the
# install command) when the scan first asks for a point.
_NAMED: dict[str, tuple[str, str]] = {
    "grid": (".grid", "Grid"),
    "random": (".random", "Random"),
    "sobol": (".sobol", "Sobol"),
    "bayes": (".bayes", "Bayes"),
    "optuna": (".optuna", "OptunaStrategy"),
}
_ALIASES = {"tpe": "optuna"}

#: The strategies a scan (and the dashboard's picker) can be given by name.
STRATEGY_NAMES = tuple(_NAMED)


def _registry() -> dict[str, Any]:
    import importlib

    reg: dict[str, Any] = {}
    for key, (module, cls) in _NAMED.items():
        try:
            reg[key] = getattr(importlib.import_module(module, __name__), cls)
        except ImportError:  # pragma: no cover - a module not there
            continue
    for alias, target in _ALIASES.items():
        if target in reg:
            reg[alias] = reg[target]
    return reg


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
