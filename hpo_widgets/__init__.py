"""hpo_widgets: hyperparameter optimisation as a live, steerable part of a notebook.

>>> import hpo_widgets as hw
>>> space = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), units=hw.Choice([32, 64, 128]))

Importing this package is cheap: pandas, scipy, widgets, Keras and Dask load only
when something needs them.
"""

from __future__ import annotations

from typing import Any

from .scan import Scan, load, scans
from .space import Bool, Choice, Fixed, Float, Int, Space
from .store import StoreCorrupt
from .strategies import Strategy
from .trial import Trial, TrialHandle

__version__ = "0.1.0"

__all__ = [
    "Bayes",
    "Bool",
    "Choice",
    "Fixed",
    "Float",
    "Int",
    "KerasScan",
    "OptunaStrategy",
    "Scan",
    "Sobol",
    "Space",
    "StoreCorrupt",
    "Strategy",
    "Trial",
    "TrialHandle",
    "__version__",
    "load",
    "scans",
]

# Names whose modules import heavier libraries load on first use (PEP 562).
_LAZY = {
    "Bayes": ("hpo_widgets.strategies.bayes", "Bayes"),
    "Sobol": ("hpo_widgets.strategies.sobol", "Sobol"),
    "OptunaStrategy": ("hpo_widgets.strategies.optuna", "OptunaStrategy"),
    "KerasScan": ("hpo_widgets.keras", "KerasScan"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hpo_widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    # the lazy names too: tab completion and dir(hw) show what hw.<name> gives
    return sorted(set(globals()) | set(_LAZY))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext hpo_widgets``: registers the ``%hpo`` and ``%%hpo`` magics."""
    from .magics import load_ipython_extension as _load

    _load(ipython)
