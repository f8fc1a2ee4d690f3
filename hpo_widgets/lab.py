"""Docking a scan's dashboard into the JupyterLab right side panel.

ipylab (a JupyterLab front-end API over widgets) adds the dashboard as a panel of the
right area, which stays in view while the user scrolls and edits; each scan gets its
own tab, and closing the tab does not stop the scan. We use ipylab rather than an
extension of our own: it is a pip dependency with a prebuilt extension, nothing to
build, and the panel is an ordinary widget view, so it updates from the scan's
thread like the inline dashboard. Outside JupyterLab (classic Notebook, VS Code) the
dashboard is displayed inline with a note.
"""

from __future__ import annotations

from typing import Any

__all__ = ["dock"]

_panels: dict[str, Any] = {}


def _in_jupyterlab() -> bool:
    import os

    # JupyterLab's server sets this in kernels it starts; VS Code and classic Notebook
    # do not run ipylab's front end.
    return bool(os.environ.get("JPY_SESSION_NAME") or os.environ.get("JUPYTERHUB_USER")
                or os.environ.get("HPO_WIDGETS_FORCE_LAB"))


def dock(scan: Any, *, title: str | None = None) -> Any:
    """Put ``scan``'s dashboard into the right side panel; returns the panel widget."""
    import ipywidgets as W
    from IPython.display import display

    dash = scan.dashboard()
    key = str(scan.path)
    try:
        from ipylab import JupyterFrontEnd, Panel
    except ImportError:
        Panel = None  # noqa: N806
    if Panel is None or not _in_jupyterlab():
        note = W.HTML("<i>The side panel needs JupyterLab (with ipylab); showing the dashboard "
                      "here instead.</i>")
        box = W.VBox([note, dash])
        display(box)
        return box
    panel = _panels.get(key)
    if panel is None or getattr(panel, "comm", None) is None:
        panel = Panel([dash])
        panel.title.label = title or f"HPO: {scan.name}"
        panel.title.closable = True
        panel.add_class("hpo-side-panel")
        _panels[key] = panel
        app = JupyterFrontEnd()
        app.shell.add(panel, "right", {"rank": 1000})
    return panel
