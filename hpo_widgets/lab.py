"""Docking a scan's dashboard into the right side panel (JupyterLab 4, Notebook 7).

ipylab (a JupyterLab front-end API over widgets) adds the dashboard as a panel of the
right area, which stays in view while the user scrolls and edits; each scan gets its
own tab, and closing the tab does not stop the scan. We use ipylab rather than an
extension of our own: it is a pip dependency with a prebuilt extension, nothing to
build, and the panel is an ordinary widget view, so it updates from the scan's
thread like the inline dashboard.

``dock()`` returns nothing: a cell ending in ``scan.dock()`` shows no second, inline
copy of the dashboard. It brings the panel to the front: a small front-end helper in
the panel (:class:`_Reveal`) opens the panel's tab in JupyterLab's right sidebar, and in
Notebook 7 (whose right sidebar has no tabs) asks the kernel to run Notebook's own
"show this panel" command. Where there is no side panel (classic Notebook, VS Code) a
one-line note says so and the dashboard is shown inline.
"""

from __future__ import annotations

import secrets
from typing import Any

__all__ = ["dock"]

_panels: dict[str, Any] = {}
_app: Any = None

#: Notebook 7's command that shows one widget of a sidebar (JupyterLab has tabs instead).
NOTEBOOK_SHOW_PANEL = "application:toggle-panel"

# The helper's front end: once rendered inside the side panel, and again at each
# ``request``, it opens the panel if it is hidden. JupyterLab: a press on the panel's
# tab in the right sidebar (what a user would do; JupyterLab offers no command to show a
# given sidebar widget). No tab (Notebook 7): it tells the kernel, which runs Notebook's
# command. It reports whether the panel is showing in ``shown``.
_REVEAL_ESM = r"""
function panelOf(el) { return el.closest('.hpo-side-panel'); }
function visible(node) {
  return !!node && node.offsetParent !== null && node.getBoundingClientRect().width > 0;
}
function pressTab(id) {
  const tab = document.querySelector('.jp-SideBar .lm-TabBar-tab[data-id="' + id + '"]');
  if (!tab) return false;
  const r = tab.getBoundingClientRect();
  const at = { bubbles: true, cancelable: true, button: 0, buttons: 1, pointerId: 1,
               isPrimary: true, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2 };
  tab.dispatchEvent(new PointerEvent('pointerdown', at));
  document.dispatchEvent(new PointerEvent('pointerup', { ...at, buttons: 0 }));
  return true;
}
function report(model, node) {
  const now = visible(node);
  if (model.get('shown') !== now) { model.set('shown', now); model.save_changes(); }
  return now;
}
function watch(model, node) {   // shown follows the panel, however it is opened or hidden
  if (node.__hpoWatched) return;
  node.__hpoWatched = true;
  new ResizeObserver(() => report(model, node)).observe(node);
}
function reveal(model, el, tries = 30) {
  const node = panelOf(el);
  if (!node) {   // not attached to the page yet
    if (tries > 0) setTimeout(() => reveal(model, el, tries - 1), 100);
    return;
  }
  watch(model, node);
  if (report(model, node)) return;
  const tabbed = pressTab(node.id);
  setTimeout(() => {
    if (!report(model, node)) model.send({ kind: 'hidden', id: node.id, tabbed });
  }, 150);
}
export default {
  render({ model, el }) {
    el.style.display = 'none';
    const go = () => requestAnimationFrame(() => reveal(model, el));
    model.on('change:request', go);
    if (model.get('request') > 0) setTimeout(go, 50);
    return () => model.off('change:request', go);
  }
};
"""


def _reveal_widget(app: Any, title: str) -> Any:
    import anywidget
    import traitlets

    class _Reveal(anywidget.AnyWidget):
        """Brings its side panel to the front (see the module docstring)."""

        _esm = _REVEAL_ESM
        request = traitlets.Int(0).tag(sync=True)
        shown = traitlets.Bool(False).tag(sync=True)

    w = _Reveal()

    def hidden(_w: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("kind") != "hidden":
            return
        commands = getattr(app, "commands", None)
        names = commands.list_commands() if commands is not None else []
        if NOTEBOOK_SHOW_PANEL in names:   # Notebook 7: show this panel in the sidebar
            commands.execute(NOTEBOOK_SHOW_PANEL,
                             {"side": "right", "id": content.get("id"), "title": title})

    w.on_msg(hidden)
    return w


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
        return True   # ipylab's front end answered: JupyterLab or Notebook 7
    # No answer (yet): the Jupyter server sets JPY_SESSION_NAME in kernels it starts for
    # a notebook; VS Code and plain IPython do not.
    return bool(os.environ.get("JPY_SESSION_NAME") or os.environ.get("JUPYTERHUB_USER")
                or os.environ.get("HPO_WIDGETS_FORCE_LAB"))


def dock(scan: Any, *, title: str | None = None) -> None:
    """Put ``scan``'s dashboard into the right side panel and bring the panel to the front.

    Returns nothing, so a cell ending in ``scan.dock()`` shows no inline copy. Docking
    again after the tab was closed brings it back; docking while it is open does not
    add a second tab. Closing the tab never stops the scan. Without a side panel
    (not JupyterLab or Notebook 7, or no ipylab) the dashboard is shown inline under a
    one-line note saying so.
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
        why = "needs ipylab" if Panel is None else "needs JupyterLab or Notebook 7"
        display(W.HTML(f"<i>No side panel here ({why}): the dashboard is shown below.</i>"))
        display(dash)
        return None
    app = frontend()
    label = title or f"HPO: {scan.name}"
    entry = _panels.get(key)
    if entry is None or getattr(entry[0], "comm", None) is None:
        reveal = _reveal_widget(app, label)
        panel = Panel([reveal])
        # The dashboard goes in once the panel shows: charts drawn into a hidden panel
        # get negative sizes (bqplot measures its figure when it first draws).
        def shown(change: Any, panel: Any = panel, dash: Any = dash) -> None:
            if change["new"] and dash not in panel.children:
                panel.children = (*panel.children, dash)

        reveal.observe(shown, "shown")
        panel.title.label = label
        panel.title.closable = True
        panel.add_class("hpo-side-panel")
        entry = (panel, reveal, f"hpo-panel-{secrets.token_hex(4)}")
        _panels[key] = entry
    panel, reveal, panel_id = entry
    # Closing the tab removes the panel in the browser only; the shell's list of
    # widgets (synced back from the browser) says whether it is still there.
    ref = f"IPY_MODEL_{panel.model_id}"
    if not any(w.get("serializedWidget") == ref for w in getattr(app.shell, "_widgets", [])):
        # ipylab's own message, with the panel's DOM id chosen here (its ``add()`` lets
        # the browser pick one) so that the panel can be named to Notebook's commands
        from ipywidgets import widget_serialization

        with panel.hold_sync():       # re-added after its tab was closed: the dashboard
            panel.children = (reveal,)  # goes back in once the panel shows again
        reveal.shown = False
        app.shell.send({"func": "add", "payload": {
            "serializedWidget": widget_serialization["to_json"](panel, None),
            "area": "right", "args": {"rank": 1000}, "id": panel_id}})
    reveal.request += 1   # bring it to the front (its front end does it)
    return None
