"""The dashboard (ipywidgets 8 + bqplot + a custom parallel-coordinates widget).

Imported only when a dashboard is shown: ``import hpo_widgets`` never loads widgets.
"""

from __future__ import annotations

from .dashboard import Dashboard, SpaceEditor

__all__ = ["Dashboard", "SpaceEditor"]
