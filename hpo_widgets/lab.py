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
_app: Any = None


def frontend() -> Any:
    """The kernel's one ipylab ``JupyterFrontEnd`` (made once: each one is a widget).

    Made early (``%load_ext hpo_widgets`` does it), it has heard back from ipylab's
    front end by the time a later cell docks a panel, which is how we know we really
    are in JupyterLab.
    """
    global _app
    if _app is None or getattr(_app, "comm", None) is None:
        from ipylab import JupyterFrontEnd

        _app = JupyterFrontEnd()
    return _app


def _in_jupyterlab() -> bool:
    import os

    if _app is not None and getattr(_app, "version", ""):
        return True   # ipylab's front end answered: this is JupyterLab
    # No answer (yet): the Jupyter server sets JPY_SESSION_NAME in kernels it starts for
    # a notebook; VS Code and plain IPython do not.
    return bool(os.environ.get("JPY_SESSION_NAME") or os.environ.get("JUPYTERHUB_USER")
                or os.environ.get("HPO_WIDGETS_FORCE_LAB"))


def dock(scan: Any, *, title: str | None = None) -> Any:
    """Put ``scan``'s dashboard into the right side panel; returns the panel widget.

    Docking again after the tab was closed brings it back; docking while it is open
    does not add a second tab. Closing the tab never stops the scan.
    """
    import ipywidgets as W
    from IPython.display import display

    dash = scan.dashboard()
    key = str(scan.path)
    try:
        from ipylab import Panel
    except ImportError:
        Panel = None  # noqa: N806
    if Panel is None or not _in_jupyterlab():
        note = W.HTML("<i>The side panel needs JupyterLab (with ipylab); showing the dashboard "
                      "here instead.</i>")
        box = W.VBox([note, dash])
        display(box)
        return box
    app = frontend()
    panel = _panels.get(key)
    if panel is None or getattr(panel, "comm", None) is None:
        panel = Panel([dash], layout=W.Layout(overflow="auto"))
        panel.title.label = title or f"HPO: {scan.name}"
        panel.title.closable = True
        panel.add_class("hpo-side-panel")
        _panels[key] = panel
    # Closing the tab removes the panel in the browser only; the shell's list of
    # widgets (synced back from the browser) says whether it is still there.
    ref = f"IPY_MODEL_{panel.model_id}"
    if not any(w.get("serializedWidget") == ref for w in getattr(app.shell, "_widgets", [])):
        app.shell.add(panel, "right", {"rank": 1000})
    return panel
